//! Drawing the view: the stage graph, the table, the sparklines, the
//! conservation line.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::app::{App, COLUMNS};
use crate::history::Snapshot;
use crate::sample::{Sample, StageSample};

/// What the view draws from: where it is attached and what it read.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// Where the samples come from (`this process`, a URL).
    pub(crate) attached: String,
    pub(crate) snapshot: Snapshot,
    /// The last error reading them, shown until a read succeeds.
    pub(crate) error: Option<String>,
}

/// The colour of a stage by the share of time its output waited: green,
/// amber, red.
pub(crate) fn pressure_colour(backpressured: f64) -> Color {
    if backpressured >= 0.5 {
        Color::Red
    } else if backpressured >= 0.1 {
        Color::Yellow
    } else {
        Color::Green
    }
}

pub(crate) fn draw(frame: &mut Frame<'_>, app: &mut App, view: &View) {
    let [title, graph, table, sparks, conservation, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Min(5),
        Constraint::Length(6),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let latest = view.snapshot.samples.back();
    frame.render_widget(Paragraph::new(title_line(view, latest)), title);
    let Some(sample) = latest else {
        let waiting = view.error.clone().unwrap_or_else(|| "waiting for the first sample…".to_owned());
        frame.render_widget(Paragraph::new(waiting), graph);
        frame.render_widget(Paragraph::new(help_line(app)), help);
        return;
    };
    frame.render_widget(stage_graph(sample), graph);
    let rows = app.rows(sample);
    app.selected = app.selected.min(rows.len().saturating_sub(1));
    app.page = usize::from(table.height.saturating_sub(3));
    draw_table(frame, table, app, &rows);
    if let Some(stage) = rows.get(app.selected) {
        draw_sparklines(frame, sparks, &view.snapshot, &stage.name);
    }
    let line = sample.conservation.to_string();
    let colour = if sample.conservation.holds() { Color::Green } else { Color::Red };
    frame.render_widget(Paragraph::new(Span::styled(line, Style::new().fg(colour))), conservation);
    frame.render_widget(Paragraph::new(help_line(app)), help);
}

fn title_line<'a>(view: &View, latest: Option<&Sample>) -> Line<'a> {
    let mut spans = vec![
        Span::styled("weir top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" — {}", view.attached)),
    ];
    if let Some(sample) = latest {
        spans.push(Span::raw(format!(" — {:.0} s", sample.at)));
    }
    match (&view.snapshot.ended, &view.error) {
        (Some(ending), _) => {
            spans.push(Span::styled(
                format!(" — run ended: {ending} (q to leave)"),
                Style::new().fg(Color::Cyan),
            ));
        }
        (None, Some(error)) => spans.push(Span::styled(format!(" — {error}"), Style::new().fg(Color::Red))),
        (None, None) => {}
    }
    Line::from(spans)
}

/// The stages left to right, each coloured by backpressure, with its
/// output rate and busy share.
fn stage_graph(sample: &Sample) -> Paragraph<'_> {
    let mut spans = Vec::new();
    for (i, stage) in sample.stages.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" ─▶ "));
        }
        let style = Style::new().fg(Color::Black).bg(pressure_colour(stage.backpressured));
        let label = format!(" {} {}/s busy {} ", stage.name, rate(stage.out_per_sec), percent(stage.busy));
        spans.push(Span::styled(label, style));
    }
    let legend = Line::from(vec![
        Span::raw("backpressure: "),
        Span::styled(" <10% ", Style::new().fg(Color::Black).bg(Color::Green)),
        Span::styled(" <50% ", Style::new().fg(Color::Black).bg(Color::Yellow)),
        Span::styled(" ≥50% ", Style::new().fg(Color::Black).bg(Color::Red)),
    ]);
    Paragraph::new(vec![Line::from(spans), legend])
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title("graph"))
}

fn draw_table(frame: &mut Frame<'_>, area: Rect, app: &App, rows: &[&StageSample]) {
    let header = COLUMNS.iter().enumerate().map(|(i, name)| {
        let arrow = match (i == app.sort, app.descending) {
            (true, true) => "▼",
            (true, false) => "▲",
            (false, _) => "",
        };
        Cell::from(format!("{name}{arrow}"))
    });
    let header = Row::new(header).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body = rows.iter().map(|s| {
        let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
        let opt = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
        let running = match (s.running, s.limit) {
            (Some(running), Some(limit)) => format!("{running}/{limit}"),
            _ => "–".to_owned(),
        };
        let queue = s.queue.map_or_else(|| "–".to_owned(), |(depth, capacity)| format!("{depth}/{capacity}"));
        let name = match &s.breaker {
            Some(state) => format!("{} [{state}]", s.name),
            None => s.name.clone(),
        };
        Row::new([
            Cell::from(name).style(Style::new().fg(pressure_colour(s.backpressured))),
            Cell::from(rate(s.in_per_sec)),
            Cell::from(rate(s.out_per_sec)),
            Cell::from(s.in_flight.to_string()),
            Cell::from(running),
            Cell::from(queue),
            Cell::from(percent(s.busy)),
            Cell::from(percent(s.backpressured)),
            Cell::from(ms(s.p50_ms)),
            Cell::from(ms(s.p99_ms)),
            Cell::from(s.failed.to_string()),
            Cell::from(s.dead_letters().to_string()),
            Cell::from(s.retries.to_string()),
            Cell::from(opt(s.retries_parked)),
        ])
    });
    let mut widths = vec![Constraint::Min(14)];
    widths.extend(std::iter::repeat_n(Constraint::Length(9), COLUMNS.len() - 1));
    let title = if app.editing {
        format!("stages — filter: {}▏", app.filter)
    } else if app.filter.is_empty() {
        "stages".to_owned()
    } else {
        format!("stages — filter: {}", app.filter)
    };
    let table = Table::new(body, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ");
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_sparklines(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, name: &str) {
    let [left, right] = Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(area);
    let width = usize::from(left.width.saturating_sub(2));
    let series = |read: &dyn Fn(&StageSample) -> u64| -> Vec<u64> {
        let all: Vec<u64> = snapshot.samples.iter().map(|s| s.stage(name).map_or(0, read)).collect();
        all[all.len().saturating_sub(width)..].to_vec()
    };
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a rate drawn as a bar")]
    let throughput = series(&|s| s.out_per_sec.round() as u64);
    let queue = series(&|s| s.queue.map_or(s.in_flight, |(depth, _)| depth));
    let last = |v: &[u64]| v.last().copied().unwrap_or(0);
    let what = if snapshot.samples.back().and_then(|s| s.stage(name)).is_some_and(|s| s.queue.is_some()) {
        "queue depth"
    } else {
        "in flight"
    };
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!("{name}: out/s ({})", last(&throughput))))
            .data(&throughput)
            .style(Style::new().fg(Color::Cyan)),
        left,
    );
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!("{name}: {what} ({})", last(&queue))))
            .data(&queue)
            .style(Style::new().fg(Color::Magenta)),
        right,
    );
}

fn help_line<'a>(app: &App) -> Line<'a> {
    let text = if app.editing {
        "type a stage name · Enter keep · Esc clear"
    } else {
        "q quit · s/S sort column · r reverse · / filter · c clear filter · ↑↓ PgUp PgDn scroll"
    };
    Line::from(Span::styled(text, Style::new().fg(Color::DarkGray)))
}

/// A rate, short: 950, 12.3k, 4.56M.
fn rate(per_sec: f64) -> String {
    match per_sec {
        r if r >= 1e6 => format!("{:.2}M", r / 1e6),
        r if r >= 1e4 => format!("{:.1}k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}
