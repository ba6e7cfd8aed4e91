//! `weir top`, driven as a person would: the real ingest binary runs with
//! `--top` in a tmux pane (a pseudo-terminal); the test reads the screen,
//! sends keys and reads it again. Then `weir-top` watches another ingest
//! process through its metrics endpoint. Needs tmux (`.ci/run` installs
//! it).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::INGEST_STAGES as STAGES;

/// A tmux server of its own (so that tests never share one), with one
/// session running `command` in a `width` x `height` pane; killed on drop.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(name: &str, width: u16, height: u16, command: &str) -> Self {
        let pane = Self { socket: format!("weir-{name}-{}", std::process::id()) };
        let (width, height) = (width.to_string(), height.to_string());
        let args = ["new-session", "-d", "-s", "main", "-x", &width, "-y", &height, command];
        pane.tmux(&args);
        pane
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux; .ci/run installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// The screen with its colours, as terminal escape sequences.
    fn coloured_screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    /// Sends keys, by tmux's names (`Down`, `End`, `Enter`) or as text.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.tmux(&["send-keys", "-t", "main", key]);
        }
    }

    /// Waits up to 60 s for the screen to satisfy `ready`; returns it.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited 60 s for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// The stage names in the table's rows, top to bottom, and the selected one.
fn table(screen: &str) -> (Vec<String>, Option<String>) {
    let mut rows = Vec::new();
    let mut selected = None;
    let mut inside = false;
    for line in screen.lines() {
        if line.contains("stage") && line.contains("in/s") && line.contains("out/s") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let Some(cells) = line.strip_prefix('│') else { break };
        let marked = cells.starts_with('›');
        let name = cells.trim_start_matches('›').split_whitespace().next().unwrap_or("│");
        if name == "│" {
            continue; // a blank row
        }
        if marked {
            selected = Some(name.to_owned());
        }
        rows.push(name.to_owned());
    }
    (rows, selected)
}

/// The in/s column of the table's rows, as numbers (`73.3k` is 73300).
fn items_in_per_sec(screen: &str) -> Vec<f64> {
    let number = |cell: &str| match cell.strip_suffix('k') {
        Some(k) => k.parse::<f64>().map(|k| k * 1e3),
        None => match cell.strip_suffix('M') {
            Some(m) => m.parse::<f64>().map(|m| m * 1e6),
            None => cell.parse::<f64>(),
        },
    };
    let after_header = screen.lines().skip_while(|l| !(l.contains("stage") && l.contains("in/s"))).skip(1);
    after_header
        .map_while(|l| l.strip_prefix('│'))
        // The name, a breaker's state in brackets, then in/s.
        .filter_map(|cells| {
            cells.trim_start_matches('›').split_whitespace().filter(|c| !c.starts_with('[')).nth(1)
        })
        .filter_map(|cell| number(cell).ok())
        .collect()
}

/// The colour (the last escape sequence) in which the table row of stage
/// `name` writes its name.
fn colour_of(coloured: &str, name: &str) -> String {
    let row = coloured
        .lines()
        .skip_while(|l| !(l.contains("stage") && l.contains("in/s")))
        // The name right after its colour's escape sequence (…m).
        .find(|l| l.contains(&format!("m{name} ")))
        .unwrap_or_default();
    let at = row.find(&format!("m{name} ")).map_or(0, |m| m + 1);
    let Some(start) = row[..at].rfind("\x1b[") else { return String::new() };
    let end = row[start..].find('m').map_or(at, |m| start + m + 1);
    row[start..end].to_owned()
}

/// The table's header line (which carries the sort arrow).
fn header(screen: &str) -> &str {
    screen.lines().find(|l| l.contains("stage") && l.contains("in/s")).unwrap_or_default()
}

/// The live conservation line.
fn conservation(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.starts_with("source ") && l.contains("= delivered"))
        .unwrap_or_default()
        .trim_end()
}

fn ingest_command(binary: &str, dir: &Path, extra: &str) -> String {
    format!(
        "{binary} --packets 100000000 --malformed 0.01 --db {db} --dead-letters {dead} {extra}; echo EXIT=$?; sleep 600",
        db = dir.join("ingest.db").display(),
        dead = dir.join("dead.jsonl").display(),
    )
}

