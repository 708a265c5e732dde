//! `Introspector`: a running system seen in a browser — the scheduler's topology (components
//! nested in their parents, their state, every box's depth and counts, the links), the CAT's
//! services and values, and the wait-for cycles that mean a deadlock — served over HTTP as a
//! page, JSON, DOT and Server-Sent Events. Axon had an Introspector feeding a visualiser; this is
//! that, for a browser.
//!
//! While it runs, the scheduler keeps each component's poll count, busy time and time since
//! its last poll (`Scheduler::measure`). On a core of a [`Cores`](axon_core::Cores) it shows
//! every core, each a group of its own, with the links between cores. The page works out each
//! link's messages per second from successive snapshots, and lists the components that
//! recently failed or panicked, with why. Not here yet: aggregation for very large systems. It sees linkages; a send through an
//! `InboxRef` (a reply address) is not a link and is not drawn.

use crate::http::{read_request, response, response_head};
use axon_core::topology::{ComponentState, LinkKind, Topology};
use axon_core::{Boxes, Component, ComponentError, ComponentId, Control, Inbox, Outbox};
use kamaelia_cat::Cat;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How often `/events` may send a change: at most 10 times a second.
const EVENT_INTERVAL: Duration = Duration::from_millis(100);

/// The page: one self-contained file (no CDN, no build step).
const PAGE: &str = include_str!("introspect.html");

/// Serves the live view of the scheduler it runs on, on loopback by default:
///
/// - `/`: a page that draws the components nested in their parents (collapsible), coloured by
///   state, with each box's depth and capacity, the links, CAT services and values, and a
///   warning for any deadlock — kept current from `/events`;
/// - `/topology.json`: the snapshot (components, boxes, links, CAT, deadlocks);
/// - `/topology.dot`: the topology as Graphviz DOT;
/// - `/events`: Server-Sent Events, the snapshot whenever it changed, at most 10 a second.
///
/// A *deadlock* here is a cycle of components each blocked sending into the next one's full
/// inbox; it is also logged as a warning, once per cycle. `ShutdownMicroprocess` stops it.
///
/// ```no_run
/// use kamaelia_net::Introspector;
/// # fn f(scheduler: &axon_core::Scheduler) -> std::io::Result<()> {
/// let view = Introspector::bind("127.0.0.1:9000".parse().unwrap())?;
/// println!("open http://{}/", view.local_addr());
/// scheduler.activate(view);
/// # Ok(()) }
/// ```
#[derive(Boxes)]
#[doc(alias("visualiser", "topology", "live view"))]
pub struct Introspector {
    /// `ShutdownMicroprocess` (or any message) stops it.
    pub control: Inbox<Control>,
    /// The message that stopped it.
    pub signal: Outbox<Control>,
    listener: Option<std::net::TcpListener>,
    local: SocketAddr,
}

impl Introspector {
    /// Listens on `bind` now (so the address is known); serves once activated.
    pub fn bind(bind: SocketAddr) -> std::io::Result<Self> {
        let listener = crate::server::listen(bind, 128)?;
        let local = listener.local_addr()?;
        Ok(Introspector {
            control: Inbox::new(),
            signal: Outbox::new(),
            listener: Some(listener),
            local,
        })
    }

    /// The address it serves on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Component for Introspector {
    async fn main(mut self) -> Result<(), ComponentError> {
        let listener = tokio::net::TcpListener::from_std(self.listener.take().expect("runs once"))?;
        // Poll counts and busy time are kept while the view runs (free when it does not).
        axon_core::measure(true);
        let ending = loop {
            tokio::select! {
                message = self.control.recv() => break message,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        axon_core::activate(Viewer { control: Inbox::new(), stream: Some(stream) });
                    }
                    Err(e) => {
                        crate::access::accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        };
        drop(listener);
        axon_core::children().shutdown(Duration::from_secs(1)).await;
        axon_core::measure(false);
        self.signal.send(ending).await?;
        Ok(())
    }
}

/// One browser connection.
#[derive(Boxes)]
struct Viewer {
    control: Inbox<Control>,
    stream: Option<TcpStream>,
}

impl Component for Viewer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let Ok(request) = read_request(&mut stream, Default::default()).await else {
            return Ok(());
        };
        let head_only = request.method == "HEAD";
        let body = match request.path.as_str() {
            "/" => response(200, "text/html; charset=utf-8", PAGE, head_only),
            "/topology.json" => response(200, "application/json", &snapshot().await.0, head_only),
            "/topology.dot" => {
                let dot = match other_cores() {
                    Some(cores) => cores.topology().await.to_dot(),
                    None => axon_core::topology().unwrap_or_default().to_dot(),
                };
                response(200, "text/vnd.graphviz", &dot, head_only)
            }
            "/events" => return self.events(stream).await,
            _ => response(404, "text/plain", "not found\n", head_only),
        };
        let _ = stream.write_all(body.as_bytes()).await;
        Ok(())
    }
}

