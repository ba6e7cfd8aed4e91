//! The page's look: its inline style sheet and the colours of series,
//! backpressure and error classes.

/// The inline style sheet: system font, light background, bordered tables.
pub(crate) const CSS: &str = r#"*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1f2328;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 16px 8px}
h1{margin:0 0 12px;font-size:26px;overflow-wrap:anywhere}
h2{margin:0 0 12px;font-size:18px}
h3{margin:20px 0 8px;font-size:15px}
section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:16px 20px;margin:16px 0}
.facts{display:flex;flex-wrap:wrap;gap:8px 32px;margin:0}
.facts dt{color:#57606a;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-size:16px;font-weight:600}
.conservation{margin:14px 0 0;padding:8px 12px;border-radius:6px;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.ok{background:#dafbe1;color:#116329;border:1px solid #4ac26b}
.bad{background:#ffebe9;color:#a40e26;border:1px solid #ff8182}
svg{display:block;width:100%;height:auto;margin:4px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0 12px}
th,td{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa;text-align:left;font-weight:600}
th.group{text-align:center}
.scroll{overflow-x:auto}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tfoot td{font-weight:600;background:#f6f8fa}
.caption{color:#57606a;font-size:13px;margin:0 0 6px}
.note{color:#57606a;font-style:italic}
footer{color:#57606a;font-size:12px;text-align:center;padding:4px 16px 24px}
"#;

/// The colours of series, one per stage, cycling.
const PALETTE: [&str; 8] =
    ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f", "#d4a72c"];

/// The colour of the stage at `index` in pipeline order.
pub(crate) fn series(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// The fill of a stage box by the fraction (0 to 1) of the run it was
/// backpressured: green under 10 %, amber under 50 %, red from 50 %.
pub(crate) fn pressure(fraction: f64) -> &'static str {
    PRESSURE[if fraction < 0.1 {
        0
    } else if fraction < 0.5 {
        1
    } else {
        2
    }]
    .1
}

/// The backpressure bands: their legend and fill.
pub(crate) const PRESSURE: [(&str, &str); 3] =
    [("backpressured < 10 %", "#c9ecc9"), ("10 – 50 %", "#fde3a7"), ("≥ 50 %", "#f6b8b1")];

/// The error classes of dead letters, in [`weir_core::ErrorClass`] order
/// (transient, permanent, poison): their name and colour.
pub(crate) const CLASSES: [(&str, &str); 3] =
    [("transient", "#f2a93b"), ("permanent", "#d9534f"), ("poison", "#7b3294")];