#[test]
fn ingest_top_shows_the_run_sorts_filters_scrolls_and_leaving_it_drains_and_writes_the_report() {
    let dir = common::temp_dir("top");
    let report = dir.join("report.html");
    let command = ingest_command(
        &common::example_binary("ingest"),
        &dir,
        &format!("--top --report {}", report.display()),
    );
    let pane = Pane::start("top", 160, 50, &command);

    // The graph, every stage in the table, the conservation line.
    let screen = pane.wait_for("a sample of every stage", |s| {
        s.contains("weir top") && table(s).0.len() == STAGES.len() && conservation(s).ends_with('✓')
    });
    let graph: String = screen.lines().skip_while(|l| !l.contains("graph")).take(4).collect();
    for stage in STAGES {
        assert!(graph.contains(stage), "the graph shows {stage}:\n{screen}");
    }
    assert!(graph.contains("─▶"), "the graph's edges:\n{screen}");
    let (rows, selected) = table(&screen);
    assert_eq!(rows, STAGES, "the first column sorts in pipeline order:\n{screen}");
    assert_eq!(selected.as_deref(), Some("source"));
    assert!(screen.contains("source: out/s"), "the sparklines follow the selection:\n{screen}");
    assert!(screen.contains("q quit"), "the keys are on screen:\n{screen}");
    // Coloured by backpressure: `read`, held back by the store most of the
    // time, is not in the colour of the store, which nothing holds back.
    let coloured = pane.coloured_screen();
    let (read, store) = (colour_of(&coloured, "read"), colour_of(&coloured, "store"));
    assert!(!read.is_empty() && read != store, "read {read:?}, store {store:?}:\n{coloured}");

    // Sort: `s` moves to the next column (in/s), `r` reverses it.
    assert!(header(&screen).contains("stage▲"), "{screen}");
    pane.keys(&["s"]);
    let screen = pane.wait_for("sorting by in/s", |s| header(s).contains("in/s▲"));
    assert!(!header(&screen).contains("stage▲"));
    let ascending = items_in_per_sec(&screen);
    assert_eq!(ascending.len(), STAGES.len(), "{screen}");
    assert!(ascending.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}\n{screen}");
    pane.keys(&["r"]);
    let screen = pane.wait_for("the order reversed", |s| header(s).contains("in/s▼"));
    let descending = items_in_per_sec(&screen);
    assert!(descending.windows(2).all(|w| w[0] >= w[1]), "{descending:?}\n{screen}");
    pane.keys(&["S", "r"]);
    pane.wait_for("back to the first column, in pipeline order", |s| header(s).contains("stage▲"));

    // Filter: `/dec` and Enter keeps decode alone; `c` clears it.
    pane.keys(&["/", "dec", "Enter"]);
    let screen = pane.wait_for("the filter applied", |s| table(s).0 == ["decode"]);
    assert!(screen.contains("filter: dec"), "{screen}");
    pane.keys(&["c"]);
    pane.wait_for("every stage back", |s| table(s).0.len() == STAGES.len());

    // Select: Down moves the selection, and the sparklines with it.
    pane.keys(&["Home", "Down", "Down"]);
    let screen = pane.wait_for("the third row selected", |s| table(s).1.as_deref() == Some(STAGES[2]));
    let selected = STAGES[2];
    assert!(screen.contains(&format!("{selected}: out/s")), "{screen}");

    // Leave: the run drains, reports and writes the HTML report.
    pane.keys(&["q"]);
    let screen = pane.wait_for("the run to end", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("ingest: Drained after"), "{screen}");
    assert!(screen.contains(": conserved"), "{screen}");
    assert!(screen.contains("run report in"), "{screen}");
    let html = std::fs::read_to_string(&report).expect("the report was written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..100.min(html.len())]);
    for stage in STAGES {
        assert!(html.contains(&format!(">{stage}<")), "the report names {stage}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn in_a_small_terminal_the_table_scrolls_to_the_selection() {
    let dir = common::temp_dir("top-small");
    let command = ingest_command(&common::example_binary("ingest"), &dir, "--top");
    let pane = Pane::start("top-small", 120, 20, &command);
    let screen = pane.wait_for("the table", |s| !table(s).0.is_empty() && table(s).1.is_some());
    let (rows, _) = table(&screen);
    assert!(rows.len() < STAGES.len(), "a 20-line terminal shows part of the table:\n{screen}");
    assert!(!rows.iter().any(|r| r == "store"), "{screen}");

    pane.keys(&["End"]);
    let screen = pane.wait_for("the last row selected", |s| table(s).1.as_deref() == Some("store"));
    let (rows, _) = table(&screen);
    assert_eq!(rows.last().map(String::as_str), Some("store"), "{screen}");
    assert!(!rows.iter().any(|r| r == "source"), "scrolled down past the first row:\n{screen}");

    pane.keys(&["PageUp", "Home"]);
    pane.wait_for("back to the top", |s| table(s).1.as_deref() == Some("source"));
    pane.keys(&["q"]);
    let screen = pane.wait_for("the run to end", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the child process on drop, so that a failed test leaves no
/// ingest process running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn weir_top_watches_another_process_through_its_metrics_endpoint() {
    let dir = common::temp_dir("top-remote");
    let (child, addr, rest) = common::ingest_with_metrics(&dir, 100_000_000);
    let mut child = Killed(child);

    let top = common::package_binary("weir-view", "weir-top");
    let pane = Pane::start("top-remote", 160, 50, &format!("{top} http://{addr}; echo EXIT=$?; sleep 600"));
    let screen = pane.wait_for("the other process's stages", |s| table(s).0.len() == STAGES.len());
    assert!(screen.contains(&format!("http://{addr}/weir/samples")), "says what it watches:\n{screen}");
    assert!(conservation(&screen).ends_with('✓'), "{screen}");
    pane.keys(&["/", "enr", "Enter"]);
    pane.wait_for("the filter applied", |s| table(s).0 == ["enrich"]);
    pane.keys(&["q"]);
    let screen = pane.wait_for("weir-top to end", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");

    // Leaving the view leaves the other process running.
    assert!(child.0.try_wait().expect("status").is_none(), "the ingest process still runs");
    let killed = Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = child.0.wait().expect("exits");
    let mut stdout = String::new();
    child.0.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("reads stdout");
    assert!(status.success(), "{stdout}\n{}", rest.join().unwrap_or_default());
    assert!(stdout.contains(": conserved"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
