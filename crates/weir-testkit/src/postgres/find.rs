//! Where the PostgreSQL server binaries are.

use std::path::{Path, PathBuf};

use super::TestServerError;

/// The binaries the harness runs; all must be in one directory (`pg_ctl`
/// starts the `postgres` beside it).
const BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `$WEIR_PG_BIN`,
/// else the `PATH`, else the newest `/usr/lib/postgresql/*/bin`. A symlink
/// (`/usr/local/bin/initdb`) is followed to the directory it points into.
///
/// # Errors
///
/// [`TestServerError::BinariesNotFound`], naming the places searched.
///
/// # Examples
///
/// ```
/// match weir_testkit::postgres::find_binaries() {
///     Ok(dir) => assert!(dir.join("initdb").exists()),
///     Err(e) => assert!(e.to_string().contains("apt-get install -y postgresql")),
/// }
/// ```
pub fn find_binaries() -> Result<PathBuf, TestServerError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let explicit = std::env::var_os("WEIR_PG_BIN").map(PathBuf::from);
    candidates.extend(explicit.clone());
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.extend(debian_dirs());
    for dir in &candidates {
        if let Some(found) = complete(dir) {
            return Ok(found);
        }
    }
    let mut searched = Vec::new();
    if let Some(dir) = explicit {
        searched.push(format!("WEIR_PG_BIN={}", dir.display()));
    }
    searched.push("the PATH".to_owned());
    searched.push("/usr/lib/postgresql/*/bin".to_owned());
    Err(TestServerError::BinariesNotFound { searched: searched.join(", ") })
}

/// `dir` (resolved through an `initdb` symlink) when it holds all the binaries.
fn complete(dir: &Path) -> Option<PathBuf> {
    let initdb = dir.join("initdb");
    let resolved = std::fs::canonicalize(&initdb).ok()?;
    let dir = resolved.parent()?.to_path_buf();
    BINARIES.iter().all(|b| dir.join(b).is_file()).then_some(dir)
}

/// Debian's `/usr/lib/postgresql/<major>/bin`, newest first.
fn debian_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else { return Vec::new() };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// `runuser`, from the `PATH` or the system directories (which a root
/// `PATH` usually has, but not always).
pub(super) fn runuser() -> Result<PathBuf, TestServerError> {
    let path: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    path.into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("runuser"))
        .find(|p| p.is_file())
        .ok_or(TestServerError::NoRunuser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_named_with_the_way_to_install_them() {
        let e =
            TestServerError::BinariesNotFound { searched: "the PATH, /usr/lib/postgresql/*/bin".to_owned() };
        let text = e.to_string();
        for needed in
            ["initdb", "pg_ctl", "postgres", "apt-get install -y postgresql", "WEIR_PG_BIN", "the PATH"]
        {
            assert!(text.contains(needed), "{needed:?} missing from: {text}");
        }
    }
}
