//! Linkages. Linking pays O(chain) once to point every outbox at its final inbox, so each
//! message then costs one push however deep the nesting (Axon's box-chain retargeting).

use crate::error::LinkError;
use crate::inbox::{InboxCore, InboxRef};
use crate::outbox::{Downstream, OutboxCore, OutboxRef, Target};
use crate::scheduler;
use std::rc::Rc;

/// Links an outbox to an inbox: every value sent on `from` is pushed straight into `to`'s queue.
/// Checked at compile time: both ends carry the same `T`.
///
/// Fan-in (several outboxes to one inbox) is allowed; an outbox already linked gives
/// [`LinkError::AlreadyLinked`]. Values held while `from` was unlinked are delivered now, in order.
///
/// ```
/// use axon_core::{Inbox, Outbox, link};
/// let a: Outbox<String> = Outbox::new();
/// let mut b: Inbox<String> = Inbox::new();
/// a.try_send("held until linked".to_string()).unwrap();
/// link(&a, &b).unwrap();
/// assert_eq!(b.try_recv().as_deref(), Some("held until linked"));
/// ```
pub fn link<T: 'static>(
    from: impl Into<OutboxRef<T>>,
    to: impl Into<InboxRef<T>>,
) -> Result<(), LinkError> {
    link_core(&from.into().core, &to.into().core, None)
}

/// Like [`link`], and sets the destination's capacity (Axon's `pipewidth`).
#[doc(alias = "pipewidth")]
pub fn link_with_capacity<T: 'static>(
    from: impl Into<OutboxRef<T>>,
    to: impl Into<InboxRef<T>>,
    capacity: usize,
) -> Result<(), LinkError> {
    link_core(&from.into().core, &to.into().core, Some(capacity))
}

/// Passes a parent's inbox through to a child's inbox (inbox→inbox): whatever is sent to the
/// parent's inbox lands directly in the child's queue.
pub fn pass_inbox<T: 'static>(
    parent: impl Into<InboxRef<T>>,
    child: impl Into<InboxRef<T>>,
) -> Result<(), LinkError> {
    pass_inbox_core(&parent.into().core, &child.into().core)
}

/// Surfaces a child's outbox as its parent's outbox (outbox→outbox): the child's sends go
/// wherever the parent's outbox is linked, now or later.
pub fn pass_outbox<T: 'static>(
    child: impl Into<OutboxRef<T>>,
    parent: impl Into<OutboxRef<T>>,
) -> Result<(), LinkError> {
    pass_outbox_core(&child.into().core, &parent.into().core)
}

/// Removes an outbox's link. Values sent afterwards are held until it is linked again; values
/// already delivered stay in the inbox they reached. Returns whether it was linked.
pub fn unlink<T: 'static>(from: impl Into<OutboxRef<T>>) -> bool {
    let core = from.into().core;
    let was_linked = core
        .links
        .get()
        .is_some_and(|l| !matches!(l.downstream, Downstream::None));
    detach_downstream(&core);
    retarget(&core);
    was_linked
}

/// Removes an inbox→inbox passthrough made by [`pass_inbox`]. Returns whether there was one.
pub fn unpass_inbox<T: 'static>(parent: impl Into<InboxRef<T>>) -> bool {
    drop_forward(&parent.into().core)
}

/// Removes `inbox`'s passthrough to a child, if any, and retargets what sends into it.
fn drop_forward<T>(inbox: &InboxCore<T>) -> bool {
    // (Checked first so an inbox that never had links does not allocate them.)
    let allocated = inbox.links.get().is_some();
    let old = if allocated {
        inbox.links.get_mut().forward.take()
    } else {
        None
    };
    let Some(child) = old else {
        return false;
    };
    let me: *const InboxCore<T> = inbox;
    child
        .links
        .get_mut()
        .back
        .retain(|w| !std::ptr::eq(w.as_ptr(), me));
    retarget_inbox(inbox);
    true
}

/// A downstream that still counts as a link (its inbox's owner has not exited).
fn live_downstream<T>(d: &Downstream<T>) -> Option<crate::error::Endpoint> {
    match d {
        Downstream::None => None,
        Downstream::Inbox(i) if i.is_closed() => None,
        Downstream::Inbox(i) => Some(i.meta.endpoint()),
        Downstream::Outbox(o) => Some(o.meta.endpoint()),
        Downstream::Cross(s) if s.is_closed() => None,
        Downstream::Cross(s) => Some(crate::error::Endpoint::new(
            format!("cross-core link #{}", s.view().id),
            "inbox",
        )),
    }
}

fn check_unlinked<T>(from: &OutboxCore<T>) -> Result<(), LinkError> {
    let existing = from
        .links
        .get()
        .and_then(|l| live_downstream(&l.downstream));
    match existing {
        Some(existing) => Err(LinkError::AlreadyLinked {
            from: from.meta.endpoint(),
            existing,
        }),
        None => Ok(()),
    }
}

