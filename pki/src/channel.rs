//! Length-prefixed frames over any byte stream (the TLS request port, the
//! CLI's unix socket): a 4-byte big-endian length, then a
//! `brine_proto::codec` body.
//!
//! **Invariant:** a length above [`MAX_FRAME_LEN`] is refused before any
//! buffer is allocated, and the body buffer grows only as bytes arrive, so a
//! peer cannot make us reserve memory it does not send.

use brine_proto::codec::{decode, encode_frame, frame_len, CodecError};
use brine_proto::MAX_FRAME_LEN;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Initial body buffer; larger bodies grow it as they arrive.
const INITIAL_BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The stream failed or ended inside a frame. Close the connection.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer announced a frame above the limit. Close the connection: the
    /// frame boundary is lost.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// A whole frame arrived but its body does not decode (garbage, another
    /// protocol version, an unknown message). The frame boundary is intact:
    /// the connection may go on.
    #[error("malformed message: {0}")]
    Codec(CodecError),
    /// The message to send cannot be encoded (or is too large). Nothing was
    /// written.
    #[error("cannot encode message: {0}")]
    Encode(CodecError),
}

impl ChannelError {
    /// A complete frame with a body that does not decode: the connection can
    /// continue with the next frame.
    pub fn is_malformed_body(&self) -> bool {
        matches!(self, ChannelError::Codec(_))
    }
}

/// Reads one frame. `Ok(None)` on a clean end of stream (before the first
/// byte of a frame); an end inside a frame is an [`ChannelError::Io`] error.
///
/// Not cancel-safe: if the future is dropped mid-frame, the stream is left
/// inside a frame. Read from one task that owns the reader.
pub async fn read_frame<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<T>, ChannelError> {
    read_frame_limited(r, MAX_FRAME_LEN).await
}

/// [`read_frame`] with a smaller limit: before a peer is authenticated only
/// small messages (a certificate request, a hello) are accepted.
pub async fn read_frame_limited<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> Result<Option<T>, ChannelError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(unexpected_eof("inside a frame length"));
        }
        got += n;
    }
    let limit = limit.min(MAX_FRAME_LEN);
    let len = frame_len(prefix)
        .ok()
        .filter(|len| *len <= limit)
        .ok_or(ChannelError::TooLarge {
            len: u32::from_be_bytes(prefix) as usize,
            limit,
        })?;
    let mut body = Vec::with_capacity(len.min(INITIAL_BUFFER));
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(unexpected_eof("inside a frame body"));
    }
    decode(&body).map(Some).map_err(ChannelError::Codec)
}

/// Writes one frame and flushes it (TLS streams buffer until flushed).
pub async fn write_frame<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &T,
) -> Result<(), ChannelError> {
    let frame = encode_frame(msg).map_err(ChannelError::Encode)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

fn unexpected_eof(wh: &str) -> ChannelError {
    ChannelError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("connection closed {wh}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brine_proto::{MasterMsg, MinionMsg};
    use tokio::io::duplex;

    #[tokio::test]
    async fn round_trip_and_clean_eof() {
        let (mut a, mut b) = duplex(64);
        let msgs = vec![
            MinionMsg::Heartbeat,
            MinionMsg::CertRequest {
                id: "web-01".into(),
                csr_pem: "x".repeat(10_000),
            },
            MinionMsg::GetEpochKey,
        ];
        let sent = msgs.clone();
        let writer = tokio::spawn(async move {
            for m in &sent {
                write_frame(&mut a, m).await.unwrap();
            }
        });
        for m in &msgs {
            let got: MinionMsg = read_frame(&mut b).await.unwrap().unwrap();
            assert_eq!(&got, m);
        }
        writer.await.unwrap();
        assert!(read_frame::<MinionMsg, _>(&mut b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversize_prefix_is_refused_before_reading_the_body() {
        // Only the prefix is there: a reader that allocated and waited for
        // the body would see an end of stream instead.
        let prefix = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let mut r: &[u8] = &prefix;
        let err = read_frame::<MinionMsg, _>(&mut r).await.unwrap_err();
        assert!(
            matches!(err, ChannelError::TooLarge { len, .. } if len == MAX_FRAME_LEN + 1),
            "{err}"
        );
        assert!(!err.is_malformed_body());
        let mut r: &[u8] = &u32::MAX.to_be_bytes();
        assert!(matches!(
            read_frame::<MinionMsg, _>(&mut r).await,
            Err(ChannelError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_smaller_limit_refuses_before_reading_the_body() {
        let prefix = (64 * 1024u32 + 1).to_be_bytes();
        let mut r: &[u8] = &prefix;
        let err = read_frame_limited::<MinionMsg, _>(&mut r, 64 * 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, ChannelError::TooLarge { limit, .. } if limit == 64 * 1024));
    }

    #[tokio::test]
    async fn malformed_body_leaves_the_stream_usable() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&5u32.to_be_bytes());
        bytes.extend_from_slice(b"hello");
        // A valid frame of the wrong message type.
        bytes.extend_from_slice(
            &encode_frame(&MasterMsg::CertPending {
                fingerprint: "ab".into(),
            })
            .unwrap(),
        );
        bytes.extend_from_slice(&encode_frame(&MinionMsg::Heartbeat).unwrap());
        let mut r: &[u8] = &bytes;
        let err = read_frame::<MinionMsg, _>(&mut r).await.unwrap_err();
        assert!(err.is_malformed_body(), "{err}");
        let err = read_frame::<MinionMsg, _>(&mut r).await.unwrap_err();
        assert!(err.is_malformed_body(), "{err}");
        let ok: MinionMsg = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!(ok, MinionMsg::Heartbeat);
        assert!(read_frame::<MinionMsg, _>(&mut r).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn truncation_is_an_io_error() {
        let frame = encode_frame(&MinionMsg::Heartbeat).unwrap();
        for cut in [2, 4, frame.len() - 1] {
            let mut r: &[u8] = &frame[..cut];
            let err = read_frame::<MinionMsg, _>(&mut r).await.unwrap_err();
            assert!(matches!(err, ChannelError::Io(_)), "cut {cut}: {err}");
            assert!(!err.is_malformed_body());
        }
    }
}