impl Viewer {
    /// Sends the snapshot whenever it changed, at most 10 times a second, until the browser
    /// goes away or the introspector stops.
    async fn events(mut self, mut stream: TcpStream) -> Result<(), ComponentError> {
        let head = response_head(
            200,
            &[
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("Connection", "close"),
            ],
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            return Ok(());
        }
        let mut tick = tokio::time::interval(EVENT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = String::new();
        let mut reported: HashSet<Vec<String>> = HashSet::new();
        let mut idle = 0u32;
        loop {
            tokio::select! {
                _ = self.control.recv() => return Ok(()),
                _ = tick.tick() => {}
            }
            let (json, deadlocks) = snapshot().await;
            for cycle in deadlocks {
                if reported.insert(cycle.clone()) {
                    tracing::warn!(
                        ?cycle,
                        "deadlock: components each blocked sending to the next one's full inbox"
                    );
                }
            }
            let event = if json != last {
                idle = 0;
                format!("data: {json}\n\n")
            } else {
                idle += 1;
                if !idle.is_multiple_of(50) {
                    continue;
                }
                ": still here\n\n".to_string() // a comment every 5 s keeps proxies from closing it
            };
            last = json;
            let written =
                tokio::time::timeout(Duration::from_secs(5), stream.write_all(event.as_bytes()))
                    .await;
            if !matches!(written, Ok(Ok(()))) {
                return Ok(()); // the page was closed, or cannot keep up
            }
        }
    }
}

/// The cores this scheduler shares the machine with, when there are several.
fn other_cores() -> Option<axon_core::CoresHandle> {
    axon_core::current_cores().filter(|cores| cores.len() > 1)
}

/// The snapshot as JSON (topology, CAT services and values, deadlocks) and the deadlocks (as
/// the page names components: ids on one scheduler, `core:id` across cores).
async fn snapshot() -> (String, Vec<Vec<String>>) {
    let (topology, deadlocks) = match other_cores() {
        Some(cores) => {
            let all = cores.topology().await;
            let cycles = deadlocks_across(&all);
            (merged(&all), cycles)
        }
        None => {
            let topology = axon_core::topology().unwrap_or_default();
            let cycles = deadlocks(&topology)
                .into_iter()
                .map(|cycle| cycle.iter().map(u64::to_string).collect())
                .collect();
            (serde_json::to_value(&topology).unwrap_or_default(), cycles)
        }
    };
    let (services, values) = match Cat::current() {
        Ok(cat) => (
            cat.services()
                .into_iter()
                .map(|s| serde_json::json!({"name": s.name, "type": s.message_type}))
                .collect(),
            cat.values_json(),
        ),
        Err(_) => (Vec::new(), serde_json::Value::Null),
    };
    let json = serde_json::json!({
        "topology": topology,
        "services": services,
        "values": values,
        "deadlocks": deadlocks,
    });
    (json.to_string(), deadlocks)
}

/// The elements of a JSON array, taken out of it (none if it is not one).
fn take_array(value: &mut serde_json::Value) -> Vec<serde_json::Value> {
    value.as_array_mut().map(std::mem::take).unwrap_or_default()
}

/// Every core's topology as one, for the page: ids become `core:id` (ids are per scheduler),
/// each component says its `core`, and each link between cores is a link of kind
/// `cross-core` to the `CrossCoreIn` that delivers it.
fn merged(all: &axon_core::CoresTopology) -> serde_json::Value {
    use serde_json::Value;
    let (mut components, mut boxes, mut links, mut failures) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, topology) in all.cores.iter().enumerate() {
        let k = topology.core.unwrap_or(index);
        let qualify = |v: &mut Value| {
            if let Some(id) = v.as_u64() {
                *v = Value::from(format!("{k}:{id}"));
            }
        };
        let Ok(mut v) = serde_json::to_value(topology) else {
            continue;
        };
        for mut c in take_array(&mut v["components"]) {
            qualify(&mut c["id"]);
            qualify(&mut c["parent"]);
            c["core"] = Value::from(k);
            components.push(c);
        }
        for mut b in take_array(&mut v["boxes"]) {
            qualify(&mut b["component"]);
            boxes.push(b);
        }
        for mut f in take_array(&mut v["failures"]) {
            f["core"] = Value::from(k);
            failures.push(f);
        }
        for mut l in take_array(&mut v["links"]) {
            qualify(&mut l["from"]["component"]);
            qualify(&mut l["to"]["component"]);
            links.push(l);
        }
        for cross in &topology.cross_links {
            let (Some(from), Some(to_core), Some(ingress)) =
                (cross.from.component, cross.to_core, cross.ingress)
            else {
                continue;
            };
            links.push(serde_json::json!({
                "from": {"component": format!("{k}:{}", from.as_u64()), "box_name": cross.from.box_name},
                "to": {"component": format!("{to_core}:{}", ingress.as_u64()), "box_name": "(from another core)"},
                "kind": "cross-core",
                "depth": cross.counters.depth,
                "capacity": cross.counters.capacity,
            }));
        }
    }
    serde_json::json!({
        "cores": all.cores.len(),
        "components": components,
        "boxes": boxes,
        "links": links,
        "failures": failures,
    })
}

