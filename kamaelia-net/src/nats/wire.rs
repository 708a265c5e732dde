//! What a link puts on the wire: postcard-encoded frames, and the credit a receiver grants.
//!
//! Every frame of a link travels on the link's one subject, so NATS keeps them in the order the
//! sender published them (data, probes and the end alike). A probe is a NATS request: its reply
//! is a grant, or "no responders" when nobody receives the link.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One frame from a sender; `session` tells apart the senders (and the lives of a sender) that
/// feed one link.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) enum Frame<T> {
    /// The `seq`-th value this session sent (from 0); `offset` is how many bytes of frames
    /// the session sent before this one (credit is counted in bytes as well as values).
    Data {
        session: u64,
        seq: u64,
        offset: u64,
        value: T,
    },
    /// "I am here, the next value I send is `next` and I have sent `bytes` bytes": sent as a
    /// request when a sender starts, when it has no credit, and when it has been idle;
    /// answered with a [`Grant`].
    Probe { session: u64, next: u64, bytes: u64 },
    /// This session sent `sent` values and ends, for the reason given.
    End {
        session: u64,
        sent: u64,
        end: EndReason,
    },
}

/// Why a sender ended: the control message it was given, carried across.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(super) enum EndReason {
    /// `ProducerFinished`: everything was sent.
    Finished,
    /// `ShutdownMicroprocess`.
    Shutdown,
    /// The component upstream failed, and said why.
    Failed(String),
}

/// Credit: the sender may send values numbered below `upto`, while the bytes it has sent are
/// below `bytes` (so one value may overshoot by its own size, and a value larger than the
/// whole byte window still goes, alone).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) upto: u64,
    pub(super) bytes: u64,
}

/// A frame that could not be encoded or decoded.
#[derive(Debug)]
pub(super) struct WireError(postcard::Error, usize);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 > 0 {
            write!(
                f,
                "not a message of the expected type ({} bytes left over)",
                self.1
            )
        } else {
            write!(f, "malformed message: {}", self.0)
        }
    }
}

impl std::error::Error for WireError {}

pub(super) fn encode<M: Serialize + ?Sized>(message: &M) -> Result<bytes::Bytes, WireError> {
    postcard::to_allocvec(message)
        .map(bytes::Bytes::from)
        .map_err(|e| WireError(e, 0))
}

/// Decodes a whole payload: bytes left over mean it was not an `M` (postcard carries no type
/// information, so this is the check that catches most mix-ups).
pub(super) fn decode<M: DeserializeOwned>(payload: &[u8]) -> Result<M, WireError> {
    match postcard::take_from_bytes(payload) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(WireError(
            postcard::Error::DeserializeBadEncoding,
            rest.len(),
        )),
        Err(e) => Err(WireError(e, 0)),
    }
}

/// A probe, borrowed so a sender can encode it without building an owned frame of its type.
#[derive(Serialize)]
enum ProbeOnly {
    #[allow(dead_code)]
    Data,
    Probe {
        session: u64,
        next: u64,
        bytes: u64,
    },
}

/// A data frame by reference: the same bytes as `Frame::Data`, without moving the value.
#[derive(Serialize)]
enum DataRef<'a, T> {
    Data {
        session: u64,
        seq: u64,
        offset: u64,
        value: &'a T,
    },
}

/// A data frame, written at the end of `buffer` and split off it: frames share the buffer's
/// allocation (a fresh one of at least 64 KiB when it runs out), so encoding allocates
/// nothing per value.
pub(super) fn encode_data<T: Serialize>(
    (session, seq, offset): (u64, u64, u64),
    value: &T,
    buffer: &mut bytes::BytesMut,
) -> Result<bytes::Bytes, WireError> {
    let frame = DataRef::Data {
        session,
        seq,
        offset,
        value,
    };
    if buffer.capacity() - buffer.len() < 256 {
        buffer.reserve(64 * 1024);
    }
    let written = postcard::to_extend(&frame, std::mem::take(buffer));
    match written {
        Ok(filled) => {
            *buffer = filled;
            Ok(buffer.split().freeze())
        }
        Err(e) => Err(WireError(e, 0)),
    }
}

pub(super) fn encode_probe(session: u64, next: u64, bytes: u64) -> bytes::Bytes {
    encode(&ProbeOnly::Probe {
        session,
        next,
        bytes,
    })
    .expect("a probe always encodes")
}

/// The session of a frame whose value could not be decoded (its header still can be: the
/// value comes last), so the receiver can count the loss against the right sender.
pub(super) fn session_and_seq(payload: &[u8]) -> Option<(u64, u64)> {
    #[derive(Deserialize)]
    enum Head {
        Data { session: u64, seq: u64 },
    }
    // postcard reads only what the header needs and ignores the rest.
    match postcard::take_from_bytes::<Head>(payload) {
        Ok((Head::Data { session, seq }, _)) => Some((session, seq)),
        Err(_) => None,
    }
}

/// A fresh session id: random per process (std's hasher keys), the clock and a counter.
pub(super) fn new_session() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_frames_encode_as_owned_ones_decode() {
        let bytes = encode_data(
            (7, 42, 100),
            &"hello".to_string(),
            &mut bytes::BytesMut::new(),
        )
        .unwrap();
        let frame: Frame<String> = decode(&bytes).unwrap();
        assert_eq!(
            frame,
            Frame::Data {
                session: 7,
                seq: 42,
                offset: 100,
                value: "hello".into()
            }
        );
        let probe: Frame<String> = decode(&encode_probe(7, 43, 200)).unwrap();
        assert_eq!(
            probe,
            Frame::Probe {
                session: 7,
                next: 43,
                bytes: 200
            }
        );
    }

    #[test]
    fn a_frame_of_the_wrong_type_still_names_its_sender() {
        let bytes = encode_data(
            (9, 3, 0),
            &"not a number".to_string(),
            &mut bytes::BytesMut::new(),
        )
        .unwrap();
        assert!(decode::<Frame<u64>>(&bytes).is_err());
        assert_eq!(session_and_seq(&bytes), Some((9, 3)));
    }

    #[test]
    fn framing_costs_a_few_bytes() {
        let bytes = encode_data(
            (u64::MAX, 1_000_000, 1 << 40),
            &[0u8; 64].to_vec(),
            &mut bytes::BytesMut::new(),
        )
        .unwrap();
        assert!(bytes.len() <= 64 + 1 + 10 + 3 + 6 + 1, "{}", bytes.len());
    }

    #[test]
    fn a_payload_of_another_type_is_refused() {
        assert!(decode::<u64>(&encode(&"two".to_string()).unwrap()).is_err());
        assert_eq!(
            decode::<String>(&encode(&"two".to_string()).unwrap()).unwrap(),
            "two"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for junk in [
            &b""[..],
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x02\x01",
        ] {
            let _ = decode::<Frame<Vec<u8>>>(junk);
            let _ = session_and_seq(junk);
        }
        assert_ne!(new_session(), new_session());
    }
}
