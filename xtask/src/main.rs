//! `cargo xtask`: the project's automation, so a newcomer needs no other tool.
//!
//! - `cargo xtask test` — everything CI tests (nextest when installed, then doc tests).
//! - `cargo xtask lint` — `cargo fmt --check`, clippy with warnings denied, rustdoc with warnings
//!   denied; the same feature set as `test`, so nothing is built for a second feature set.
//! - `cargo xtask bench [GROUP] [OPTIONS]` — benchmarks (`core`, `net`, `media`, `stream`, `rtsp`, `multicore`, `radio`), each a
//!   ratio to a baseline run side by side; options (`--json`, `--quick`, …) go to the benches.
//! - `cargo xtask demo streaming [--file F] [--bitrate BPS] [--out F.wav] [--seconds N]` — the
//!   streaming demo (server and client in one process, through the speakers or into a WAV).
//! - `cargo xtask demo cluster [--edges N] [--file F]` — a live stream over NATS: nats-server, a
//!   source and N edges (default 3) as processes on loopback; prints where to listen.
//! - `cargo xtask fuzz [TARGET] [--secs N]` — the fuzz targets in `fuzz/`, N seconds each.
//! - `cargo xtask chaos` — floods against the release example servers (docs/hardening.md).
//! - `cargo xtask loom` — the loom model check of axon-core's wake handshake (its own build,
//!   with `--cfg axon_loom`, in `target/loom`).
#![forbid(unsafe_code)]

mod chaos;
mod fuzz;

use std::process::{Command, ExitCode};

/// Benchmark groups: name → (package, bench target).
const BENCH_GROUPS: &[(&str, &str, &str)] = &[
    ("core", "kamaelia-axon", "core"),
    ("core", "kamaelia-cat", "backplane"),
    ("core", "kamaelia-net", "introspect"),
    ("net", "kamaelia-net", "net"),
    ("media", "kamaelia-media", "media"),
    ("stream", "kamaelia-examples", "stream"),
    ("rtsp", "kamaelia-examples", "rtsp"),
    ("multicore", "kamaelia-examples", "multicore"),
    ("multicore", "kamaelia-examples", "stream"),
    ("radio", "kamaelia-examples", "radio"),
    ("nats", "kamaelia-net", "nats"),
];

