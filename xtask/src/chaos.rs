//! `cargo xtask chaos`: a bounded flood suite against the release example servers, as an
//! attacker or a broken client would act: slow listeners, slowloris, connect-then-reset floods,
//! malformed requests, announced huge frames, clients that send and never read. After each the
//! server must be alive, serve a fresh client correctly, have logged no ERROR, and its RSS must
//! stay within the flood's bound (see [`SETTLE_BOUND_MIB`]). Every flood runs twice, so memory
//! a flood leaves behind and the next one adds to would show.
//!
//! Sized to this machine: 20,000 open files per process (the flood client and each server each
//! have their own), loopback ports 32768–60999. It prints a Markdown table (for
//! docs/hardening.md) and fails if any check fails.

use crate::cargo;
use socket2::{Domain, Socket, Type};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far above its level before a flood a server's RSS may go, during the flood and after it:
/// 32 MiB, plus, for floods that hold connections which may each fill their queues, the
/// connection budget (256 KiB) for each. The allocator keeps freed memory for reuse rather than
/// returning it at once, so "after" may stay near the flood's peak; a second run of the same
/// flood shows whether it is reused (no leak) or added to.
const SETTLE_BOUND_MIB: f64 = 32.0;

/// `kamaelia_net::DEFAULT_CONNECTION_BUDGET`, in MiB.
const CONNECTION_BUDGET_MIB: f64 = 0.25;

/// One scenario's outcome: a row of the table. Every flood runs twice.
struct Row {
    server: &'static str,
    flood: String,
    before_mib: f64,
    /// Peak and settled RSS after each of the two runs.
    runs: [(f64, f64); 2],
    /// How far above `before_mib` the RSS may go.
    bound_mib: f64,
    log_lines: usize,
    errors: usize,
    fresh_ok: bool,
    note: String,
}

impl Row {
    /// Neither run's peak nor what stays after the second passes the flood's bound above the
    /// level before (a leak would add about a flood's worth each run).
    fn memory_ok(&self) -> bool {
        let [(peak1, _), (peak2, after2)] = self.runs;
        [peak1, peak2, after2]
            .iter()
            .all(|rss| rss - self.before_mib <= self.bound_mib)
    }

    fn passed(&self) -> bool {
        self.fresh_ok && self.errors == 0 && self.memory_ok()
    }
}

/// A running example server, its stderr counted as it comes.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(bin: &Path, args: &[&str]) -> Result<Server, String> {
        let mut child = Command::new(bin)
            .args(args)
            .env("KAMAELIA_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{}: first line was {line:?}", bin.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("not poisoned").push(line);
            }
        });
        Ok(Server { child, addr, lines })
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Log lines since `from`, and how many of them are errors.
    fn log_since(&self, from: usize) -> (usize, usize, Option<String>) {
        let lines = self.lines.lock().expect("not poisoned");
        let new = &lines[from.min(lines.len())..];
        let errors: Vec<&String> = new.iter().filter(|l| l.contains("ERROR")).collect();
        (
            new.len(),
            errors.len(),
            errors.first().map(|s| s.to_string()),
        )
    }

    fn log_len(&self) -> usize {
        self.lines.lock().expect("not poisoned").len()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `flood` against `server` twice, then checks it with `fresh`; the RSS peak is sampled
/// while the flood holds its connections (`flood` returns them; they are closed after).
fn scenario(
    server: &mut Server,
    name: &'static str,
    flood_name: String,
    budgets: usize,
    flood: impl Fn(SocketAddr) -> Result<(Vec<TcpStream>, String), String>,
    fresh: impl Fn(SocketAddr) -> Result<(), String>,
) -> Result<Row, String> {
    settle(server, None);
    let before = server.rss_mib();
    let log_from = server.log_len();
    eprintln!("xtask: chaos: {name}: {flood_name}");
    let mut runs = [(0.0, 0.0); 2];
    let mut note = String::new();
    for run in &mut runs {
        let (held, said) = flood(server.addr)?;
        note = said;
        // The server takes what it will over a moment: its peak is the most seen in 2 s.
        let mut peak: f64 = 0.0;
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(100));
            peak = peak.max(server.rss_mib());
        }
        drop(held);
        let after = settle(server, Some(before));
        *run = (peak.max(after), after);
    }
    let fresh_ok = server.alive() && fresh(server.addr).is_ok();
    let (log_lines, errors, first_error) = server.log_since(log_from);
    let note = match first_error {
        Some(e) => format!("{note}; first error: {e}"),
        None => note,
    };
    Ok(Row {
        server: name,
        flood: flood_name,
        before_mib: before,
        runs,
        bound_mib: SETTLE_BOUND_MIB + budgets as f64 * CONNECTION_BUDGET_MIB,
        log_lines: log_lines / 2,
        errors,
        fresh_ok,
        note,
    })
}

