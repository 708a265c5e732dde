//! What the example tests share: starting a server program and stopping it as a user would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

/// Runs `program` with `args`, `input` on its stdin (then closed), and returns what it did.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A server program that prints `listening on ADDR` as its first line.
pub(crate) struct Server {
    pub child: Child,
    pub addr: String,
    /// The rest of its stdout, kept open (a closed pipe would fail its next line).
    #[allow(dead_code)] // not every test binary reads it
    pub stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub(crate) fn start(bin: &str, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {line:?}"))
            .to_string();
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// Waits for the server to end by itself; the exit status must be success.
    #[allow(dead_code)] // not every test binary uses it
    pub(crate) fn wait_for_exit(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    /// Ctrl-C, then the exit status must be success.
    pub(crate) fn interrupt(mut self) {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// Starts `multicast_streaming_client --group GROUP ARGS…` and waits until it has joined the
/// group (its first line); the rest of its stdout is returned for reading.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn multicast_listener(
    group: &str,
    args: &[&std::ffi::OsStr],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut client = Command::new(env!("CARGO_BIN_EXE_multicast_streaming_client"))
        .args(["--group", group])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(client.stdout.take().unwrap());
    let mut joined = String::new();
    stdout.read_line(&mut joined).unwrap();
    assert_eq!(joined.trim(), format!("listening to {group}"));
    (client, stdout)
}

/// True when `tool` is installed; else says the test is skipped (or fails, when
/// `KAMAELIA_REQUIRE_ALL` is set, as CI sets it).
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
            panic!("{tool} is required (KAMAELIA_REQUIRE_ALL is set)");
        }
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// The last playing clock in ffplay's `-stats` output (seconds), as its status line shows it.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn ffplay_clock(stats: &str) -> f64 {
    stats
        .rsplit("M-A:")
        .nth(1)
        .and_then(|before| before.split_whitespace().last())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no clock in {stats:?}"))
}
