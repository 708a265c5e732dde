//! `cargo xtask bench core` — being written; see docs/benchmarks.md.
fn main() {
    eprintln!("the core benchmark is not written yet");
    std::process::exit(1);
}
