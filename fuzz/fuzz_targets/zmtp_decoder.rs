//! The ZMTP boundary (vendored zmq.rs with Brine's size limit): any bytes
//! after or instead of a greeting never panic and never make the decoder
//! reserve more than the limit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    // Half the inputs start from a valid greeting, so frames are reached.
    let mut input = Vec::with_capacity(rest.len() + 64);
    if chunk & 1 == 1 {
        let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
        let mut mech = b"NULL".to_vec();
        mech.resize(20, 0);
        g.extend_from_slice(&mech);
        g.resize(64, 0);
        input.extend_from_slice(&g);
    }
    input.extend_from_slice(rest);
    zeromq::fuzzing::decode(&input, 64 * 1024, (chunk as usize >> 1) + 1);
});
