//! The cooperative budget: each receive spends one unit; at zero the component yields.
//!
//! Sends spend nothing: a send completes only into bounded room (an inbox or an unlinked
//! outbox's hold queue), so a component can only keep sending while someone else receives.
//!
//! The scheduler refills the budget before every poll, so a component that always has input
//! gives the others a turn every [`DEFAULT_BUDGET`] operations. Outside a scheduler the budget is
//! unlimited.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Context, Poll};

/// Receives a component may perform per poll before it yields.
pub const DEFAULT_BUDGET: u32 = 128;

thread_local! {
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
}

pub(crate) fn refill(budget: u32) {
    BUDGET.set(budget);
}

/// Spends one unit; when none is left, arranges to be polled again next round and says Pending.
#[inline(always)]
pub(crate) fn poll_spend(cx: &mut Context<'_>) -> Poll<()> {
    let left = BUDGET.get();
    if left == 0 {
        cx.waker().wake_by_ref();
        Poll::Pending
    } else {
        BUDGET.set(left - 1);
        Poll::Ready(())
    }
}

/// Gives every other ready component a turn before continuing (Axon's `yield 1`).
#[doc(alias = "pause")]
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
