//! Comment headers (Vorbis comments, as Vorbis and Opus carry them): reading the tags a stream
//! names itself with, and writing a new title into them, the way a radio server tells late
//! joiners what is playing now.

/// How a comment header begins, and whether it ends with a framing bit.
struct Layout {
    magic: &'static [u8],
    framing_bit: bool,
}

const VORBIS: Layout = Layout {
    magic: b"\x03vorbis",
    framing_bit: true,
};
const OPUS: Layout = Layout {
    magic: b"OpusTags",
    framing_bit: false,
};

/// A comment header taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comments {
    /// Who wrote the stream (the encoder's name).
    pub vendor: String,
    /// `KEY=value` entries, in order; keys are case-insensitive.
    pub entries: Vec<String>,
    /// Bytes after the entries that are not ours to interpret (Opus allows them), kept as they
    /// are.
    trailing: Vec<u8>,
    opus: bool,
}

impl Comments {
    /// Reads a Vorbis (`\x03vorbis…`) or Opus (`OpusTags…`) comment packet; `None` for any
    /// other packet or a malformed one (lengths past its end).
    pub fn parse(packet: &[u8]) -> Option<Comments> {
        let (layout, opus) = if packet.starts_with(VORBIS.magic) {
            (&VORBIS, false)
        } else if packet.starts_with(OPUS.magic) {
            (&OPUS, true)
        } else {
            return None;
        };
        let mut cursor = Cursor {
            packet,
            at: layout.magic.len(),
        };
        let vendor_len = cursor.length()?;
        let vendor = String::from_utf8_lossy(cursor.take(vendor_len)?).into_owned();
        let count = cursor.length()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let len = cursor.length()?;
            entries.push(String::from_utf8_lossy(cursor.take(len)?).into_owned());
        }
        let at = cursor.at;
        let mut trailing = packet[at..].to_vec();
        if layout.framing_bit {
            // The framing bit is rewritten on output; anything after it is padding.
            trailing.clear();
        }
        Some(Comments {
            vendor,
            entries,
            trailing,
            opus,
        })
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find_map(|entry| {
            let (k, v) = entry.split_once('=')?;
            k.eq_ignore_ascii_case(key).then_some(v)
        })
    }

    /// Replaces every `key` entry by one `key=value`.
    pub fn set(&mut self, key: &str, value: &str) {
        self.entries.retain(|entry| {
            entry
                .split_once('=')
                .is_none_or(|(k, _)| !k.eq_ignore_ascii_case(key))
        });
        self.entries.push(format!("{key}={value}"));
    }

    /// What a player shows as now playing: `ARTIST - TITLE`, or whichever of them there is.
    pub fn now_playing(&self) -> Option<String> {
        match (self.get("ARTIST"), self.get("TITLE")) {
            (Some(artist), Some(title)) => Some(format!("{artist} - {title}")),
            (None, Some(title)) => Some(title.to_string()),
            (Some(artist), None) => Some(artist.to_string()),
            (None, None) => None,
        }
    }

    /// The comment packet, in the codec it was read from.
    pub fn to_packet(&self) -> Vec<u8> {
        let layout = if self.opus { &OPUS } else { &VORBIS };
        let mut packet = layout.magic.to_vec();
        let mut put = |bytes: &[u8]| {
            packet.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            packet.extend_from_slice(bytes);
        };
        put(self.vendor.as_bytes());
        packet.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for entry in &self.entries {
            packet.extend_from_slice(&(entry.len() as u32).to_le_bytes());
            packet.extend_from_slice(entry.as_bytes());
        }
        packet.extend_from_slice(&self.trailing);
        if layout.framing_bit {
            packet.push(1);
        }
        packet
    }
}

/// Reads a comment packet's fields in order.
struct Cursor<'a> {
    packet: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let piece = self.packet.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(piece)
    }

    fn length(&mut self) -> Option<usize> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vorbis_comments(entries: &[&str]) -> Vec<u8> {
        let mut packet = b"\x03vorbis".to_vec();
        packet.extend_from_slice(&4u32.to_le_bytes());
        packet.extend_from_slice(b"test");
        packet.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for entry in entries {
            packet.extend_from_slice(&(entry.len() as u32).to_le_bytes());
            packet.extend_from_slice(entry.as_bytes());
        }
        packet.push(1);
        packet
    }

    #[test]
    fn a_vorbis_comment_packet_round_trips_and_takes_a_new_title() {
        let packet = vorbis_comments(&["title=Old", "ARTIST=Band", "GENRE=x"]);
        let mut comments = Comments::parse(&packet).unwrap();
        assert_eq!(comments.to_packet(), packet);
        assert_eq!(comments.now_playing().as_deref(), Some("Band - Old"));
        comments.set("TITLE", "New song");
        let again = Comments::parse(&comments.to_packet()).unwrap();
        assert_eq!(again.get("title"), Some("New song"));
        assert_eq!(again.entries.len(), 3);
        assert_eq!(again.vendor, "test");
    }

    #[test]
    fn opus_tags_keep_their_trailing_bytes_and_have_no_framing_bit() {
        let mut packet = b"OpusTags".to_vec();
        packet.extend_from_slice(&0u32.to_le_bytes());
        packet.extend_from_slice(&0u32.to_le_bytes());
        packet.extend_from_slice(&[1, 2, 3]);
        let mut comments = Comments::parse(&packet).unwrap();
        assert_eq!(comments.to_packet(), packet);
        comments.set("TITLE", "T");
        let out = comments.to_packet();
        assert!(out.ends_with(&[1, 2, 3]));
        assert_eq!(Comments::parse(&out).unwrap().get("TITLE"), Some("T"));
    }

    #[test]
    fn malformed_packets_are_refused_not_panicked_on() {
        assert!(Comments::parse(b"\x03vorbis\xff\xff\xff\xff").is_none());
        assert!(Comments::parse(b"\x01vorbis").is_none());
        let mut packet = vorbis_comments(&["A=b"]);
        packet.truncate(packet.len() - 3);
        assert!(Comments::parse(&packet).is_none());
    }
}
