//! Model check of the scheduler's wake handshake under loom: every interleaving of wakes from
//! other threads against the scheduler draining its queue and going to sleep. Run with
//! `cargo xtask loom` (it sets `RUSTFLAGS="--cfg axon_loom"`); a normal build skips it.
#![cfg(axon_loom)]

use axon_core::Doorbell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use std::collections::VecDeque;

/// What the scheduler shares with the threads that wake it: the queue of wakes (a stand-in
/// for the lock-free queue, linearizable like it), the bell, and the count of times the
/// scheduler's task was woken (tokio's waker).
struct Shared {
    queue: Mutex<VecDeque<u32>>,
    bell: Doorbell,
    task_wakes: AtomicUsize,
}

impl Shared {
    /// What a wake from another thread does (`Shared::wake_from_outside`).
    fn wake(&self, id: u32) {
        self.queue.lock().unwrap().push_back(id);
        if self.bell.ring() {
            self.task_wakes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One poll of the scheduler (`Inner::poll_run`): say awake, run everything queued, and
    /// go to sleep when a look finds nothing and nothing was rung since. Returns what it ran.
    fn poll(&self) -> Vec<u32> {
        let mut ran = Vec::new();
        loop {
            self.bell.awake();
            let batch: Vec<u32> = self.queue.lock().unwrap().drain(..).collect();
            if batch.is_empty() {
                if self.bell.try_sleep() {
                    return ran;
                }
                continue;
            }
            ran.extend(batch);
        }
    }
}

/// A scheduler asleep, and two threads each queueing a wake for it.
fn two_wakers() -> (Arc<Shared>, Vec<loom::thread::JoinHandle<()>>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        bell: Doorbell::new(),
        task_wakes: AtomicUsize::new(0),
    });
    let wakers = (0..2)
        .map(|id| {
            let shared = shared.clone();
            loom::thread::spawn(move || shared.wake(id))
        })
        .collect();
    (shared, wakers)
}

/// Two threads wake while the scheduler polls: every wake is run by that poll, or the
/// scheduler's task was woken after its last look (so a next poll runs it). Never both missed.
#[test]
fn no_wake_is_left_behind_a_sleeping_scheduler() {
    loom::model(|| {
        let (shared, wakers) = two_wakers();
        let wakes_before = shared.task_wakes.load(Ordering::SeqCst);
        let ran = shared.poll();
        for waker in wakers {
            waker.join().unwrap();
        }
        let left: Vec<u32> = shared.queue.lock().unwrap().iter().copied().collect();
        if !left.is_empty() {
            // Asleep with wakes queued: the task must have been woken after this poll began.
            assert!(
                shared.task_wakes.load(Ordering::SeqCst) > wakes_before,
                "wakes {left:?} queued behind a sleeping scheduler (ran {ran:?})"
            );
            // And the next poll runs them.
            let ran_next = shared.poll();
            assert_eq!(ran_next.len(), left.len());
        }
        assert_eq!(ran.len() + left.len(), 2, "each wake is queued once");
    });
}

/// A scheduler that was asleep is woken by exactly one of two racing wakes (no stampede of
/// task wakes), and the woken poll runs both.
#[test]
fn a_sleeping_scheduler_is_woken_once_and_runs_every_wake() {
    loom::model(|| {
        let (shared, wakers) = two_wakers();
        for waker in wakers {
            waker.join().unwrap();
        }
        assert_eq!(shared.task_wakes.load(Ordering::SeqCst), 1);
        let mut ran = shared.poll();
        ran.sort_unstable();
        assert_eq!(ran, vec![0, 1]);
    });
}
