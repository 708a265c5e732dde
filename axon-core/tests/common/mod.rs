//! Components shared by the integration tests.
#![allow(dead_code)]

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};

/// Forwards `inbox` to `outbox` until the producer finishes, then forwards the control message.
#[derive(Boxes)]
pub(crate) struct Relay<T: 'static> {
    pub inbox: Inbox<T>,
    pub control: Inbox<Control>,
    pub outbox: Outbox<T>,
    pub signal: Outbox<Control>,
}

impl<T: 'static> Default for Relay<T> {
    fn default() -> Self {
        Relay {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
        }
    }
}

impl<T: 'static> Relay<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Relay {
            inbox: Inbox::with_capacity(capacity),
            ..Relay::default()
        }
    }
}

impl<T: 'static> Component for Relay<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                axon_core::Next::Data(v) => self.outbox.send(v).await?,
                axon_core::Next::Control(c) => {
                    self.signal.send(c).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// Runs `f` on a fresh current-thread runtime with timers, under a generous deadline so a
/// hang fails the test instead of stalling the suite.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), f)
            .await
            .expect("test deadline of 60 s exceeded")
    })
}

/// Lets everything runnable run (a few turns of the runtime).
pub(crate) async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}
