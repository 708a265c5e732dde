//! `probe`: what an Ogg audio file holds — codec, sample rate, channels, bit rate and duration —
//! read from its first and last packets, without decoding any audio.

use crate::ogg::{OggDemuxer, OggEvent};

/// The audio codecs [`probe`] recognises.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioCodec {
    /// Ogg Vorbis.
    Vorbis,
    /// Ogg Opus (always decoded at 48 kHz).
    Opus,
}

/// What [`probe`] found in a file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The codec of the file's first audio stream.
    pub codec: AudioCodec,
    /// Samples per second (48,000 for Opus).
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Bits per second: the nominal rate Vorbis states in its header when it states one, else
    /// the file's size over its duration.
    pub bitrate: u64,
    /// The duration of the first audio stream, from its last granule position.
    pub seconds: f64,
}

/// Reads the first Vorbis or Opus stream of an Ogg file (a file may begin with another
/// stream, such as Skeleton): `None` when there is none, or its first header is cut short.
///
/// ```
/// use kamaelia_codec::{AudioCodec, probe};
///
/// let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tone_44k_stereo.ogg"))?;
/// let info = probe(&ogg).expect("an Ogg Vorbis file");
/// assert_eq!((info.codec, info.sample_rate, info.channels), (AudioCodec::Vorbis, 44_100, 2));
/// assert!((info.seconds - 1.0).abs() < 0.001);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn probe(bytes: &[u8]) -> Option<StreamInfo> {
    let mut demuxer = OggDemuxer::new();
    demuxer.push(bytes);
    let (mut ident, mut serial, mut last_granule) = (None, None, 0i64);
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(p) = event {
            let audio = p.data.starts_with(b"\x01vorbis") || p.data.starts_with(b"OpusHead");
            if serial.is_none() && p.bos && audio {
                (ident, serial) = (Some(p.data.clone()), Some(p.serial));
            }
            if serial == Some(p.serial) {
                last_granule = last_granule.max(p.granule);
            }
        }
    }
    let first = ident?;
    // (codec, sample rate, channels, nominal bit rate, granule positions per second)
    let (codec, sample_rate, channels, nominal, granule_rate) =
        if first.starts_with(b"\x01vorbis") && first.len() >= 24 {
            let rate = u32::from_le_bytes(first[12..16].try_into().ok()?);
            let nominal = i32::from_le_bytes(first[20..24].try_into().ok()?);
            let nominal = u64::try_from(nominal).ok().filter(|&n| n > 0);
            (
                AudioCodec::Vorbis,
                rate,
                u16::from(first[11]),
                nominal,
                rate,
            )
        } else if first.starts_with(b"OpusHead") && first.len() >= 16 {
            // Opus plays at 48 kHz and its granule positions count 48 kHz samples.
            (AudioCodec::Opus, 48_000, u16::from(first[9]), None, 48_000)
        } else {
            return None;
        };
    let seconds = last_granule.max(0) as f64 / f64::from(granule_rate.max(1));
    let bitrate = nominal.unwrap_or((bytes.len() as f64 * 8.0 / seconds.max(0.01)) as u64);
    Some(StreamInfo {
        codec,
        sample_rate,
        channels,
        bitrate,
        seconds,
    })
}
