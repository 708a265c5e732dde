//! `PushDecoder`: what every byte-stream parser here has in common — bytes pushed in any split,
//! items taken out as they complete, and a word at the end of the stream — and [`drive`], the
//! one component loop that runs any of them (OggDemux, OggPager, and kamaelia-net's Deframer,
//! LineSplitter and Chunker).

use axon_core::{ComponentError, Control, Inbox, Next, Outbox};
use bytes::{Bytes, BytesMut};

/// A parser fed a byte stream in any split.
///
/// ```
/// use kamaelia_codec::PushDecoder;
/// use kamaelia_codec::lines::LineDecoder;
///
/// fn all<D: PushDecoder>(mut decoder: D, input: &[u8]) -> Result<Vec<D::Item>, D::Error> {
///     let mut items = Vec::new();
///     for piece in input.chunks(3) {
///         decoder.push(piece);
///         while let Some(item) = decoder.next_item()? {
///             items.push(item);
///         }
///     }
///     items.extend(decoder.finish_stream()?);
///     Ok(items)
/// }
/// assert_eq!(all(LineDecoder::new(80), b"one\ntwo").unwrap(), ["one", "two"]);
/// ```
pub trait PushDecoder {
    /// What it produces.
    type Item;
    /// Why the stream cannot be read further (it cannot resynchronise).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Adds bytes, in any split.
    fn push(&mut self, bytes: &[u8]);

    /// The next complete item, if the input so far holds one.
    fn next_item(&mut self) -> Result<Option<Self::Item>, Self::Error>;

    /// At the end of the stream: a last item (a final line without a newline, say), or an error
    /// for a stream cut short.
    fn finish_stream(&mut self) -> Result<Option<Self::Item>, Self::Error>;
}

impl PushDecoder for crate::framing::FrameDecoder {
    type Item = bytes::Bytes;
    type Error = crate::framing::FrameError;

    fn push(&mut self, bytes: &[u8]) {
        crate::framing::FrameDecoder::push(self, bytes);
    }

    fn next_item(&mut self) -> Result<Option<bytes::Bytes>, Self::Error> {
        self.next_frame()
    }

    fn finish_stream(&mut self) -> Result<Option<bytes::Bytes>, Self::Error> {
        self.finish().map(|()| None)
    }
}

impl PushDecoder for crate::lines::LineDecoder {
    type Item = bytes::Bytes;
    type Error = crate::lines::LineTooLong;

    fn push(&mut self, bytes: &[u8]) {
        crate::lines::LineDecoder::push(self, bytes);
    }

    fn next_item(&mut self) -> Result<Option<bytes::Bytes>, Self::Error> {
        self.next_line()
    }

    fn finish_stream(&mut self) -> Result<Option<bytes::Bytes>, Self::Error> {
        Ok(self.finish())
    }
}

impl PushDecoder for crate::OggDemuxer {
    type Item = crate::OggEvent;
    /// Damage is reported as an event and skipped: the Ogg parser always goes on.
    type Error = std::convert::Infallible;

    fn push(&mut self, bytes: &[u8]) {
        crate::OggDemuxer::push(self, bytes);
    }

    fn next_item(&mut self) -> Result<Option<crate::OggEvent>, Self::Error> {
        Ok(self.next_event())
    }

    fn finish_stream(&mut self) -> Result<Option<crate::OggEvent>, Self::Error> {
        Ok(self.finish().map(crate::OggEvent::Damage))
    }
}

impl PushDecoder for crate::OggPageReader {
    type Item = crate::PageEvent;
    /// Damage is reported as an event and skipped: the page reader always goes on.
    type Error = std::convert::Infallible;

    fn push(&mut self, bytes: &[u8]) {
        crate::OggPageReader::push(self, bytes);
    }

    fn next_item(&mut self) -> Result<Option<crate::PageEvent>, Self::Error> {
        Ok(self.next_event())
    }

    fn finish_stream(&mut self) -> Result<Option<crate::PageEvent>, Self::Error> {
        Ok(self.finish().map(crate::PageEvent::Damage))
    }
}

/// Cuts a byte stream into chunks of exactly `size` bytes; the last, shorter one comes at the
/// end of the stream.
///
/// ```
/// use kamaelia_codec::{FixedChunks, PushDecoder};
/// let mut chunks = FixedChunks::new(4);
/// chunks.push(b"abcdef");
/// assert_eq!(chunks.next_item().unwrap().as_deref(), Some(&b"abcd"[..]));
/// assert_eq!(chunks.next_item().unwrap(), None);
/// assert_eq!(chunks.finish_stream().unwrap().as_deref(), Some(&b"ef"[..]));
/// ```
#[derive(Debug)]
pub struct FixedChunks {
    size: usize,
    pending: BytesMut,
}

impl FixedChunks {
    /// Chunks of `size` bytes (at least 1).
    pub fn new(size: usize) -> Self {
        FixedChunks {
            size: size.max(1),
            pending: BytesMut::new(),
        }
    }
}

impl PushDecoder for FixedChunks {
    type Item = Bytes;
    type Error = std::convert::Infallible;

    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    fn next_item(&mut self) -> Result<Option<Bytes>, Self::Error> {
        Ok((self.pending.len() >= self.size).then(|| self.pending.split_to(self.size).freeze()))
    }

    fn finish_stream(&mut self) -> Result<Option<Bytes>, Self::Error> {
        Ok((!self.pending.is_empty()).then(|| self.pending.split().freeze()))
    }
}

/// The loop of every decoding component: bytes from `inbox` into `decoder`, each item to
/// `each` (which sends it on, usually); a decoding error is `Failed` on `signal` (the stream
/// cannot resynchronise); on `ProducerFinished`, the decoder's last word, then the end passed
/// on `signal`. `component` names it in failures.
///
/// ```
/// use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
/// use bytes::Bytes;
/// use kamaelia_codec::{FixedChunks, drive};
///
/// /// Fixed-size pieces of a byte stream.
/// #[derive(Boxes)]
/// struct Pieces {
///     inbox: Inbox<Bytes>,
///     control: Inbox<Control>,
///     outbox: Outbox<Bytes>,
///     signal: Outbox<Control>,
/// }
///
/// impl Component for Pieces {
///     async fn main(mut self) -> Result<(), ComponentError> {
///         let outbox = &self.outbox;
///         let mut chunks = FixedChunks::new(188);
///         drive("Pieces", &mut chunks, &mut self.inbox, &mut self.control, &self.signal,
///             async |piece| Ok(outbox.send(piece).await?)).await
///     }
/// }
/// ```
pub async fn drive<D: PushDecoder>(
    component: &str,
    decoder: &mut D,
    inbox: &mut Inbox<Bytes>,
    control: &mut Inbox<Control>,
    signal: &Outbox<Control>,
    mut each: impl AsyncFnMut(D::Item) -> Result<(), ComponentError>,
) -> Result<(), ComponentError> {
    loop {
        match inbox.next_or_control(control).await {
            Next::Data(bytes) => {
                decoder.push(&bytes);
                loop {
                    match decoder.next_item() {
                        Ok(Some(item)) => each(item).await?,
                        Ok(None) => break,
                        Err(e) => {
                            signal.send(Control::failed(component, e)).await?;
                            return Ok(());
                        }
                    }
                }
            }
            Next::Control(mut last) => {
                if last.is_producer_finished() {
                    match decoder.finish_stream() {
                        Ok(Some(item)) => each(item).await?,
                        Ok(None) => {}
                        Err(e) => last = Control::failed(component, e),
                    }
                }
                signal.send(last).await?;
                return Ok(());
            }
        }
    }
}
