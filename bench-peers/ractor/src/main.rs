//! `ractor_pingpong`: ractor_cluster's remote ping-pong between two nodes on loopback.
//!
//! A comparison peer for `cargo xtask bench nats` (its `request-reply-p50` / `-p99` rows): the
//! same shape of work — sequential request/reply of a `u64` between two endpoints over TCP on
//! 127.0.0.1 — done with another Rust actor framework's distribution layer, so our numbers
//! have an outside reference point.
//!
//! What it measures: node A calls a "pong" actor that lives on node B through ractor_cluster's
//! `RemoteActor` shim; the call (`#[rpc]` variant of a `RactorClusterMessage` carrying a `u64`)
//! is serialized, framed and sent over the NodeServer-to-NodeServer TCP session, answered by
//! the real actor on B with the same `u64`, and the reply travels back the same way. After a
//! warm-up, `--calls N` (default 10000) round trips are made one after another; the result is
//! round trips per second and the p50/p99 round-trip latency in µs.
//!
//! The two nodes are two processes: the binary starts itself again with `--node-b`. ractor's
//! PID registry and process groups are process-global, so two NodeServers in one process would
//! each advertise the other's actors back to it (and both sessions would get node id 0, so the
//! two `RemoteActor` shims for pong would share one `ActorId`). In separate processes, node A
//! has no pong actor at all, so every round trip must cross the network session. Each process
//! runs one current-thread tokio runtime, like the rows it is compared with.
//!
//! `--pipelined` mode (the `remote-ping-pong-pipelined` row): node A `cast`s (no rpc, no
//! waiting) `--calls N` (default 200000) sequence numbers `0..N` to pong as fast as it can;
//! pong casts each one straight back to a "ping-back" actor that lives on node A and is
//! advertised in a second process group, so on node B it too is a `RemoteActor`. Node A times
//! from the first cast until all N numbers are back, checking that each came back exactly once;
//! numbers still missing after `QUIET_TIMEOUT` without any arrival are counted as lost. Before
//! the first cast, node A asks pong (an rpc) to wait until it sees ping-back as a remote actor,
//! then `--warmup N` casts go round and must all come back. ractor's mailboxes and
//! ractor_cluster's session writer are unbounded (there is no flow control), so nothing slows
//! node A's casts down: whatever the network and node B cannot take yet queues in node A's
//! memory. At N = 200000 that stays practical (measured on a 2-core machine: the timed part
//! takes under a second, node A peaks at about 26 MB resident), so the default is 200000, the
//! count the `remote-ping-pong-pipelined` row uses.
//!
//! Output: exactly one JSON line on stdout,
//! `{"bench":"remote-ping-pong","system":"ractor-cluster","value":…,"unit":"rt/s","p50_us":…,"p99_us":…}`,
//! or with `--pipelined`,
//! `{"bench":"remote-ping-pong-pipelined","system":"ractor-cluster","value":…,"unit":"rt/s","lost":…}`;
//! progress and errors go to stderr.
//!
//! Options: `--pipelined`, `--calls N` (default 10000; 200000 with `--pipelined`),
//! `--warmup N` (default 500).

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServer, RactorClusterMessage};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// Not named `Result`: the `RactorClusterMessage` derive uses `Result` unqualified.
type BenchResult<T> = Result<T, Box<dyn Error>>;

/// The magic cookie both nodes authenticate with.
const COOKIE: &str = "ractor-peer-bench";
/// The process group node B's pong joins, so node A can find its `RemoteActor`.
const PONG_GROUP: &str = "ractor-peer-pong";
/// The process group node A's ping-back joins (pipelined mode), so node B's pong can find its
/// `RemoteActor`.
const PING_GROUP: &str = "ractor-peer-ping";
/// How long one round trip may take before the run fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long node A waits for the session handshake and the pong advertisement.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pipelined mode: after this long with nothing coming back, the numbers still missing are lost.
const QUIET_TIMEOUT: Duration = Duration::from_secs(10);
/// Pipelined mode: node A yields to its runtime after this many casts, so that while it keeps
/// casting, the rest of node A (the `RemoteActor` forwarding to the session, the session's
/// TCP writer and reader, ping-back) gets to run and the returns overlap the sends, instead of
/// all N casts being queued before the first byte is written. (Measured at N = 200000: the
/// same round trips per second as never yielding, with about half the peak memory.)
const CAST_BURST: u64 = 256;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The message pong serves; remote-capable, so ractor_cluster can carry it between nodes.
#[derive(RactorClusterMessage)]
enum PongMessage {
    /// Answered with the same number.
    #[rpc]
    Ping(u64, RpcReplyPort<u64>),
    /// Pipelined mode: cast straight back to node A's ping-back.
    Seq(u64),
    /// Pipelined mode: wait (up to `CONNECT_TIMEOUT`) until node A's ping-back shows up in
    /// `PING_GROUP` as a remote actor; answered with whether it did.
    #[rpc]
    FindPingBack(RpcReplyPort<bool>),
}

