//! `LogLimit`: at most one log line per interval for a warning that a flood could repeat
//! thousands of times a second (a failing `accept`, damaged input), with a count of what was
//! held back, so an operator sees that it happens and how often without drowning in it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one line through per interval and counts the rest. It can be a `static` shared by every
/// component of a kind.
///
/// ```
/// use axon_core::LogLimit;
/// use std::time::Duration;
///
/// static ACCEPT_FAILED: LogLimit = LogLimit::new(Duration::from_secs(1));
/// let mut logged = 0;
/// for _ in 0..1000 {
///     if let Some(held_back) = ACCEPT_FAILED.check() {
///         logged += 1;
///         // tracing::warn!(held_back, "accept failed");
///         assert_eq!(held_back, 0);
///     }
/// }
/// assert_eq!(logged, 1);
/// assert_eq!(ACCEPT_FAILED.check(), None); // held back, and counted for the next line
/// ```
#[derive(Debug)]
pub struct LogLimit {
    every_ms: u64,
    /// Milliseconds since `EPOCH` at which the next line may go out (0: at once).
    next_ms: AtomicU64,
    held_back: AtomicU64,
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

impl LogLimit {
    /// At most one line per `every` (at least 1 ms).
    pub const fn new(every: Duration) -> Self {
        let ms = every.as_millis();
        LogLimit {
            every_ms: if ms == 0 {
                1
            } else if ms > u64::MAX as u128 {
                u64::MAX
            } else {
                ms as u64
            },
            next_ms: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)`: log this line now, saying that `n` like it were held back since the last
    /// one. `None`: hold it back (it is counted).
    pub fn check(&self) -> Option<u64> {
        let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.every_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::Relaxed));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }
}