/// Waits until RSS stops falling (or falls back within the bound of `target`), at most 10 s.
fn settle(server: &Server, target: Option<f64>) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = server.rss_mib();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = server.rss_mib();
        let within = target.is_some_and(|t| now - t <= SETTLE_BOUND_MIB / 4.0);
        if within || (now - last).abs() < 0.25 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn connect_many(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect()
}

/// Connects, sends `payload`, and resets (SO_LINGER 0): the server sees data then a reset.
fn reset_flood(addr: SocketAddr, count: usize, payload: &[u8]) -> usize {
    let mut done = 0;
    for batch in 0..count.div_ceil(500) {
        let n = 500.min(count - batch * 500);
        let mut open = Vec::with_capacity(n);
        for _ in 0..n {
            let Ok(socket) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
                continue;
            };
            if socket.connect(&addr.into()).is_ok() {
                let _ = (&socket).write_all(payload);
                open.push(socket);
            }
        }
        std::thread::sleep(Duration::from_millis(20)); // let the replies be in flight
        for socket in open {
            let _ = socket.set_linger(Some(Duration::ZERO));
            done += 1;
        }
    }
    done
}

/// A fresh client: connects, sends `request`, and reads exactly as many bytes as `expected`.
fn exchange(addr: SocketAddr, request: &[u8], expected: &[u8]) -> Result<(), String> {
    let mut stream = fresh_client(addr, request)?;
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).map_err(|e| e.to_string())?;
    (got == expected)
        .then_some(())
        .ok_or_else(|| format!("wrong reply: {got:?}"))
}

/// Connected (within 2 s), reading with a 5 s timeout, `request` sent.
fn fresh_client(addr: SocketAddr, request: &[u8]) -> Result<TcpStream, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| e.to_string())?;
    Ok(stream)
}

fn echo_ok(addr: SocketAddr) -> Result<(), String> {
    exchange(addr, b"still here?", b"still here?")
}

fn reverse_ok(addr: SocketAddr) -> Result<(), String> {
    exchange(
        addr,
        &[0, 0, 0, 3, b'a', b'b', b'c'],
        &[0, 0, 0, 3, b'c', b'b', b'a'],
    )
}

