//! Poll counts and busy time per component, kept only while someone watches (the live view,
//! or [`Scheduler::measure`](super::Scheduler::measure)): off, a poll pays one flag check.

use super::*;
use executor::Inner;
use table::TaskFuture;

/// What the scheduler measured of one component while measuring was on.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PollStats {
    /// The generation of the component in this slot (a slot is reused by later components).
    generation: u32,
    pub(super) polls: u64,
    pub(super) busy: Duration,
    pub(super) last_run: Option<tokio::time::Instant>,
}

/// Poll statistics while measuring is on, kept cheap because they are taken on every poll of
/// every component: a slot per component-table slot (no hashing), one clock read per
/// scheduler tick for "last run", and busy time sampled on one poll in [`BUSY_SAMPLE`] (two
/// clock reads), scaled up. The clock is the expensive part: reading it twice per poll cost
/// 12 % of a message-passing pipeline's time; this costs about one read per 16 polls.
#[derive(Default)]
pub(super) struct Measured {
    slots: Vec<PollStats>,
    /// The time this scheduler tick began: every poll in the tick ran at about this time.
    pub(super) tick: Option<tokio::time::Instant>,
}

/// One poll in this many (per component) has its busy time measured.
const BUSY_SAMPLE: u64 = 16;

impl Measured {
    fn slot(&mut self, id: ComponentId) -> &mut PollStats {
        let index = id.index as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, PollStats::default());
        }
        let slot = &mut self.slots[index];
        if slot.generation != id.generation {
            *slot = PollStats {
                generation: id.generation,
                ..PollStats::default()
            };
        }
        slot
    }

    pub(super) fn get(&self, id: ComponentId) -> PollStats {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn forget(&mut self, id: ComponentId) {
        if let Some(slot) = self.slots.get_mut(id.index as usize) {
            *slot = PollStats::default();
        }
    }
}

impl Inner {
    /// Polls `task` (of component `id`) and adds the poll to its statistics; true when done.
    pub(super) fn measured_poll(
        &self,
        id: ComponentId,
        task: &mut TaskFuture,
        cx: &mut Context<'_>,
    ) -> bool {
        let (sampled, tick) = {
            let mut stats = self.stats.borrow_mut();
            let Some(measured) = stats.as_mut() else {
                drop(stats);
                return task.as_mut().poll(cx).is_ready();
            };
            let tick = *measured.tick.get_or_insert_with(tokio::time::Instant::now);
            let slot = measured.slot(id);
            slot.polls += 1;
            slot.last_run = Some(tick);
            (slot.polls % BUSY_SAMPLE == 1, tick)
        };
        // As a poll begins, each inbox holds the most it has held since the last one (only its
        // owner takes from it): its high-water mark is exact at no cost to a send.
        if let Some(entry) = self.table.borrow().get(id) {
            for b in entry.boxes.iter() {
                b.handle.note_depth();
            }
        }
        if !sampled {
            return task.as_mut().poll(cx).is_ready();
        }
        let started = tokio::time::Instant::now();
        let done = task.as_mut().poll(cx).is_ready();
        let busy = started.elapsed() * BUSY_SAMPLE as u32;
        if let Some(measured) = self.stats.borrow_mut().as_mut() {
            let slot = measured.slot(id);
            slot.busy += busy;
            slot.last_run = Some(tick.max(started));
        }
        done
    }

    /// Turns measuring on or off (off forgets what was measured).
    pub(super) fn set_measuring(&self, on: bool) {
        self.measuring.set(on);
        let mut stats = self.stats.borrow_mut();
        match (on, stats.is_some()) {
            (true, false) => *stats = Some(Measured::default()),
            (false, true) => *stats = None,
            _ => {}
        }
    }
}
