//! The main job: network packets -> parse -> store, under load, with
//! transient failures that never stop the flow.
//!
//! By default it ingests 1,000,000 generated packets from 1,000 devices
//! into SQLite (`ingest.db`), dead-lettering whatever cannot be stored to
//! `dead-letters.jsonl`, with a progress bar on stderr and a report at the
//! end; `--postgres URL` stores into PostgreSQL instead. `--listen ADDR` serves TCP clients instead (`ingest send --to
//! ADDR` is one), `--file PATH` reads a file of frames, `--replay PATH`
//! feeds an earlier run's dead letters back in. `--aggregate` also keeps a
//! per-device per-minute table (`device_minutes`) of the stored packets.
//! `--redis URL --consumer
//! NAME` consumes packets from a Redis stream as one member of a
//! consumer group, so that N processes on N hosts share the work; `load`
//! writes generated packets into that stream. The first Ctrl-C
//! stops intake and drains (every batch committed, dead letters synced);
//! a second one aborts, and the report counts what was abandoned (never
//! acknowledged).
//!
//! ```sh
//! cargo run --release --example ingest
//! cargo run --release --example ingest -- --help
//! cargo run --release --example ingest -- --listen 127.0.0.1:7878 &
//! cargo run --release --example ingest -- send --to 127.0.0.1:7878 --connections 8 --malformed 0.01
//! cargo run --release --example ingest -- --metrics-addr 127.0.0.1:9898 # Prometheus: GET /metrics
//! cargo run --release --example ingest -- --aggregate # also per-device per-minute aggregates
//! cargo run --release --example ingest -- --top --report report.html # watch it live; an HTML report at the end
//! # many processes on many hosts, sharing a Redis stream (see the README):
//! cargo run --release --example ingest -- load --redis redis://10.0.0.5:6379/ --stream packets
//! cargo run --release --example ingest -- --redis redis://10.0.0.5:6379/ --stream packets --group ingest --consumer host-a
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use examples::ingest::aggregate::{self, DeviceMinute};
use examples::ingest::generator::Generator;
use examples::ingest::job::{FRAME_FIELD, Settings, Source, Tallies, pipeline};
use examples::ingest::send::{Traffic, send};
use examples::ingest::tcp::Intake;
use examples::ingest::{progress, summary};
use weir::deadletter::JsonLines;
use weir::flow::{Breaker, BreakerSinkExt, BreakerState};
use weir::prelude::*;
use weir::retry::{RetryPolicy, RetrySinkExt};
use weir::sink::BoxSink;
use weir_metrics::Exporter;
use weir_packet::Packet;
use weir_postgres::PgSink;
use weir_redis::{RedisSink, RedisSource};
use weir_sqlite::SqliteSink;
use weir_view::Sampler;
use weir_view::top::{self, Feed};

/// Rows the store committed and duplicates it absorbed, read at the end.
type Counts = Box<dyn Fn() -> (u64, u64)>;

