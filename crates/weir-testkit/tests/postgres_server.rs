//! The PostgreSQL test server: starts, stops, restarts on the same port,
//! and leaves nothing behind.

use std::net::TcpStream;

use weir_testkit::postgres::TestServer;

fn listening(server: &TestServer) -> bool {
    TcpStream::connect((server.host(), server.port())).is_ok()
}

#[test]
fn starts_stops_restarts_and_cleans_up() {
    let mut server = TestServer::builder().fsync(false).start();
    assert!(server.is_running());
    assert!(listening(&server), "{}", server.log());
    assert!(server.url().contains(&format!("port={}", server.port())));
    let port = server.port();

    server.stop().unwrap();
    assert!(!server.is_running());
    assert!(!listening(&server));
    server.stop().unwrap(); // stopping twice is fine

    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert!(listening(&server));

    let data = server.data_dir();
    assert!(data.join("PG_VERSION").exists());
    drop(server);
    assert!(!data.exists(), "the cluster's directory is deleted on drop");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the server is stopped on drop");
}

#[test]
fn two_servers_side_by_side() {
    let a = TestServer::builder().fsync(false).start();
    let b = TestServer::builder().fsync(false).setting("max_connections", "20").start();
    assert_ne!(a.port(), b.port());
    assert!(listening(&a) && listening(&b));
}
