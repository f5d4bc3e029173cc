//! Target expressions, as `brine -C/-G/-E/...` and publications carry
//! them: parsing and matching never panic.
#![no_main]
use brine_proto::targeting::{MinionFacts, TargetExpr, TargetType};
use libfuzzer_sys::fuzz_target;

const TYPES: [TargetType; 9] = [
    TargetType::Glob,
    TargetType::Pcre,
    TargetType::List,
    TargetType::Grain,
    TargetType::GrainPcre,
    TargetType::Pillar,
    TargetType::PillarPcre,
    TargetType::Compound,
    TargetType::Ipcidr,
];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let tgt_type = TYPES[kind as usize % TYPES.len()];
    if let Ok(expr) = TargetExpr::parse(text, tgt_type) {
        let grains: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"os": "Debian", "roles": ["web", "db"], "ipv4": ["10.0.0.5", "127.0.0.1"], "num": 3}"#,
        )
        .unwrap();
        let _ = expr.matches(&MinionFacts {
            id: "web1.example.com",
            grains: &grains,
            pillar: Some(&grains),
        });
    }
});
