//! Handles: ordinary code (any thread, any tokio task) talking to a component (Axon's
//! Handle / LikeFile).

use crate::{
    Boxes, Component, ComponentError, Control, Inbox, Next, Outbox, Scheduler, Stage, link,
};
use async_channel::{Receiver, Sender};

/// Puts values into a component's `inbox` and gets values from its `outbox`, from any thread
/// or task (`Send + Sync + Clone`). Data and `finish()` travel in one ordered channel, so the
/// end never overtakes data. Made by [`Scheduler::handle`] or [`handle`].
///
/// ```
/// use axon_core::{Scheduler, components::map};
/// let (handle_tx, handle_rx) = std::sync::mpsc::channel();
/// let scheduler_thread = std::thread::spawn(move || {
///     let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
///     rt.block_on(async {
///         let scheduler = Scheduler::new();
///         handle_tx.send(scheduler.handle(map(|s: String| s.to_uppercase())).unwrap()).unwrap();
///         scheduler.run().await;
///     });
/// });
/// // Ordinary blocking code on another thread:
/// let shout = handle_rx.recv().unwrap();
/// shout.put_blocking("hello".to_string()).unwrap();
/// assert_eq!(shout.get_blocking().as_deref(), Some("HELLO"));
/// shout.finish_blocking();
/// assert_eq!(shout.get_blocking(), None);
/// scheduler_thread.join().unwrap();
/// ```
#[doc(alias("likefile", "LikeFile"))]
pub struct Handle<I, O> {
    to_component: Sender<Next<I>>,
    from_component: Receiver<O>,
}

impl<I, O> Clone for Handle<I, O> {
    fn clone(&self) -> Self {
        Handle {
            to_component: self.to_component.clone(),
            from_component: self.from_component.clone(),
        }
    }
}

impl<I, O> std::fmt::Debug for Handle<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.to_component.is_closed())
            .finish()
    }
}

impl<I: Send + 'static, O: Send + 'static> Handle<I, O> {
    /// Puts a value into the component's inbox, waiting while the channel is full. Hands it back
    /// if the component is gone.
    pub async fn put(&self, value: I) -> Result<(), crate::SendError<I>> {
        self.to_component
            .send(Next::Data(value))
            .await
            .map_err(|e| crate::SendError::Closed(unwrap_data(e.into_inner())))
    }

    /// Blocking [`put`](Self::put), for plain threads (not inside an async runtime).
    pub fn put_blocking(&self, value: I) -> Result<(), crate::SendError<I>> {
        self.to_component
            .send_blocking(Next::Data(value))
            .map_err(|e| crate::SendError::Closed(unwrap_data(e.into_inner())))
    }

    /// The next value from the component's outbox; `None` once it has finished and everything
    /// it sent has been got.
    pub async fn get(&self) -> Option<O> {
        self.from_component.recv().await.ok()
    }

    /// Blocking [`get`](Self::get).
    pub fn get_blocking(&self) -> Option<O> {
        self.from_component.recv_blocking().ok()
    }

    /// Tells the component no more data will come (`ProducerFinished` on its control, after all
    /// data put so far).
    pub async fn finish(&self) {
        let _ = self
            .to_component
            .send(Next::Control(Control::ProducerFinished))
            .await;
    }

    /// Blocking [`finish`](Self::finish).
    pub fn finish_blocking(&self) {
        let _ = self
            .to_component
            .send_blocking(Next::Control(Control::ProducerFinished));
    }
}

fn unwrap_data<I>(next: Next<I>) -> I {
    match next {
        Next::Data(value) => value,
        Next::Control(_) => unreachable!("put only sends data"),
    }
}

/// The scheduler side of a [`Handle`]: channel → the component's inbox/control, the
/// component's outbox → channel.
#[derive(Boxes)]
struct HandleProxy<I: Send + 'static, O: Send + 'static> {
    inbox: Inbox<O>,
    control: Inbox<Control>,
    outbox: Outbox<I>,
    signal: Outbox<Control>,
    from_outside: Receiver<Next<I>>,
    to_outside: Sender<O>,
}

impl<I: Send + 'static, O: Send + 'static> Component for HandleProxy<I, O> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (outbox, signal, from_outside) = (&self.outbox, &self.signal, &self.from_outside);
        let feed = async {
            while let Ok(next) = from_outside.recv().await {
                let sent = match next {
                    Next::Data(value) => outbox.send(value).await.is_ok(),
                    Next::Control(message) => signal.send(message).await.is_ok(),
                };
                if !sent {
                    break;
                }
            }
            // Every handle dropped, or the component gone: nothing more to feed.
            let _ = signal.try_send(Control::ProducerFinished);
            std::future::pending::<()>().await
        };
        let (inbox, control, to_outside) = (&mut self.inbox, &mut self.control, &self.to_outside);
        let drain = async {
            loop {
                match inbox.next_or_control(control).await {
                    Next::Data(value) => {
                        if to_outside.send(value).await.is_err() {
                            return;
                        }
                    }
                    Next::Control(_) => return,
                }
            }
        };
        tokio::select! {
            () = feed => {}
            () = drain => {}
        }
        Ok(())
    }
}

type Attached<C> = (
    Handle<<C as Stage>::In, <C as Stage>::Out>,
    HandleProxy<<C as Stage>::In, <C as Stage>::Out>,
);

fn attach<C>(component: &C, capacity: usize) -> Result<Attached<C>, crate::LinkError>
where
    C: Stage + Component,
    C::In: Send,
    C::Out: Send,
{
    let (to_component, from_outside) = async_channel::bounded(capacity);
    let (to_outside, from_component) = async_channel::bounded(capacity);
    let proxy = HandleProxy {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        from_outside,
        to_outside,
    };
    if let Some(inbox) = component.stage_inbox() {
        link(&proxy.outbox, inbox)?;
    }
    if let Some(control) = component.stage_control() {
        link(&proxy.signal, control)?;
    }
    if let Some(outbox) = component.stage_outbox() {
        link(outbox, &proxy.inbox)?;
    }
    if let Some(signal) = component.stage_signal() {
        link(signal, &proxy.control)?;
    }
    Ok((
        Handle {
            to_component,
            from_component,
        },
        proxy,
    ))
}

impl Scheduler {
    /// Activates `component` with a [`Handle`] for ordinary code to talk to it. Fails if the
    /// component's standard boxes are already linked.
    pub fn handle<C>(&self, component: C) -> Result<Handle<C::In, C::Out>, crate::LinkError>
    where
        C: Stage + Component,
        C::In: Send,
        C::Out: Send,
    {
        let (handle, proxy) = attach(&component, crate::DEFAULT_CAPACITY)?;
        self.activate(component);
        self.activate(proxy);
        Ok(handle)
    }
}

/// Like [`Scheduler::handle`], from inside a running component (the component and its proxy
/// become children of the caller).
///
/// # Panics
/// Outside a running component.
pub fn handle<C>(component: C) -> Result<Handle<C::In, C::Out>, crate::LinkError>
where
    C: Stage + Component,
    C::In: Send,
    C::Out: Send,
{
    let (handle, proxy) = attach(&component, crate::DEFAULT_CAPACITY)?;
    crate::activate(component);
    crate::activate(proxy);
    Ok(handle)
}
