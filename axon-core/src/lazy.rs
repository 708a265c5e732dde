//! `Lazy<X>`: state a box rarely needs (links, waiting senders, hold queues), allocated on first
//! use so an idle box stays a few words.

use std::cell::{Ref, RefCell, RefMut};

pub(crate) struct Lazy<X>(RefCell<Option<Box<X>>>);

impl<X: Default> Lazy<X> {
    pub(crate) fn new() -> Self {
        Lazy(RefCell::new(None))
    }

    /// The state, allocated now if it was not yet.
    pub(crate) fn get_mut(&self) -> RefMut<'_, X> {
        RefMut::map(self.0.borrow_mut(), |slot| {
            &mut **slot.get_or_insert_with(Box::default)
        })
    }

    /// The state if it was ever allocated.
    pub(crate) fn get(&self) -> Option<Ref<'_, X>> {
        Ref::filter_map(self.0.borrow(), |slot| slot.as_deref()).ok()
    }
}
