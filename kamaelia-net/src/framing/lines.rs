//! `LineSplitter`: kamaelia-codec's line decoder as a component, for line-based protocols.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::Bytes;
use kamaelia_codec::lines::{DEFAULT_MAX_LINE, LineDecoder};

/// A byte stream in (any split), its lines out (without their endings; a last line without a
/// newline is sent at the end). A line over the maximum is an error on `signal` and stops it —
/// what a line-based protocol's connection wants.
#[derive(Boxes)]
pub struct LineSplitter {
    /// Stream bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` at end of stream.
    pub control: Inbox<Control>,
    /// Lines.
    pub outbox: Outbox<Bytes>,
    /// Forwards the end, or says why it stopped.
    pub signal: Outbox<Control>,
    decoder: LineDecoder,
}

impl LineSplitter {
    /// Lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            decoder: LineDecoder::new(max),
        }
    }
}

impl Default for LineSplitter {
    /// Lines of at most [`DEFAULT_MAX_LINE`] bytes.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl Component for LineSplitter {
    async fn main(mut self) -> Result<(), ComponentError> {
        let outbox = &self.outbox;
        kamaelia_codec::drive(
            "LineSplitter",
            &mut self.decoder,
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |line| Ok(outbox.send(line).await?),
        )
        .await
    }
}
