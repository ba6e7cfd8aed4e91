//! A real pipeline, scraped with a real HTTP request over loopback; the
//! body parsed as the OpenMetrics text format.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_core::{Pipeline, sink};
use weir_metrics::Exporter;
use weir_metrics::hdrhistogram::Histogram;

/// `GET path` over HTTP/1.1, by hand; returns the status line and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// Parses the text format strictly: every family has a `# TYPE` before its
/// samples, each sample line is `name{labels} value` with a known family's
/// name, and the text ends with `# EOF`. Returns each sample's value by
/// `name{labels}`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.pop(), Some("# EOF"), "ends with # EOF");
    let mut families: HashSet<String> = HashSet::new();
    let mut samples = HashMap::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(families.insert(name.to_owned()), "one # TYPE per family: {line}");
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).expect("{labels}");
            for pair in inner.split(',') {
                let (key, quoted) = pair.split_once('=').expect("key=\"value\"");
                assert!(!key.is_empty() && quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
            }
        }
        let typed = families.iter().any(|f| {
            name == f.as_str()
                || ["_total", "_sum", "_count", "_bucket"].iter().any(|s| name == format!("{f}{s}"))
        });
        assert!(typed, "sample without a # TYPE: {line}");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        assert!(samples.insert(series.to_owned(), value).is_none(), "one sample per series: {line}");
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_reports_the_monitors_counts() {
    let handle = Pipeline::from_iter(0..1_000u64)
        .filter("odd", |n| n % 2 == 1)
        .map("square", |n| n * n)
        .sink_named("store", sink::drain());
    let handle = handle.spawn().unwrap();
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    latency.lock().unwrap().record(700).unwrap();
    latency.lock().unwrap().record(30_000).unwrap();
    let monitor = handle.monitor();
    let server = Exporter::new(monitor.clone()).latency_micros(latency).serve("127.0.0.1:0").await.unwrap();
    handle.join().await.unwrap();

    let (status, body) = get(server.local_addr(), "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let samples = parse(&body);
    let report = monitor.report();
    assert!(report.stages().len() >= 3, "{:?}", report.stages());
    for stage in report.stages() {
        let item = |outcome: &str| {
            samples[&format!(r#"weir_stage_items_total{{stage="{}",outcome="{outcome}"}}"#, stage.name)]
        };
        assert_eq!(item("in"), stage.received as f64, "{}", stage.name);
        assert_eq!(item("out"), stage.emitted as f64, "{}", stage.name);
        assert_eq!(item("filtered"), stage.filtered as f64, "{}", stage.name);
        assert_eq!(item("failed"), stage.failed as f64, "{}", stage.name);
        assert_eq!(item("dead_lettered"), stage.dead_lettered() as f64, "{}", stage.name);
        assert_eq!(item("delivered"), stage.delivered as f64, "{}", stage.name);
        let retries = samples[&format!(r#"weir_stage_retries_total{{stage="{}"}}"#, stage.name)];
        assert_eq!(retries, stage.retries as f64);
        let depth = samples[&format!(r#"weir_stage_in_flight{{stage="{}"}}"#, stage.name)];
        assert_eq!(depth, 0.0, "the run ended: nothing in flight");
    }
    assert_eq!(samples[r#"weir_stage_items_total{stage="odd",outcome="in"}"#], 1000.0);
    assert_eq!(samples[r#"weir_stage_items_total{stage="odd",outcome="filtered"}"#], 500.0);
    assert_eq!(samples[r#"weir_stage_items_total{stage="store",outcome="delivered"}"#], 500.0);
    assert_eq!(samples["weir_end_to_end_latency_seconds_count"], 2.0);
    assert_eq!(samples[r#"weir_end_to_end_latency_seconds_bucket{le="0.001"}"#], 1.0);
    assert_eq!(samples[r#"weir_end_to_end_latency_seconds_bucket{le="+Inf"}"#], 2.0);

    let (status, _) = get(server.local_addr(), "/elsewhere").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn dropping_the_server_closes_the_port() {
    let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn().unwrap();
    let server = weir_metrics::serve("127.0.0.1:0", handle.monitor()).await.unwrap();
    let addr = server.local_addr();
    drop(server);
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "nothing listens after the drop");
    handle.join().await.unwrap();
}

/// A sink that publishes how many rows it took, as a gauge.
struct Counting(Arc<std::sync::atomic::AtomicU64>);

impl weir_core::Sink<u64> for Counting {
    type Error = std::convert::Infallible;

    async fn send(&mut self, _: u64) -> Result<(), weir_core::SinkError<u64, Self::Error>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn observe(&self, metrics: &weir_core::StageMetrics) {
        let taken = self.0.clone();
        metrics.gauge("rows_taken", move || taken.load(std::sync::atomic::Ordering::Relaxed));
    }
}

#[tokio::test]
async fn a_layers_gauges_are_scraped_by_name() {
    let handle = Pipeline::from_iter(0..7u64).sink_named("store", Counting(Arc::default())).spawn().unwrap();
    let monitor = handle.monitor();
    handle.join().await.unwrap();
    let samples = parse(&Exporter::new(monitor.clone()).encode());
    assert_eq!(samples[r#"weir_stage_gauge{stage="store",gauge="rows_taken"}"#], 7.0);
    assert_eq!(monitor.report().stage("store").unwrap().gauges, [("rows_taken".to_owned(), 7)]);
}