pub(crate) fn link_core<T: 'static>(
    from: &Rc<OutboxCore<T>>,
    to: &Rc<InboxCore<T>>,
    capacity: Option<usize>,
) -> Result<(), LinkError> {
    check_unlinked(from)?;
    detach_downstream(from);
    from.links.get_mut().downstream = Downstream::Inbox(to.clone());
    to.links.get_mut().senders.push(Rc::downgrade(from));
    if let Some(capacity) = capacity {
        to.resolve().set_capacity(capacity);
    }
    retarget(from);
    Ok(())
}

/// Links an outbox to a target that is not a local inbox (a cross-core link's queue).
pub(crate) fn link_target<T: 'static>(
    from: &Rc<OutboxCore<T>>,
    target: Target<T>,
) -> Result<(), LinkError> {
    check_unlinked(from)?;
    detach_downstream(from);
    from.links.get_mut().downstream = match target {
        Target::Local(inbox) => {
            inbox.links.get_mut().senders.push(Rc::downgrade(from));
            Downstream::Inbox(inbox)
        }
        Target::Cross(sink) => Downstream::Cross(sink),
    };
    retarget(from);
    Ok(())
}

pub(crate) fn pass_inbox_core<T: 'static>(
    parent: &Rc<InboxCore<T>>,
    child: &Rc<InboxCore<T>>,
) -> Result<(), LinkError> {
    let wrong = |reason| LinkError::WrongHierarchy {
        from: parent.meta.endpoint(),
        to: child.meta.endpoint(),
        reason,
    };
    if !scheduler::is_parent_of(parent.meta.owner(), child.meta.owner()) {
        return Err(wrong(
            "inbox→inbox passthrough runs from a parent's inbox to its own child's inbox",
        ));
    }
    // Refuse loops: the child must not already lead back to the parent.
    let mut cursor = Some(child.clone());
    while let Some(node) = cursor {
        if Rc::ptr_eq(&node, parent) {
            return Err(wrong("the link would form a loop"));
        }
        cursor = node.forward();
    }
    if let Some(existing) = parent.forward()
        && !existing.is_closed()
    {
        return Err(LinkError::AlreadyLinked {
            from: parent.meta.endpoint(),
            existing: existing.meta.endpoint(),
        });
    }
    unpass_inbox(&InboxRef {
        core: parent.clone(),
    });
    parent.links.get_mut().forward = Some(child.clone());
    child.links.get_mut().back.push(Rc::downgrade(parent));
    retarget_inbox(parent);
    Ok(())
}

pub(crate) fn pass_outbox_core<T: 'static>(
    child: &Rc<OutboxCore<T>>,
    parent: &Rc<OutboxCore<T>>,
) -> Result<(), LinkError> {
    let wrong = |reason| LinkError::WrongHierarchy {
        from: child.meta.endpoint(),
        to: parent.meta.endpoint(),
        reason,
    };
    if !scheduler::is_parent_of(parent.meta.owner(), child.meta.owner()) {
        return Err(wrong(
            "outbox→outbox passthrough runs from a child's outbox to its own parent's outbox",
        ));
    }
    let mut cursor = Some(parent.clone());
    while let Some(node) = cursor {
        if Rc::ptr_eq(&node, child) {
            return Err(wrong("the link would form a loop"));
        }
        cursor = node.links.get().and_then(|l| match &l.downstream {
            Downstream::Outbox(next) => Some(next.clone()),
            _ => None,
        });
    }
    check_unlinked(child)?;
    detach_downstream(child);
    child.links.get_mut().downstream = Downstream::Outbox(parent.clone());
    parent.links.get_mut().upstream.push(Rc::downgrade(child));
    retarget(child);
    Ok(())
}

/// Forgets `from`'s current downstream, removing it from that end's back-references.
fn detach_downstream<T>(from: &OutboxCore<T>) {
    let allocated = from.links.get().is_some();
    let old = if allocated {
        std::mem::replace(&mut from.links.get_mut().downstream, Downstream::None)
    } else {
        Downstream::None
    };
    let me: *const OutboxCore<T> = from;
    match old {
        Downstream::None | Downstream::Cross(_) => {}
        Downstream::Inbox(inbox) => inbox
            .links
            .get_mut()
            .senders
            .retain(|w| !std::ptr::eq(w.as_ptr(), me)),
        Downstream::Outbox(parent) => parent
            .links
            .get_mut()
            .upstream
            .retain(|w| !std::ptr::eq(w.as_ptr(), me)),
    }
}

