//! What the view shows and how keys change it: sort, filter, scroll.
//! Kept apart from drawing so that it is tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::sample::{Sample, StageSample};

/// The table's columns, in order; the sort keys.
pub(crate) const COLUMNS: [&str; 14] = [
    "stage",
    "in/s",
    "out/s",
    "in flight",
    "running",
    "queue",
    "busy",
    "backpr.",
    "p50 ms",
    "p99 ms",
    "failed",
    "dead",
    "retries",
    "parked",
];

/// The view's state.
#[derive(Debug, Default)]
pub(crate) struct App {
    /// The column sorted on; 0 (the stage name) keeps pipeline order.
    pub(crate) sort: usize,
    /// Largest first (names: reverse order).
    pub(crate) descending: bool,
    /// Rows whose stage name contains this (case-insensitive).
    pub(crate) filter: String,
    /// Keys go to the filter (after `/`, until Enter or Esc).
    pub(crate) editing: bool,
    /// The selected row, among those shown; its sparklines are drawn.
    pub(crate) selected: usize,
    /// Rows the table can show at once (set when drawn), for paging.
    pub(crate) page: usize,
    /// Leave the view.
    pub(crate) quit: bool,
}

impl App {
    /// Applies a key.
    pub(crate) fn on_key(&mut self, key: KeyEvent, rows: usize) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.editing {
            match key.code {
                KeyCode::Enter => self.editing = false,
                KeyCode::Esc => {
                    self.editing = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = 0;
            return;
        }
        let last = rows.saturating_sub(1);
        let page = self.page.max(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Char('s') | KeyCode::Right | KeyCode::Tab => self.sort = (self.sort + 1) % COLUMNS.len(),
            KeyCode::Char('S') | KeyCode::Left | KeyCode::BackTab => {
                self.sort = (self.sort + COLUMNS.len() - 1) % COLUMNS.len();
            }
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Char('c') => self.filter.clear(),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + page).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            _ => {}
        }
    }

    /// The rows shown: filtered, then sorted.
    pub(crate) fn rows<'a>(&self, sample: &'a Sample) -> Vec<&'a StageSample> {
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<&StageSample> =
            sample.stages.iter().filter(|s| s.name.to_lowercase().contains(&filter)).collect();
        let key = |s: &StageSample| sort_key(s, self.sort);
        match (self.sort, self.descending) {
            (0, false) => {}
            (0, true) => rows.reverse(),
            // Stable both ways: ties keep pipeline order.
            (_, false) => rows.sort_by(|a, b| key(a).total_cmp(&key(b))),
            (_, true) => rows.sort_by(|a, b| key(b).total_cmp(&key(a))),
        }
        rows
    }
}

/// A stage's value in a column, for sorting.
fn sort_key(s: &StageSample, column: usize) -> f64 {
    let opt = |v: Option<f64>| v.unwrap_or(-1.0);
    #[expect(clippy::cast_precision_loss, reason = "counts sort as floats; exact below 2^53")]
    match column {
        1 => s.in_per_sec,
        2 => s.out_per_sec,
        3 => s.in_flight as f64,
        4 => opt(s.running.map(|r| r as f64)),
        5 => opt(s.queue.map(|(depth, _)| depth as f64)),
        6 => s.busy,
        7 => s.backpressured,
        8 => opt(s.p50_ms),
        9 => opt(s.p99_ms),
        10 => s.failed as f64,
        11 => s.dead_letters() as f64,
        12 => s.retries as f64,
        13 => opt(s.retries_parked.map(|p| p as f64)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::prelude::*;
    use weir_core::sink;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    async fn sample() -> Sample {
        let report = Pipeline::from_iter(0..100)
            .filter("evens", |x| x % 2 == 0)
            .map("double", |x| x * 2)
            .filter("small", |x| *x < 40)
            .sink(sink::drain())
            .run()
            .await
            .unwrap();
        Sample::between(None, &report)
    }

    fn names(rows: &[&StageSample]) -> Vec<String> {
        rows.iter().map(|s| s.name.clone()).collect()
    }

    #[tokio::test]
    async fn sorting_filtering_and_scrolling() {
        let sample = sample().await;
        let mut app = App::default();
        assert_eq!(names(&app.rows(&sample)), ["source", "evens", "double", "small", "sink"]);
        // Sort on out/s, largest first: the source (100) before the filters.
        app.on_key(key(KeyCode::Char('s')), 5);
        app.on_key(key(KeyCode::Char('s')), 5);
        app.on_key(key(KeyCode::Char('r')), 5);
        assert_eq!(COLUMNS[app.sort], "out/s");
        let rows = names(&app.rows(&sample));
        assert_eq!(rows[0], "source");
        assert_eq!(rows.last().unwrap(), "sink");
        // Filter: typed after '/', case-insensitive, Enter keeps it.
        for c in "/DOU".chars() {
            app.on_key(key(KeyCode::Char(c)), 5);
        }
        app.on_key(key(KeyCode::Enter), 5);
        assert_eq!(names(&app.rows(&sample)), ["double"]);
        app.on_key(key(KeyCode::Char('c')), 1);
        assert_eq!(app.rows(&sample).len(), 5);
        // Scrolling stays within the rows.
        for _ in 0..10 {
            app.on_key(key(KeyCode::Down), 5);
        }
        assert_eq!(app.selected, 4);
        app.on_key(key(KeyCode::Home), 5);
        assert_eq!(app.selected, 0);
        assert!(!app.quit);
        app.on_key(key(KeyCode::Char('q')), 5);
        assert!(app.quit);
    }
}
