//! ICY metadata: the now-playing title woven into a stream's body every `icy-metaint` bytes,
//! for players that asked for it with `Icy-MetaData: 1` (SHOUTcast's scheme, which Icecast,
//! players and browsers' radio apps all speak, for Ogg streams too: players read Vorbis
//! comments only when a link starts).
//!
//! After every `interval` bytes of audio comes one length byte `n`, then `16 × n` bytes of
//! `StreamTitle='…';` padded with zeros; `n = 0` when the title has not changed.

use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;

/// Audio bytes between metadata blocks (Icecast's default).
pub(crate) const DEFAULT_METAINT: usize = 16_000;

/// The title a mount is playing now, shared with its listeners.
pub(crate) type Title = Rc<RefCell<Option<Rc<str>>>>;

/// Weaves metadata blocks into one listener's stream.
pub(crate) struct IcyWeaver {
    interval: usize,
    /// Audio bytes until the next block.
    until: usize,
    title: Title,
    /// The title last sent to this listener.
    sent: Option<Rc<str>>,
}

impl IcyWeaver {
    pub(crate) fn new(interval: usize, title: Title) -> Self {
        let interval = interval.max(1);
        IcyWeaver {
            interval,
            until: interval,
            title,
            sent: None,
        }
    }

    /// `bytes` cut where blocks fall, with the blocks between (no copy of the audio).
    pub(crate) fn weave(&mut self, bytes: &Bytes) -> Vec<Bytes> {
        let mut parts = Vec::with_capacity(3);
        let mut rest = bytes.clone();
        while rest.len() >= self.until {
            parts.push(rest.split_to(self.until));
            parts.push(self.block());
            self.until = self.interval;
        }
        if !rest.is_empty() {
            self.until -= rest.len();
            parts.push(rest);
        }
        parts
    }

    fn block(&mut self) -> Bytes {
        let now = self.title.borrow().clone();
        if now == self.sent {
            return Bytes::from_static(&[0]);
        }
        self.sent = now.clone();
        metadata_block(now.as_deref().unwrap_or(""))
    }
}

/// One metadata block naming `title` (cut to fit the largest block, 4,080 bytes).
pub(crate) fn metadata_block(title: &str) -> Bytes {
    const MAX: usize = 255 * 16;
    let mut text = String::from("StreamTitle='");
    let room = MAX - "StreamTitle='';".len();
    let mut end = title.len().min(room);
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    text.push_str(&title[..end].replace('\0', ""));
    text.push_str("';");
    let blocks = text.len().div_ceil(16);
    let mut block = Vec::with_capacity(1 + blocks * 16);
    block.push(blocks as u8);
    block.extend_from_slice(text.as_bytes());
    block.resize(1 + blocks * 16, 0);
    Bytes::from(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a woven stream back into audio and the titles announced.
    fn unweave(stream: &[u8], interval: usize) -> (Vec<u8>, Vec<String>) {
        let (mut audio, mut titles) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < stream.len() {
            let take = interval.min(stream.len() - at);
            audio.extend_from_slice(&stream[at..at + take]);
            at += take;
            if at >= stream.len() {
                break;
            }
            let n = stream[at] as usize * 16;
            let text = String::from_utf8_lossy(&stream[at + 1..at + 1 + n]);
            if n > 0 {
                titles.push(text.trim_end_matches('\0').to_string());
            }
            at += 1 + n;
        }
        (audio, titles)
    }

    #[test]
    fn blocks_fall_every_interval_whatever_the_chunk_sizes() {
        let title: Title = Rc::default();
        let mut weaver = IcyWeaver::new(100, title.clone());
        let audio: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut stream = Vec::new();
        for (i, chunk) in audio.chunks(37).enumerate() {
            if i == 10 {
                *title.borrow_mut() = Some("Song two".into());
            }
            for part in weaver.weave(&Bytes::copy_from_slice(chunk)) {
                stream.extend_from_slice(&part);
            }
        }
        let (back, titles) = unweave(&stream, 100);
        assert_eq!(back, audio);
        assert_eq!(titles, ["StreamTitle='Song two';"]);
    }

    #[test]
    fn a_long_title_is_cut_to_the_largest_block() {
        let block = metadata_block(&"é".repeat(5000));
        assert_eq!(block[0], 255);
        assert_eq!(block.len(), 1 + 255 * 16);
        assert!(std::str::from_utf8(&block[1..]).is_ok());
    }
}
