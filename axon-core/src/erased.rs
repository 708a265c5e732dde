//! Boxes seen without their item type: the `Boxes` trait and its `BoxEntry`s (name, doc, owner,
//! statistics), which the scheduler keeps for linking by name (with a run-time type check) and
//! for introspection.

use crate::control::Control;
use crate::error::{Endpoint, LinkError};
use crate::inbox::{Inbox, InboxCore};
use crate::link;
use crate::outbox::{Downstream, Outbox, OutboxCore};
use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::rc::Rc;

/// Identifies a component within its scheduler. Ids are not reused while the scheduler runs
/// (a slot's generation changes when it is reused).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ComponentId {
    /// A number unique within the scheduler, for serialisation.
    pub fn as_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.generation == 0 {
            write!(f, "#{}", self.index)
        } else {
            write!(f, "#{}.{}", self.index, self.generation)
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ComponentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.as_u64())
    }
}

/// Which way a box carries messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Direction {
    /// An inbox.
    In,
    /// An outbox.
    Out,
}

/// Who a box belongs to and what it is called: its owner, filled in when the component is
/// activated, and its name and doc string, filled in when the component lists its boxes (or
/// when an adaptive box is added). A box knows its own name, so an error naming an endpoint
/// never has to ask the scheduler.
pub(crate) struct BoxMeta {
    /// `ComponentId::as_u64`, or `u64::MAX` before activation.
    owner: Cell<u64>,
    spec: OnceCell<Spec>,
}

/// A box's name and doc: static for declared fields, owned for boxes added at run time.
enum Spec {
    Static(&'static BoxSpec),
    Owned(Box<BoxSpecOwned>),
}

struct BoxSpecOwned {
    name: String,
    doc: String,
}

impl Default for BoxMeta {
    fn default() -> Self {
        BoxMeta {
            owner: Cell::new(u64::MAX),
            spec: OnceCell::new(),
        }
    }
}

impl BoxMeta {
    pub(crate) fn set_owner(&self, owner: ComponentId) {
        self.owner.set(owner.as_u64());
    }
    pub(crate) fn owner(&self) -> Option<ComponentId> {
        match self.owner.get() {
            u64::MAX => None,
            packed => Some(ComponentId {
                index: packed as u32,
                generation: (packed >> 32) as u32,
            }),
        }
    }
    /// Names a declared box (the first name given sticks: a box is one field).
    pub(crate) fn set_spec(&self, spec: &'static BoxSpec) {
        let _ = self.spec.set(Spec::Static(spec));
    }
    /// Names a box added at run time.
    pub(crate) fn set_owned_spec(&self, name: String, doc: String) {
        let _ = self
            .spec
            .set(Spec::Owned(Box::new(BoxSpecOwned { name, doc })));
    }
    /// The box's name; `?` for a box that belongs to no component's list.
    pub(crate) fn name(&self) -> &str {
        match self.spec.get() {
            Some(Spec::Static(spec)) => spec.name,
            Some(Spec::Owned(spec)) => &spec.name,
            None => "?",
        }
    }
    pub(crate) fn doc(&self) -> &str {
        match self.spec.get() {
            Some(Spec::Static(spec)) => spec.doc,
            Some(Spec::Owned(spec)) => &spec.doc,
            None => "",
        }
    }
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint {
            component: match self.owner() {
                Some(id) => crate::scheduler::describe(id).into(),
                None => "(not activated)".into(),
            },
            box_name: self.name().to_string().into(),
        }
    }
}

/// A box's name and doc string: static data written by `#[derive(Boxes)]` (plumbing for the
/// derive, not for direct use).
#[doc(hidden)]
#[derive(Debug)]
pub struct BoxSpec {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static str,
}

impl BoxSpec {
    /// A box named `name`, documented by `doc`.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        BoxSpec { name, doc }
    }
}

/// One box of a component as the scheduler sees it: name, doc string, direction and item type,
/// kept as data for linking by name and for introspection. Made by `#[derive(Boxes)]`.
#[derive(Clone)]
pub struct BoxEntry {
    pub(crate) handle: Rc<dyn ErasedBox>,
}

