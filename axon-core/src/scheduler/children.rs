//! `Children`: what a component has activated, to wait for them or shut them down.

use super::*;

/// The children of the running component.
///
/// # Panics
/// When called outside a component run by a [`Scheduler`].
pub fn children() -> Children {
    let id = CURRENT_COMPONENT
        .get()
        .expect("axon_core::children called outside a running component");
    let scheduler = with_current(Rc::downgrade).expect("no running scheduler");
    Children { id, scheduler }
}

/// The children a component has activated and that are still running.
pub struct Children {
    pub(super) id: ComponentId,
    pub(super) scheduler: Weak<Inner>,
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children")
            .field("of", &self.id)
            .finish_non_exhaustive()
    }
}

impl Children {
    /// Ids of the running children.
    pub fn ids(&self) -> Vec<ComponentId> {
        self.scheduler
            .upgrade()
            .and_then(|s| s.table.borrow().get(self.id).map(|e| e.children().to_vec()))
            .unwrap_or_default()
    }

    /// Waits until every child has exited (replaces Graphline's polling loop).
    pub async fn all_done(&self) {
        poll_fn(|cx| {
            let Some(scheduler) = self.scheduler.upgrade() else {
                return Poll::Ready(());
            };
            let mut table = scheduler.table.borrow_mut();
            match table.get_mut(self.id) {
                Some(entry) if !entry.children().is_empty() => {
                    entry.family.get_or_insert_default().waiter = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }

    /// Sends `ShutdownMicroprocess` to every child's `control` inbox, waits up to `grace` for
    /// them to exit, then cancels what is left (with its descendants).
    pub async fn shutdown(&self, grace: Duration) {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return;
        };
        for child in self.ids() {
            if let Some(boxes) = scheduler.boxes_of(child) {
                for b in boxes.iter() {
                    if b.name() == "control" && b.direction() == Direction::In {
                        b.handle.deliver_control(Control::ShutdownMicroprocess);
                    }
                }
            }
        }
        drop(scheduler);
        if tokio::time::timeout(grace, self.all_done()).await.is_err()
            && let Some(scheduler) = self.scheduler.upgrade()
        {
            for child in self.ids() {
                scheduler.cancel_tree(child);
            }
        }
    }
}
