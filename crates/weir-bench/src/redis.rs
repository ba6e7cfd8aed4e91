//! The Redis Streams case (issue 11): N entries, each a telemetry frame,
//! preloaded into a stream and consumed by a consumer group of 1, 2 or 4
//! consumer *processes* (this binary again, `redis-consumer`, see
//! `redis_consumer.rs`), each decoding every frame into an in-memory
//! store: weir's `RedisSource` pipeline against a hand-written
//! XREADGROUP/XACK loop with the redis crate. There is no anchor for
//! Redis; the hand-written loop is the baseline.
//!
//! The time runs from the start signal to the consumers until this
//! process, polling `XINFO GROUPS` every 5 ms, sees every entry read and
//! none pending (the last XACK confirmed). Loading is not timed. Around
//! each timed run the CPU time of `redis-server` is read from `/proc`, to
//! show where Redis itself becomes the limit.

use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamInfoGroupsReply;
use weir_packet::{Packet, Reading};
use weir_testkit::redis::RedisServer;

use crate::procstat::{cpu_ticks, redis_pid, run_queue_ns};
use crate::redis_consumer::{Consumer, FIELD, Store};
use crate::table::{Row, Table};

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`).
const CLK_TCK: f64 = 100.0;

/// How often the parent asks Redis whether the group is done.
const POLL: Duration = Duration::from_millis(5);

/// XADDs per pipelined request while loading.
const LOAD_CHUNK: usize = 2_000;

/// Which consumer a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// weir's `RedisSource` pipeline.
    Weir,
    /// The hand-written XREADGROUP/XACK loop.
    Hand,
}

impl Kind {
    /// Its name on the consumer's command line.
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Kind::Weir => "weir",
            Kind::Hand => "hand",
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// Entries per second, end to end.
    rate: f64,
    /// redis-server's CPU during the run, in percent of one core.
    redis_cpu: f64,
    /// How long redis-server's main thread (its event loop) was ready to
    /// run but waiting for a core, in percent of the run.
    redis_wait: f64,
    /// The consumer processes' CPU per entry, in microseconds (their whole
    /// life: start-up and the wait for the stop signal included).
    consumer_us: f64,
}

impl Outcome {
    /// The median of each measure over `runs`.
    fn median(runs: &[Outcome]) -> Outcome {
        let m = |f: fn(&Outcome) -> f64| median(runs.iter().map(f).collect());
        Outcome {
            rate: m(|o| o.rate),
            redis_cpu: m(|o| o.redis_cpu),
            redis_wait: m(|o| o.redis_wait),
            consumer_us: m(|o| o.consumer_us),
        }
    }

    /// How much of the run redis-server's event loop was running or ready
    /// to run: at ~100 % Redis is the limit (on this machine, a core for it).
    fn redis_busy(&self) -> f64 {
        self.redis_cpu + self.redis_wait
    }

    /// The CPU measures, for a label.
    fn cpu(&self) -> String {
        format!(
            "redis-server {:.0} % CPU + {:.0} % waiting for a core, consumers {:.2} us CPU/entry",
            self.redis_cpu, self.redis_wait, self.consumer_us
        )
    }
}

/// The server, its process id, the frames and a connection to load and poll.
struct Bench {
    server: RedisServer,
    pid: String,
    frames: Vec<Bytes>,
    expected: Store,
    runtime: tokio::runtime::Runtime,
    conn: MultiplexedConnection,
    runs: usize,
}

/// Frame `i`: 1,000 devices, 4 readings, 50 bytes, as in the TCP case.
fn frame(i: u64) -> Bytes {
    Packet::new((i % 1000) as u32, i / 1000, 1_700_000_000_000 + i, (0..4).map(|s| Reading::new(s, i as f32)))
        .encode()
}

impl Bench {
    /// Starts a server with the persistence `fsync` (see [`configure`])
    /// and makes `entries` frames.
    fn start(entries: u64, fsync: &str) -> Self {
        let server = RedisServer::start();
        let pid = redis_pid(server.port());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut conn = runtime.block_on(async {
            redis::Client::open(server.url())
                .expect("url")
                .get_multiplexed_async_connection()
                .await
                .expect("connects")
        });
        runtime.block_on(configure(&mut conn, fsync));
        let frames: Vec<Bytes> = (0..entries).map(frame).collect();
        let mut expected = Store::default();
        for f in &frames {
            expected.add(&weir_packet::decode(f.clone()).expect("a good frame"));
        }
        Self { server, pid, frames, expected, runtime, conn, runs: 0 }
    }

    /// Loads a fresh stream of every frame, with an empty group reading
    /// from its beginning; returns (stream, group). Not timed.
    fn load(&mut self) -> (String, String) {
        self.runs += 1;
        let (stream, group) = (format!("bench:{}", self.runs), format!("g{}", self.runs));
        let previous = format!("bench:{}", self.runs - 1);
        let conn = &mut self.conn;
        let frames = &self.frames;
        self.runtime.block_on(async {
            let _: () = conn.del(&previous).await.expect("DEL");
            for chunk in frames.chunks(LOAD_CHUNK) {
                let mut pipe = redis::pipe();
                for f in chunk {
                    pipe.cmd("XADD").arg(&stream).arg("*").arg(FIELD).arg(&f[..]).ignore();
                }
                let _: () = pipe.query_async(conn).await.expect("XADD");
            }
            let _: () = conn.xgroup_create(&stream, &group, "0").await.expect("XGROUP CREATE");
            let len: usize = conn.xlen(&stream).await.expect("XLEN");
            assert_eq!(len, frames.len());
        });
        (stream, group)
    }

    /// One timed run of `consumers` processes of `kind` over a fresh stream.
    fn run(&mut self, kind: Kind, consumers: usize) -> Outcome {
        let (stream, group) = self.load();
        let n = self.frames.len();
        let url = self.server.url();
        let mut children: Vec<Consumer> =
            (0..consumers).map(|i| Consumer::spawn(kind, &url, &stream, &group, i)).collect();
        for c in &mut children {
            c.expect_line("ready");
        }
        let cpu_before = cpu_ticks(&self.pid);
        let wait_before = run_queue_ns(&self.pid);
        let start = Instant::now();
        for c in &mut children {
            c.start();
        }
        let conn = &mut self.conn;
        self.runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let info: StreamInfoGroupsReply = conn.xinfo_groups(&stream).await.expect("XINFO GROUPS");
                let g = info.groups.iter().find(|g| g.name == group).expect("the group");
                if g.pending == 0 && g.entries_read == Some(n) {
                    break;
                }
                assert!(Instant::now() < deadline, "the group is not done after 2 minutes: {g:?}");
                tokio::time::sleep(POLL).await;
            }
        });
        let secs = start.elapsed().as_secs_f64();
        let redis_ticks = cpu_ticks(&self.pid) - cpu_before;
        let redis_wait_ns = run_queue_ns(&self.pid) - wait_before;
        let (mut total, mut consumer_ticks) = (Store::default(), 0);
        for c in children {
            let (store, ticks) = c.stop();
            total = total.merge(store);
            consumer_ticks += ticks;
        }
        assert_eq!(total, self.expected, "every entry stored exactly once");
        Outcome {
            rate: n as f64 / secs,
            redis_cpu: 100.0 * redis_ticks as f64 / CLK_TCK / secs,
            redis_wait: 100.0 * redis_wait_ns as f64 / 1e9 / secs,
            consumer_us: 1e6 * consumer_ticks as f64 / CLK_TCK / n as f64,
        }
    }
}

/// Sets the server's persistence for the bench (the test kit's default is
/// the append-only file, fsync on every write): `always`, `everysec`, or
/// `off` (no persistence). Automatic AOF rewrites are off either way: a
/// rewrite forks a child whose CPU the bench would not see.
async fn configure(conn: &mut MultiplexedConnection, fsync: &str) {
    let set = |k: &'static str, v: &'static str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg(k).arg(v);
        cmd
    };
    let mut cmds = vec![set("auto-aof-rewrite-percentage", "0")];
    match fsync {
        "always" => cmds.push(set("appendfsync", "always")),
        "everysec" => cmds.push(set("appendfsync", "everysec")),
        "off" => cmds.push(set("appendonly", "no")),
        other => panic!("--fsync {other}: always, everysec or off"),
    }
    for cmd in cmds {
        let _: () = cmd.query_async(conn).await.expect("CONFIG SET");
    }
}

/// The median of `xs` (the upper one of an even count).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The table: for 1, 2 and 4 consumer processes, hand-written and weir
/// alternating, `runs` runs each, medians.
pub(crate) fn bench(quick: bool, fsync: &str) {
    let (entries, runs) = if quick { (100_000, 1) } else { (400_000, 3) };
    let mut b = Bench::start(entries, fsync);
    let mut table = Table::default();
    let mut notes = Vec::new();
    let mut previous: Option<(usize, Outcome)> = None;
    for consumers in [1usize, 2, 4] {
        let (mut hand, mut weir) = (Vec::new(), Vec::new());
        for run in 0..runs {
            // Alternate which goes first, so that neither always follows the other.
            if run % 2 == 0 {
                hand.push(b.run(Kind::Hand, consumers));
                weir.push(b.run(Kind::Weir, consumers));
            } else {
                weir.push(b.run(Kind::Weir, consumers));
                hand.push(b.run(Kind::Hand, consumers));
            }
        }
        let (h, w) = (Outcome::median(&hand), Outcome::median(&weir));
        let plural = if consumers == 1 { "" } else { "es" };
        let case = format!("{entries} entries (50-byte frames), {consumers} consumer process{plural}");
        table.push(Row::baseline(
            &case,
            &format!("hand-written XREADGROUP 500 -> decode -> store -> XACK loop; {}", h.cpu()),
            h.rate,
        ));
        table.push(
            Row::measured(
                &case,
                &format!("weir: RedisSource -> decode -> batch(500, 5 ms) -> store; {}", w.cpu()),
                w.rate,
            )
            .vs("hand-written", h.rate)
            .target(">= 0.9x hand-written", w.rate >= 0.9 * h.rate),
        );
        if let Some((fewer, f)) = previous {
            let vs = if fewer == 1 { "weir, 1 process" } else { "weir, 2 processes" };
            table.push(
                Row::measured(&case, "(the same weir run, against weir with half the processes)", w.rate)
                    .vs(vs, f.rate)
                    .target(
                        "rises with processes until redis-server is the limit (busy >= 90 % with fewer)",
                        w.rate > 1.05 * f.rate || f.redis_busy() >= 90.0,
                    ),
            );
        }
        previous = Some((consumers, w));
        let list = |o: &[Outcome]| {
            o.iter()
                .map(|o| format!("{:.0} k/s ({:.0} % + {:.0} %)", o.rate / 1e3, o.redis_cpu, o.redis_wait))
                .collect::<Vec<_>>()
                .join(", ")
        };
        notes.push(format!(
            "- {consumers} process{plural}: hand-written {}; weir {}",
            list(&hand),
            list(&weir)
        ));
    }
    println!("{table}");
    println!("Every run (entries/s, redis-server CPU + its event loop waiting for a core):");
    for note in notes {
        println!("{note}");
    }
    println!(
        "redis-server {} (persistence: --fsync {fsync}); {} cores on this machine, shared by redis-server and every consumer process.",
        redis_version(&mut b),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
}

/// The server's version, from `INFO server`.
fn redis_version(b: &mut Bench) -> String {
    let conn = &mut b.conn;
    let info: String =
        b.runtime.block_on(async { redis::cmd("INFO").arg("server").query_async(conn).await }).expect("INFO");
    info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("?").to_owned()
}