impl fmt::Debug for BoxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxEntry")
            .field("name", &self.name())
            .field("direction", &self.direction())
            .field("type", &self.type_name())
            .finish()
    }
}

impl BoxEntry {
    /// Describes an inbox (called by `#[derive(Boxes)]`).
    #[doc(hidden)]
    pub fn inbox<T: 'static>(spec: &'static BoxSpec, inbox: &Inbox<T>) -> Self {
        inbox.core().meta.set_spec(spec);
        BoxEntry {
            handle: inbox.core().clone(),
        }
    }
    /// Describes an outbox (called by `#[derive(Boxes)]`).
    #[doc(hidden)]
    pub fn outbox<T: 'static>(spec: &'static BoxSpec, outbox: &Outbox<T>) -> Self {
        outbox.core().meta.set_spec(spec);
        BoxEntry {
            handle: outbox.core().clone(),
        }
    }
    /// The box name (the field name, or the name an adaptive box was given).
    pub fn name(&self) -> &str {
        self.handle.meta().name()
    }
    /// The box's doc comment.
    pub fn doc(&self) -> &str {
        self.handle.meta().doc()
    }
    /// True when this entry describes the box whose owner record is `meta`.
    pub(crate) fn has_meta(&self, meta: *const BoxMeta) -> bool {
        std::ptr::eq(self.handle.meta(), meta)
    }
    /// Inbox or outbox.
    pub fn direction(&self) -> Direction {
        self.handle.direction()
    }
    /// The Rust type of the messages it carries.
    pub fn type_name(&self) -> &'static str {
        self.handle.item_type_name()
    }
}

/// The boxes a component owns. Derive it with `#[derive(Boxes)]`: every `Inbox<T>` and
/// `Outbox<T>` field becomes a box named after the field, documented by its doc comment.
pub trait Boxes {
    /// The component's boxes, in declaration order.
    fn boxes(&self) -> Vec<BoxEntry>;

    /// Where the boxes it adds at run time are listed: its [`AdaptiveBoxes`] field, if any
    /// (plumbing for the derive).
    ///
    /// [`AdaptiveBoxes`]: crate::AdaptiveBoxes
    #[doc(hidden)]
    fn adaptive(&self) -> Option<crate::adaptive::AdaptiveRegistry> {
        None
    }

    /// Records the declared boxes at activation, leaving unused ones dormant (plumbing for
    /// the derive; by default every box listed by [`boxes`](Self::boxes) is made).
    #[doc(hidden)]
    fn declare(&self, declaration: &mut crate::dormant::Declaration) {
        for entry in self.boxes() {
            declaration.add_made(entry);
        }
    }

    /// Declared box number `index` of this component type, as data (plumbing for the derive).
    #[doc(hidden)]
    fn declared(index: usize) -> Option<crate::dormant::BoxDecl>
    where
        Self: Sized,
    {
        let _ = index;
        None
    }
}

/// Statistics of one box, for the topology snapshot.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BoxCounters {
    /// Values queued now (inboxes) or held while unlinked (outboxes).
    pub depth: usize,
    /// Capacity of the queue (inboxes) or of the hold queue (outboxes).
    pub capacity: usize,
    /// Values pushed into this inbox's own queue, or sent through this outbox.
    pub messages: u64,
    /// Times a push woke the sleeping owner (inboxes).
    pub wakes: u64,
    /// Values left unreceived when the owner exited (inboxes).
    pub undelivered: u64,
    /// The most values ever queued at once (inboxes; told up to 65,535): how near to full it
    /// has come, which a depth read now can miss.
    pub high_water: usize,
}

/// How one box is linked onward, for the topology snapshot.
pub(crate) struct LinkView {
    pub(crate) to_owner: Option<ComponentId>,
    /// Identifies the destination box within its owner's box list (compared, never read).
    pub(crate) to_meta: *const BoxMeta,
    pub(crate) kind: crate::topology::LinkKind,
}

