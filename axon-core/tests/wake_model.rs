//! An exhaustive single-threaded model of the scheduler's wake paths: every sequence (up to a
//! length) of wakes from inside a poll, from this thread outside it, from another thread, exits
//! and scheduler polls, run against two real components and checked after every poll:
//! - no wake is lost: once the scheduler's poll returns, every live component has been polled
//!   since it was last woken;
//! - a component is never polled after it finished;
//! - a scheduler that went to sleep is woken (its tokio waker) by the first wake that follows;
//! - in the end, with both components finished, `run` completes.
//!
//! The cross-thread handshake itself is model-checked under loom (`tests/loom_wake.rs`).

use axon_core::{Component, ComponentError, Scheduler};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Woken from this thread, outside the scheduler's poll (as tokio's drivers do).
    Home(usize),
    /// Woken from another thread.
    Remote(usize),
    /// Woken by the other component, during that one's next poll.
    Inside(usize),
    /// Told to finish (and woken from this thread).
    Exit(usize),
    /// The scheduler's task is polled (it runs until nothing is ready).
    Poll,
}

const OPS: [Op; 9] = [
    Op::Home(0),
    Op::Home(1),
    Op::Remote(0),
    Op::Remote(1),
    Op::Inside(0),
    Op::Inside(1),
    Op::Exit(0),
    Op::Exit(1),
    Op::Poll,
];

/// What the two components and the test share: a logical clock, each component's last wake
/// and last poll on it, its waker, and the requests the test leaves for it.
#[derive(Default)]
struct World {
    clock: u64,
    woken_at: [u64; 2],
    polled_at: [u64; 2],
    polls_after_exit: usize,
    wakers: [Option<Waker>; 2],
    exit: [bool; 2],
    finished: [bool; 2],
    /// Component `i` wakes the other when next polled.
    wake_other: [bool; 2],
}

