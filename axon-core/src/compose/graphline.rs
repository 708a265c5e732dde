//! `Graphline`: named children wired by a linkage table.

use super::{Activator, activator};
use crate::erased::{self, BoxEntry, Direction};
use crate::error::{Endpoint, LinkError};
use crate::{AdaptiveBoxes, Boxes, Component, ComponentError, Control, Inbox, Outbox};
use std::collections::HashSet;

/// Named children plus a linkage table of `(name, box)` pairs, where `"self"` names the
/// graphline's own boxes. Sources are a child's outboxes or the graphline's own inboxes;
/// destinations are a child's inboxes or the graphline's own outboxes:
///
/// - `("a", "outbox") → ("b", "inbox")` links two children;
/// - `("self", "inbox") → ("a", "inbox")` passes the graphline's inbox through to `a`;
/// - `("b", "outbox") → ("self", "outbox")` surfaces `b`'s outbox as the graphline's.
///
/// A control message sent to the graphline is forwarded to every child whose `control` inbox no
/// link feeds (unless `("self", "control")` is itself linked). When all children are done, the
/// graphline sends the shutdown message it received, or `ProducerFinished`, on its `signal`
/// (unless a child's signal is linked to `("self", "signal")`).
///
/// A `("self", name)` end that names a box the graphline does not have creates it, with the
/// item type of the other end (Axon's Graphline did the same): `("self", "errors") ←
/// ("parser", "errors")` gives the graphline an `errors` outbox that users link by name
/// ([`link_named`](crate::link_named), [`ComponentHandle::outbox`](crate::ComponentHandle::outbox)).
///
/// A bad table — unknown component or box, type mismatch, a box linked twice — is an error from
/// [`GraphlineBuilder::build`], never a panic later.
///
/// ```
/// use axon_core::components::{Collect, DataSource, map};
/// use axon_core::{Graphline, Scheduler};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let (sink, out) = Collect::<String>::new();
///     let graph = Graphline::<(), ()>::builder()
///         .child("numbers", DataSource::new(1..=2u32))
///         .child("words", map(|n: u32| format!("n={n}")))
///         .child("sink", sink)
///         .link(("numbers", "outbox"), ("words", "inbox"))
///         .link(("numbers", "signal"), ("words", "control"))
///         .link(("words", "outbox"), ("sink", "inbox"))
///         .link(("words", "signal"), ("sink", "control"))
///         .build()
///         .unwrap();
///     let scheduler = Scheduler::new();
///     scheduler.activate(graph);
///     scheduler.run().await;
///     assert_eq!(out.take(), ["n=1", "n=2"]);
/// });
/// ```
#[derive(Boxes)]
pub struct Graphline<I: 'static = (), O: 'static = ()> {
    /// The graphline's inbox, for `("self", "inbox")` links.
    pub inbox: Inbox<I>,
    /// Control for the whole graph.
    pub control: Inbox<Control>,
    /// The graphline's outbox, for `("self", "outbox")` links.
    pub outbox: Outbox<O>,
    /// `ProducerFinished` (or the shutdown received) once every child is done.
    pub signal: Outbox<Control>,
    children: Vec<Activator>,
    /// `control` inboxes of children that no link feeds: they get the graphline's control.
    unfed_controls: Vec<BoxEntry>,
    control_linked: bool,
    signal_linked: bool,
    /// Boxes made for `("self", name)` links that named a box the graphline lacked.
    made: AdaptiveBoxes,
}

/// Collects children and links for a [`Graphline`].
pub struct GraphlineBuilder<I: 'static, O: 'static> {
    children: Vec<(String, Vec<BoxEntry>, Activator)>,
    links: Vec<((String, String), (String, String))>,
    _types: std::marker::PhantomData<(I, O)>,
}

impl<I: 'static, O: 'static> std::fmt::Debug for GraphlineBuilder<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphlineBuilder").finish_non_exhaustive()
    }
}

