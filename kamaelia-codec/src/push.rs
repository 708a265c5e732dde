//! `PushDecoder`: what every byte-stream parser here has in common — bytes pushed in any split,
//! items taken out as they complete, and a word at the end of the stream — so one component
//! loop can drive any of them.

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
