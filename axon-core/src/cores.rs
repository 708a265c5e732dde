//! Every core: one scheduler per thread, each inside its own current-thread tokio runtime
//! (the thread-per-core shape of seastar, glommio and monoio).
//!
//! Components never move between cores. A component is built **on** its core, from a
//! `Send` factory (the component itself need not be `Send`); links between cores go through
//! [`CrossInbox`](crate::CrossInbox) and carry `T: Send`; links within a core stay the plain,
//! atomic-free ones. A core whose components all wait costs nothing; [`CoresHandle::wait`] returns
//! when every core is empty at once.
//!
//! ```
//! use axon_core::Cores;
//! use axon_core::components::DataSource;
//!
//! let cores = Cores::with_count(2).unwrap();
//! // A source on every core, each built there from the factory.
//! cores.spawn_each(|core| DataSource::new(0..core as u64 * 10)).unwrap();
//! cores.wait_blocking(); // every core empty
//! ```

use crate::scheduler::SchedulerConfig;
use crate::topology::Topology;
use crate::{Component, Scheduler};
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

thread_local! {
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
    static CORES: std::cell::RefCell<Option<CoresHandle>> = const { std::cell::RefCell::new(None) };
}

/// The index of the core this thread runs, when it is one of a [`Cores`]' threads.
pub fn current_core() -> Option<usize> {
    CORE.get()
}

/// The cores this thread is one of (so a component can reach the other cores), when it is one
/// of a [`Cores`]' threads.
pub fn current_cores() -> Option<CoresHandle> {
    CORES.with(|c| c.borrow().clone())
}

/// How many cores, and how their schedulers run.
#[derive(Clone, Debug)]
pub struct CoresConfig {
    /// Schedulers (threads) to start; default: `std::thread::available_parallelism()`.
    pub cores: usize,
    /// Pin core `i`'s thread to CPU `i` (modulo the CPUs there are). Needs the `pin` feature;
    /// without it the setting is refused with an error.
    pub pin: bool,
    /// Each core's scheduler tuning. By default a core spins for [`DEFAULT_IDLE_SPIN`] before
    /// sleeping (see [`SchedulerConfig::idle_spin`]).
    pub scheduler: SchedulerConfig,
}

/// How long a core stays awake with nothing to run before it sleeps: about what waking a
/// sleeping thread costs on a virtual machine (measured here at ~20 µs), so spinning never
/// costs more than twice the best choice made in hindsight.
pub const DEFAULT_IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

impl Default for CoresConfig {
    fn default() -> Self {
        CoresConfig {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin: false,
            scheduler: SchedulerConfig {
                idle_spin: Some(DEFAULT_IDLE_SPIN),
                ..SchedulerConfig::default()
            },
        }
    }
}

/// Why a request to a core failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    /// There is no core with this index.
    NoSuchCore {
        /// The index asked for.
        core: usize,
        /// How many cores there are.
        cores: usize,
    },
    /// The core's thread has stopped (the [`Cores`] was dropped).
    Stopped,
    /// The closure given to [`CoresHandle::on`] panicked (the core keeps running).
    Panicked(String),
    /// [`CoresHandle::on_blocking`] was called on that core's own thread, which would wait
    /// for itself forever: use [`CoresHandle::on`] and await it.
    OwnThread,
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoreError::NoSuchCore { core, cores } => {
                write!(f, "no core {core}: there are {cores} (0..{cores})")
            }
            CoreError::Stopped => write!(f, "the core has stopped"),
            CoreError::Panicked(message) => write!(f, "the closure run on the core {message}"),
            CoreError::OwnThread => write!(
                f,
                "on_blocking called on the core's own thread (it would wait for itself)"
            ),
        }
    }
}

impl std::error::Error for CoreError {}

type Job = Box<dyn FnOnce(&Scheduler) + Send>;

enum Message {
    Run(Job),
    /// Cancel every component of the core; the thread stays.
    Shutdown,
    /// Cancel every component and end the thread.
    Stop,
}

/// Counts what keeps the system alive: requests sent and not yet taken, plus cores that are
/// running components. Zero means every core is empty and nothing is on its way.
struct Busy {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Busy {
    fn acquire(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }
    fn release(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.changed.notify_all();
        }
    }
    fn is_idle(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }
}

/// What every handle to the cores shares.
struct Shared {
    queues: Vec<async_channel::Sender<Message>>,
    busy: Busy,
    /// One instance per type of what spans the cores (see [`CoresHandle::extension`]).
    extensions: Mutex<Vec<Arc<dyn std::any::Any + Send + Sync>>>,
}

