//! Properties over generated inputs: every message survives the codec round
//! trip; decoding arbitrary bytes and parsing arbitrary targets never panic;
//! a generated compound target matches exactly when a direct evaluation of
//! its terms says it should.

use brine_proto::codec::{decode, encode, encode_frame, frame_len};
use brine_proto::targeting::{MinionFacts, TargetExpr, TargetType};
use brine_proto::{JobReturn, MinionMsg, MAX_FRAME_LEN};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn minion_msg() -> impl Strategy<Value = MinionMsg> {
    let jid = (2000u64..2100, 0u64..1_000_000)
        .prop_map(|(y, n)| format!("{y}0101000000{n:06}").parse().unwrap());
    prop_oneof![
        Just(MinionMsg::Heartbeat),
        Just(MinionMsg::GetEpochKey),
        jid.clone().prop_map(|jid| MinionMsg::JobStarted { jid }),
        (".{0,40}", ".{0,200}").prop_map(|(id, csr_pem)| MinionMsg::CertRequest { id, csr_pem }),
        (
            jid,
            "[a-z0-9.-]{1,20}",
            json_value(),
            any::<i32>(),
            any::<bool>()
        )
            .prop_map(|(jid, id, ret, retcode, success)| {
                MinionMsg::Return(JobReturn {
                    jid,
                    id,
                    fun: "test.arg".into(),
                    ret,
                    retcode,
                    success,
                    error: None,
                    started_ms: 1,
                    finished_ms: 2,
                })
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_message_survives_the_codec(msg in minion_msg()) {
        let body = encode(&msg).unwrap();
        prop_assert_eq!(decode::<MinionMsg>(&body).unwrap(), msg.clone());
        let frame = encode_frame(&msg).unwrap();
        let len = frame_len(frame[..4].try_into().unwrap()).unwrap();
        prop_assert_eq!(len, frame.len() - 4);
        prop_assert_eq!(decode::<MinionMsg>(&frame[4..]).unwrap(), msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<MinionMsg>(&bytes);
        let _ = decode::<brine_proto::MasterMsg>(&bytes);
    }

    #[test]
    fn lengths_over_the_limit_are_refused(extra in 1u32..1_000_000) {
        let len = MAX_FRAME_LEN as u32 + extra;
        prop_assert!(frame_len(len.to_be_bytes()).is_err());
    }

    #[test]
    fn arbitrary_targets_never_panic(text in ".{0,60}", kind in 0usize..9) {
        let types = [
            TargetType::Glob, TargetType::Pcre, TargetType::List, TargetType::Grain,
            TargetType::GrainPcre, TargetType::Compound, TargetType::Ipcidr,
            TargetType::Pillar, TargetType::PillarPcre,
        ];
        if let Ok(expr) = TargetExpr::parse(&text, types[kind]) {
            let grains = Map::new();
            let _ = expr.matches(&MinionFacts { id: "web1", grains: &grains, pillar: None });
        }
    }

    #[test]
    fn compound_targets_match_as_their_terms_say(expr in compound(), id in "(web|db)[12]", role in "(web|db)") {
        let mut grains = Map::new();
        grains.insert("role".into(), json!(role));
        let parsed = TargetExpr::parse(&expr.text, TargetType::Compound).unwrap();
        let facts = MinionFacts { id: &id, grains: &grains, pillar: None };
        prop_assert_eq!(parsed.matches(&facts), expr.eval(&id, &role), "{}", expr.text);
    }
}

/// A compound expression and a direct evaluator for it.
#[derive(Debug, Clone)]
struct Compound {
    text: String,
    eval_tree: Tree,
}

#[derive(Debug, Clone)]
enum Tree {
    Glob(String),
    Grain(String),
    List(Vec<String>),
    Not(Box<Tree>),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn text(&self) -> String {
        match self {
            Tree::Glob(g) => g.clone(),
            Tree::Grain(r) => format!("G@role:{r}"),
            Tree::List(ids) => format!("L@{}", ids.join(",")),
            Tree::Not(t) => format!("not ( {} )", t.text()),
            Tree::And(a, b) => format!("( {} and {} )", a.text(), b.text()),
            Tree::Or(a, b) => format!("( {} or {} )", a.text(), b.text()),
        }
    }
    fn eval(&self, id: &str, role: &str) -> bool {
        match self {
            Tree::Glob(g) => match g.strip_suffix('*') {
                Some(prefix) => id.starts_with(prefix),
                None => id == g,
            },
            Tree::Grain(r) => r == role,
            Tree::List(ids) => ids.iter().any(|i| i == id),
            Tree::Not(t) => !t.eval(id, role),
            Tree::And(a, b) => a.eval(id, role) && b.eval(id, role),
            Tree::Or(a, b) => a.eval(id, role) || b.eval(id, role),
        }
    }
}

impl Compound {
    fn eval(&self, id: &str, role: &str) -> bool {
        self.eval_tree.eval(id, role)
    }
}

fn compound() -> impl Strategy<Value = Compound> {
    let leaf = prop_oneof![
        "(web|db)[12*]".prop_map(Tree::Glob),
        "(web|db)".prop_map(Tree::Grain),
        prop::collection::vec("(web|db)[12]", 1..3).prop_map(Tree::List),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Tree::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Tree::Or(Box::new(a), Box::new(b))),
        ]
    })
    .prop_map(|t| Compound {
        text: t.text(),
        eval_tree: t,
    })
}
