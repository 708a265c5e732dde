//! `ComponentHandle`: a running component seen from outside — its boxes by name, stopping it,
//! unlinking it — and linking by name.

use super::*;

/// A running component, as seen from outside it: its id and name, and its boxes by name.
#[derive(Clone)]
pub struct ComponentHandle {
    pub(super) id: ComponentId,
    pub(super) name: ComponentName,
    pub(super) scheduler: Weak<Inner>,
}

impl std::fmt::Debug for ComponentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.name, self.id)
    }
}

impl ComponentHandle {
    /// The component's id.
    pub fn id(&self) -> ComponentId {
        self.id
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// True while the component runs.
    pub fn is_running(&self) -> bool {
        self.scheduler
            .upgrade()
            .is_some_and(|s| s.table.borrow().get(self.id).is_some())
    }

    /// Asks the component to end from outside: `ShutdownMicroprocess` on its `control` inbox
    /// (so it can close down as it would when its producer says so). A component without a
    /// control inbox cannot be asked, and is cancelled with its children instead (its exit
    /// path still runs). Returns `false` if it had already ended.
    ///
    /// ```
    /// use axon_core::{Scheduler, components::map};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let scheduler = Scheduler::new();
    ///     let worker = scheduler.activate(map(|n: u32| n + 1)); // would wait for input forever
    ///     assert!(worker.stop());
    ///     scheduler.run().await; // returns: the worker ended
    ///     assert!(!worker.is_running() && !worker.stop());
    /// });
    /// ```
    pub fn stop(&self) -> bool {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return false;
        };
        let Some(boxes) = scheduler.boxes_of(self.id) else {
            return false;
        };
        match boxes
            .iter()
            .find(|b| b.name() == "control" && b.direction() == Direction::In)
        {
            Some(control) => {
                control
                    .handle
                    .deliver_control(Control::ShutdownMicroprocess);
            }
            None => scheduler.cancel_tree(self.id),
        }
        true
    }

    /// Removes every link the component owns or that touches its boxes: its outboxes' links,
    /// the outboxes linked to its inboxes, and passthroughs to and from its boxes — to rewire it
    /// while it runs. Values already delivered stay where they are; values sent on an unlinked
    /// outbox are held until it is linked again. Returns how many links were removed.
    pub fn unlink_all(&self) -> usize {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return 0;
        };
        let Some(boxes) = scheduler.boxes_of(self.id) else {
            return 0;
        };
        boxes.iter().map(|b| b.handle.unlink_all()).sum()
    }

    /// Removes every link that touches the box `box_name` (an outbox if there is one by that
    /// name, else an inbox); returns how many.
    pub fn unlink(&self, box_name: &str) -> Result<usize, LinkError> {
        let entry = self.any_box(box_name, Direction::Out)?;
        Ok(entry.handle.unlink_all())
    }

    pub(super) fn find(&self, box_name: &str, direction: Direction) -> Result<BoxEntry, LinkError> {
        let scheduler = self.scheduler.upgrade();
        let boxes = scheduler
            .as_ref()
            .and_then(|s| s.boxes_of(self.id))
            .ok_or_else(|| LinkError::NoSuchComponent {
                component: format!("{self:?}").into(),
            })?;
        boxes
            .iter()
            .find(|b| b.name() == box_name && b.direction() == direction)
            .cloned()
            .ok_or_else(|| LinkError::NoSuchBox {
                endpoint: Endpoint {
                    component: format!("{self:?}").into(),
                    box_name: box_name.into(),
                },
                available: boxes
                    .iter()
                    .map(|b| {
                        let dir = match b.direction() {
                            Direction::In => "in",
                            Direction::Out => "out",
                        };
                        format!("{} ({dir}, {})", b.name(), b.type_name())
                    })
                    .collect(),
            })
    }

    pub(super) fn typed_error(&self, entry: &BoxEntry, wanted: &'static str) -> LinkError {
        let endpoint = Endpoint {
            component: format!("{self:?}").into(),
            box_name: entry.name().into(),
        };
        LinkError::TypeMismatch {
            from: endpoint.clone(),
            from_type: wanted,
            to: endpoint,
            to_type: entry.type_name(),
        }
    }

    /// The inbox named `name`, if it carries `T`.
    pub fn inbox<T: 'static>(&self, name: &str) -> Result<InboxRef<T>, LinkError> {
        let entry = self.find(name, Direction::In)?;
        match entry.handle.clone().into_any().downcast::<InboxCore<T>>() {
            Ok(core) => Ok(InboxRef { core }),
            Err(_) => Err(self.typed_error(&entry, std::any::type_name::<T>())),
        }
    }

    /// The outbox named `name`, if it carries `T`.
    pub fn outbox<T: 'static>(&self, name: &str) -> Result<OutboxRef<T>, LinkError> {
        let entry = self.find(name, Direction::Out)?;
        match entry.handle.clone().into_any().downcast::<OutboxCore<T>>() {
            Ok(core) => Ok(OutboxRef { core }),
            Err(_) => Err(self.typed_error(&entry, std::any::type_name::<T>())),
        }
    }

    /// The box named `name`: an outbox if there is one, else an inbox.
    pub(super) fn any_box(&self, name: &str, prefer: Direction) -> Result<BoxEntry, LinkError> {
        let other = match prefer {
            Direction::In => Direction::Out,
            Direction::Out => Direction::In,
        };
        self.find(name, prefer)
            .or_else(|e| self.find(name, other).map_err(|_| e))
    }
}

/// Links boxes by name, for graphs built at run time; the item types are checked at run time.
///
/// - `(a, outbox)` → `(b, inbox)`: an ordinary link;
/// - `(parent, inbox)` → `(child, inbox)`: inbox passthrough;
/// - `(child, outbox)` → `(parent, outbox)`: outbox passthrough.
///
/// Errors name both ends and both types: [`LinkError::NoSuchComponent`],
/// [`LinkError::NoSuchBox`], [`LinkError::TypeMismatch`], [`LinkError::AlreadyLinked`],
/// [`LinkError::WrongHierarchy`].
#[doc(alias = "link")]
pub fn link_named(
    from: (&ComponentHandle, &str),
    to: (&ComponentHandle, &str),
) -> Result<(), LinkError> {
    let source = from.0.any_box(from.1, Direction::Out)?;
    let destination = match source.direction() {
        Direction::Out => to.0.any_box(to.1, Direction::In)?,
        Direction::In => to.0.find(to.1, Direction::In)?,
    };
    let scheduler = from
        .0
        .scheduler
        .upgrade()
        .ok_or_else(|| LinkError::NoSuchComponent {
            component: format!("{:?}", from.0).into(),
        })?;
    let _enter = Enter::new(&scheduler);
    erased::link_erased(&source.handle, &destination.handle)
}
