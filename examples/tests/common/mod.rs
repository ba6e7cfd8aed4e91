//! Runs an example's real binary, as `cargo run --example` does.

use std::process::{Command, Stdio};

/// Builds the example `name` (in the test's profile) and returns the path
/// of its executable.
pub(crate) fn example_binary(name: &str) -> String {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--package", "examples", "--example", name, "--message-format=json"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = build.current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cargo runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let messages = String::from_utf8(built.stdout).expect("utf-8");
    messages
        .lines()
        .filter(|m| {
            m.contains(r#""reason":"compiler-artifact""#) && m.contains(&format!(r#""name":"{name}""#))
        })
        .find_map(|m| m.split(r#""executable":""#).nth(1)?.split('"').next())
        .expect("the example's executable")
        .to_owned()
}

/// Builds the example `name` (in the test's profile) and runs it `runs`
/// times at once, on the real clock; returns each run's output lines.
#[allow(dead_code, reason = "each test file uses what it needs of the common module")]
pub(crate) fn run_example(name: &str, runs: usize) -> Vec<Vec<String>> {
    let binary = example_binary(name);
    let children: Vec<_> = (0..runs)
        .map(|_| Command::new(&binary).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns"))
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("the example runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("utf-8").lines().map(str::to_owned).collect()
        })
        .collect()
}