/// The type-erased operations on a box.
pub(crate) trait ErasedBox {
    fn direction(&self) -> Direction;
    fn item_type_id(&self) -> TypeId;
    fn item_type_name(&self) -> &'static str;
    fn meta(&self) -> &BoxMeta;
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    /// Links `self` to `to` (both of the same item type, checked by the caller).
    fn link_to(self: Rc<Self>, to: Rc<dyn ErasedBox>) -> Result<(), LinkError>;
    fn counters(&self) -> BoxCounters;
    /// True while a send on this (out)box waits for room.
    fn blocked(&self) -> bool {
        false
    }
    /// Notes the depth now in the high-water mark (inboxes; called while measuring).
    fn note_depth(&self) {}
    fn link_view(&self) -> Option<LinkView>;
    /// Where this outbox's cross-core link leads, if it has one.
    fn cross_view(&self) -> Option<crate::cross::CrossView> {
        None
    }
    /// The owner exited (`cancelled`: it was shut down, not finished): close (inbox) or
    /// unlink (outbox).
    fn on_owner_exit(&self, cancelled: bool);
    /// Removes every link that touches this box (see [`crate::ComponentHandle::unlink_all`]);
    /// returns how many were removed.
    fn unlink_all(&self) -> usize;
    /// Delivers a scheduler-made control message if this box carries `Control`.
    fn deliver_control(&self, message: Control) -> bool;
    /// A new, unlinked box carrying the same item type, facing `direction` (how a Graphline
    /// makes the `("self", name)` box a link asks for).
    fn new_peer(&self, direction: Direction) -> Rc<dyn ErasedBox>;
    /// An added box was removed: its links go, and an inbox refuses further sends (what is
    /// queued stays receivable).
    fn retire(&self);
}

fn type_mismatch(from: &dyn ErasedBox, to: &dyn ErasedBox) -> LinkError {
    LinkError::TypeMismatch {
        from: from.meta().endpoint(),
        from_type: from.item_type_name(),
        to: to.meta().endpoint(),
        to_type: to.item_type_name(),
    }
}

/// Links two type-erased boxes, checking the item types at run time.
pub(crate) fn link_erased(
    from: &Rc<dyn ErasedBox>,
    to: &Rc<dyn ErasedBox>,
) -> Result<(), LinkError> {
    if from.item_type_id() != to.item_type_id() {
        return Err(type_mismatch(&**from, &**to));
    }
    from.clone().link_to(to.clone())
}

/// A new, unlinked box of item type `T` facing `direction`.
fn new_box<T: 'static>(direction: Direction) -> Rc<dyn ErasedBox> {
    match direction {
        Direction::In => Rc::new(InboxCore::<T>::new(crate::inbox::DEFAULT_CAPACITY)),
        Direction::Out => Rc::new(OutboxCore::<T>::new(crate::inbox::DEFAULT_CAPACITY)),
    }
}