/// Ingest telemetry packets into SQLite: decode, validate, enrich, batch,
/// store; dead-letter what cannot be stored.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A client: send generated frames to an ingest server over TCP and
    /// print what was sent.
    Send(SendArgs),
    /// Add generated frames to a Redis stream (one entry per frame, in its
    /// `frame` field), for consumers started with --redis to share.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Packets to generate.
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Devices the packets come from.
    #[arg(long, default_value_t = 1_000)]
    devices: u32,
    /// Share of frames broken on purpose, every way the decoder names (0.01 = 1 %).
    #[arg(long, default_value_t = 0.0)]
    malformed: f64,
    /// Share of packets sent twice, as a retrying client would.
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl GenArgs {
    fn generator(&self) -> Generator {
        Generator {
            packets: self.packets,
            devices: self.devices,
            malformed: self.malformed,
            duplicates: self.duplicates,
            seed: self.seed,
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    generate: GenArgs,
    /// Consume packets from a Redis stream instead, as one member of a
    /// consumer group (e.g. redis://10.0.0.5:6379/); runs until Ctrl-C.
    #[arg(long, value_name = "URL", conflicts_with_all = ["listen", "file", "replay"], requires = "consumer")]
    redis: Option<String>,
    #[command(flatten)]
    group: GroupArgs,
    /// Serve TCP clients on this address instead of generating packets.
    #[arg(long, value_name = "ADDR", conflicts_with = "file")]
    listen: Option<SocketAddr>,
    /// Connections served at once (with --listen).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Read length-prefixed frames from this file instead.
    #[arg(long, value_name = "PATH", conflicts_with = "replay")]
    file: Option<PathBuf>,
    /// Feed the frames of an earlier run's dead-letter file back in (after a
    /// fix); what fails again goes to --dead-letters, which must be another file.
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    replay: Option<PathBuf>,
    /// The SQLite database (the default store).
    #[arg(long, default_value = "ingest.db")]
    db: PathBuf,
    /// Store into PostgreSQL instead, e.g. "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    /// (a `packets` table is created if missing).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Where failures go, as JSON lines (replayable).
    #[arg(long, default_value = "dead-letters.jsonl")]
    dead_letters: PathBuf,
    /// Enrichment workers (with --adaptive, the most that run at once).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Run the enrichment workers under an adaptive concurrency limit,
    /// found from their round-trip time (`--adaptive false`: all at once).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    adaptive: bool,
    /// Guard the database with a circuit breaker: while it fails, intake
    /// pauses (nothing is dropped) and one probe tells when it is back
    /// (`--breaker false`: the retries alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    breaker: bool,
    /// Seconds a batch waits out a database outage (with the breaker)
    /// before it is dead-lettered as "gave up"; without the breaker a
    /// batch has 10 attempts.
    #[arg(long, default_value_t = 300)]
    outage_limit: u64,
    /// Rows per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// The longest a partial batch waits, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_wait_ms: u64,
    /// Seconds a Ctrl-C lets in-flight packets drain before aborting.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Also keep per-device per-minute aggregates of the stored packets
    /// (table `device_minutes` in the same database: packets, readings,
    /// sum, min, max), from a keyed window on the packets' time.
    #[arg(long)]
    aggregate: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Serve Prometheus metrics on this address (`GET /metrics`): per-stage
    /// counts, queue depths, end-to-end latency.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Watch the run in this terminal (weir top): the stage graph
    /// coloured by backpressure, a table to sort (s, r), filter (/) and
    /// scroll, sparklines, the conservation line. q leaves the view and
    /// drains the run, as Ctrl-C does. With --metrics-addr, `weir-top
    /// http://HOST:PORT` watches from another terminal instead.
    #[arg(long, conflicts_with = "quiet")]
    top: bool,
    /// At the end, write a self-contained HTML report of the run here
    /// (stage graph, throughput and queue depth over time for the last
    /// hour, latencies, retries and dead letters by class, conservation).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct GroupArgs {
    /// The Redis stream (with --redis).
    #[arg(long, default_value = "packets")]
    stream: String,
    /// The consumer group (with --redis); every process that shares the
    /// stream's work joins the same group.
    #[arg(long, default_value = "ingest")]
    group: String,
    /// This process's name in the group (with --redis): one per process,
    /// the same across its restarts, so that it finds its own unfinished
    /// entries again.
    #[arg(long)]
    consumer: Option<String>,
    /// Seconds a consumer may stop answering (it died, paused, lost the
    /// network) before the others take over the entries in its hands.
    #[arg(long, default_value_t = 30.0)]
    claim_idle: f64,
    /// Deliveries after which an entry goes to the dead-letter stream
    /// (<stream>:dead) instead.
    #[arg(long, default_value_t = 5)]
    max_deliveries: u64,
}

impl GroupArgs {
    fn source(&self, url: &str) -> Result<RedisSource, String> {
        let consumer = self.consumer.clone().ok_or("--redis needs --consumer NAME")?;
        let claim_idle = Duration::try_from_secs_f64(self.claim_idle)
            .map_err(|_| format!("--claim-idle {} is not a number of seconds", self.claim_idle))?;
        Ok(RedisSource::new(url, &self.stream, &self.group, consumer)
            .claim_idle(claim_idle)
            .claim_every((claim_idle / 2).min(Duration::from_secs(5)))
            .max_deliveries(self.max_deliveries))
    }
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The Redis server.
    #[arg(long, value_name = "URL")]
    redis: String,
    /// The stream to add the frames to.
    #[arg(long, default_value = "packets")]
    stream: String,
    /// Keep the stream at about this many entries (MAXLEN ~).
    #[arg(long)]
    max_len: Option<u64>,
    #[command(flatten)]
    generate: GenArgs,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The ingest server's address.
    #[arg(long)]
    to: SocketAddr,
    /// Connections to open.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Frames per second over all connections (default: as fast as the server takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Extra connections that each send one oversize frame.
    #[arg(long, default_value_t = 0)]
    oversize: u64,
    #[command(flatten)]
    generate: GenArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Send(args)) => send_frames(args).await,
        Some(Command::Load(args)) => load(args).await,
        None => ingest(cli.run).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ingest: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn send_frames(args: SendArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let traffic = Traffic {
        frames: args.generate.generator(),
        connections: args.connections,
        rate: args.rate,
        oversize: args.oversize,
    };
    let sent = send(args.to, traffic).await?;
    println!(
        "sent {} frames: {} good, {} resent, malformed {:?}, {} oversize",
        sent.frames.total() + sent.oversize,
        sent.frames.good,
        sent.frames.duplicates,
        sent.frames.malformed,
        sent.oversize
    );
    Ok(ExitCode::SUCCESS)
}

async fn load(args: LoadArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let plan = args.generate.generator();
    let mut sink = RedisSink::new(&args.redis, &args.stream, |frame: &bytes::Bytes, fields| {
        fields.field(FRAME_FIELD, frame);
    });
    if let Some(max_len) = args.max_len {
        sink = sink.max_len(max_len);
    }
    let counters = sink.counters();
    Pipeline::from_iter(plan.frames().map(|g| g.frame)).sink(sink).run().await?;
    let tally = plan.tally();
    println!(
        "loaded {} frames into {}: {} good, {} resent, malformed {:?}",
        counters.added(),
        args.stream,
        tally.good,
        tally.duplicates,
        tally.malformed
    );
    Ok(ExitCode::SUCCESS)
}

async fn ingest(args: RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if args.replay.as_ref().is_some_and(|replay| replay == &args.dead_letters) {
        return Err(
            "--replay and --dead-letters name the same file: write the new dead letters elsewhere".into()
        );
    }
    let mut redis = None;
    let (source, total) = match (&args.listen, &args.file) {
        _ if args.redis.is_some() => {
            let source = args.group.source(args.redis.as_deref().expect("checked"))?;
            redis = Some(source.counters());
            (Source::Redis(Box::new(source)), None)
        }
        _ if args.replay.is_some() => (Source::Replay(args.replay.clone().expect("checked")), None),
        (Some(addr), _) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("ingest: listening on {}", listener.local_addr()?);
            let intake = Intake { max_connections: args.max_connections, ..Intake::default() };
            (Source::Listen(listener, intake), None)
        }
        (None, Some(path)) => (Source::File(path.clone()), None),
        (None, None) => (Source::Generator(args.generate.generator()), Some(args.generate.packets)),
    };
    // Busy/locked SQLite and lost PostgreSQL connections, serialization
    // failures and the like are transient: retried with backoff; anything
    // else fails the batch at once (dead-lettered).
    let policy = RetryPolicy::exponential(Duration::from_millis(20)).cap(Duration::from_secs(2));
    // The breaker inside the retries: while the database fails, every
    // retry waits for it, the store stops taking batches, and intake
    // pauses; one probe a cool-down tells when to go on. Each failed
    // probe is an attempt, so with the breaker a batch's retries are
    // bounded by time (the outage it waits out), not by a count.
    let policy = if args.breaker {
        policy.max_attempts(u32::MAX).max_elapsed(Duration::from_secs(args.outage_limit))
    } else {
        policy.max_attempts(10)
    };
    // It opens after three failed calls in a row (a batch or a flush
    // each), or half the calls of the last 10 s.
    let breaker = Breaker::new().consecutive_failures(3).cool_down(Duration::from_millis(500));
    let (store, counts, where_stored) = match &args.postgres {
        Some(url) => {
            let sink = PgSink::<Packet>::connect(url).await?;
            let counters = sink.counters();
            let counts: Counts = Box::new(move || (counters.inserted(), counters.duplicates()));
            (
                guarded(sink, args.breaker.then(|| breaker.clone()), policy.clone()),
                counts,
                "PostgreSQL, table packets".to_owned(),
            )
        }
        None => {
            let sink = SqliteSink::<Packet>::open(&args.db)?;
            let counters = sink.counters();
            let counts: Counts = Box::new(move || (counters.stored(), counters.duplicates()));
            (
                guarded(sink, args.breaker.then(|| breaker.clone()), policy.clone()),
                counts,
                args.db.display().to_string(),
            )
        }
    };
    if args.breaker {
        tokio::spawn(watch_breaker(breaker));
    }
    // The aggregates: a pipeline of their own, fed by the store with the
    // packets it stored; it ends when the main pipeline's store is dropped.
    let (store, minutes) = if args.aggregate {
        let (to, packets) = tokio::sync::mpsc::channel(4096);
        let minutes = match &args.postgres {
            // Retried as the packets' store is (without its breaker).
            Some(url) => aggregate::pipeline(
                packets,
                guarded(PgSink::<DeviceMinute>::connect(url).await?, None, policy.clone()),
            ),
            None => aggregate::pipeline(
                packets,
                guarded(SqliteSink::<DeviceMinute>::open(&args.db)?, None, policy.clone()),
            ),
        };
        (BoxSink::new(aggregate::Tee::new(store, to)), Some(minutes.spawn()?))
    } else {
        (store, None)
    };
    let dead = JsonLines::open(&args.dead_letters)?;
    let settings = Settings {
        workers: args.workers,
        adaptive: args.adaptive,
        batch: args.batch,
        batch_wait: Duration::from_millis(args.batch_wait_ms),
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    let tallies = Tallies::new();
    let (runnable, closer) = pipeline(source, settings, store, dead, &tallies)?;
    // Listening for Ctrl-C before the run starts: one that comes early
    // still drains, instead of killing the process.
    let mut interrupts = Interrupts::listen()?;
    let handle = runnable.spawn()?;
    // Sampled once a second when someone watches: the view, the report,
    // or weir-top through the metrics endpoint.
    // A report keeps the last hour of samples, a view the last five minutes.
    let keep = if args.report.is_some() { 3600 } else { 300 };
    let sampling = (args.top || args.report.is_some() || args.metrics_addr.is_some())
        .then(|| Sampler::new().keep(keep).start(handle.monitor()))
        .transpose()?;
    let _metrics = match &args.metrics_addr {
        Some(addr) => {
            let mut exporter = Exporter::new(handle.monitor()).latency_micros(tallies.latency.clone());
            if let Some(sampling) = &sampling {
                let history = sampling.history();
                exporter = exporter.samples(move || history.to_json());
            }
            let server = exporter.serve(addr.as_str()).await?;
            eprintln!("ingest: metrics on http://{}/metrics", server.local_addr());
            Some(server)
        }
        None => None,
    };
    let bar = progress::show(handle.monitor(), total, args.quiet || args.top);
    let signals = handle.signals();
    let stop_intake = move || {
        if let Some(closer) = &closer {
            closer.close(); // the TCP server stops accepting and reading
        }
        signals.shutdown();
    };
    let drain = stop_intake.clone();
    let signals = handle.signals();
    tokio::spawn(async move {
        interrupts.next().await;
        eprintln!("ingest: stopping intake, draining in-flight packets (Ctrl-C again aborts)");
        drain();
        interrupts.next().await;
        eprintln!("ingest: aborting; packets in flight are abandoned, not acknowledged");
        signals.abort();
    });
    let mut view = match (&sampling, args.top) {
        (Some(sampling), true) => {
            Some(Box::pin(top::run(Feed::local(sampling.history()), Duration::from_millis(250))))
        }
        _ => None,
    };
    let mut joined = std::pin::pin!(handle.join());
    let result = match &mut view {
        Some(shown) => tokio::select! {
            result = &mut joined => result,
            left = shown => {
                view = None;
                match left {
                    Ok(()) => eprintln!("ingest: view closed; stopping intake, draining in-flight packets"),
                    Err(error) => eprintln!("ingest: the view failed ({error}); stopping intake, draining"),
                }
                stop_intake();
                joined.await
            }
        },
        None => joined.await,
    };
    bar.abort();
    let report = match &result {
        Ok(report) => Some(report),
        Err(error) => error.report(),
    };
    let history = report.zip(sampling).map(|(report, sampling)| sampling.finish(report));
    if let Some(view) = view {
        // The run ended by itself: the view shows how, until the user leaves.
        view.await?;
    }
    let mut report_failed = false;
    if let (Some(path), Some(history), Some(report)) = (&args.report, &history, report) {
        match weir_view::html::write(path, "ingest", &history.snapshot(), report) {
            Ok(()) => eprintln!("ingest: run report in {} (open it in a browser)", path.display()),
            Err(error) => {
                eprintln!("ingest: cannot write the run report to {}: {error}", path.display());
                report_failed = true;
            }
        }
    }
    let (report, code) = match result {
        Ok(report) => (report, ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("ingest: the run ended on an error: {error}");
            match error.report() {
                Some(report) => (report.clone(), ExitCode::FAILURE),
                None => return Err(error.into()),
            }
        }
    };
    let (rows, duplicates) = counts();
    print!("{}", summary::summary(&report, &tallies, Some(duplicates)));
    println!("  database: {where_stored} ({rows} rows stored)");
    if let Some(minutes) = minutes {
        let minutes = minutes.join().await?;
        let window = minutes.stage("per-minute").expect("the window stage");
        let repeats = minutes.stage("once").map_or(0, |once| once.filtered);
        let late = window.gauge("window_late").unwrap_or(0);
        println!(
            "  aggregates: table device_minutes, {} device-minutes of {} stored packets ({} late and {} with a bad time, not counted; {} handed over twice, counted once)",
            window.gauge("window_emitted").unwrap_or(0),
            minutes.source_items() - repeats - window.failed,
            late,
            window.failed - late,
            repeats,
        );
    }
    println!("  dead letters: {}", args.dead_letters.display());
    if let Some(c) = redis {
        println!(
            "  redis: read {}, own re-read {}, reclaimed {}, acknowledged {}, to {}:dead {}, reconnects {}",
            c.read(),
            c.redelivered(),
            c.reclaimed(),
            c.acked(),
            args.group.stream,
            c.dead_lettered(),
            c.reconnects()
        );
    }
    Ok(if report_failed { ExitCode::FAILURE } else { code })
}

/// The store: `sink` behind the breaker (if any), behind the retries.
fn guarded<T, Si>(sink: Si, breaker: Option<Breaker>, policy: RetryPolicy) -> BoxSink<Vec<T>>
where
    T: Send + 'static,
    Si: weir::Sink<Vec<T>>,
    Si::Error: weir::Classify + std::fmt::Display,
{
    match breaker {
        Some(breaker) => BoxSink::new(sink.breaker(breaker).retry(policy).classify_by_trait()),
        None => BoxSink::new(sink.retry(policy).classify_by_trait()),
    }
}

/// Says on stderr when the database's breaker opens (intake paused) and
/// when it closes again (the database is back).
async fn watch_breaker(breaker: Breaker) {
    let mut was = breaker.state();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = breaker.state();
        match (was, now) {
            (BreakerState::Closed, BreakerState::Open | BreakerState::HalfOpen) => {
                since = tokio::time::Instant::now();
                eprintln!(
                    "ingest: the database is failing: circuit breaker open, intake paused (nothing is dropped)"
                );
            }
            (BreakerState::Open | BreakerState::HalfOpen, BreakerState::Closed) => {
                eprintln!(
                    "ingest: the database is back after {:.1} s: circuit breaker closed, intake resumed",
                    since.elapsed().as_secs_f64()
                );
            }
            _ => {}
        }
        was = now;
    }
}

/// Ctrl-C, listened for from when it is made.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Starts listening (on Unix, the SIGINT handler is installed here).
    fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
            Ok(Self { signal })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next Ctrl-C.
    async fn next(&mut self) {
        #[cfg(unix)]
        let received = self.signal.recv().await.is_some();
        #[cfg(not(unix))]
        let received = tokio::signal::ctrl_c().await.is_ok();
        if !received {
            std::future::pending::<()>().await;
        }
    }
}
