//! Boxes added and removed while a component runs (Axon's AdaptiveCommsComponent): a server or
//! router keeps one box per client, named at run time, and finds the client again by its box.
//!
//! The component keeps the typed boxes it adds; the scheduler sees them through a shared
//! registry (so linking by name, `ComponentHandle::inbox`/`outbox` and the topology find them),
//! and removes their links when they are removed or when the component exits.

use crate::erased::{BoxEntry, ComponentId, Direction, ErasedBox};
use crate::inbox::{DEFAULT_CAPACITY, Inbox};
use crate::outbox::Outbox;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::rc::Rc;

/// The boxes a component added at run time, shared with the scheduler's entry for it.
#[derive(Default)]
pub(crate) struct Registry {
    owner: Cell<Option<ComponentId>>,
    /// The component's declared boxes, known once it is activated: an added box never takes
    /// one of their names.
    declared: RefCell<Vec<BoxEntry>>,
    added: RefCell<Vec<BoxEntry>>,
}

impl Registry {
    /// The component was activated as `owner` with these declared boxes.
    pub(crate) fn activated(&self, owner: ComponentId, declared: &[BoxEntry]) {
        self.owner.set(Some(owner));
        *self.declared.borrow_mut() = declared.to_vec();
        for entry in self.added.borrow().iter() {
            entry.handle.meta().set_owner(owner);
        }
    }

    /// The boxes added and not removed.
    pub(crate) fn added(&self) -> Vec<BoxEntry> {
        self.added.borrow().clone()
    }

    fn taken(&self, name: &str, direction: Direction) -> bool {
        let clash = |e: &BoxEntry| e.name() == name && e.direction() == direction;
        self.declared.borrow().iter().any(clash) || self.added.borrow().iter().any(clash)
    }

    /// `wanted` if free, else `wanted.2`, `wanted.3`, … — the first free one.
    fn unique(&self, wanted: &str, direction: Direction) -> String {
        if !self.taken(wanted, direction) {
            return wanted.to_string();
        }
        (2u64..)
            .map(|n| format!("{wanted}.{n}"))
            .find(|name| !self.taken(name, direction))
            .expect("some suffix is free")
    }

    pub(crate) fn add(&self, handle: Rc<dyn ErasedBox>, wanted: &str, doc: &str) -> String {
        let name = self.unique(wanted, handle.direction());
        handle.meta().set_owned_spec(name.clone(), doc.to_string());
        if let Some(owner) = self.owner.get() {
            handle.meta().set_owner(owner);
        }
        self.added.borrow_mut().push(BoxEntry { handle });
        name
    }

    fn remove(&self, name: &str, direction: Direction) -> bool {
        let mut added = self.added.borrow_mut();
        let Some(at) = added
            .iter()
            .position(|e| e.name() == name && e.direction() == direction)
        else {
            return false;
        };
        let entry = added.remove(at);
        drop(added);
        entry.handle.retire();
        true
    }
}

/// Plumbing for `#[derive(Boxes)]`: how the scheduler reaches a component's [`AdaptiveBoxes`].
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct AdaptiveRegistry(pub(crate) Rc<Registry>);

impl fmt::Debug for AdaptiveRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveRegistry")
            .field("added", &self.0.added.borrow().len())
            .finish()
    }
}

/// Inboxes and outboxes a component adds and removes while it runs, each with a name the
/// scheduler knows (Axon's AdaptiveCommsComponent), and a resource — a client id, an address —
/// tracked against each box name and found both ways.
///
/// Put it in a `#[derive(Boxes)]` component as a field; the boxes it adds are linked by name,
/// shown in the topology, and unlinked when removed or when the component exits. A name
/// already taken (by a declared box or an added one of the same direction) comes back with a
/// suffix: `client`, `client.2`, `client.3`…
///
/// ```
/// use axon_core::{AdaptiveBoxes, Boxes, Component, ComponentError, Control, Inbox, Outbox};
///
/// /// One outbox per client, named after it.
/// #[derive(Boxes)]
/// struct Router {
///     inbox: Inbox<(u32, String)>,
///     control: Inbox<Control>,
///     clients: AdaptiveBoxes<u32>,
/// }
///
/// impl Component for Router {
///     async fn main(mut self) -> Result<(), ComponentError> {
///         let mut outboxes = std::collections::HashMap::new();
///         while let Some((client, line)) = self.inbox_or_finished().await {
///             if !outboxes.contains_key(&client) {
///                 let (name, outbox): (String, Outbox<String>) = self.clients.add_outbox("client");
///                 self.clients.track(&name, client);
///                 outboxes.insert(client, outbox);
///             }
///             outboxes[&client].send(line).await?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = Router { inbox: Inbox::new(), control: Inbox::new(), clients: AdaptiveBoxes::new() };
/// ```
pub struct AdaptiveBoxes<R = ()> {
    registry: AdaptiveRegistry,
    by_name: HashMap<String, R>,
    by_resource: HashMap<R, String>,
}