/// Cycles of components each blocked sending into the next one's full inbox (component ids,
/// each cycle starting at its smallest).
pub fn deadlocks(topology: &Topology) -> Vec<Vec<u64>> {
    let mut waits = HashMap::new();
    add_local_waits(topology, |id| id.as_u64(), &mut waits);
    find_cycles(&waits)
}

/// [`deadlocks`] across every core: a component blocked on a full cross-core link waits for
/// the `CrossCoreIn` that delivers it on the other core, so a cycle may run through several
/// cores. Ids as the page names them, `core:id`.
fn deadlocks_across(all: &axon_core::CoresTopology) -> Vec<Vec<String>> {
    let mut waits: HashMap<(usize, u64), Vec<(usize, u64)>> = HashMap::new();
    for (index, topology) in all.cores.iter().enumerate() {
        let k = topology.core.unwrap_or(index);
        add_local_waits(topology, |id| (k, id.as_u64()), &mut waits);
        for cross in &topology.cross_links {
            let (Some(from), Some(to_core), Some(ingress)) =
                (cross.from.component, cross.to_core, cross.ingress)
            else {
                continue;
            };
            let blocked = topology
                .component(from)
                .is_some_and(|c| c.state == ComponentState::BlockedOnSend);
            if blocked && cross.counters.depth >= cross.counters.capacity {
                waits
                    .entry((k, from.as_u64()))
                    .or_default()
                    .push((to_core, ingress.as_u64()));
            }
        }
    }
    find_cycles(&waits)
        .into_iter()
        .map(|cycle| cycle.iter().map(|(k, id)| format!("{k}:{id}")).collect())
        .collect()
}

/// Adds to `waits` each blocked component's wait for the owner of the full inbox it sends to.
fn add_local_waits<K: Copy + Eq + std::hash::Hash>(
    topology: &Topology,
    key: impl Fn(ComponentId) -> K,
    waits: &mut HashMap<K, Vec<K>>,
) {
    let blocked: HashSet<ComponentId> = topology
        .components
        .iter()
        .filter(|c| c.state == ComponentState::BlockedOnSend)
        .map(|c| c.id)
        .collect();
    // A waits for B when A is blocked and one of its outboxes feeds a full inbox of B.
    for link in &topology.links {
        let (Some(from), Some(to)) = (link.from.component, link.to.component) else {
            continue;
        };
        if link.kind != LinkKind::Data || !blocked.contains(&from) {
            continue;
        }
        let full = topology
            .find_box(to, &link.to.box_name)
            .is_some_and(|b| b.counters.depth >= b.counters.capacity);
        if full {
            waits.entry(key(from)).or_default().push(key(to));
        }
    }
}

/// The cycles in a wait-for graph, each starting at its smallest member, in order.
fn find_cycles<K: Copy + Ord + std::hash::Hash>(waits: &HashMap<K, Vec<K>>) -> Vec<Vec<K>> {
    let mut cycles: Vec<Vec<K>> = Vec::new();
    for &start in waits.keys() {
        // Follow the waits from `start`; a return to `start` is a cycle.
        let mut path = vec![start];
        let mut seen = HashSet::from([start]);
        let mut current = start;
        while let Some(&next) = waits.get(&current).and_then(|n| n.first()) {
            if next == start {
                let mut ids = path.clone();
                let smallest = (0..ids.len()).min_by_key(|&i| ids[i]).unwrap_or(0);
                ids.rotate_left(smallest);
                if !cycles.contains(&ids) {
                    cycles.push(ids);
                }
                break;
            }
            if !seen.insert(next) {
                break;
            }
            path.push(next);
            current = next;
        }
    }
    cycles.sort();
    cycles
}