/// Reaches the cores from anywhere (any thread, any component on any core): build components
/// on a core, run a closure there, take a topology, shut everything down. Cheap to clone;
/// holding one does not keep the threads alive (dropping the [`Cores`] stops them).
#[derive(Clone)]
pub struct CoresHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CoresHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoresHandle")
            .field("cores", &self.len())
            .field("idle", &self.shared.busy.is_idle())
            .finish()
    }
}

impl CoresHandle {
    /// How many cores.
    pub fn len(&self) -> usize {
        self.shared.queues.len()
    }

    /// Never true: there is at least one core.
    pub fn is_empty(&self) -> bool {
        self.shared.queues.is_empty()
    }

    /// The cores' one instance of `T`, made on first use: state that spans the cores (the
    /// CAT's services shared between cores live here), where each scheduler's own state is a
    /// [`Scheduler::extension`].
    pub fn extension<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut extensions = self
            .shared
            .extensions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(found) = extensions
            .iter()
            .find_map(|e| e.clone().downcast::<T>().ok())
        {
            return found;
        }
        let made = Arc::new(T::default());
        extensions.push(made.clone());
        made
    }

    fn send(&self, core: usize, message: Message) -> Result<(), CoreError> {
        let queue = self.shared.queues.get(core).ok_or(CoreError::NoSuchCore {
            core,
            cores: self.len(),
        })?;
        self.shared.busy.acquire();
        queue.try_send(message).map_err(|_| {
            self.shared.busy.release();
            CoreError::Stopped
        })
    }

    /// Runs `f` on core `core`'s thread, with its scheduler (current there, so `activate`,
    /// [`CrossInbox::of`](crate::CrossInbox::of) and the CAT work), and returns its result. A
    /// panic in `f` comes back as [`CoreError::Panicked`]; the core carries on.
    pub fn on<R, F>(
        &self,
        core: usize,
        f: F,
    ) -> impl Future<Output = Result<R, CoreError>> + Send + 'static
    where
        F: FnOnce(&Scheduler) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (job, result) = answered(f);
        let sent = self.send(core, job);
        async move {
            sent?;
            result.recv().await.map_err(|_| CoreError::Stopped)?
        }
    }

    /// [`on`](Self::on), blocking this thread until the answer comes (for plain `main`; not
    /// from a core's own thread, which would wait for itself).
    pub fn on_blocking<R, F>(&self, core: usize, f: F) -> Result<R, CoreError>
    where
        F: FnOnce(&Scheduler) -> R + Send + 'static,
        R: Send + 'static,
    {
        let own_thread = current_core() == Some(core)
            && current_cores().is_some_and(|here| Arc::ptr_eq(&here.shared, &self.shared));
        if own_thread {
            return Err(CoreError::OwnThread);
        }
        let (job, result) = answered(f);
        self.send(core, job)?;
        result.recv_blocking().map_err(|_| CoreError::Stopped)?
    }

    /// Builds a component on core `core` from `factory` (run there) and activates it as a
    /// top-level component. Returns at once.
    pub fn spawn_on<C, F>(&self, core: usize, factory: F) -> Result<(), CoreError>
    where
        C: Component,
        F: FnOnce() -> C + Send + 'static,
    {
        self.send(
            core,
            Message::Run(Box::new(move |scheduler| {
                scheduler.activate(factory());
            })),
        )
    }

    /// Builds one component on every core (`factory` gets the core's index). Returns at once.
    pub fn spawn_each<C, F>(&self, factory: F) -> Result<(), CoreError>
    where
        C: Component,
        F: Fn(usize) -> C + Send + Sync + 'static,
    {
        let factory = Arc::new(factory);
        for core in 0..self.len() {
            let factory = factory.clone();
            self.spawn_on(core, move || factory(core))?;
        }
        Ok(())
    }

    /// A topology snapshot of every core, with the links that cross between them.
    pub async fn topology(&self) -> CoresTopology {
        let mut cores = Vec::with_capacity(self.len());
        for core in 0..self.len() {
            if let Ok(topology) = self.on(core, |s| s.topology()).await {
                cores.push(topology);
            }
        }
        CoresTopology { cores }
    }

    /// Stops every component on every core now (each core's [`Scheduler::shutdown`]): their
    /// exit paths run, inboxes close and what was queued is counted as undelivered. The
    /// threads stay, so more can be built; [`wait`](Self::wait) returns once all are empty.
    pub fn shutdown(&self) {
        for core in 0..self.len() {
            let _ = self.send(core, Message::Shutdown);
        }
    }

    /// Waits until every core is empty and no request is on its way.
    pub async fn wait(&self) {
        let busy = &self.shared.busy;
        loop {
            let mut idle = pin!(busy.idle.notified());
            idle.as_mut().enable();
            if busy.is_idle() {
                return;
            }
            idle.await;
        }
    }

    /// [`wait`](Self::wait), blocking this thread.
    pub fn wait_blocking(&self) {
        let busy = &self.shared.busy;
        let mut guard = busy.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !busy.is_idle() {
            guard = busy.changed.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A request running `f` on a core, and where its result (or its panic) comes back.
fn answered<R, F>(f: F) -> (Message, async_channel::Receiver<Result<R, CoreError>>)
where
    F: FnOnce(&Scheduler) -> R + Send + 'static,
    R: Send + 'static,
{
    let (answer, result) = async_channel::bounded(1);
    let job = Message::Run(Box::new(move |scheduler| {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(scheduler)))
            .map_err(|panic| CoreError::Panicked(crate::scheduler::panic_text(&*panic)));
        let _ = answer.try_send(outcome);
    }));
    (job, result)
}

