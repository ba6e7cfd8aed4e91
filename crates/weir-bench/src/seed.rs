//! The seed article's asyncio scenario (`shared/anchors/seed_fanout.py`),
//! run beside weir in the same process's run when python3 and the anchors
//! are found.

use std::path::PathBuf;
use std::process::Command;

/// Where the anchors are: `$WEIR_ANCHORS`, else `shared/anchors` beside the
/// repository.
fn anchors() -> PathBuf {
    std::env::var_os("WEIR_ANCHORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/anchors")))
}

/// Items/s of the asyncio seed with `items` items and `workers` consumers,
/// or `None` when python3 or the script is missing.
pub(crate) fn rate(items: u64, workers: usize) -> Option<f64> {
    let script = anchors().join("seed_fanout.py");
    if !script.exists() {
        return None;
    }
    let out =
        Command::new("python3").arg(script).args([items.to_string(), workers.to_string()]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text.split_whitespace().find_map(|w| w.strip_prefix("items_per_s="))?;
    field.parse().ok()
}
