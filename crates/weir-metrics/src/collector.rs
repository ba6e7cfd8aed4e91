//! The scrape-time collector: a monitor's report, encoded.

use std::fmt;
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use weir_core::Monitor;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BOUNDS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a scrape reports: a pipeline's [`Monitor`], and optionally an
/// end-to-end latency histogram the caller records into.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use weir_core::{Pipeline, sink};
/// use weir_metrics::Exporter;
/// use weir_metrics::hdrhistogram::Histogram;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
/// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
/// let exporter = Exporter::new(handle.monitor()).latency_micros(latency.clone());
/// latency.lock().unwrap().record(1_500)?; // 1.5 ms
/// handle.join().await?;
/// let text = exporter.encode();
/// assert!(text.contains("weir_end_to_end_latency_seconds_count 1"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Exporter {
    monitor: Monitor,
    latency: Option<Arc<Mutex<Histogram<u64>>>>,
    samples: Option<Arc<dyn Fn() -> String + Send + Sync>>,
}

/// Where [`Exporter::samples`] serves its JSON.
pub const SAMPLES_PATH: &str = "/weir/samples";

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter").field("latency", &self.latency.is_some()).finish_non_exhaustive()
    }
}

impl Exporter {
    /// Reports the live counts of `monitor`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Pipeline, sink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
    /// let exporter = weir_metrics::Exporter::new(handle.monitor());
    /// # handle.join().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(monitor: Monitor) -> Self {
        Self { monitor, latency: None, samples: None }
    }

    /// Also serves `read()`, a JSON document, at `GET /weir/samples`
    /// ([`SAMPLES_PATH`]): the sampler's history, which `weir top` reads
    /// to watch a pipeline in another process (`weir_view::History::to_json`).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Pipeline, sink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
    /// let exporter = weir_metrics::Exporter::new(handle.monitor()).samples(|| "{}".to_owned());
    /// assert_eq!(exporter.samples_json().as_deref(), Some("{}"));
    /// # handle.join().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn samples(mut self, read: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.samples = Some(Arc::new(read));
        self
    }

    /// The JSON [`samples`](Self::samples) serves now, if it was given.
    ///
    /// # Examples
    ///
    /// See [`samples`](Self::samples).
    pub fn samples_json(&self) -> Option<String> {
        self.samples.as_ref().map(|read| read())
    }

    /// Also reports `histogram`, whose values are microseconds, as the
    /// `weir_end_to_end_latency_seconds` histogram (fixed buckets from
    /// 0.5 ms to 10 s). It is locked once per scrape, to copy its buckets.
    ///
    /// The histogram's sum is its mean times its count: as exact as the
    /// histogram's own precision.
    ///
    /// # Examples
    ///
    /// See [`Exporter`].
    pub fn latency_micros(mut self, histogram: Arc<Mutex<Histogram<u64>>>) -> Self {
        self.latency = Some(histogram);
        self
    }

    /// The metrics as a scrape would see them now, in the OpenMetrics
    /// text format (ending in `# EOF`).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Pipeline, sink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = Pipeline::from_iter(0..10u64).map("double", |n| n * 2).sink(sink::drain()).spawn()?;
    /// let exporter = weir_metrics::Exporter::new(handle.monitor());
    /// handle.join().await?;
    /// assert!(exporter.encode().contains(r#"weir_stage_items_total{stage="double",outcome="in"} 10"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn encode(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::new();
        // Writing to a `String` cannot fail, nor can our collector.
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes to a String");
        text
    }
}

impl Collector for Exporter {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let report = self.monitor.report();
        let mut items = encoder.encode_descriptor(
            "weir_stage_items",
            "Items through each stage, by outcome (in = received, out = emitted).",
            None,
            MetricType::Counter,
        )?;
        for stage in report.stages() {
            let outcomes = [
                ("in", stage.received),
                ("out", stage.emitted),
                ("filtered", stage.filtered),
                ("failed", stage.failed),
                ("retried", stage.retried),
                ("panicked", stage.panicked),
                ("dead_lettered", stage.dead_lettered()),
                ("discarded", stage.discarded),
                ("returned", stage.returned),
                ("delivered", stage.delivered),
            ];
            for (outcome, count) in outcomes {
                let labels = [("stage", stage.name.as_str()), ("outcome", outcome)];
                items.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }
        let mut retries = encoder.encode_descriptor(
            "weir_stage_retries",
            "Retry attempts in each stage.",
            None,
            MetricType::Counter,
        )?;
        for stage in report.stages() {
            let labels = [("stage", stage.name.as_str())];
            retries.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&stage.retries, None)?;
        }
        let mut in_flight = encoder.encode_descriptor(
            "weir_stage_in_flight",
            "Items inside each stage now: its queue depth.",
            None,
            MetricType::Gauge,
        )?;
        for stage in report.stages() {
            let labels = [("stage", stage.name.as_str())];
            let depth = i64::try_from(stage.in_flight).unwrap_or(i64::MAX);
            in_flight.encode_family(&labels)?.encode_gauge(&depth)?;
        }
        let mut gauges = encoder.encode_descriptor(
            "weir_stage_gauge",
            "Readings of each stage's layers (a circuit breaker's state, its openings), by name.",
            None,
            MetricType::Gauge,
        )?;
        for stage in report.stages() {
            for (name, value) in &stage.gauges {
                let labels = [("stage", stage.name.as_str()), ("gauge", name.as_str())];
                let value = i64::try_from(*value).unwrap_or(i64::MAX);
                gauges.encode_family(&labels)?.encode_gauge(&value)?;
            }
        }
        encoder
            .encode_descriptor(
                "weir_pipeline_uptime_seconds",
                "Seconds since the run started.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&report.wall_time().as_secs_f64())?;
        if let Some(latency) = &self.latency {
            let (sum, count, buckets) = {
                let histogram = latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                latency_buckets(&histogram)
            };
            encoder
                .encode_descriptor(
                    "weir_end_to_end_latency_seconds",
                    "End-to-end latency of an item, from arrival to commit.",
                    None,
                    MetricType::Histogram,
                )?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// A microsecond histogram as Prometheus buckets in seconds: its sum, its
/// count and the count of each bucket (not cumulative; the last is `+Inf`).
fn latency_buckets(histogram: &Histogram<u64>) -> (f64, u64, Vec<(f64, u64)>) {
    let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS.iter().map(|&bound| (bound, 0)).collect();
    buckets.push((f64::INFINITY, 0));
    for value in histogram.iter_recorded() {
        #[expect(clippy::cast_precision_loss, reason = "microseconds below 2^52")]
        let seconds = histogram.highest_equivalent(value.value_iterated_to()) as f64 / 1e6;
        let bucket = buckets.iter().position(|&(bound, _)| seconds <= bound).unwrap_or(buckets.len() - 1);
        buckets[bucket].1 += value.count_at_value();
    }
    let count = histogram.len();
    #[expect(clippy::cast_precision_loss, reason = "a count below 2^52")]
    let sum = histogram.mean() * count as f64 / 1e6;
    (sum, count, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_place_each_value_once() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        histogram.record(100).unwrap(); // 0.1 ms
        histogram.record(2_000).unwrap(); // 2 ms
        histogram.record(2_000).unwrap();
        histogram.record(60_000_000).unwrap(); // a minute
        let (sum, count, buckets) = latency_buckets(&histogram);
        assert_eq!(count, 4);
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 4);
        assert_eq!(buckets[0], (0.0005, 1));
        assert_eq!(buckets[2], (0.0025, 2));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((sum - 60.0041).abs() < 0.1, "{sum}");
    }
}