/// Recomputes the final target of `out` and of every outbox passing through it, and releases
/// held values into a new target.
pub(crate) fn retarget<T>(out: &OutboxCore<T>) {
    let new_target = out.links.get().and_then(|l| match &l.downstream {
        Downstream::None => None,
        Downstream::Inbox(inbox) => Some(Target::Local(inbox.resolve())),
        Downstream::Cross(sink) => Some(Target::Cross(sink.clone())),
        Downstream::Outbox(parent) => parent.target.borrow().clone(),
    });
    let old = std::mem::replace(&mut *out.target.borrow_mut(), new_target.clone());
    let changed = match (&old, &new_target) {
        (Some(a), Some(b)) => !a.same(b),
        (None, None) => false,
        _ => true,
    };
    if changed {
        // Senders blocked on the old queue retry against the new target.
        if let Some(old) = old {
            old.wake_senders();
        }
        if let Some(queue) = &new_target {
            let (held, waiters) = {
                let mut links = out.links.get_mut();
                (
                    std::mem::take(&mut links.held),
                    std::mem::take(&mut links.link_waiters),
                )
            };
            let mut kept = std::collections::VecDeque::new();
            for value in held {
                if let Err(value) = queue.force_push(value) {
                    kept.push_back(value);
                }
            }
            out.links.get_mut().held = kept;
            waiters.into_iter().for_each(|w| w.wake());
        }
    }
    let upstream: Vec<_> = out
        .links
        .get()
        .map(|l| l.upstream.clone())
        .unwrap_or_default();
    for child in upstream.iter().filter_map(|w| w.upgrade()) {
        retarget(&child);
    }
}

/// Recomputes the targets of everything that sends into `inbox` (directly or through inboxes
/// that pass through to it).
fn retarget_inbox<T>(inbox: &InboxCore<T>) {
    let (senders, back) = match inbox.links.get() {
        Some(links) => (links.senders.clone(), links.back.clone()),
        None => return,
    };
    for sender in senders.iter().filter_map(|w| w.upgrade()) {
        retarget(&sender);
    }
    for parent in back.iter().filter_map(|w| w.upgrade()) {
        retarget_inbox(&parent);
    }
}

/// The owner of an inbox exited: drop its passthrough so senders see the closed queue.
pub(crate) fn close_inbox<T>(inbox: &InboxCore<T>) {
    inbox.close();
    if !drop_forward(inbox) {
        retarget_inbox(inbox);
    }
}

/// The owner of an outbox exited: remove its link and the passthroughs into it.
pub(crate) fn detach_outbox<T: 'static>(out: &OutboxCore<T>, cancelled: bool) {
    let held = out.links.get().map_or(0, |l| l.held.len());
    // A final `Control` on a `signal` nobody listens to (the top of a system) is normal, and so
    // is data in flight when a system is shut down; data left behind by a component that
    // finished by itself is not.
    let is_control = std::any::TypeId::of::<T>() == std::any::TypeId::of::<crate::Control>();
    if held > 0 && (is_control || cancelled) {
        tracing::debug!(owner = ?out.meta.owner(), held, "held values dropped at exit");
    } else if held > 0 {
        tracing::warn!(
            owner = ?out.meta.owner(),
            held,
            "component exited with values held on an unlinked outbox; they are dropped"
        );
    }
    detach_downstream(out);
    retarget(out);
    let upstream = std::mem::take(&mut out.links.get_mut().upstream);
    for child in upstream.iter().filter_map(|w| w.upgrade()) {
        child.links.get_mut().downstream = Downstream::None;
        retarget(&child);
    }
}

/// Removes every link into `inbox`: the outboxes linked to it, its passthrough to a child and
/// the passthroughs of parents into it. Values already queued stay. Returns how many links.
pub(crate) fn unlink_inbox_all<T: 'static>(inbox: &InboxCore<T>) -> usize {
    let Some(links) = inbox.links.get() else {
        return 0;
    };
    let senders: Vec<_> = links.senders.iter().filter_map(|w| w.upgrade()).collect();
    let parents: Vec<_> = links.back.iter().filter_map(|w| w.upgrade()).collect();
    let forward = links.forward.is_some();
    drop(links);
    for sender in &senders {
        detach_downstream(sender);
        retarget(sender);
    }
    for parent in &parents {
        unpass_inbox(&InboxRef {
            core: parent.clone(),
        });
    }
    let forward = forward && drop_forward(inbox);
    senders.len() + parents.len() + usize::from(forward)
}

/// Removes `out`'s own link and the passthroughs of children into it. Held values stay held.
/// Returns how many links.
pub(crate) fn unlink_outbox_all<T: 'static>(out: &OutboxCore<T>) -> usize {
    let linked = out
        .links
        .get()
        .is_some_and(|l| !matches!(l.downstream, Downstream::None));
    detach_downstream(out);
    retarget(out);
    let allocated = out.links.get().is_some();
    let upstream = if allocated {
        std::mem::take(&mut out.links.get_mut().upstream)
    } else {
        Vec::new()
    };
    let children: Vec<_> = upstream.iter().filter_map(|w| w.upgrade()).collect();
    for child in &children {
        child.links.get_mut().downstream = Downstream::None;
        retarget(child);
    }
    usize::from(linked) + children.len()
}
