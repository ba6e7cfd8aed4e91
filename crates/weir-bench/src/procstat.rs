//! Reading a process's CPU time and scheduling delay from `/proc`.

/// The pid of the `redis-server` listening on `port`, from `/proc`: its
/// command line is `redis-server --port <port> …` until the server renames
/// its process to `redis-server <address>:<port>`.
pub(crate) fn redis_pid(port: u16) -> String {
    let port = port.to_string();
    let suffix = format!(":{port}");
    for dir in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(dir.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline);
        let args: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
        let renamed = args.len() == 1 && args[0].contains("redis-server ") && args[0].ends_with(&suffix);
        let named = args.first().is_some_and(|a| a.ends_with("redis-server"))
            && args.windows(2).any(|w| w[0] == "--port" && w[1] == port);
        if renamed || named {
            return dir.file_name().to_string_lossy().into_owned();
        }
    }
    panic!("no redis-server process listening on port {port} in /proc");
}

/// A process's CPU time so far, user and system, in clock ticks
/// (`/proc/<pid>/stat` fields 14 and 15); `pid` may be `self`.
pub(crate) fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The time a process's main thread spent ready to run but waiting for a
/// core, in nanoseconds (`/proc/<pid>/schedstat`, second field).
pub(crate) fn run_queue_ns(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).expect("/proc/<pid>/schedstat");
    stat.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("the run-queue wait")
}
