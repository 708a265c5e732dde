//! Boxes that allocate nothing until they are first used.
//!
//! Most components never touch some of their boxes (an idle component's `control` and
//! `signal`, a sink's `outbox`), and a million idle components should not pay for four queues
//! each. So a box made with the default capacity starts *dormant*: no core, no allocation. It
//! gets one when something needs it:
//! - before activation, on first use (a link, a reference, a send): made on the spot;
//! - at activation, a dormant box is recorded as the owner's declared box number `index` (its
//!   *home*), and the scheduler lists it from the component type's static declaration;
//! - after activation, either side may need it: the component (its first send, a link made
//!   inside `main`) or the scheduler (a link by name, a shutdown delivered to `control`). Both
//!   go through the scheduler, which makes every dormant box of that component at once, in
//!   declaration order; the field then *adopts* its own. A component waiting on a dormant inbox
//!   is woken when its boxes are made.
//!
//! A dormant inbox is empty and a dormant outbox unlinked: nothing can reach either.

use crate::erased::{BoxEntry, ComponentId, Direction, ErasedBox};
use crate::inbox::{DEFAULT_CAPACITY, Inbox, InboxCore};
use crate::outbox::{Outbox, OutboxCore};
use std::cell::{Cell, OnceCell};
use std::rc::Rc;

/// Where a dormant box is declared: its owner (on which scheduler) and its field number
/// (plumbing for `#[derive(Boxes)]`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Home {
    pub(crate) owner: ComponentId,
    pub(crate) index: u16,
    /// The registry index of the owner's scheduler (see `scheduler::waker`).
    pub(crate) scheduler: u16,
}

/// A box's core, made on first use (see the module doc). Two words: an idle component
/// carries four of these inline.
pub(crate) struct Dormant<C> {
    core: OnceCell<Rc<C>>,
    /// A packed [`Home`], or [`NO_HOME`].
    home: Cell<u64>,
}

const NO_HOME: u64 = u64::MAX;

impl Home {
    /// Bits: scheduler 16, field 6, slot 28, generation 14 (low bits; enough to tell a home
    /// from a stale one, and adoption checks the box's type as well).
    fn pack(self) -> u64 {
        debug_assert!(self.index < 64);
        (u64::from(self.scheduler) << 48)
            | (u64::from(self.index & 63) << 42)
            | (u64::from(self.owner.index & ((1 << 28) - 1)) << 14)
            | u64::from(self.owner.generation & ((1 << 14) - 1))
    }

    fn unpack(packed: u64) -> Option<Home> {
        (packed != NO_HOME).then_some(Home {
            scheduler: (packed >> 48) as u16,
            index: ((packed >> 42) & 63) as u16,
            owner: ComponentId {
                index: ((packed >> 14) & ((1 << 28) - 1)) as u32,
                generation: (packed & ((1 << 14) - 1)) as u32,
            },
        })
    }

    /// Whether `generation` is the one this home was packed with (as far as it was kept).
    pub(crate) fn matches(self, generation: u32) -> bool {
        self.owner.generation == generation & ((1 << 14) - 1)
    }
}

impl<C: ErasedBox + 'static> Dormant<C> {
    /// No core yet.
    pub(crate) fn new() -> Self {
        Dormant {
            core: OnceCell::new(),
            home: Cell::new(NO_HOME),
        }
    }

    /// A core made now.
    pub(crate) fn made(core: C) -> Self {
        Dormant {
            core: OnceCell::from(Rc::new(core)),
            home: Cell::new(NO_HOME),
        }
    }

    /// The core, if it exists: made here, or made by the scheduler and adopted now.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&Rc<C>> {
        match self.core.get() {
            Some(core) => Some(core),
            None => self.adopt(false),
        }
    }

    /// The core, made now if need be.
    #[inline(always)]
    pub(crate) fn force(&self, make: impl FnOnce() -> C) -> &Rc<C> {
        match self.get() {
            Some(core) => core,
            None => self.make(make),
        }
    }

    #[cold]
    fn make(&self, make: impl FnOnce() -> C) -> &Rc<C> {
        // After activation the scheduler makes it (with its owner's other dormant boxes), so
        // its list and this field hold the same core.
        if let Some(core) = self.adopt(true) {
            return core;
        }
        self.core.get_or_init(|| Rc::new(make()))
    }

    #[cold]
    fn adopt(&self, make: bool) -> Option<&Rc<C>> {
        let home = Home::unpack(self.home.get())?;
        let handle = crate::scheduler::declared_box(home, make)?;
        let core = handle.into_any().downcast::<C>().ok()?;
        self.home.set(NO_HOME);
        Some(self.core.get_or_init(|| core))
    }

    /// A poll found this box dormant (so empty): `cx`'s waker is woken when it is made.
    #[cold]
    pub(crate) fn wait(&self, cx: &std::task::Context<'_>) {
        if let Some(home) = Home::unpack(self.home.get()) {
            crate::scheduler::wait_dormant(home, cx.waker());
        }
    }

    /// At activation: the box, if it exists, for the scheduler's list; else it stays dormant,
    /// declared at `home`.
    pub(crate) fn declare(&self, home: Home) -> Option<Rc<C>> {
        match self.core.get() {
            Some(core) => Some(core.clone()),
            None => {
                self.home.set(home.pack());
                None
            }
        }
    }
}

