//! Is the server answering? A raw RESP `PING`, directly or through the
//! command prefix with `redis-cli`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one check may take; the caller polls until its own deadline.
const ONE_CHECK: Duration = Duration::from_secs(1);

/// How long one `redis-cli` run may take (it has no connect timeout of
/// its own in Redis 7.0).
const ONE_CLI_RUN: Duration = Duration::from_secs(5);

/// Sends `PING` to `addr`, directly when `prefix` is empty, else as
/// `<prefix> <cli> -h <ip> -p <port> ping` (the server may run in another
/// network namespace, which this process cannot reach). `Err` says what
/// happened instead of `PONG`, for the error message.
pub(super) fn ping(prefix: &[OsString], cli: &Path, addr: SocketAddr) -> Result<(), String> {
    if prefix.is_empty() { ping_tcp(addr) } else { ping_cli(prefix, cli, addr) }
}

/// `PING\r\n` over TCP (an inline command, which every Redis accepts),
/// expecting `+PONG`. A server loading its append-only file answers
/// `-LOADING …`: not ready yet.
fn ping_tcp(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, ONE_CHECK).map_err(|e| format!("connect: {e}"))?;
    let timeouts = stream.set_read_timeout(Some(ONE_CHECK)).and(stream.set_write_timeout(Some(ONE_CHECK)));
    timeouts.map_err(|e| format!("socket: {e}"))?;
    stream.write_all(b"PING\r\n").map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0; 256];
    while !reply.ends_with(b"\r\n") && reply.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    if reply.starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(format!("answered {:?}", String::from_utf8_lossy(&reply).trim_end()))
    }
}

/// `<prefix> <cli> -h <ip> -p <port> ping`, expecting `PONG`; killed
/// after [`ONE_CLI_RUN`].
fn ping_cli(prefix: &[OsString], cli: &Path, addr: SocketAddr) -> Result<(), String> {
    let (first, rest) = prefix.split_first().expect("a prefix");
    let mut command = Command::new(first);
    command.args(rest).arg(cli).args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "ping"]);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = shown(&command);
    let mut child = command.spawn().map_err(|e| format!("could not run {shown}: {e}"))?;
    let deadline = Instant::now() + ONE_CLI_RUN;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} did not finish within {ONE_CLI_RUN:?}"));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    }
    let output = child.wait_with_output().map_err(|e| format!("{shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && stdout.trim() == "PONG" {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{shown} ({}): {}", output.status, format!("{stdout}{stderr}").trim()))
    }
}

/// A command as a shell line, for messages.
pub(super) fn shown(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') { format!("{a:?}") } else { a.into_owned() }
    }));
    parts.join(" ")
}

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server that answers `reply` to whatever it gets.
    fn answering(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0; 64];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply);
        });
        addr
    }

    #[test]
    fn pong_is_ready_and_loading_is_not() {
        assert_eq!(ping(&[], Path::new("redis-cli"), answering(b"+PONG\r\n")), Ok(()));
        let loading = ping(&[], Path::new("redis-cli"), answering(b"-LOADING Redis is loading\r\n"));
        assert!(loading.unwrap_err().contains("LOADING"));
    }

    #[test]
    fn nobody_listening_is_not_ready() {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(ping(&[], Path::new("redis-cli"), addr).unwrap_err().starts_with("connect"));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn shown_quotes_empty_arguments() {
        let mut command = Command::new("redis-server");
        command.args(["--save", ""]);
        assert_eq!(shown(&command), r#"redis-server --save """#);
    }
}