/// N schedulers on N threads. Dropping it stops every core (as [`shutdown`]) and joins the
/// threads: call [`wait`] first to let the work finish.
///
/// Works from plain `main` (the `_blocking` methods) and from inside any tokio runtime,
/// multi-threaded included (the async ones): each core has its own current-thread runtime.
///
/// [`shutdown`]: CoresHandle::shutdown
/// [`wait`]: CoresHandle::wait
pub struct Cores {
    handle: CoresHandle,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Cores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl std::ops::Deref for Cores {
    type Target = CoresHandle;
    fn deref(&self) -> &CoresHandle {
        &self.handle
    }
}

impl Cores {
    /// One core per available CPU.
    pub fn new() -> std::io::Result<Self> {
        Self::with_config(CoresConfig::default())
    }

    /// `cores` cores (at least one).
    pub fn with_count(cores: usize) -> std::io::Result<Self> {
        Self::with_config(CoresConfig {
            cores,
            ..CoresConfig::default()
        })
    }

    /// Starts the threads, each with its runtime and scheduler.
    pub fn with_config(config: CoresConfig) -> std::io::Result<Self> {
        let count = config.cores.max(1);
        let pins = pin_targets(config.pin, count)?;
        let mut queues = Vec::with_capacity(count);
        let mut receivers = Vec::with_capacity(count);
        for _ in 0..count {
            let (tx, rx) = async_channel::unbounded();
            queues.push(tx);
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
            queues,
            busy: Busy {
                count: AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
                lock: Mutex::new(()),
                changed: Condvar::new(),
            },
            extensions: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::with_capacity(count);
        for (index, rx) in receivers.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let shared = shared.clone();
            let handle = CoresHandle {
                shared: shared.clone(),
            };
            let scheduler = config.scheduler.clone();
            let pin = pins.get(index).cloned().flatten();
            let thread = std::thread::Builder::new()
                .name(format!("axon-core-{index}"))
                .spawn(move || {
                    CORE.set(Some(index));
                    CORES.with(|c| *c.borrow_mut() = Some(handle));
                    if let Some(target) = pin {
                        target.apply();
                    }
                    runtime.block_on(core_loop(index, scheduler, rx, &shared));
                    // The handle refers back to every core's queue: let it go with the thread.
                    CORES.with(|c| c.borrow_mut().take());
                })?;
            threads.push(thread);
        }
        Ok(Cores {
            handle: CoresHandle { shared },
            threads,
        })
    }