/// Bench targets that need a feature of their own package.
fn bench_features(target: &str) -> &'static [&'static str] {
    match target {
        "nats" => &["--features", "nats"],
        _ => &[],
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("lint") => lint(),
        Some("bench") => bench(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("chaos") => chaos::chaos(&args[1..]),
        Some("loom") => loom(),
        Some("features") => {
            println!("{}", features().join(" "));
            Ok(())
        }
        _ => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    "usage: cargo xtask <test | lint | bench [GROUP] [OPTIONS] | demo NAME | fuzz [TARGET] [--secs N] | chaos | loom | features>".to_string()
}

/// The cargo feature arguments every build uses. Features that need system libraries are turned
/// on only when those libraries are present, so a fresh machine still builds and tests.
fn features() -> Vec<String> {
    // NATS is pure Rust: always built and tested (its tests need the nats-server binary).
    let mut wanted: Vec<&str> = vec!["kamaelia-net/nats", "kamaelia-examples/nats"];
    if alsa_present() {
        wanted.push("kamaelia-examples/playback");
    }
    vec!["--features".to_string(), wanted.join(",")]
}

/// Audio output needs ALSA's development files, found through pkg-config.
fn alsa_present() -> bool {
    Command::new("pkg-config")
        .args(["--exists", "alsa"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs axon-core's loom tests: every interleaving of the cross-thread wake handshake. The
/// `axon_loom` cfg swaps the handshake's atomics for loom's, so it builds apart from the rest.
fn loom() -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask is not inside the workspace")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("loom");
    let mut command = cargo();
    command
        .current_dir(root)
        .env("RUSTFLAGS", "--cfg axon_loom")
        .env("CARGO_TARGET_DIR", target)
        .env("LOOM_MAX_PREEMPTIONS", "3")
        .args([
            "test",
            "--release",
            "-p",
            "kamaelia-axon",
            "--test",
            "loom_wake",
        ]);
    run(command)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn run(command: Command) -> Result<(), String> {
    run_within(command, None)
}

/// Runs `command`, killing it if it outlives `limit` (a hung test fails instead of stalling CI).
fn run_within(mut command: Command, limit: Option<std::time::Duration>) -> Result<(), String> {
    eprintln!("xtask: running {command:?}");
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {command:?}: {e}"))?;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for {command:?}: {e}"))?
        {
            break status;
        }
        if limit.is_some_and(|limit| started.elapsed() > limit) {
            let _ = child.kill();
            return Err(format!(
                "{command:?} took longer than {limit:?} and was stopped"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test(extra: &[String]) -> Result<(), String> {
    let mut command = cargo();
    if has_nextest() {
        command.args([
            "nextest",
            "run",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
            "--no-fail-fast",
        ]);
    } else {
        command.args([
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
            "--no-fail-fast",
        ]);
    }
    command.args(features()).args(extra);
    run(command)?;
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]).args(features());
    run_within(doc, Some(std::time::Duration::from_secs(20 * 60)))
}

fn lint() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy
        .args(["clippy", "--workspace", "--all-targets"])
        .args(features())
        .args(["--", "-D", "warnings"]);
    run(clippy)?;
    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .args(features())
        .env("RUSTDOCFLAGS", "-D warnings");
    run(doc)
}

fn bench(args: &[String]) -> Result<(), String> {
    // `cargo xtask bench [GROUP] [OPTIONS]`: the group may stand anywhere (it is the argument
    // that names one); everything else goes to the bench programs.
    let is_group = |a: &String| BENCH_GROUPS.iter().any(|(name, _, _)| name == a);
    let group = args.iter().find(|a| is_group(a)).map(String::as_str);
    let options: Vec<&String> = args.iter().filter(|a| !is_group(a)).collect();
    if group.is_none()
        && let Some(unknown) = args.first().filter(|a| !a.starts_with("--"))
    {
        let mut known: Vec<_> = BENCH_GROUPS.iter().map(|(n, _, _)| *n).collect();
        known.dedup();
        return Err(format!(
            "unknown bench group {unknown:?}; known groups: {}",
            known.join(", ")
        ));
    }
    let selected = BENCH_GROUPS
        .iter()
        .filter(|(name, _, _)| group.is_none_or(|g| g == *name));
    if group == Some("nats") {
        build_ractor_peer()?;
    }
    for (_, package, target) in selected {
        let mut command = cargo();
        // Benchmarks take only their own package's features (a package-qualified one would
        // be refused when building a single package).
        command
            .args(["bench", "--package", package, "--bench", target])
            .args(bench_features(target))
            .arg("--")
            .args(&options);
        // A bench shared by two groups (stream's live row is also multicore's) runs the
        // part its group asks for.
        if let Some(group) = group {
            command.args(["--group", group]);
        }
        run(command)?;
    }
    Ok(())
}

/// `cargo run --release` of an example binary with `features`, ready for its own arguments
/// (release: decoding and pacing are real time).
fn run_example(bin: &str, features: &[&str]) -> Command {
    let mut command = cargo();
    command.args([
        "run",
        "--release",
        "--package",
        "kamaelia-examples",
        "--bin",
        bin,
    ]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    command.arg("--");
    command
}

/// `bench nats` compares with ractor_cluster, built from its own workspace (bench-peers/ractor)
/// so the main build never depends on it.
fn build_ractor_peer() -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = cargo();
    command
        .current_dir(root.join("bench-peers/ractor"))
        .env("CARGO_TARGET_DIR", root.join("target/peers"))
        .args(["build", "--release", "--quiet"]);
    run(command)
}

fn demo(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("streaming") => {
            // Built in release mode (decoding and pacing are real time), with audio output when
            // ALSA is there; without it the demo writes demo.wav and says so.
            let features: &[&str] = if alsa_present() { &["playback"] } else { &[] };
            let mut command = run_example("streaming_demo", features);
            if features.is_empty() {
                eprintln!(
                    "xtask: no ALSA development files (pkg-config alsa), so no audio output: \
                     the demo will write demo.wav (apt-get install pkg-config libasound2-dev \
                     to hear it)"
                );
            }
            command.args(&args[1..]);
            exec(command)
        }
        Some("cluster") => {
            // nats-server, a source and three edges as separate processes on loopback (the
            // binary says clearly if nats-server is missing).
            let mut command = run_example("cluster_node", &["nats"]);
            command.arg("demo").args(&args[1..]);
            exec(command)
        }
        Some(other) => Err(format!(
            "unknown demo {other:?}; known demos: streaming, cluster"
        )),
        None => Err(
            "usage: cargo xtask demo NAME [OPTIONS] (known demos: streaming, cluster)".to_string(),
        ),
    }
}

/// Becomes `command` (Unix `exec`), so Ctrl-C reaches the demo alone and it stops cleanly,
/// instead of also killing this process while the demo is still finishing.
#[cfg(unix)]
fn exec(mut command: Command) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    Err(format!("cannot run {command:?}: {error}"))
}

#[cfg(not(unix))]
fn exec(command: Command) -> Result<(), String> {
    run(command)
}
