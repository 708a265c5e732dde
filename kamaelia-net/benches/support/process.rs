//! What the process-based benchmarks share (net, stream): running this binary again in another
//! mode with a raised open-file limit, and reading a process's CPU time and memory from /proc.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// User plus system CPU time of `pid`, in clock ticks (USER_HZ, 100 a second on Linux).
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the ")" that ends the command name, utime and stime are the 12th and 13th fields.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Resident memory of `pid`, in bytes.
pub(crate) fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Runs this binary with `args`, the open-file limit raised as far as the hard limit allows (in
/// the shell that execs it, so no unsafe code is needed here), stdin and stdout piped.
pub(crate) fn spawn_self(args: &[String]) -> Child {
    let exe = std::env::current_exe().unwrap();
    spawn_program(&exe.display().to_string(), args)
}

/// Runs `program` with `args` as [`spawn_self`] does.
pub(crate) fn spawn_program(program: &str, args: &[String]) -> Child {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec '{program}' {}",
                quoted.join(" ")
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The first line `child` prints, trimmed.
pub(crate) fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}
