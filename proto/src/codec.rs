//! The frame codec: every message is a msgpack map `{v, body}` carried in a
//! 4-byte big-endian length prefix. The version lets a newer peer say what it
//! speaks; the length limit is checked before anything is allocated.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Wire protocol version spoken by this build.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame either port accepts (bytes, without the length prefix).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("unsupported protocol version {got} (this build speaks {PROTOCOL_VERSION})")]
    Version { got: u16 },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("cannot encode message: {0}")]
    Encode(String),
}

#[derive(Serialize)]
struct FrameOut<'a, T> {
    v: u16,
    body: &'a T,
}

#[derive(Deserialize)]
struct FrameIn<T> {
    v: u16,
    body: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u16,
}

/// Encodes a message body (no length prefix).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let out = rmp_serde::to_vec_named(&FrameOut {
        v: PROTOCOL_VERSION,
        body: msg,
    })
    .map_err(|e| CodecError::Encode(e.to_string()))?;
    if out.len() > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len: out.len(),
            limit: MAX_FRAME_LEN,
        });
    }
    Ok(out)
}

/// Encodes a message with its 4-byte length prefix, ready to write.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let body = encode(msg)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a message body (no length prefix).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    check_len(bytes.len())?;
    match rmp_serde::from_slice::<FrameIn<T>>(bytes) {
        Ok(f) if f.v == PROTOCOL_VERSION => Ok(f.body),
        Ok(f) => Err(CodecError::Version { got: f.v }),
        Err(e) => match rmp_serde::from_slice::<VersionOnly>(bytes) {
            Ok(v) if v.v != PROTOCOL_VERSION => Err(CodecError::Version { got: v.v }),
            _ => Err(CodecError::Malformed(e.to_string())),
        },
    }
}

/// Validates a length prefix read from the wire.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(prefix) as usize;
    check_len(len)?;
    Ok(len)
}

fn check_len(len: usize) -> Result<(), CodecError> {
    if len > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge {
            len,
            limit: MAX_FRAME_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{MinionMsg, Payload};
    use crate::JobId;

    #[test]
    fn round_trip() {
        let msg = MinionMsg::JobStarted {
            jid: "20261123051130123456".parse::<JobId>().unwrap(),
        };
        let bytes = encode(&msg).unwrap();
        let back: MinionMsg = decode(&bytes).unwrap();
        assert_eq!(back, msg);

        let frame = encode_frame(&msg).unwrap();
        let len = frame_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, frame.len() - 4);
    }

    #[test]
    fn oversized_is_refused_before_allocation() {
        let err = frame_len((MAX_FRAME_LEN as u32 + 1).to_be_bytes()).unwrap_err();
        assert!(matches!(err, CodecError::TooLarge { .. }), "{err}");
        let big = Payload(serde_json::Value::String("x".repeat(MAX_FRAME_LEN + 1)));
        assert!(matches!(encode(&big), Err(CodecError::TooLarge { .. })));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in [
            &b""[..],
            b"\x00",
            b"\xff\xff\xff",
            b"hello world",
            &[0x81, 0xa1, b'v', 0xcc],
        ] {
            let r: Result<MinionMsg, _> = decode(junk);
            assert!(r.is_err());
        }
    }

    #[test]
    fn other_versions_are_named() {
        #[derive(Serialize)]
        struct Future {
            v: u16,
            body: u8,
        }
        let bytes = rmp_serde::to_vec_named(&Future { v: 9, body: 1 }).unwrap();
        let err = decode::<MinionMsg>(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::Version { got: 9 }), "{err}");
    }
}