/// A listener is served: a 200 head, then Ogg pages.
fn listener_ok(addr: SocketAddr) -> Result<(), String> {
    let mut stream = fresh_client(addr, b"GET /stream.ogg HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while got.len() < 16 * 1024 {
        let n = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    (text.starts_with("HTTP/1.1 200") && got.windows(4).any(|w| w == b"OggS"))
        .then_some(())
        .ok_or_else(|| format!("not served: {:?}", &text[..text.len().min(80)]))
}

/// Clients that send as much as the server takes and never read.
fn stopped_clients(addr: SocketAddr, count: usize, each: usize) -> (Vec<TcpStream>, usize) {
    let mut streams = connect_many(addr, count);
    let chunk = vec![0x5a; 64 * 1024];
    let mut taken = 0;
    for stream in &mut streams {
        let _ = stream.set_nonblocking(true);
        let mut sent = 0;
        while sent < each {
            match stream.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        taken += sent;
    }
    (streams, taken)
}

pub(crate) fn chaos(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.first() {
        return Err(format!("chaos takes no arguments (got {other:?})"));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("in the repository")
        .to_path_buf();
    let mut build = cargo();
    build
        .current_dir(&root)
        .args(["build", "--release", "-p", "kamaelia-examples", "--bins"]);
    crate::run(build)?;
    let bin = |name: &str| -> PathBuf {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("release").join(name)
    };
    let mut rows = Vec::new();

    // Echo: a connect-then-reset flood with data in flight, then clients that never read.
    let mut echo = Server::start(&bin("echo_server"), &["--bind", "127.0.0.1:0"])?;
    rows.push(scenario(
        &mut echo,
        "echo_server",
        "20,000 connect, send, reset".into(),
        0,
        |addr| {
            let n = reset_flood(addr, 20_000, b"hello, and goodbye");
            Ok((Vec::new(), format!("{n} resets")))
        },
        echo_ok,
    )?);
    rows.push(scenario(
        &mut echo,
        "echo_server",
        "1,000 clients send, never read".into(),
        1_000,
        |addr| {
            let (held, taken) = stopped_clients(addr, 1_000, 4 << 20);
            let per = taken / held.len().max(1) / 1024;
            let note = format!(
                "{} held; {per} KiB each left the client (most of it waits in kernel socket buffers)",
                held.len()
            );
            Ok((held, note))
        },
        echo_ok,
    )?);
    echo.stop();

    // Framed: prefixes announcing 60 MiB frames that never arrive.
    let mut framed = Server::start(
        &bin("framed_reverse_server"),
        &["--bind", "127.0.0.1:0", "--max-frame", "67108864"],
    )?;
    rows.push(scenario(
        &mut framed,
        "framed_reverse_server",
        "2,000 × 60 MiB frame announced, 1 KiB sent".into(),
        0,
        |addr| {
            let mut held = connect_many(addr, 2_000);
            for stream in &mut held {
                let mut start = (60u32 << 20).to_be_bytes().to_vec();
                start.extend_from_slice(&[0u8; 1024]);
                let _ = stream.write_all(&start);
            }
            Ok((held, String::new()))
        },
        reverse_ok,
    )?);
    rows.push(scenario(
        &mut framed,
        "framed_reverse_server",
        "5,000 connect, send, reset".into(),
        0,
        |addr| {
            let n = reset_flood(addr, 5_000, &[0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
            Ok((Vec::new(), format!("{n} resets")))
        },
        reverse_ok,
    )?);
    framed.stop();

    // Live HTTP: slow listeners, slowloris, malformed requests, a reset flood.
    let demo = root.join("examples/data/demo.ogg");
    let demo = demo.to_str().ok_or("a non-UTF-8 path")?;
    let mut live = Server::start(
        &bin("live_streaming_server"),
        &["--bind", "127.0.0.1:0", "--file", demo, "--loop"],
    )?;
    rows.push(scenario(
        &mut live,
        "live_streaming_server",
        "5,000 listeners that never read".into(),
        0,
        |addr| {
            let mut held = connect_many(addr, 5_000);
            for stream in &mut held {
                let _ = stream.write_all(b"GET /stream.ogg HTTP/1.1\r\nHost: x\r\n\r\n");
            }
            std::thread::sleep(Duration::from_secs(5)); // long enough to fall behind and be dropped
            Ok((held, String::new()))
        },
        listener_ok,
    )?);
    rows.push(scenario(
        &mut live,
        "live_streaming_server",
        "2,000 slowloris (a header byte a second, 12 s)".into(),
        0,
        |addr| {
            let mut held = connect_many(addr, 2_000);
            // A header byte a second for longer than the server's 10 s head limit.
            for _ in 0..12 {
                for stream in &mut held {
                    let _ = stream.write_all(b"X");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            let closed = held
                .iter()
                .filter(|stream| {
                    let _ = stream.set_nonblocking(true);
                    let mut byte = [0u8; 1];
                    let read = (&mut &**stream).read(&mut byte);
                    !matches!(read, Err(e) if e.kind() == ErrorKind::WouldBlock)
                })
                .count();
            let note = format!(
                "{closed} of {} closed by the server after its 10 s head limit",
                held.len()
            );
            Ok((held, note))
        },
        listener_ok,
    )?);
    rows.push(scenario(
        &mut live,
        "live_streaming_server",
        "2,000 malformed requests".into(),
        0,
        |addr| {
            let mut held = connect_many(addr, 2_000);
            let mut answered = 0;
            for (i, stream) in held.iter_mut().enumerate() {
                let garbage: &[u8] = match i % 4 {
                    0 => b"\x16\x03\x01\x02\x00 not http\r\n\r\n",
                    1 => b"GET /\xff\xfe HTTP/9.9\r\n\r\n",
                    2 => b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                    _ => b"BREW /pot HTTP/1.1\r\n\r\n",
                };
                let _ = stream.write_all(garbage);
            }
            for stream in &mut held {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    answered += 1;
                }
            }
            Ok((held, format!("{answered} answered with an error status")))
        },
        listener_ok,
    )?);
    rows.push(scenario(
        &mut live,
        "live_streaming_server",
        "10,000 connect, request, reset".into(),
        0,
        |addr| {
            let n = reset_flood(addr, 10_000, b"GET /stream.ogg HTTP/1.1\r\nHost: x\r\n\r\n");
            Ok((Vec::new(), format!("{n} resets")))
        },
        listener_ok,
    )?);
    live.stop();

    println!(
        "| server | flood (run twice) | RSS MiB: before → peak / after, 1st run → 2nd run (bound) | log lines per run | errors | fresh client | notes |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        let [(peak1, after1), (peak2, after2)] = row.runs;
        println!(
            "| {} | {} | {:.1} → {:.1} / {:.1} → {:.1} / {:.1} (+{:.0}){} | {} | {} | {} | {} |",
            row.server,
            row.flood,
            row.before_mib,
            peak1,
            after1,
            peak2,
            after2,
            row.bound_mib,
            if row.memory_ok() { "" } else { " OVER" },
            row.log_lines,
            row.errors,
            if row.fresh_ok { "served" } else { "FAILED" },
            row.note
        );
    }
    let failed: Vec<_> = rows.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() {
        println!(
            "\nchaos: every server survived every flood, served a fresh client and logged no error; \
             its memory stayed within each flood's bound (32 MiB, plus 256 KiB per connection held)"
        );
        Ok(())
    } else {
        Err(format!(
            "{} flood(s) failed a check (see the table)",
            failed.len()
        ))
    }
}
