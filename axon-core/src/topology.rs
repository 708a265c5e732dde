//! Introspection: a serialisable snapshot of components, boxes and linkages, and its Graphviz
//! rendering (what Kamaelia's Introspector and topology visualiser showed).

use crate::erased::{BoxCounters, BoxEntry, ComponentId, Direction, LinkView};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a component was doing when the snapshot was taken.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum ComponentState {
    /// Being polled (the component that took the snapshot).
    Running,
    /// Waiting (paused): for a delivery, a timer or I/O; it costs nothing until woken.
    Waiting,
    /// Woken and queued: it runs in the scheduler's next round.
    Runnable,
    /// Waiting for room in a full destination inbox.
    BlockedOnSend,
}

/// A component in the snapshot.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ComponentInfo {
    /// Its id.
    pub id: ComponentId,
    /// Its name.
    pub name: String,
    /// The component that activated it, while that one runs.
    pub parent: Option<ComponentId>,
    /// What it was doing.
    pub state: ComponentState,
    /// Polls and busy time, while the scheduler measures ([`Scheduler::measure`]).
    ///
    /// [`Scheduler::measure`]: crate::Scheduler::measure
    pub stats: Option<ComponentStats>,
}

/// What the scheduler measured of a component since measuring was turned on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ComponentStats {
    /// Times it was polled.
    pub polls: u64,
    /// Time spent in those polls, in microseconds.
    pub busy_us: u64,
    /// Milliseconds since its last poll (`None`: not polled since measuring began).
    pub since_last_run_ms: Option<u64>,
}

/// A box in the snapshot.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BoxInfo {
    /// Its owner.
    pub component: ComponentId,
    /// Its name.
    pub name: String,
    /// Its doc string.
    pub doc: String,
    /// Inbox or outbox.
    pub direction: Direction,
    /// The Rust type it carries.
    pub item_type: String,
    /// Depth, capacity and message counts.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub counters: BoxCounters,
}

/// One end of a link in the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BoxAddress {
    /// The owner (absent for a box never activated).
    pub component: Option<ComponentId>,
    /// The box name.
    pub box_name: String,
}

/// What kind of linkage.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum LinkKind {
    /// Outbox → inbox.
    Data,
    /// A parent's inbox passed through to a child's inbox.
    InboxPassthrough,
    /// A child's outbox surfaced as its parent's outbox.
    OutboxPassthrough,
}

/// A linkage in the snapshot.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkInfo {
    /// The source box.
    pub from: BoxAddress,
    /// The destination box.
    pub to: BoxAddress,
    /// Its kind.
    pub kind: LinkKind,
}

impl LinkInfo {
    pub(crate) fn new(
        owner: ComponentId,
        source: &BoxEntry,
        view: LinkView,
        to_name: &str,
    ) -> Self {
        LinkInfo {
            from: BoxAddress {
                component: Some(owner),
                box_name: source.name().to_string(),
            },
            to: BoxAddress {
                component: view.to_owner,
                box_name: to_name.to_string(),
            },
            kind: view.kind,
        }
    }
}

/// A snapshot of a scheduler: components, boxes and linkages. Serialises with serde.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[doc(alias("Introspector", "introspection"))]
pub struct Topology {
    /// The core this scheduler runs on, under [`Cores`](crate::Cores).
    pub core: Option<usize>,
    /// Running components.
    pub components: Vec<ComponentInfo>,
    /// Their boxes.
    pub boxes: Vec<BoxInfo>,
    /// Linkages between boxes.
    pub links: Vec<LinkInfo>,
    /// Outboxes linked to another core (through a [`CrossInbox`](crate::CrossInbox)).
    pub cross_links: Vec<CrossLinkInfo>,
    /// The most recent components that failed or panicked (at most 32, oldest first), with
    /// their messages: what the live view's failures panel shows.
    pub failures: Vec<crate::FailureInfo>,
}

/// An outbox's link to another core, in the snapshot.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CrossLinkInfo {
    /// The outbox, on this scheduler.
    pub from: BoxAddress,
    /// The link (one per [`CrossInbox`](crate::CrossInbox), shared by its senders).
    pub link: u64,
    /// The consumer's core.
    pub to_core: Option<usize>,
    /// The `CrossCoreIn` component on the consumer's core that delivers what arrives.
    pub ingress: Option<ComponentId>,
    /// Depth, capacity, messages and wakes of the link.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub counters: crate::CrossCounters,
}

impl Topology {
    /// The component with this id.
    pub fn component(&self, id: ComponentId) -> Option<&ComponentInfo> {
        self.components.iter().find(|c| c.id == id)
    }

    /// The box `name` of component `id`.
    pub fn find_box(&self, id: ComponentId, name: &str) -> Option<&BoxInfo> {
        self.boxes
            .iter()
            .find(|b| b.component == id && b.name == name)
    }

    /// Renders as Graphviz DOT: a node per component, components with children drawn as
    /// clusters around them, solid edges for data links and dashed ones for passthroughs.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph axon {\n  rankdir=LR;\n  node [shape=box];\n");
        self.write_dot_body(&mut out, "", 1);
        out.push_str("}\n");
        out
    }

    /// The nodes and edges of [`to_dot`](Self::to_dot), node names prefixed (so several
    /// cores' graphs can share one drawing).
    pub(crate) fn write_dot_body(&self, out: &mut String, prefix: &str, depth: usize) {
        let mut children: BTreeMap<Option<ComponentId>, Vec<&ComponentInfo>> = BTreeMap::new();
        for c in &self.components {
            let parent = c.parent.filter(|p| self.component(*p).is_some());
            children.entry(parent).or_default().push(c);
        }
        fn draw(
            out: &mut String,
            children: &BTreeMap<Option<ComponentId>, Vec<&ComponentInfo>>,
            parent: Option<ComponentId>,
            prefix: &str,
            depth: usize,
        ) {
            let indent = "  ".repeat(depth);
            for c in children.get(&parent).into_iter().flatten() {
                let label = format!("{}{}\\n{:?}", escape(&c.name), c.id, c.state);
                if children.contains_key(&Some(c.id)) {
                    let _ = writeln!(out, "{indent}subgraph cluster_{prefix}{} {{", c.id.as_u64());
                    let _ = writeln!(out, "{indent}  label=\"{label}\";");
                    let _ = writeln!(
                        out,
                        "{indent}  {prefix}c{} [label=\"{label}\", style=dashed];",
                        c.id.as_u64()
                    );
                    draw(out, children, Some(c.id), prefix, depth + 1);
                    let _ = writeln!(out, "{indent}}}");
                } else {
                    let _ = writeln!(
                        out,
                        "{indent}{prefix}c{} [label=\"{label}\"];",
                        c.id.as_u64()
                    );
                }
            }
        }
        draw(out, &children, None, prefix, depth);
        let indent = "  ".repeat(depth);
        for l in &self.links {
            let (Some(from), Some(to)) = (l.from.component, l.to.component) else {
                continue;
            };
            let style = match l.kind {
                LinkKind::Data => "solid",
                _ => "dashed",
            };
            let _ = writeln!(
                out,
                "{indent}{prefix}c{} -> {prefix}c{} [label=\"{}→{}\", style={style}];",
                from.as_u64(),
                to.as_u64(),
                escape(&l.from.box_name),
                escape(&l.to.box_name)
            );
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
