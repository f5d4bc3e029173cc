//! The length-prefixed msgpack frames of the request port and the CLI
//! socket: any bytes give a message or an error, never a panic, and a
//! length over the limit is refused before its body is read.
#![no_main]
use brine_pki::channel::{read_frame, read_frame_limited};
use brine_proto::{CliRequest, MasterMsg, MinionMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    futures::executor::block_on(async {
        let mut r = data;
        while let Ok(Some(_)) = read_frame::<MinionMsg, _>(&mut r).await {}
        let mut r = data;
        while let Ok(Some(_)) = read_frame_limited::<MinionMsg, _>(&mut r, 64 * 1024).await {}
        let mut r = data;
        let _ = read_frame::<MasterMsg, _>(&mut r).await;
        let mut r = data;
        let _ = read_frame::<CliRequest, _>(&mut r).await;
    });
    let _ = brine_proto::codec::decode::<brine_proto::SealedPublication>(data);
});
