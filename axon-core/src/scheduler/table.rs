//! The slot table: every running component's entry (name, parent, children, task, boxes), found
//! by a generational id so a stale id never reaches a newer component in a reused slot.

use super::*;

#[derive(Default)]
pub(super) struct Table {
    pub(super) slots: Vec<Slot>,
    pub(super) free: Vec<u32>,
    pub(super) live: usize,
}

pub(super) struct Slot {
    pub(super) generation: u32,
    /// The round this slot's component was last polled in (see `Inner::take_task`).
    pub(super) polled_round: Cell<u32>,
    pub(super) entry: Option<Entry>,
}

/// A component's task: its future, boxed once at activation. Taken out of the entry while it
/// is polled, so the component may reach the table meanwhile.
pub(super) type TaskFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

pub(super) struct Entry {
    pub(super) name: ComponentName,
    pub(super) parent: Option<ComponentId>,
    /// Children and the waker of `children().all_done()`; only parents allocate it.
    pub(super) family: Option<Box<Family>>,
    pub(super) task: Cell<Option<TaskFuture>>,
    /// The declared boxes (the component's fields) that exist, in declaration order.
    pub(super) boxes: Box<[BoxEntry]>,
    /// Bit `i`: declared box `i` is dormant (see `dormant`), listed by `declared`.
    pub(super) dormant: u64,
    pub(super) declared: Option<fn(usize) -> Option<BoxDecl>>,
    /// Boxes it adds while it runs, when it has an `AdaptiveBoxes`.
    pub(super) adaptive: Option<Rc<crate::adaptive::Registry>>,
}

#[derive(Default)]
pub(super) struct Family {
    pub(super) children: Vec<ComponentId>,
    pub(super) waiter: Option<Waker>,
}

/// A declared box as the scheduler knows it.
pub(super) enum Declared<'a> {
    Made(&'a BoxEntry),
    Dormant(BoxDecl),
}

impl Entry {
    /// The declared boxes in declaration order, made or dormant.
    pub(super) fn declared_boxes(&self) -> Vec<Declared<'_>> {
        let (Some(declared), dormant) = (self.declared, self.dormant) else {
            return self.boxes.iter().map(Declared::Made).collect();
        };
        let count = self.boxes.len() + dormant.count_ones() as usize;
        let mut made = self.boxes.iter();
        (0..count)
            .filter_map(|i| {
                if i < 64 && dormant & (1 << i) != 0 {
                    declared(i).map(Declared::Dormant)
                } else {
                    made.next().map(Declared::Made)
                }
            })
            .collect()
    }

    pub(super) fn children(&self) -> &[ComponentId] {
        self.family.as_ref().map_or(&[], |f| &f.children)
    }

    /// Every box: declared, then added at run time (borrowed when there are none added).
    pub(super) fn all_boxes(&self) -> std::borrow::Cow<'_, [BoxEntry]> {
        match &self.adaptive {
            None => std::borrow::Cow::Borrowed(&self.boxes),
            Some(registry) => {
                let mut all = self.boxes.to_vec();
                all.extend(registry.added());
                std::borrow::Cow::Owned(all)
            }
        }
    }
}

impl Table {
    pub(super) fn get(&self, id: ComponentId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation == id.generation {
            slot.entry.as_ref()
        } else {
            None
        }
    }

    pub(super) fn get_mut(&mut self, id: ComponentId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation == id.generation {
            slot.entry.as_mut()
        } else {
            None
        }
    }

    pub(super) fn insert(&mut self, entry: Entry) -> ComponentId {
        self.live += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.entry = Some(entry);
                slot.polled_round.set(0);
                ComponentId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|i| *i < super::waker::MAX_SLOTS)
                    .expect("more than 2^28 components alive on one scheduler");
                self.slots.push(Slot {
                    generation: 0,
                    polled_round: Cell::new(0),
                    entry: Some(entry),
                });
                ComponentId {
                    index,
                    generation: 0,
                }
            }
        }
    }

    pub(super) fn remove(&mut self, id: ComponentId) -> Option<Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        Some(entry)
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|_| ComponentId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    /// The table holds a slot per component: with the task (its future) it is most of what an
    /// idle component costs (docs/benchmarks.md, memory).
    #[test]
    fn a_slot_stays_small() {
        let size = std::mem::size_of::<super::Slot>();
        assert!(size <= 112, "{size}");
    }
}
