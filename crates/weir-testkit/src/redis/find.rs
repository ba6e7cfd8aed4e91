//! Where `redis-server` (and the `redis-cli` beside it) is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::RedisServerError;

/// Debian's place for the binary, tried last (a root `PATH` has it, a
/// trimmed one may not).
const DEBIAN: &str = "/usr/bin/redis-server";

/// The `redis-server` binary: `$WEIR_REDIS_SERVER`, else the first
/// `redis-server` on the `PATH`, else `/usr/bin/redis-server`.
///
/// When `WEIR_REDIS_SERVER` is set it is the only place looked at: a
/// wrong value is an error, not a silent fall-back to another version.
///
/// # Errors
///
/// [`RedisServerError::NotFound`], naming the places searched and how to
/// install the server.
///
/// # Examples
///
/// ```
/// match weir_testkit::redis::find_redis_server() {
///     Ok(path) => assert!(path.ends_with("redis-server") || std::env::var_os("WEIR_REDIS_SERVER").is_some()),
///     Err(e) => assert!(e.to_string().contains("apt-get install -y redis-server")),
/// }
/// ```
pub fn find_redis_server() -> Result<PathBuf, RedisServerError> {
    find_in(std::env::var_os("WEIR_REDIS_SERVER"), std::env::var_os("PATH"), Path::new(DEBIAN))
}

/// [`find_redis_server`] with its inputs given, so that it can be tested
/// without changing the process's environment.
fn find_in(
    explicit: Option<OsString>,
    path: Option<OsString>,
    fallback: &Path,
) -> Result<PathBuf, RedisServerError> {
    if let Some(explicit) = explicit {
        let explicit = PathBuf::from(explicit);
        if explicit.is_file() {
            return Ok(explicit);
        }
        return Err(RedisServerError::NotFound {
            searched: format!("WEIR_REDIS_SERVER={} (no such file)", explicit.display()),
        });
    }
    let on_path = path.iter().flat_map(std::env::split_paths).map(|dir| dir.join("redis-server"));
    if let Some(found) = on_path.chain([fallback.to_path_buf()]).find(|p| p.is_file()) {
        return Ok(found);
    }
    Err(RedisServerError::NotFound { searched: format!("the PATH, {}", fallback.display()) })
}

/// The `redis-cli` to check readiness with through a command prefix: the
/// one beside `server` (Debian's `redis-tools`, which `redis-server`
/// depends on, puts it there), else whatever `redis-cli` the prefix finds
/// on its `PATH`.
pub(super) fn redis_cli(server: &Path) -> PathBuf {
    let beside = server.with_file_name("redis-cli");
    if beside.is_file() { beside } else { PathBuf::from("redis-cli") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explicit_path_wins_and_a_wrong_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("redis-server");
        std::fs::write(&server, "").unwrap();
        let found = find_in(Some(server.clone().into()), None, Path::new("/nonexistent")).unwrap();
        assert_eq!(found, server);

        let e =
            find_in(Some("/nonexistent/redis-server".into()), None, Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("WEIR_REDIS_SERVER=/nonexistent/redis-server"), "{e}");
    }

    #[test]
    fn the_path_comes_before_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("redis-server"), "").unwrap();
        let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).unwrap();
        let found = find_in(None, Some(path), Path::new("/nonexistent/fallback")).unwrap();
        assert_eq!(found, dir.path().join("redis-server"));
    }

    #[test]
    fn a_missing_server_is_named_with_the_way_to_install_it() {
        let e =
            find_in(None, Some("/nonexistent".into()), Path::new("/nonexistent/redis-server")).unwrap_err();
        let text = e.to_string();
        for needed in ["redis-server", "the PATH", "apt-get install -y redis-server", "WEIR_REDIS_SERVER"] {
            assert!(text.contains(needed), "{needed:?} missing from: {text}");
        }
    }
}
