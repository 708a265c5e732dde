//! Transformers: Map (Kamaelia's PureTransformer), Filter, Detuple.

use crate::{Boxes, Component, ComponentError, Control, Inbox, Outbox};

/// Applies a closure to every value (Kamaelia's PureTransformer). Made by [`map`].
#[derive(Boxes)]
#[doc(alias = "PureTransformer")]
pub struct Map<I: 'static, O: 'static> {
    /// Values in.
    pub inbox: Inbox<I>,
    /// `ProducerFinished` ends it after the inbox is drained.
    pub control: Inbox<Control>,
    /// Transformed values.
    pub outbox: Outbox<O>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
    f: Box<dyn FnMut(I) -> O>,
}

/// A component applying `f` to each value.
///
/// ```
/// use axon_core::components::map;
/// let shout = map(|s: String| s.to_uppercase());
/// # let _ = shout;
/// ```
#[doc(alias = "PureTransformer")]
pub fn map<I: 'static, O: 'static>(f: impl FnMut(I) -> O + 'static) -> Map<I, O> {
    Map {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        f: Box::new(f),
    }
}

/// Handles each value with `each` until `control` ends the stream, then forwards the message
/// that ended it on `signal` — the loop every transformer shares.
pub(crate) async fn until_end<T: 'static>(
    inbox: &mut Inbox<T>,
    control: &mut Inbox<Control>,
    signal: &Outbox<Control>,
    mut each: impl AsyncFnMut(T) -> Result<(), ComponentError>,
) -> Result<(), ComponentError> {
    loop {
        match inbox.next_or_control(control).await {
            crate::Next::Data(v) => each(v).await?,
            crate::Next::Control(c) => {
                signal.send(c).await?;
                return Ok(());
            }
        }
    }
}

impl<I: 'static, O: 'static> Component for Map<I, O> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (f, outbox) = (&mut self.f, &self.outbox);
        until_end(
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |v| outbox.send(f(v)).await.map_err(Into::into),
        )
        .await
    }
}

/// Keeps the values a predicate accepts. Made by [`filter`].
#[derive(Boxes)]
pub struct Filter<T: 'static> {
    /// Values in.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` ends it after the inbox is drained.
    pub control: Inbox<Control>,
    /// Values the predicate accepted.
    pub outbox: Outbox<T>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
    keep: Box<dyn FnMut(&T) -> bool>,
}

/// A component keeping the values for which `keep` returns true.
pub fn filter<T: 'static>(keep: impl FnMut(&T) -> bool + 'static) -> Filter<T> {
    Filter {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        keep: Box::new(keep),
    }
}

impl<T: 'static> Component for Filter<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (keep, outbox) = (&mut self.keep, &self.outbox);
        until_end(
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |v| {
                if keep(&v) {
                    outbox.send(v).await?;
                }
                Ok(())
            },
        )
        .await
    }
}

/// `(A, B)` in, `B` out: drops the first element of each pair (for example the sender address
/// of a datagram).
#[derive(Boxes)]
pub struct Detuple<A: 'static, B: 'static> {
    /// Pairs in.
    pub inbox: Inbox<(A, B)>,
    /// `ProducerFinished` ends it after the inbox is drained.
    pub control: Inbox<Control>,
    /// Second elements.
    pub outbox: Outbox<B>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
}

impl<A: 'static, B: 'static> Default for Detuple<A, B> {
    fn default() -> Self {
        Detuple {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
        }
    }
}

impl<A: 'static, B: 'static> Component for Detuple<A, B> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let outbox = &self.outbox;
        until_end(
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |(_, b)| outbox.send(b).await.map_err(Into::into),
        )
        .await
    }
}