impl<I: 'static, O: 'static> Graphline<I, O> {
    /// An empty table.
    pub fn builder() -> GraphlineBuilder<I, O> {
        GraphlineBuilder {
            children: Vec::new(),
            links: Vec::new(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<I: 'static, O: 'static> GraphlineBuilder<I, O> {
    /// Adds a child under `name` (names must be unique and not `"self"`).
    pub fn child<C: Component>(mut self, name: impl Into<String>, component: C) -> Self {
        let boxes = component.boxes();
        self.children
            .push((name.into(), boxes, activator(component)));
        self
    }

    /// Adds a link from `(component, box)` to `(component, box)`.
    pub fn link(mut self, from: (&str, &str), to: (&str, &str)) -> Self {
        self.links.push((
            (from.0.to_string(), from.1.to_string()),
            (to.0.to_string(), to.1.to_string()),
        ));
        self
    }

    /// Checks the table and makes the links.
    pub fn build(self) -> Result<Graphline<I, O>, LinkError> {
        let graph = Graphline {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            children: Vec::new(),
            unfed_controls: Vec::new(),
            control_linked: false,
            signal_linked: false,
            made: AdaptiveBoxes::new(),
        };
        let own = graph.boxes();
        let mut names = HashSet::new();
        for (name, _, _) in &self.children {
            if name == "self" || !names.insert(name.as_str()) {
                return Err(LinkError::NoSuchComponent {
                    component: format!("{name:?} (child names must be unique and not \"self\")")
                        .into(),
                });
            }
        }
        let find = |component: &str, box_name: &str, role: Role| -> Result<BoxEntry, LinkError> {
            let (boxes, direction) = if component == "self" {
                (&own[..], role.own_direction())
            } else {
                let (_, boxes, _) = self
                    .children
                    .iter()
                    .find(|(n, _, _)| n == component)
                    .ok_or_else(|| LinkError::NoSuchComponent {
                        component: component.into(),
                    })?;
                (&boxes[..], role.child_direction())
            };
            boxes
                .iter()
                .find(|b| b.name() == box_name && b.direction() == direction)
                .cloned()
                .ok_or_else(|| LinkError::NoSuchBox {
                    endpoint: endpoint(component, box_name),
                    available: boxes
                        .iter()
                        .filter(|b| b.direction() == direction)
                        .map(|b| format!("{} ({})", b.name(), b.type_name()))
                        .collect(),
                })
        };
        let made = graph.made.registry();
        // A `("self", name)` end the graphline lacks is made with the other end's item type.
        let find_or_make = |component: &str,
                            box_name: &str,
                            role: Role,
                            other: &BoxEntry|
         -> Result<BoxEntry, LinkError> {
            let found = find(component, box_name, role);
            if component != "self" || !matches!(found, Err(LinkError::NoSuchBox { .. })) {
                return found;
            }
            if let Some(entry) = made
                .0
                .added()
                .into_iter()
                .find(|b| b.name() == box_name && b.direction() == role.own_direction())
            {
                return Ok(entry);
            }
            let handle = other.handle.new_peer(role.own_direction());
            made.0
                .add(handle.clone(), box_name, "made for a (\"self\", name) link");
            Ok(BoxEntry { handle })
        };
        let mut fed_controls = HashSet::new();
        let mut sources: std::collections::HashMap<(&str, &str), (&str, &str)> =
            std::collections::HashMap::new();
        let mut graph = graph;
        for ((from_c, from_b), (to_c, to_b)) in &self.links {
            if let Some(existing) = sources.insert((from_c, from_b), (to_c, to_b)) {
                return Err(LinkError::AlreadyLinked {
                    from: endpoint(from_c, from_b),
                    existing: endpoint(existing.0, existing.1),
                });
            }
            if from_c == "self" && to_c == "self" {
                return Err(LinkError::WrongHierarchy {
                    from: endpoint(from_c, from_b),
                    to: endpoint(to_c, to_b),
                    reason: "a graphline cannot link its own boxes to each other",
                });
            }
            let (source, destination) = if from_c == "self" {
                let destination = find(to_c, to_b, Role::Destination)?;
                (
                    find_or_make(from_c, from_b, Role::Source, &destination)?,
                    destination,
                )
            } else {
                let source = find(from_c, from_b, Role::Source)?;
                let destination = find_or_make(to_c, to_b, Role::Destination, &source)?;
                (source, destination)
            };
            erased::link_erased(&source.handle, &destination.handle).map_err(|e| {
                // Unactivated boxes have no owner name yet: say which table entry failed.
                rename(e, (from_c, from_b), (to_c, to_b))
            })?;
            if to_c != "self" && to_b == "control" {
                fed_controls.insert(to_c.clone());
            }
            graph.control_linked |= from_c == "self" && from_b == "control";
            graph.signal_linked |= to_c == "self" && to_b == "signal";
        }
        for (name, boxes, activate) in self.children {
            if !fed_controls.contains(&name)
                && let Some(control) = boxes
                    .iter()
                    .find(|b| b.name() == "control" && b.direction() == Direction::In)
            {
                graph.unfed_controls.push(control.clone());
            }
            graph.children.push(activate);
        }
        Ok(graph)
    }
}

#[derive(Copy, Clone)]
enum Role {
    Source,
    Destination,
}

impl Role {
    fn own_direction(self) -> Direction {
        match self {
            Role::Source => Direction::In,
            Role::Destination => Direction::Out,
        }
    }
    fn child_direction(self) -> Direction {
        match self {
            Role::Source => Direction::Out,
            Role::Destination => Direction::In,
        }
    }
}

fn endpoint(component: &str, box_name: &str) -> Endpoint {
    Endpoint::new(component, box_name)
}

/// Names the ends of an error by their table names.
fn rename(error: LinkError, from: (&str, &str), to: (&str, &str)) -> LinkError {
    let (from, to) = (endpoint(from.0, from.1), endpoint(to.0, to.1));
    match error {
        LinkError::TypeMismatch {
            from_type, to_type, ..
        } => LinkError::TypeMismatch {
            from,
            from_type,
            to,
            to_type,
        },
        LinkError::AlreadyLinked { .. } => LinkError::AlreadyLinked { from, existing: to },
        LinkError::WrongHierarchy { reason, .. } => LinkError::WrongHierarchy { from, to, reason },
        other => other,
    }
}

impl<I: 'static, O: 'static> Component for Graphline<I, O> {
    async fn main(mut self) -> Result<(), ComponentError> {
        for child in std::mem::take(&mut self.children) {
            child();
        }
        let children = crate::children();
        let mut captured = None;
        if !self.control_linked {
            loop {
                tokio::select! {
                    message = self.control.recv() => {
                        for control in &self.unfed_controls {
                            control.handle.deliver_control(message.clone());
                        }
                        if message.ends_stream() {
                            captured = Some(message);
                        }
                    }
                    () = children.all_done() => break,
                }
            }
        }
        children.all_done().await;
        if !self.signal_linked {
            let last = match captured {
                Some(Control::ShutdownMicroprocess) => Control::ShutdownMicroprocess,
                _ => Control::ProducerFinished,
            };
            self.signal.send(last).await?;
        }
        Ok(())
    }
}
