//! `cargo xtask fuzz [TARGET] [--secs N]`: runs the coverage-guided fuzz targets in `fuzz/`
//! (every one, or TARGET) for N seconds each (default 30), on stable Rust: cargo-fuzz needs
//! nightly flags, which `RUSTC_BOOTSTRAP=1` allows. Installs cargo-fuzz when it is missing.
//! Each target's corpus grows in `fuzz/corpus/TARGET` (not committed); it starts from our own
//! test files. A crash stops the run with the input saved under `fuzz/artifacts/TARGET`.

use crate::{cargo, run, run_within};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Fuzz targets, and where their first inputs come from (folders under the repository root).
const TARGETS: &[(&str, &[&str])] = &[
    ("ogg_demux", &["kamaelia-codec/testdata", "examples/data"]),
    ("ogg_pager", &["kamaelia-codec/testdata", "examples/data"]),
    ("ogg_chain", &["kamaelia-codec/testdata", "examples/data"]),
    (
        "vorbis_decode",
        &["kamaelia-codec/testdata", "examples/data"],
    ),
    ("mimedict", &["fuzz/seeds/mimedict"]),
    ("framing", &["fuzz/seeds/framing"]),
    ("lines", &["fuzz/seeds/lines"]),
    ("http_request", &["fuzz/seeds/http_request"]),
    ("rtp_vorbis", &["fuzz/seeds/rtp_vorbis"]),
    ("rtsp_request", &["fuzz/seeds/rtsp_request"]),
];

/// Inputs longer than this are cut when fuzzing: a mutation near the start of a real file (its
/// headers) finds more than one anywhere in a long one, and short inputs run faster.
const MAX_LEN: usize = 64 * 1024;

pub(crate) fn fuzz(args: &[String]) -> Result<(), String> {
    let mut secs = 30u64;
    let mut only = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--secs" => {
                secs = rest
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--secs needs a number of seconds")?;
            }
            name if only.is_none() && !name.starts_with('-') => only = Some(name.to_string()),
            other => return Err(format!("fuzz: unexpected argument {other:?}")),
        }
    }
    let chosen: Vec<_> = TARGETS
        .iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| o == *name))
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = TARGETS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "no fuzz target {:?}; there are: {}",
            only.unwrap_or_default(),
            names.join(", ")
        ));
    }
    ensure_cargo_fuzz()?;
    let root = root();
    for (name, seeds) in chosen {
        let corpus = root.join("fuzz/corpus").join(name);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let mut command = cargo();
        command
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", name])
            .arg(&corpus)
            .args(seeds.iter().map(|s| root.join(s)))
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .arg(format!("-max_len={MAX_LEN}"))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1");
        // Building takes a while the first time; a target that hangs is stopped.
        run_within(command, Some(Duration::from_secs(secs + 900)))
            .map_err(|e| format!("fuzz target {name}: {e}"))?;
        eprintln!("xtask: fuzz target {name}: no crash in {secs} s");
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("xtask: cargo-fuzz is missing; installing it from crates.io");
    let mut install = cargo();
    install.args(["install", "cargo-fuzz", "--locked"]);
    run(install)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}