impl World {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

struct Probe {
    me: usize,
    world: Rc<RefCell<World>>,
}

impl axon_core::Boxes for Probe {
    fn boxes(&self) -> Vec<axon_core::BoxEntry> {
        Vec::new()
    }
}

impl Component for Probe {
    async fn main(self) -> Result<(), ComponentError> {
        std::future::poll_fn(|cx| {
            let mut w = self.world.borrow_mut();
            let now = w.tick();
            if w.finished[self.me] {
                w.polls_after_exit += 1;
            }
            w.polled_at[self.me] = now;
            w.wakers[self.me] = Some(cx.waker().clone());
            if w.wake_other[self.me] {
                w.wake_other[self.me] = false;
                let other = 1 - self.me;
                w.woken_at[other] = w.tick();
                let waker = w.wakers[other].clone();
                drop(w);
                if let Some(waker) = waker {
                    waker.wake(); // inside this scheduler's poll: the local path
                }
                w = self.world.borrow_mut();
            }
            if w.exit[self.me] {
                w.finished[self.me] = true;
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        Ok(())
    }
}

/// Counts wakes of the scheduler's own task.
struct TaskWakes(AtomicUsize);

impl Wake for TaskWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Another thread that wakes what it is sent, and says when it has.
struct Remote {
    send: std::sync::mpsc::Sender<Waker>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Remote {
    fn start() -> Self {
        let (send, wakers) = std::sync::mpsc::channel::<Waker>();
        let (ack, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for waker in wakers {
                waker.wake();
                if ack.send(()).is_err() {
                    break;
                }
            }
        });
        Remote { send, done }
    }

    fn wake(&self, waker: Waker) {
        self.send.send(waker).unwrap();
        self.done.recv().unwrap();
    }
}

fn check(sequence: &[Op], remote: &Remote) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let world = Rc::new(RefCell::new(World::default()));
    let scheduler = Scheduler::new();
    for me in 0..2 {
        scheduler.activate(Probe {
            me,
            world: world.clone(),
        });
    }
    let task_wakes = Arc::new(TaskWakes(AtomicUsize::new(0)));
    let waker = Waker::from(task_wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut run = pin!(scheduler.run());
    // First poll: both components start and wait.
    let mut done = run.as_mut().poll(&mut cx).is_ready();
    assert!(!done);
    let mut asleep = true;
    let alive = |w: &World, i: usize| !w.finished[i];
    for (step, op) in sequence.iter().enumerate() {
        let context = || format!("{sequence:?}, at step {step}");
        let wakes_before = task_wakes.0.load(Ordering::SeqCst);
        let mut woke = false;
        match *op {
            Op::Home(i) | Op::Remote(i) | Op::Exit(i) => {
                let target = {
                    let mut w = world.borrow_mut();
                    if !alive(&w, i) {
                        continue;
                    }
                    if matches!(op, Op::Exit(_)) {
                        w.exit[i] = true;
                    }
                    w.woken_at[i] = w.tick();
                    w.wakers[i].clone().expect("polled once")
                };
                match op {
                    Op::Remote(_) => remote.wake(target),
                    _ => target.wake(),
                }
                woke = true;
            }
            Op::Inside(i) => {
                // Component `1 - i` wakes `i` during its next poll; it gets polled because the
                // test wakes it now (from this thread).
                let other = 1 - i;
                let target = {
                    let mut w = world.borrow_mut();
                    if !alive(&w, i) || !alive(&w, other) {
                        continue;
                    }
                    w.wake_other[other] = true;
                    w.woken_at[other] = w.tick();
                    w.wakers[other].clone().expect("polled once")
                };
                target.wake();
                woke = true;
            }
            Op::Poll => {
                if done {
                    continue; // `run` has returned: both components finished
                }
                done = run.as_mut().poll(&mut cx).is_ready();
                asleep = true;
                let w = world.borrow();
                for i in 0..2 {
                    if alive(&w, i) {
                        assert!(
                            w.woken_at[i] <= w.polled_at[i],
                            "component {i} woken at {} but last polled at {}: {}",
                            w.woken_at[i],
                            w.polled_at[i],
                            context()
                        );
                    }
                }
                assert_eq!(w.polls_after_exit, 0, "{}", context());
                assert_eq!(done, w.finished == [true, true], "{}", context());
            }
        }
        if woke {
            if asleep {
                assert!(
                    task_wakes.0.load(Ordering::SeqCst) > wakes_before,
                    "a wake did not wake the sleeping scheduler: {}",
                    context()
                );
            }
            asleep = false;
        }
    }
    // Everything left is run, then both finish and `run` completes.
    for i in 0..2 {
        let mut w = world.borrow_mut();
        if alive(&w, i) {
            w.exit[i] = true;
            w.woken_at[i] = w.tick();
            let target = w.wakers[i].clone().expect("polled once");
            drop(w);
            target.wake();
        }
    }
    assert!(
        done || run.as_mut().poll(&mut cx).is_ready(),
        "run did not complete: {sequence:?}"
    );
    assert_eq!(world.borrow().polls_after_exit, 0, "{sequence:?}");
}

#[test]
fn every_sequence_of_wakes_exits_and_polls_up_to_five_steps() {
    let remote = Remote::start();
    let mut sequence = Vec::new();
    let mut checked = 0usize;
    fn all(depth: usize, sequence: &mut Vec<Op>, remote: &Remote, checked: &mut usize) {
        check(sequence, remote);
        *checked += 1;
        if depth == 0 {
            return;
        }
        for op in OPS {
            sequence.push(op);
            all(depth - 1, sequence, remote, checked);
            sequence.pop();
        }
    }
    all(5, &mut sequence, &remote, &mut checked);
    // 1 + 9 + 9² + … + 9⁵ sequences.
    assert_eq!(checked, (0..=5).map(|d| 9usize.pow(d)).sum::<usize>());
}
