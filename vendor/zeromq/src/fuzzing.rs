//! Brine patch: a way in for fuzzers (feature `fuzzing`, not a public API).
//! Feeds bytes to the ZMTP decoder with a message-size limit, in the chunk
//! sizes a socket might deliver, and checks the decoder never reserves more
//! than the limit allows.

use asynchronous_codec::Decoder;
use bytes::BytesMut;

use crate::codec::ZmqCodec;
use crate::SocketOptions;

/// Decodes `data` (split at `chunk` bytes) from the greeting on; panics if
/// the read buffer ever grows past `limit` plus one read chunk.
pub fn decode(data: &[u8], limit: usize, chunk: usize) {
    let mut options = SocketOptions::default();
    options.max_msg_size(limit);
    let mut codec = ZmqCodec::with_options(&options);
    let mut buf = BytesMut::new();
    let bound = limit + options.read_buffer_max_size + 64 * 1024;
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.capacity() <= bound.max(data.len() * 2 + 1024),
            "decoder reserved {} bytes with a limit of {limit}",
            buf.capacity()
        );
    }
}