impl<R> fmt::Debug for AdaptiveBoxes<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let added = self.registry.0.added.borrow();
        let names: Vec<&str> = added.iter().map(|e| e.name()).collect();
        f.debug_struct("AdaptiveBoxes")
            .field("boxes", &names)
            .field("tracked", &self.by_name.len())
            .finish()
    }
}

impl<R: Eq + Hash + Clone> Default for AdaptiveBoxes<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Eq + Hash + Clone> AdaptiveBoxes<R> {
    /// No boxes yet.
    pub fn new() -> Self {
        AdaptiveBoxes {
            registry: AdaptiveRegistry::default(),
            by_name: HashMap::new(),
            by_resource: HashMap::new(),
        }
    }

    /// Adds an inbox (of [`DEFAULT_CAPACITY`]) named `name`, or a unique variant of it;
    /// returns the name it got and the inbox.
    #[doc(alias = "addInbox")]
    pub fn add_inbox<T: 'static>(&mut self, name: &str) -> (String, Inbox<T>) {
        self.add_inbox_with_capacity(name, DEFAULT_CAPACITY)
    }

    /// [`add_inbox`](Self::add_inbox) holding at most `capacity` values.
    pub fn add_inbox_with_capacity<T: 'static>(
        &mut self,
        name: &str,
        capacity: usize,
    ) -> (String, Inbox<T>) {
        let inbox = Inbox::with_capacity(capacity);
        let name = self
            .registry
            .0
            .add(inbox.core().clone(), name, "added at run time");
        (name, inbox)
    }

    /// Adds an outbox named `name`, or a unique variant of it; returns the name it got and the
    /// outbox.
    #[doc(alias = "addOutbox")]
    pub fn add_outbox<T: 'static>(&mut self, name: &str) -> (String, Outbox<T>) {
        let outbox = Outbox::new();
        let name = self
            .registry
            .0
            .add(outbox.core().clone(), name, "added at run time");
        (name, outbox)
    }

    /// Removes the added inbox `name`: the links into it are removed and it refuses further
    /// sends (senders get `Closed`); what is already queued stays receivable on the `Inbox`
    /// you hold. Forgets a resource tracked against `name` once no box of that name is left.
    /// `false` if there is no such added inbox.
    #[doc(alias = "deleteInbox")]
    pub fn remove_inbox(&mut self, name: &str) -> bool {
        self.remove(name, Direction::In)
    }

    /// Removes the added outbox `name` and its link (values it holds stay on the `Outbox` you
    /// hold). Forgets a resource tracked against `name` once no box of that name is left.
    #[doc(alias = "deleteOutbox")]
    pub fn remove_outbox(&mut self, name: &str) -> bool {
        self.remove(name, Direction::Out)
    }

    fn remove(&mut self, name: &str, direction: Direction) -> bool {
        let removed = self.registry.0.remove(name, direction);
        let still_named = self
            .registry
            .0
            .added
            .borrow()
            .iter()
            .any(|e| e.name() == name);
        if removed
            && !still_named
            && let Some(resource) = self.by_name.remove(name)
        {
            self.by_resource.remove(&resource);
        }
        removed
    }

    /// The added boxes now: name and direction.
    pub fn names(&self) -> Vec<(String, Direction)> {
        self.registry
            .0
            .added
            .borrow()
            .iter()
            .map(|e| (e.name().to_string(), e.direction()))
            .collect()
    }

    /// Tracks `resource` against the box name `name` (replacing what either was tracked
    /// against before).
    #[doc(alias = "trackResource")]
    pub fn track(&mut self, name: &str, resource: R) {
        if let Some(old) = self.by_name.remove(name) {
            self.by_resource.remove(&old);
        }
        if let Some(old) = self.by_resource.remove(&resource) {
            self.by_name.remove(&old);
        }
        self.by_name.insert(name.to_string(), resource.clone());
        self.by_resource.insert(resource, name.to_string());
    }

    /// The resource tracked against box `name`.
    #[doc(alias = "retrieveTrackedResource")]
    pub fn resource(&self, name: &str) -> Option<&R> {
        self.by_name.get(name)
    }

    /// The box name `resource` is tracked against.
    pub fn name_of(&self, resource: &R) -> Option<&str> {
        self.by_resource.get(resource).map(String::as_str)
    }

    /// Stops tracking `resource`; returns the box name it was tracked against.
    #[doc(alias = "ceaseTrackingResource")]
    pub fn forget(&mut self, resource: &R) -> Option<String> {
        let name = self.by_resource.remove(resource)?;
        self.by_name.remove(&name);
        Some(name)
    }

    /// Plumbing for `#[derive(Boxes)]`.
    #[doc(hidden)]
    pub fn registry(&self) -> AdaptiveRegistry {
        self.registry.clone()
    }
}
