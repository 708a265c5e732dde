//! The scheduler's side of dormant boxes (see `crate::dormant`): finding a dormant box's
//! owner, making all of its dormant boxes when either side needs one, and waking whoever waited.

use super::*;
use executor::Inner;

impl Inner {
    /// The owner a home names, if it is still running (a home keeps only the low bits of the
    /// generation: the slot's generation completes it).
    fn owner_of(&self, home: Home) -> Option<ComponentId> {
        let table = self.table.borrow();
        let slot = table.slots.get(home.owner.index as usize)?;
        (slot.entry.is_some() && home.matches(slot.generation)).then_some(ComponentId {
            index: home.owner.index,
            generation: slot.generation,
        })
    }

    /// Records `waker` to be woken when the dormant boxes of `home`'s owner are made.
    pub(super) fn wait_dormant(&self, home: Home, waker: &Waker) {
        let Some(id) = self.owner_of(home) else {
            return;
        };
        if waker.will_wake(&waker::waker(self.shared.index, id)) {
            return; // the owner itself: making its boxes wakes it
        }
        let mut waiters = self.dormant_waiters.borrow_mut();
        if !waiters.iter().any(|(o, w)| *o == id && w.will_wake(waker)) {
            waiters.push((id, waker.clone()));
        }
    }

    /// The declared box at `home`; its owner's dormant boxes are made first if `make`.
    pub(super) fn declared_box(
        self: &Rc<Self>,
        home: Home,
        make: bool,
    ) -> Option<Rc<dyn ErasedBox>> {
        let id = self.owner_of(home)?;
        let index = usize::from(home.index);
        if self.table.borrow().get(id)?.dormant != 0 {
            if !make {
                return None;
            }
            self.make_dormant(id);
        }
        let table = self.table.borrow();
        Some(table.get(id)?.boxes.get(index)?.handle.clone())
    }

    /// Makes every dormant box of component `id`, in declaration order, and wakes it so a
    /// field waiting dormant adopts its box (see `dormant`).
    pub(super) fn make_dormant(self: &Rc<Self>, id: ComponentId) {
        let (dormant, declared, made) = {
            let mut table = self.table.borrow_mut();
            let Some(entry) = table.get_mut(id) else {
                return;
            };
            let Some(declared) = entry.declared.filter(|_| entry.dormant != 0) else {
                return;
            };
            let made = std::mem::take(&mut entry.boxes);
            (std::mem::take(&mut entry.dormant), declared, made)
        };
        let count = made.len() + dormant.count_ones() as usize;
        let mut made = made.into_vec().into_iter();
        let all: Box<[BoxEntry]> = (0..count)
            .filter_map(|i| {
                if i < 64 && dormant & (1 << i) != 0 {
                    declared(i).map(|d| d.make(id))
                } else {
                    made.next()
                }
            })
            .collect();
        if let Some(entry) = self.table.borrow_mut().get_mut(id) {
            entry.boxes = all;
        }
        waker::waker(self.shared.index, id).wake();
        for waker in self.take_dormant_waiters(id) {
            waker.wake();
        }
    }

    /// The wakers waiting on `id`'s dormant boxes, forgotten here.
    pub(super) fn take_dormant_waiters(&self, id: ComponentId) -> Vec<Waker> {
        let mut waiters = self.dormant_waiters.borrow_mut();
        if waiters.is_empty() {
            return Vec::new();
        }
        let (theirs, others): (Vec<_>, Vec<_>) = std::mem::take(&mut *waiters)
            .into_iter()
            .partition(|(owner, _)| *owner == id);
        *waiters = others;
        theirs.into_iter().map(|(_, w)| w).collect()
    }

    pub(super) fn boxes_of(self: &Rc<Self>, id: ComponentId) -> Option<Box<[BoxEntry]>> {
        self.make_dormant(id);
        self.table
            .borrow()
            .get(id)
            .map(|e| e.all_boxes().iter().cloned().collect())
    }
}
