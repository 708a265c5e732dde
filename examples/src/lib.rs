//! Runnable examples for Kamaelia for Rust. Each example is a binary target of this crate with
//! its own documented command line; this library holds only what several of them share.
#![forbid(unsafe_code)]

use axon_core::Scheduler;

/// Runs `scheduler` on a current-thread runtime until every component has finished or Ctrl-C
/// is pressed (then everything is shut down cleanly). Returns whether it was interrupted.
pub fn run_until_ctrl_c(
    build: impl FnOnce(&Scheduler) -> Result<(), String>,
) -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let scheduler = Scheduler::new();
        build(&scheduler)?;
        tokio::select! {
            () = scheduler.run() => Ok(false),
            _ = tokio::signal::ctrl_c() => {
                scheduler.shutdown();
                Ok(true)
            }
        }
    })
}

/// The value after `flag` in the command line, parsed; `Ok(None)` when the flag is absent.
pub fn flag<T: std::str::FromStr>(args: &[String], flag: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => {
            let value = args
                .get(i + 1)
                .ok_or_else(|| format!("{flag} needs a value"))?;
            value
                .parse()
                .map(Some)
                .map_err(|_| format!("{flag}: cannot understand {value:?}"))
        }
    }
}

/// Prints `message` and the usage on stderr, then exits with status 2.
pub fn usage_error(message: &str, usage: &str) -> ! {
    eprintln!("error: {message}\nusage: {usage}");
    std::process::exit(2);
}
