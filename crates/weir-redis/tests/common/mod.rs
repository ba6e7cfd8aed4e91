//! What the Redis tests share: loading a stream through weir's own sink,
//! and reading the group's state with plain commands, counting for
//! ourselves.

#![allow(dead_code, reason = "each test file uses a part")]

use std::collections::BTreeSet;
use std::time::Duration;

use redis::AsyncCommands;
use weir_core::prelude::*;
use weir_redis::{Entry, RedisSink};

pub(crate) async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Adds entries `n` in `range` to `stream`, each with the field `n`.
pub(crate) async fn load(url: &str, stream: &str, range: std::ops::Range<u64>) {
    let sink = RedisSink::new(url, stream, |n: &u64, f| {
        f.field("n", n.to_string());
    });
    let report = Pipeline::from_iter(range.clone()).sink(sink).run().await.unwrap();
    assert_eq!(report.delivered(), range.end - range.start);
}

/// The number in an entry's `n` field.
pub(crate) fn number(entry: &Entry) -> u64 {
    std::str::from_utf8(entry.field("n").expect("an n field")).unwrap().parse().unwrap()
}

/// The group's pending entries (delivered, not acknowledged), as numbers.
pub(crate) async fn pending(url: &str, stream: &str, group: &str) -> BTreeSet<u64> {
    let mut conn = conn(url).await;
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut numbers = BTreeSet::new();
    for (id, ..) in rows {
        let found: redis::streams::StreamRangeReply = conn.xrange(stream, &id, &id).await.unwrap();
        let n: String = found.ids[0].get("n").unwrap();
        numbers.insert(n.parse().unwrap());
    }
    numbers
}

/// The group's entries-read count and pending count (XINFO GROUPS).
pub(crate) async fn group_counts(url: &str, stream: &str, group: &str) -> (u64, u64) {
    let mut conn = conn(url).await;
    let info: redis::streams::StreamInfoGroupsReply = conn.xinfo_groups(stream).await.unwrap();
    let g = info.groups.iter().find(|g| g.name == group).expect("the group exists");
    (g.entries_read.unwrap_or(0) as u64, g.pending as u64)
}

/// Waits, up to `limit`, for `done` to hold.
pub(crate) async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "still waiting after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