/// The message ping-back (on node A, pipelined mode) serves: a number pong sent back.
#[derive(RactorClusterMessage)]
enum PingBackMessage {
    Back(u64),
}

/// Answers every ping with its own number, and sends every `Seq` back to ping-back.
struct Pong;

#[derive(Default)]
struct PongState {
    /// Node A's ping-back, once `FindPingBack` has found it.
    ping_back: Option<ActorRef<PingBackMessage>>,
    /// `Seq`s that could not be sent back (reported once, on the first).
    dropped: u64,
}

impl Actor for Pong {
    type Msg = PongMessage;
    type State = PongState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<PongState, ActorProcessingErr> {
        Ok(PongState::default())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut PongState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PongMessage::Ping(n, reply) => {
                // The caller may have timed out and gone; nothing to do then.
                let _ = reply.send(n);
            }
            PongMessage::Seq(n) => {
                let sent = match &state.ping_back {
                    Some(ping_back) => ping_back.cast(PingBackMessage::Back(n)).is_ok(),
                    None => false,
                };
                if !sent {
                    if state.dropped == 0 {
                        eprintln!("ractor_pingpong: node B could not send {n} back to ping-back");
                    }
                    state.dropped += 1;
                }
            }
            PongMessage::FindPingBack(reply) => {
                state.ping_back = find_remote(PING_GROUP).await.map(ActorRef::from);
                let _ = reply.send(state.ping_back.is_some());
            }
        }
        Ok(())
    }
}

/// Hands every number that comes back to node A's pipelined run.
struct PingBack;

impl Actor for PingBack {
    type Msg = PingBackMessage;
    type State = UnboundedSender<u64>;
    type Arguments = UnboundedSender<u64>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        back: UnboundedSender<u64>,
    ) -> Result<UnboundedSender<u64>, ActorProcessingErr> {
        Ok(back)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        back: &mut UnboundedSender<u64>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PingBackMessage::Back(n) => {
                // The run may be over and its receiver gone; nothing to do then.
                let _ = back.send(n);
            }
        }
        Ok(())
    }
}

/// What the timed calls gave.
struct Stats {
    round_trips_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

/// What a pipelined run gave.
struct PipelinedStats {
    /// Numbers that came back, per second from the first cast to the last arrival.
    round_trips_per_sec: f64,
    /// Numbers that had not come back when the run ended.
    lost: u64,
}

/// What node A measured, in either mode.
enum Outcome {
    Sequential(Stats),
    Pipelined(PipelinedStats),
}

struct Options {
    node_b: bool,
    pipelined: bool,
    calls: u64,
    warmup: u64,
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|options| {
        if options.node_b {
            node_b()
        } else {
            node_a(&options)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ractor_pingpong: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> BenchResult<Options> {
    let mut options = Options {
        node_b: false,
        pipelined: false,
        calls: 0,
        warmup: 500,
    };
    let mut calls = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--node-b" => options.node_b = true,
            "--pipelined" => options.pipelined = true,
            "--calls" | "--warmup" => {
                let value: u64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{arg} needs a whole number"))?;
                if arg == "--calls" {
                    calls = Some(value);
                } else {
                    options.warmup = value;
                }
            }
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} \
                     (usage: ractor_pingpong [--pipelined] [--calls N] [--warmup N])"
                )
                .into())
            }
        }
    }
    options.calls = calls.unwrap_or(if options.pipelined { 200_000 } else { 10_000 });
    if options.calls == 0 {
        return Err("--calls must be at least 1".into());
    }
    Ok(options)
}

fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A loopback port that was free a moment ago (the NodeServer does not report the port it
/// picked for port 0).
fn free_port() -> BenchResult<u16> {
    Ok(TcpListener::bind((LOOPBACK, 0))?.local_addr()?.port())
}

fn node_server(name: &str, port: u16) -> NodeServer {
    NodeServer::new(
        port,
        COOKIE.to_string(),
        name.to_string(),
        "localhost".to_string(),
        None,
        None,
    )
    .with_listen_addr(LOOPBACK)
}

/// The child: node B with the pong actor. Prints `ready PORT` on stdout once it listens, then
/// serves until its stdin closes (the parent finished, or died).
fn node_b() -> BenchResult<()> {
    let port = free_port()?;
    runtime()?.block_on(async move {
        let (_server, _) = Actor::spawn(None, node_server("node_b", port), ()).await?;
        let (pong, _) = Actor::spawn(None, Pong, ()).await?;
        ractor::pg::join(PONG_GROUP.to_string(), vec![pong.get_cell()]);
        let mut stdout = std::io::stdout();
        writeln!(stdout, "ready {port}")?;
        stdout.flush()?;
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await??;
        Ok(())
    })
}

/// The parent: starts node B, runs node A's calls (or casts), prints the JSON line.
fn node_a(options: &Options) -> BenchResult<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--node-b")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    let child_stdout = child.stdout.take().ok_or("node B has no stdout")?;
    BufReader::new(child_stdout).read_line(&mut line)?;
    let outcome = match line.trim().strip_prefix("ready ").map(str::parse::<u16>) {
        Some(Ok(port_b)) if options.pipelined => runtime()?
            .block_on(pipelined(port_b, options))
            .map(Outcome::Pipelined),
        Some(Ok(port_b)) => runtime()?
            .block_on(ping(port_b, options))
            .map(Outcome::Sequential),
        _ => Err(format!("node B did not start (it said {line:?})").into()),
    };
    // Closing node B's stdin tells it to exit.
    drop(child.stdin.take());
    let status = child.wait()?;
    let outcome = outcome?;
    if !status.success() {
        return Err(format!("node B exited with {status}").into());
    }
    match outcome {
        Outcome::Sequential(stats) => println!(
            "{{\"bench\":\"remote-ping-pong\",\"system\":\"ractor-cluster\",\"value\":{:.3},\"unit\":\"rt/s\",\"p50_us\":{:.3},\"p99_us\":{:.3}}}",
            stats.round_trips_per_sec, stats.p50_us, stats.p99_us
        ),
        Outcome::Pipelined(stats) => println!(
            "{{\"bench\":\"remote-ping-pong-pipelined\",\"system\":\"ractor-cluster\",\"value\":{:.3},\"unit\":\"rt/s\",\"lost\":{}}}",
            stats.round_trips_per_sec, stats.lost
        ),
    }
    Ok(())
}