/// What activation learns of a component's declared boxes (plumbing for `#[derive(Boxes)]`).
#[doc(hidden)]
#[derive(Debug)]
pub struct Declaration {
    pub(crate) owner: ComponentId,
    pub(crate) scheduler: u16,
    /// The boxes that exist, in declaration order.
    pub(crate) made: Vec<BoxEntry>,
    /// Bit `i`: declared box `i` is dormant (boxes past 64 are always made).
    pub(crate) dormant: u64,
    /// Declared boxes seen.
    pub(crate) count: usize,
}

impl Declaration {
    pub(crate) fn new(owner: ComponentId, scheduler: u16) -> Self {
        Declaration {
            owner,
            scheduler,
            made: Vec::new(),
            dormant: 0,
            count: 0,
        }
    }

    /// Records the next declared box (called by `#[derive(Boxes)]`).
    pub fn add<B: DeclaredBox>(&mut self, spec: &'static crate::erased::BoxSpec, field: &B) {
        let index = self.count;
        self.count += 1;
        let home = Home {
            owner: self.owner,
            index: index as u16,
            scheduler: self.scheduler,
        };
        let entry = if index < 64 {
            field.declare(home)
        } else {
            Some(field.made())
        };
        match entry {
            Some(entry) => {
                entry.handle.meta().set_spec(spec);
                entry.handle.meta().set_owner(self.owner);
                self.made.push(entry);
            }
            None => self.dormant |= 1 << index,
        }
    }

    /// Records a box that exists (for components that list their boxes by hand).
    pub(crate) fn add_made(&mut self, entry: BoxEntry) {
        self.count += 1;
        entry.handle.meta().set_owner(self.owner);
        self.made.push(entry);
    }
}

/// A declared box as the component type describes it, without an instance: enough to list
/// it and to make it (plumbing for `#[derive(Boxes)]`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct BoxDecl {
    pub(crate) spec: &'static crate::erased::BoxSpec,
    pub(crate) direction: Direction,
    pub(crate) type_name: &'static str,
    make: fn() -> BoxEntry,
}

impl BoxDecl {
    /// Describes a field of type `B` (called by `#[derive(Boxes)]`).
    pub fn of<B: DeclaredBox>(spec: &'static crate::erased::BoxSpec) -> Self {
        BoxDecl {
            spec,
            direction: B::DIRECTION,
            type_name: B::item_type_name(),
            make: B::make_dormant,
        }
    }

    /// Makes the box, named, for `owner`.
    pub(crate) fn make(&self, owner: ComponentId) -> BoxEntry {
        let entry = (self.make)();
        entry.handle.meta().set_spec(self.spec);
        entry.handle.meta().set_owner(owner);
        entry
    }
}

/// A box type a component can declare as a field: `Inbox<T>` and `Outbox<T>`.
#[doc(hidden)]
pub trait DeclaredBox {
    #[doc(hidden)]
    const DIRECTION: Direction;
    #[doc(hidden)]
    fn item_type_name() -> &'static str;
    /// The core of a box made with the defaults (what a dormant box would have become).
    #[doc(hidden)]
    fn make_dormant() -> BoxEntry;
    /// At activation: the core if it exists, else dormant at `home`.
    #[doc(hidden)]
    fn declare(&self, home: Home) -> Option<BoxEntry>;
    /// The core, made now if need be.
    #[doc(hidden)]
    fn made(&self) -> BoxEntry;
}

/// `Inbox<T>` and `Outbox<T>` declare themselves the same way, around their own core type.
macro_rules! declared_box {
    ($field:ident, $core:ident, $direction:expr) => {
        impl<T: 'static> DeclaredBox for $field<T> {
            const DIRECTION: Direction = $direction;
            fn item_type_name() -> &'static str {
                std::any::type_name::<T>()
            }
            fn make_dormant() -> BoxEntry {
                BoxEntry {
                    handle: Rc::new($core::<T>::new(DEFAULT_CAPACITY)),
                }
            }
            fn declare(&self, home: Home) -> Option<BoxEntry> {
                let handle: Rc<dyn ErasedBox> = self.slot.declare(home)?;
                Some(BoxEntry { handle })
            }
            fn made(&self) -> BoxEntry {
                BoxEntry {
                    handle: self.core().clone(),
                }
            }
        }
    };
}

declared_box!(Inbox, InboxCore, Direction::In);
declared_box!(Outbox, OutboxCore, Direction::Out);
