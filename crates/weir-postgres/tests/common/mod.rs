//! Helpers shared by the PostgreSQL tests: packets, a client, counts.

#![allow(dead_code, unreachable_pub, reason = "each test file uses a part")]

use weir_packet::{Packet, Reading};
use weir_postgres::tokio_postgres::{self, Client, NoTls};
use weir_testkit::postgres::TestServer;

/// A test server without fsync: these tests check logic, not disk speed.
pub fn server() -> TestServer {
    TestServer::builder().fsync(false).start()
}

/// Packet `i`: 1,000 devices, each with its own sequence numbers.
pub fn packet(i: u64) -> Packet {
    Packet::new(
        (i % 1000) as u32,
        i / 1000,
        1_700_000_000_000 + i,
        [Reading::new(1, i as f32), Reading::new(2, 0.5)],
    )
}

/// A client of its own, for the test's counts.
pub async fn client(server: &TestServer) -> Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// `SELECT count(*) FROM table`.
pub async fn count(client: &Client, table: &str) -> u64 {
    let n: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0);
    n as u64
}