impl<T: 'static> ErasedBox for InboxCore<T> {
    fn direction(&self) -> Direction {
        Direction::In
    }
    fn item_type_id(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn item_type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn meta(&self) -> &BoxMeta {
        &self.meta
    }
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
    fn link_to(self: Rc<Self>, to: Rc<dyn ErasedBox>) -> Result<(), LinkError> {
        let dir = to.direction();
        let Ok(child) = to.clone().into_any().downcast::<InboxCore<T>>() else {
            return Err(type_mismatch(&*self, &*to));
        };
        match dir {
            Direction::In => link::pass_inbox_core(&self, &child),
            Direction::Out => Err(LinkError::WrongHierarchy {
                from: self.meta.endpoint(),
                to: to.meta().endpoint(),
                reason: "an inbox cannot feed an outbox",
            }),
        }
    }
    fn note_depth(&self) {
        self.note_depth();
    }
    fn counters(&self) -> BoxCounters {
        BoxCounters {
            depth: self.len(),
            capacity: self.capacity(),
            messages: self.pushes.get(),
            wakes: u64::from(self.wakes.get()),
            undelivered: self.undelivered(),
            high_water: self.high_water(),
        }
    }
    fn link_view(&self) -> Option<LinkView> {
        let next = self.forward()?;
        Some(LinkView {
            to_owner: next.meta.owner(),
            to_meta: &next.meta,
            kind: crate::topology::LinkKind::InboxPassthrough,
        })
    }
    fn on_owner_exit(&self, _cancelled: bool) {
        link::close_inbox(self);
    }
    fn unlink_all(&self) -> usize {
        link::unlink_inbox_all(self)
    }
    fn new_peer(&self, direction: Direction) -> Rc<dyn ErasedBox> {
        new_box::<T>(direction)
    }
    fn retire(&self) {
        link::unlink_inbox_all(self);
        self.refuse_sends();
    }
    fn deliver_control(&self, message: Control) -> bool {
        match (self as &dyn Any).downcast_ref::<InboxCore<Control>>() {
            Some(core) => core.force_push(message).is_ok(),
            None => false,
        }
    }
}

impl<T: 'static> ErasedBox for OutboxCore<T> {
    fn direction(&self) -> Direction {
        Direction::Out
    }
    fn item_type_id(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn item_type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn meta(&self) -> &BoxMeta {
        &self.meta
    }
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
    fn link_to(self: Rc<Self>, to: Rc<dyn ErasedBox>) -> Result<(), LinkError> {
        match to.direction() {
            Direction::In => match to.clone().into_any().downcast::<InboxCore<T>>() {
                Ok(inbox) => link::link_core(&self, &inbox, None),
                Err(_) => Err(type_mismatch(&*self, &*to)),
            },
            Direction::Out => match to.clone().into_any().downcast::<OutboxCore<T>>() {
                Ok(parent) => link::pass_outbox_core(&self, &parent),
                Err(_) => Err(type_mismatch(&*self, &*to)),
            },
        }
    }
    fn counters(&self) -> BoxCounters {
        BoxCounters {
            depth: self.links.get().map_or(0, |l| l.held.len()),
            capacity: self.held_capacity.get() as usize,
            messages: self.sent.get(),
            wakes: 0,
            undelivered: 0,
            high_water: 0,
        }
    }
    fn link_view(&self) -> Option<LinkView> {
        match &self.links.get()?.downstream {
            Downstream::None | Downstream::Cross(_) => None,
            Downstream::Inbox(i) if i.is_closed() => None,
            Downstream::Inbox(i) => Some(LinkView {
                to_owner: i.meta.owner(),
                to_meta: &i.meta,
                kind: crate::topology::LinkKind::Data,
            }),
            Downstream::Outbox(o) => Some(LinkView {
                to_owner: o.meta.owner(),
                to_meta: &o.meta,
                kind: crate::topology::LinkKind::OutboxPassthrough,
            }),
        }
    }
    fn cross_view(&self) -> Option<crate::cross::CrossView> {
        match &self.links.get()?.downstream {
            Downstream::Cross(sink) => Some(sink.view()),
            _ => None,
        }
    }
    fn on_owner_exit(&self, cancelled: bool) {
        link::detach_outbox(self, cancelled);
    }
    fn unlink_all(&self) -> usize {
        link::unlink_outbox_all(self)
    }
    fn new_peer(&self, direction: Direction) -> Rc<dyn ErasedBox> {
        new_box::<T>(direction)
    }
    fn retire(&self) {
        link::unlink_outbox_all(self);
    }
    fn blocked(&self) -> bool {
        self.blocked.get()
    }
    fn deliver_control(&self, message: Control) -> bool {
        let Some(core) = (self as &dyn Any).downcast_ref::<OutboxCore<Control>>() else {
            return false;
        };
        let target = core.target.borrow().clone();
        match target {
            Some(target) => target.force_push(message).is_ok(),
            None => {
                core.links.get_mut().held.push_back(message);
                true
            }
        }
    }
}