/// Node A: connect to node B, find pong's `RemoteActor`, warm up, then time the calls.
async fn ping(port_b: u16, options: &Options) -> BenchResult<Stats> {
    let (server_a, _) = Actor::spawn(None, node_server("node_a", free_port()?), ()).await?;
    ractor_cluster::client_connect(&server_a, (LOOPBACK, port_b)).await?;
    let pong = remote_pong().await?;
    eprintln!(
        "ractor_pingpong: connected to node B on port {port_b}, pong is {}",
        pong.get_id()
    );

    for i in 0..options.warmup {
        round_trip(&pong, i).await?;
    }
    let mut us = Vec::with_capacity(options.calls as usize);
    let started = Instant::now();
    for i in 0..options.calls {
        let t = Instant::now();
        round_trip(&pong, i).await?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let elapsed = started.elapsed().as_secs_f64();
    server_a.stop(None);

    us.sort_by(f64::total_cmp);
    Ok(Stats {
        round_trips_per_sec: options.calls as f64 / elapsed,
        p50_us: percentile(&us, 0.5),
        p99_us: percentile(&us, 0.99),
    })
}

/// Node A, pipelined mode: connect to node B, have pong find ping-back, warm up, then time
/// `options.calls` casts and their returns.
async fn pipelined(port_b: u16, options: &Options) -> BenchResult<PipelinedStats> {
    let (server_a, _) = Actor::spawn(None, node_server("node_a", free_port()?), ()).await?;
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let (ping_back, _) = Actor::spawn(None, PingBack, back_tx).await?;
    ractor::pg::join(PING_GROUP.to_string(), vec![ping_back.get_cell()]);
    ractor_cluster::client_connect(&server_a, (LOOPBACK, port_b)).await?;
    let pong = remote_pong().await?;
    // Node B's pong must know ping-back before the first number reaches it.
    let found = pong
        .call(
            PongMessage::FindPingBack,
            Some(CONNECT_TIMEOUT + CALL_TIMEOUT),
        )
        .await
        .map_err(|e| format!("asking pong to find ping-back failed: {e}"))?;
    if !matches!(found, CallResult::Success(true)) {
        return Err("node B's pong did not see node A's ping-back in time".into());
    }
    eprintln!(
        "ractor_pingpong: connected to node B on port {port_b}, pong is {}, ping-back is {}",
        pong.get_id(),
        ping_back.get_id()
    );

    if options.warmup > 0 {
        let warm = cast_round(&pong, &mut back_rx, options.warmup).await?;
        if warm.lost > 0 {
            return Err(format!("{} of the warm-up casts did not come back", warm.lost).into());
        }
    }
    let stats = cast_round(&pong, &mut back_rx, options.calls).await?;
    server_a.stop(None);
    Ok(stats)
}

/// Casts `0..n` to pong and waits for each to come back through ping-back, once; times from
/// the first cast to the last arrival. Stops early after `QUIET_TIMEOUT` with no arrival.
async fn cast_round(
    pong: &ActorRef<PongMessage>,
    back: &mut UnboundedReceiver<u64>,
    n: u64,
) -> BenchResult<PipelinedStats> {
    let mut tally = Tally {
        seen: vec![false; n as usize],
        distinct: 0,
        duplicates: 0,
        unexpected: 0,
    };
    let started = Instant::now();
    for i in 0..n {
        pong.cast(PongMessage::Seq(i))
            .map_err(|e| format!("cast {i} could not be sent: {e}"))?;
        if (i + 1) % CAST_BURST == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut last = started;
    while tally.distinct < n {
        match tokio::time::timeout(QUIET_TIMEOUT, back.recv()).await {
            Ok(Some(k)) => {
                last = Instant::now();
                tally.note(k);
            }
            Ok(None) => return Err("ping-back stopped".into()),
            Err(_) => break,
        }
    }
    // Whatever else is already queued would be a duplicate or a stranger.
    while let Ok(k) = back.try_recv() {
        tally.note(k);
    }
    let Tally {
        distinct,
        duplicates,
        unexpected,
        ..
    } = tally;
    if duplicates > 0 || unexpected > 0 {
        return Err(format!(
            "{duplicates} numbers came back more than once and {unexpected} that were never sent"
        )
        .into());
    }
    let elapsed = last.duration_since(started).as_secs_f64();
    Ok(PipelinedStats {
        round_trips_per_sec: if distinct == 0 {
            0.0
        } else {
            distinct as f64 / elapsed
        },
        lost: n - distinct,
    })
}

/// Which of the numbers `0..n` a pipelined run has seen come back.
struct Tally {
    seen: Vec<bool>,
    /// Numbers seen at least once.
    distinct: u64,
    /// Arrivals of a number already seen.
    duplicates: u64,
    /// Arrivals of a number outside `0..n`.
    unexpected: u64,
}

impl Tally {
    fn note(&mut self, k: u64) {
        match self.seen.get_mut(k as usize) {
            Some(seen @ false) => {
                *seen = true;
                self.distinct += 1;
            }
            Some(true) => self.duplicates += 1,
            None => self.unexpected += 1,
        }
    }
}

/// Waits until node B's pong shows up in the process group as a remote actor (after the
/// session has authenticated and synchronised its groups).
async fn remote_pong() -> BenchResult<ActorRef<PongMessage>> {
    match find_remote(PONG_GROUP).await {
        Some(cell) => Ok(cell.into()),
        None => Err("node B's pong was not advertised in time".into()),
    }
}

/// Waits up to `CONNECT_TIMEOUT` for a remote member (one on the other node) of `group`.
async fn find_remote(group: &str) -> Option<ActorCell> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let remote = ractor::pg::get_members(&group.to_string())
            .into_iter()
            .find(|member| !member.get_id().is_local());
        if remote.is_some() {
            return remote;
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One call to pong and its reply; checks the number came back.
async fn round_trip(pong: &ActorRef<PongMessage>, n: u64) -> BenchResult<()> {
    let result = pong
        .call(|reply| PongMessage::Ping(n, reply), Some(CALL_TIMEOUT))
        .await
        .map_err(|e| format!("call {n} could not be sent: {e}"))?;
    match result {
        CallResult::Success(back) if back == n => Ok(()),
        CallResult::Success(back) => Err(format!("call {n} was answered with {back}").into()),
        CallResult::Timeout => Err(format!("call {n} timed out").into()),
        CallResult::SenderError => Err(format!("call {n}: the reply channel was dropped").into()),
    }
}

/// The same nearest-rank percentile `cargo xtask bench nats` uses.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
