//! The Redis test server: answers, keeps acknowledged writes across a
//! kill and restart, runs side by side, and leaves nothing behind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use weir_testkit::redis::RedisServer;

/// Sends one command as a RESP array of bulk strings and returns the
/// reply as text (one simple reply, or a bulk string's content).
fn call(addr: SocketAddr, parts: &[&str]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!("*{}\r\n", parts.len());
    for part in parts {
        request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 512];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert_ne!(n, 0, "the server closed the connection after {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        let Some((first, rest)) = text.split_once("\r\n") else { continue };
        match first.strip_prefix('$') {
            // A bulk string: its length, then the content and a CRLF.
            Some(len) => match len.parse::<usize>() {
                Ok(len) if rest.len() >= len + 2 => return rest[..len].to_owned(),
                Ok(_) => continue,
                Err(_) => return first.to_owned(), // `$-1`: nil
            },
            None => return first.to_owned(),
        }
    }
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut reply = [0; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

#[test]
fn a_written_key_survives_a_kill_and_restart() {
    let mut server = RedisServer::start();
    assert!(server.is_running());
    assert!(ping(server.addr()), "{}", server.log());
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}/", server.port()));
    let addr = server.addr();

    assert_eq!(call(addr, &["SET", "weir:key", "kept"]), "+OK");
    assert_eq!(call(addr, &["RPUSH", "weir:list", "1", "2", "3"]), ":3");

    server.stop().unwrap();
    assert!(!server.is_running());
    assert!(TcpStream::connect(addr).is_err(), "stopped servers refuse connections");
    server.stop().unwrap(); // stopping twice is fine

    server.restart().unwrap();
    assert_eq!(server.addr(), addr, "same address and port after a restart");
    assert_eq!(call(addr, &["GET", "weir:key"]), "kept", "{}", server.log());
    assert_eq!(call(addr, &["LLEN", "weir:list"]), ":3");

    // A restart of a running server kills it first.
    assert_eq!(call(addr, &["SET", "weir:key", "again"]), "+OK");
    server.restart().unwrap();
    assert_eq!(call(addr, &["GET", "weir:key"]), "again");
    assert!(server.dir().join("appendonlydir").is_dir());
}

#[test]
fn two_servers_side_by_side() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    assert_eq!(call(a.addr(), &["SET", "k", "a"]), "+OK");
    assert_eq!(call(b.addr(), &["GET", "k"]), "$-1", "the servers share nothing");
}

#[test]
fn drop_kills_the_server_and_deletes_its_directory() {
    let server = RedisServer::start();
    let (addr, dir) = (server.addr(), server.dir().to_owned());
    assert!(ping(addr));
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "the port refuses connections after drop");
    assert!(!dir.exists(), "the directory is deleted on drop");
}

#[test]
fn a_given_port_and_a_prefix() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // `env` runs its command in place, as `ip netns exec` does, so the
    // readiness check goes through `env redis-cli … ping`.
    let mut server = RedisServer::builder().bind("0.0.0.0".parse().unwrap()).port(port).wrap(["env"]).start();
    assert_eq!(server.port(), port);
    assert_eq!(server.url(), format!("redis://0.0.0.0:{port}/"));
    let loopback = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(call(loopback, &["SET", "k", "v"]), "+OK");
    server.restart().unwrap();
    assert_eq!(call(loopback, &["GET", "k"]), "v");
    drop(server);
    assert!(TcpStream::connect(loopback).is_err(), "the prefix exec'd the server, so the kill reached it");
}

#[test]
fn a_taken_port_is_an_error_with_the_log() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let e = RedisServer::builder().port(port).try_start().unwrap_err();
    let text = e.to_string();
    assert!(text.contains("exited while starting") && text.contains("Address already in use"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(4), "retried while the port was taken");
}
