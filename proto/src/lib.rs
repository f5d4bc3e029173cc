//! Wire types shared by every Brine process: jobs, returns, the messages on
//! the request port and the CLI socket, the frame codec and the target
//! expression language.
//!
//! **Invariant:** `proto` does no IO. It defines what goes over the wire and
//! how it is encoded; sockets live in `pki::channel`, `minion` and `master`.

pub mod codec;
pub mod conf;
pub mod jid;
pub mod minion_id;
pub mod msg;
pub mod targeting;

pub use codec::{CodecError, MAX_FRAME_LEN, PROTOCOL_VERSION};
pub use jid::JobId;
pub use msg::*;
