//! The load generator the process-based streaming benchmarks share (stream, radio): many
//! listeners on one thread, each noting its first audio, bytes and stalls.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// No data for this long is a stall.
const STALL: Duration = Duration::from_secs(2);

/// What one listener saw.
#[derive(Default, Clone)]
struct Seen {
    failed: bool,
    first_audio: Option<Duration>,
    body: u64,
    stalled: bool,
    /// Seconds from first audio to the end of listening (or the end of the stream).
    listened: f64,
}

/// One listener: connect, ask (HTTP/1.0, so the body is raw) or just read (on-demand TCP),
/// read until `end`, noting the first audio, bytes, and any 2 s without data.
async fn listen_once(
    addr: String,
    path: String,
    source: Option<std::net::Ipv4Addr>,
    http: bool,
    end: Instant,
    buffer: Rc<RefCell<Vec<u8>>>,
) -> Seen {
    let start = Instant::now();
    let mut seen = Seen::default();
    let Ok(mut stream) = connect_from(&addr, source).await else {
        seen.failed = true;
        return seen;
    };
    if http
        && stream
            .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .is_err()
    {
        seen.failed = true;
        return seen;
    }
    let mut head: Vec<u8> = Vec::new();
    let mut in_head = http;
    let mut last = Instant::now();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let ready = tokio::time::timeout(end - now, stream.readable()).await;
        if ready.is_err() {
            break; // the end of the run
        }
        let read = {
            let mut buffer = buffer.borrow_mut();
            match stream.try_read(&mut buffer) {
                Ok(0) => None,
                Ok(n) if in_head => {
                    head.extend_from_slice(&buffer[..n.min(4096)]);
                    Some(n)
                }
                Ok(n) => Some(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => None,
            }
        };
        let now = Instant::now();
        let Some(mut n) = read else {
            // Closed by the server: fine for on-demand at the end of the file, a failure for a
            // live listener.
            seen.failed |= http || seen.first_audio.is_none();
            break;
        };
        if in_head {
            match head.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(at) => {
                    // HTTP/1.0 or 1.1 (Icecast answers in 1.0), status 200.
                    if !(head.starts_with(b"HTTP/1.") && head.get(8..12) == Some(b" 200")) {
                        seen.failed = true;
                        return seen;
                    }
                    in_head = false;
                    n = head.len() - (at + 4);
                    head = Vec::new();
                }
                None => continue,
            }
        }
        if n == 0 {
            continue;
        }
        if seen.first_audio.is_none() {
            seen.first_audio = Some(now - start);
        } else if now - last > STALL {
            seen.stalled = true;
        }
        last = now;
        seen.body += n as u64;
    }
    if let Some(first) = seen.first_audio {
        let stop = Instant::now().min(end);
        seen.listened = (stop - (start + first)).as_secs_f64();
        if end.saturating_duration_since(last) > STALL && !seen.failed && http {
            seen.stalled = true; // went quiet before the end
        }
    }
    seen
}

/// How long `listeners` take to arrive at `rate` a second (0: all at once).
pub(crate) fn ramp(listeners: usize, rate: f64) -> f64 {
    if rate > 0.0 {
        listeners as f64 / rate
    } else {
        0.0
    }
}

/// Connects to `addr`, from the loopback address `source` when given: each source address has
/// its own ~28,000 local ports (32768–60999 here), so more sources admit more listeners.
async fn connect_from(
    addr: &str,
    source: Option<std::net::Ipv4Addr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let Some(source) = source else {
        return tokio::net::TcpStream::connect(addr).await;
    };
    let target: std::net::SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((source, 0).into())?;
    socket.connect(target).await
}

/// `listeners` listeners arriving at `rate` a second (0: at once), each reading `path` (HTTP)
/// or the bare connection for `seconds` after the last arrives; prints one line: connected,
/// failed, first audio median and max (ms), kbit/s minimum and median, stalls, and the seconds
/// of audio heard by all listeners together.
pub(crate) fn listen(
    addr: &str,
    path: &str,
    listeners: usize,
    seconds: f64,
    http: bool,
    rate: f64,
    sources: usize,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen: Vec<Seen> = runtime.block_on(async {
        tokio::task::LocalSet::new()
            .run_until(async {
                let start = Instant::now();
                let end = start + Duration::from_secs_f64(ramp(listeners, rate) + seconds);
                // One read buffer for all: a listener reads only when its socket is ready.
                let buffer = Rc::new(RefCell::new(vec![0u8; 256 * 1024]));
                let tasks: Vec<_> = (0..listeners)
                    .map(|i| {
                        let arrival = start + Duration::from_secs_f64(ramp(i, rate));
                        // Listener i connects from 127.0.0.(1 + i mod sources).
                        let source = (sources > 1)
                            .then(|| std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % sources) as u8));
                        let once = listen_once(
                            addr.to_string(),
                            path.to_string(),
                            source,
                            http,
                            end,
                            buffer.clone(),
                        );
                        tokio::task::spawn_local(async move {
                            tokio::time::sleep_until(arrival.into()).await;
                            once.await
                        })
                    })
                    .collect();
                let mut seen = Vec::new();
                for task in tasks {
                    seen.push(task.await.unwrap_or(Seen {
                        failed: true,
                        ..Seen::default()
                    }));
                }
                seen
            })
            .await
    });
    let connected = seen.iter().filter(|s| s.first_audio.is_some()).count();
    let failed = seen.iter().filter(|s| s.failed).count();
    let stalls = seen.iter().filter(|s| s.stalled).count();
    let mut first: Vec<f64> = seen
        .iter()
        .filter_map(|s| s.first_audio.map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    first.sort_by(f64::total_cmp);
    let mut kbps: Vec<f64> = seen
        .iter()
        .filter(|s| s.listened > 0.5)
        .map(|s| s.body as f64 * 8.0 / 1000.0 / s.listened)
        .collect();
    kbps.sort_by(f64::total_cmp);
    let at = |v: &[f64], q: f64| v.get(((v.len() as f64 - 1.0) * q) as usize).copied();
    let listened: f64 = seen.iter().map(|s| s.listened).sum();
    println!(
        "{connected} {failed} {} {} {} {} {stalls} {listened}",
        at(&first, 0.5).unwrap_or(f64::NAN),
        first.last().copied().unwrap_or(f64::NAN),
        kbps.first().copied().unwrap_or(f64::NAN),
        at(&kbps, 0.5).unwrap_or(f64::NAN),
    );
}
