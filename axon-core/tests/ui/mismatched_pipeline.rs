use axon_core::components::{DataSource, map};
use axon_core::pipeline;

fn main() {
    // DataSource yields u64; the next stage wants String.
    let _ = pipeline!(DataSource::new(0..3u64), map(|s: String| s.len()));
}
