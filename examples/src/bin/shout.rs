//! `shout`: reads lines on standard input and writes them upper-cased to standard output —
//! `ConsoleReader → map → ConsoleEchoer`, the smallest complete Kamaelia program.

use axon_core::components::{ConsoleEchoer, ConsoleReader, map};
use axon_core::pipeline;

fn main() {
    let system = pipeline!(
        ConsoleReader::default(),
        map(|line: String| line.to_uppercase()),
        ConsoleEchoer::new(),
    )
    .expect("fresh stages link");
    if let Err(e) = axon_core::run(system) {
        eprintln!("shout: {e}");
        std::process::exit(1);
    }
}
