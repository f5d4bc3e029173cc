//! Salt's YAML 1.1 as Brine loads it (state files, pillar, configs): any
//! text gives a document or an error; aliases cannot blow up.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(node) = brine_states::yaml::load(text) {
            let _ = node.to_json();
        }
    }
});