    /// A handle for reaching the cores from elsewhere (components included).
    pub fn handle(&self) -> CoresHandle {
        self.handle.clone()
    }
}

impl Drop for Cores {
    fn drop(&mut self) {
        for queue in &self.handle.shared.queues {
            let _ = queue.try_send(Message::Stop);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One core's life: wait for requests while empty; while busy, run the scheduler and take
/// requests as they come; hand back the busy token once empty with nothing queued.
async fn core_loop(
    index: usize,
    config: SchedulerConfig,
    requests: async_channel::Receiver<Message>,
    shared: &Shared,
) {
    let scheduler = Scheduler::with_config(config);
    let mut stopping = false;
    while !stopping {
        // Idle: the request that arrives carries the busy token this core now holds.
        let Ok(first) = requests.recv().await else {
            break;
        };
        stopping |= apply(&scheduler, first);
        loop {
            {
                let mut run = pin!(scheduler.run());
                loop {
                    if stopping {
                        run.as_mut().await;
                        break;
                    }
                    let next = pin!(requests.recv());
                    match futures::future::select(run.as_mut(), next).await {
                        futures::future::Either::Left(((), _)) => break,
                        futures::future::Either::Right((Ok(message), _)) => {
                            stopping |= apply(&scheduler, message);
                            shared.busy.release();
                        }
                        futures::future::Either::Right((Err(_), _)) => {
                            scheduler.shutdown();
                            stopping = true;
                        }
                    }
                }
            }
            // Empty. Anything that arrived meanwhile starts another busy spell.
            match requests.try_recv() {
                Ok(message) if !stopping => {
                    stopping |= apply(&scheduler, message);
                    shared.busy.release();
                }
                _ => break,
            }
        }
        shared.busy.release();
    }
    // Requests sent after the stop are refused, and the ones already queued released.
    requests.close();
    while requests.try_recv().is_ok() {
        shared.busy.release();
    }
    tracing::debug!(core = index, "core stopped");
}

/// Carries out one request; true for `Stop`.
fn apply(scheduler: &Scheduler, message: Message) -> bool {
    match message {
        Message::Run(job) => {
            scheduler.enter(|| job(scheduler));
            false
        }
        Message::Shutdown => {
            scheduler.shutdown();
            false
        }
        Message::Stop => {
            scheduler.shutdown();
            true
        }
    }
}

/// A snapshot of every core: each core's [`Topology`] (its `core` field says which), whose
/// `cross_links` lead to other cores' `CrossCoreIn` components.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CoresTopology {
    /// One per core, in order.
    pub cores: Vec<Topology>,
}

impl CoresTopology {
    /// Components on all cores.
    pub fn component_count(&self) -> usize {
        self.cores.iter().map(|t| t.components.len()).sum()
    }

    /// Renders as Graphviz DOT: a cluster per core, and the cross-core links between them.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph axon {\n  rankdir=LR;\n  node [shape=box];\n");
        for (index, topology) in self.cores.iter().enumerate() {
            let core = topology.core.unwrap_or(index);
            out.push_str(&format!(
                "  subgraph cluster_core{core} {{\n    label=\"core {core}\";\n"
            ));
            topology.write_dot_body(&mut out, &format!("k{core}_"), 2);
            out.push_str("  }\n");
        }
        for (index, topology) in self.cores.iter().enumerate() {
            let core = topology.core.unwrap_or(index);
            for cross in &topology.cross_links {
                let (Some(from), Some(to), Some(to_core)) =
                    (cross.from.component, cross.ingress, cross.to_core)
                else {
                    continue;
                };
                out.push_str(&format!(
                    "  k{core}_c{} -> k{to_core}_c{} [label=\"{} (cross-core)\", style=bold];\n",
                    from.as_u64(),
                    to.as_u64(),
                    cross.from.box_name.replace('"', "\\\""),
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Where to pin one core's thread.
#[derive(Clone)]
struct PinTarget {
    #[cfg(feature = "pin")]
    id: core_affinity::CoreId,
}

impl PinTarget {
    fn apply(&self) {
        #[cfg(feature = "pin")]
        if !core_affinity::set_for_current(self.id) {
            tracing::warn!(cpu = self.id.id, "could not pin the core's thread");
        }
    }
}

#[cfg(feature = "pin")]
fn pin_targets(pin: bool, count: usize) -> std::io::Result<Vec<Option<PinTarget>>> {
    if !pin {
        return Ok(vec![None; count]);
    }
    let ids = core_affinity::get_core_ids()
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| std::io::Error::other("cannot list this machine's CPUs for pinning"))?;
    Ok((0..count)
        .map(|i| {
            Some(PinTarget {
                id: ids[i % ids.len()],
            })
        })
        .collect())
}

#[cfg(not(feature = "pin"))]
fn pin_targets(pin: bool, count: usize) -> std::io::Result<Vec<Option<PinTarget>>> {
    if pin {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "pinning cores to CPUs needs kamaelia-axon's `pin` feature",
        ));
    }
    Ok(vec![None; count])
}
