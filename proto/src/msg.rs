//! Every message Brine sends.
//!
//! **Boundary:** these types are the wire format. Add fields with
//! `#[serde(default)]`; never rename or reuse one without bumping
//! [`crate::PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::targeting::TargetType;
use crate::JobId;

/// Grains as Salt shapes them: a JSON object of core and custom facts.
pub type Grains = Map<String, Value>;

/// A value wrapper used where a bare JSON value travels (tests, CLI replies).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payload(pub Value);

/// One job as the master publishes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub jid: JobId,
    /// Target expression as typed by the user (nodegroups already expanded).
    pub tgt: String,
    pub tgt_type: TargetType,
    /// `"mod.fun"`.
    pub fun: String,
    #[serde(default)]
    pub arg: Vec<Value>,
    #[serde(default)]
    pub kwarg: Map<String, Value>,
    /// Who asked for the job (unix user on the master, later API user).
    pub user: String,
    /// How long the caller waits for returns, in seconds.
    pub timeout: u64,
    /// Master id that published the job.
    pub master: String,
    /// Unix milliseconds at publication (master clock); used against replay.
    pub issued_ms: i64,
}

/// The error kinds a return can carry instead of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such `mod.fun` on this minion.
    UnknownFunction,
    /// Missing, extra or ill-typed arguments.
    BadArguments,
    /// The function ran and failed.
    ExecutionFailed,
    /// The function exceeded its timeout and was killed.
    Timeout,
    /// The function panicked; the minion survived.
    Panic,
    /// The job was killed by `saltutil.kill_job`.
    Killed,
    /// The minion restarted while the job ran: its outcome is unknown.
    Interrupted,
}

/// `proto::ErrorReturn`: what a minion says when a function could not give a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReturn {
    pub kind: ErrorKind,
    pub message: String,
}

/// One minion's answer to one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobReturn {
    pub jid: JobId,
    /// The id the minion claims; the master checks it against the certificate.
    pub id: String,
    pub fun: String,
    /// The function's value; when `error` is set, the text Salt would print
    /// for that error, so every output format shows it.
    pub ret: Value,
    /// Process-style exit code: 0 is success.
    pub retcode: i32,
    pub success: bool,
    #[serde(default)]
    pub error: Option<ErrorReturn>,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// Minion to master on the request port (4506), inside TLS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MinionMsg {
    /// On a connection without a client certificate: "please sign my key".
    CertRequest {
        id: String,
        csr_pem: String,
    },
    /// First message on a certificate-authenticated connection.
    Hello {
        version: String,
        /// Newest jid this minion has seen from this master, to replay missed jobs.
        #[serde(default)]
        last_jid: Option<JobId>,
    },
    /// Full grains, sent on connect and whenever they change.
    Grains {
        grains: Grains,
    },
    /// The minion has started a job (so the master can tell "running" from "silent").
    JobStarted {
        jid: JobId,
    },
    /// The minion finished a job.
    Return(JobReturn),
    /// The minion saw a publication under an epoch it has no key for.
    GetEpochKey,
    Heartbeat,
    /// Every file of `saltenv` on the master's file server, with its sha256.
    FileList {
        req: u64,
        saltenv: String,
    },
    /// Every directory of `saltenv` on the master's file server, empty ones
    /// included (`cp.list_master_dirs`, `file.recurse include_empty`).
    FileDirList {
        req: u64,
        saltenv: String,
    },
    /// One file from the master's file server. With `have_sha256` equal to
    /// the file's current hash, the reply carries no bytes.
    FileGet {
        req: u64,
        saltenv: String,
        path: String,
        #[serde(default)]
        have_sha256: Option<String>,
    },
    /// The environments of the master's file server.
    FileEnvs {
        req: u64,
    },
    /// This minion's pillar, compiled by the master (the id is the certificate's).
    PillarGet {
        req: u64,
        #[serde(default)]
        saltenv: Option<String>,
    },
    /// First message of a `brine-call` session (Salt's `salt-call` against
    /// its master), instead of `Hello`: file server, pillar and
    /// `CallReturn`, but no jobs, and the minion's own session (if its
    /// daemon runs) is left alone.
    CallHello {
        version: String,
    },
    /// A `brine-call` finished: the master records it in the job cache as a
    /// job of this minion alone and answers `CallRecorded` with its jid.
    CallReturn {
        req: u64,
        #[serde(default)]
        arg: Vec<Value>,
        #[serde(default)]
        kwarg: Map<String, Value>,
        ret: JobReturn,
        /// Who ran it: `schedule` for the minion's scheduled runs; absent
        /// (or anything else) is `brine-call`.
        #[serde(default)]
        user: Option<String>,
    },
    /// An event for the masters' event buses (`event.send`, a state's
    /// `fire_event`, a beacon). The master sets the sender's id from the
    /// certificate; `eid` (unique per minion) lets the masters of one
    /// cluster react to it once.
    Event {
        tag: String,
        #[serde(default)]
        data: Value,
        #[serde(default)]
        eid: Option<String>,
    },
    /// `mine.send`/`mine.update`: this minion's mine data, function name to
    /// value; `clear` replaces all of it instead of merging.
    MineSend {
        req: u64,
        data: Map<String, Value>,
        #[serde(default)]
        clear: bool,
    },
    /// `mine.delete`: forget one function's data (`None`: all of it).
    MineDelete {
        req: u64,
        #[serde(default)]
        fun: Option<String>,
    },
    /// `mine.get`: the mine data of `fun` for the minions `tgt` selects.
    MineGet {
        req: u64,
        tgt: String,
        fun: String,
        tgt_type: TargetType,
    },
}

/// Master to minion on the request port (4506), inside TLS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MasterMsg {
    /// Reply to `CertRequest` while the key waits for an operator.
    CertPending {
        fingerprint: String,
    },
    /// The key was rejected (or the id is denied: another key holds it).
    CertRejected {
        reason: String,
    },
    /// The key was accepted: here is the certificate and the CA that signed it.
    CertIssued {
        cert_pem: String,
        ca_pem: String,
    },
    /// Reply to `Hello`: the session is up.
    Welcome {
        master_id: String,
        /// Ed25519 public key that signs every publication of this master.
        #[serde(with = "serde_bytes")]
        signing_key: Vec<u8>,
        /// Master clock, for the replay window.
        now_ms: i64,
        epoch: EpochKey,
        /// The cluster this master belongs to (masters sharing one store):
        /// a minion hands a return spooled for a dead master of it to
        /// another, and runs a job two of them deliver once.
        #[serde(default)]
        cluster: Option<String>,
    },
    /// A new publication key (after a rotation, or on request).
    Epoch(EpochKey),
    /// A job delivered directly (missed while disconnected).
    Job(Job),
    /// The session ends: the key is no longer accepted.
    Refused {
        reason: String,
    },
    /// A return was refused for good (not this minion's job, no such job),
    /// and why: the minion drops it.
    ReturnRefused {
        jid: JobId,
        reason: String,
    },
    /// The return is committed to the master's store (or was already): the
    /// minion may forget it.
    ReturnAck {
        jid: JobId,
    },
    /// The master could not store the return now (disk full, store error):
    /// the minion keeps it and sends it again later.
    ReturnDeferred {
        jid: JobId,
        reason: String,
    },
    Heartbeat,
    /// Reply to `FileList`: `(path, sha256 hex)` pairs, sorted by path.
    FileListReply {
        req: u64,
        result: Result<Vec<(String, String)>, String>,
    },
    /// Reply to `FileDirList`: relative directory paths, sorted.
    FileDirListReply {
        req: u64,
        result: Result<Vec<String>, String>,
    },
    /// Reply to `FileEnvs`, sorted.
    FileEnvsReply {
        req: u64,
        envs: Vec<String>,
    },
    /// Reply to `FileGet`: `Ok(None)` when no root has the file.
    FileReply {
        req: u64,
        result: Result<Option<FileBlob>, String>,
    },
    /// Reply to `PillarGet`: the pillar and every error met compiling it.
    PillarReply {
        req: u64,
        pillar: Value,
        #[serde(default)]
        errors: Vec<String>,
    },
    /// Reply to `CallReturn`: the jid the call is recorded under.
    CallRecorded {
        req: u64,
        result: Result<JobId, String>,
    },
    /// Reply to `MineSend`, `MineDelete` and `MineGet` (for a get: minion
    /// id to value).
    MineReply {
        req: u64,
        result: Result<Value, String>,
    },
}

/// A file served by the master.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FileBlob {
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
    /// The bytes; `None` when the minion already holds this hash.
    #[serde(default, with = "serde_bytes")]
    pub data: Option<Vec<u8>>,
}

impl std::fmt::Debug for FileBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBlob")
            .field("sha256", &self.sha256)
            .field("len", &self.data.as_ref().map(Vec::len))
            .finish()
    }
}

/// A symmetric key for publications. Only accepted minions receive it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochKey {
    pub epoch: u64,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// What travels on the publish port (4505): a job, encrypted under an epoch
/// key and signed by the master. Everything here is public.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealedPublication {
    pub master: String,
    pub epoch: u64,
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
    /// Ed25519 over `master || epoch || nonce || ciphertext`.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// A key's standing with the master, as `brine-key` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Accepted,
    Pending,
    Rejected,
    Denied,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Accepted => "accepted",
            KeyState::Pending => "pending",
            KeyState::Rejected => "rejected",
            KeyState::Denied => "denied",
        }
    }
}

/// One row of `brine-key -L`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: String,
    pub state: KeyState,
    pub fingerprint: String,
}

/// What `brine-key` asks the master to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KeyCommand {
    List,
    /// Accept keys matching a glob (pending ones; `include_rejected` also rejected).
    Accept {
        glob: String,
        include_rejected: bool,
    },
    Reject {
        glob: String,
        include_accepted: bool,
    },
    Delete {
        glob: String,
    },
    /// Print fingerprints of matching keys.
    Finger {
        glob: String,
    },
}

/// Requests on the master's local CLI socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CliRequest {
    /// Publish a job and stream its returns until all expected minions
    /// answered or `timeout` passed.
    Publish {
        tgt: String,
        tgt_type: TargetType,
        fun: String,
        arg: Vec<Value>,
        kwarg: Map<String, Value>,
        timeout: Option<u64>,
        /// Return right after publishing (`--async`).
        #[serde(default)]
        detach: bool,
    },
    /// Which accepted minions a target selects, per the inventory.
    Resolve {
        tgt: String,
        tgt_type: TargetType,
    },
    Key(KeyCommand),
    /// A master-side runner: `jobs.lookup_jid`, `manage.status`...
    Runner {
        fun: String,
        arg: Vec<Value>,
        kwarg: Map<String, Value>,
    },
    /// Stream the master's events (`brine-run state.event`) whose tag
    /// matches the glob `tag` (all when `None`), until the caller hangs up.
    Events {
        #[serde(default)]
        tag: Option<String>,
    },
}

/// Why an expected minion gave no return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingReason {
    /// Not connected to this master when the job went out (or since).
    NotConnected,
    /// Connected, but nothing came back within the timeout.
    TimedOut,
    /// The minion started the job and had not finished by the timeout.
    StillRunning,
}

impl MissingReason {
    pub fn describe(self) -> &'static str {
        match self {
            MissingReason::NotConnected => "not connected",
            MissingReason::TimedOut => "timed out: connected but no answer within the timeout",
            MissingReason::StillRunning => "timed out: still running on the minion",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub id: String,
    pub reason: MissingReason,
}

/// A return the master received but could not commit to its store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unstored {
    pub id: String,
    pub error: String,
}

/// Replies on the master's local CLI socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CliReply {
    /// The job is out; these accepted minions match per the inventory.
    Published {
        jid: JobId,
        expected: Vec<String>,
    },
    /// No accepted minion matches: nothing was sent, no jid was assigned.
    NoMatch,
    Return(JobReturn),
    /// End of a publish stream.
    Done {
        missing: Vec<Missing>,
        /// Minions whose return arrived but could not be stored by the
        /// master (they keep it and send it again), with the store's error.
        #[serde(default)]
        unstored: Vec<Unstored>,
    },
    Minions {
        ids: Vec<String>,
    },
    Keys {
        keys: Vec<KeyEntry>,
        changed: Vec<String>,
        /// Fingerprint of the master's CA, what minions pin as `master_finger`.
        #[serde(default)]
        master_finger: String,
    },
    Value {
        value: Value,
    },
    Error {
        message: String,
    },
    /// One event of an `Events` stream.
    Event {
        tag: String,
        data: Value,
    },
    /// The caller read the stream too slowly: this many events were
    /// dropped for it (the master never waits on a slow reader).
    EventsMissed {
        count: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        msg: T,
    ) {
        let bytes = encode(&msg).unwrap();
        assert_eq!(decode::<T>(&bytes).unwrap(), msg);
    }

    #[test]
    fn file_server_messages_survive_the_codec() {
        round_trip(MinionMsg::FileGet {
            req: 7,
            saltenv: "base".into(),
            path: "a/b.txt".into(),
            have_sha256: Some("ab".into()),
        });
        round_trip(MinionMsg::FileEnvs { req: 3 });
        round_trip(MasterMsg::FileEnvsReply {
            req: 3,
            envs: vec!["base".into()],
        });
        round_trip(MinionMsg::PillarGet {
            req: 8,
            saltenv: None,
        });
        round_trip(MasterMsg::FileReply {
            req: 7,
            result: Ok(Some(FileBlob {
                sha256: "ab".into(),
                data: Some(vec![0, 1, 255]),
            })),
        });
        round_trip(MasterMsg::FileReply {
            req: 7,
            result: Ok(Some(FileBlob {
                sha256: "ab".into(),
                data: None,
            })),
        });
        round_trip(MasterMsg::FileListReply {
            req: 9,
            result: Err("no such environment 'dev'".into()),
        });
        round_trip(MasterMsg::PillarReply {
            req: 10,
            pillar: serde_json::json!({"k": [1, "v"]}),
            errors: vec![],
        });
    }

    #[test]
    fn file_bytes_travel_as_binary_not_as_an_array() {
        let data = vec![7u8; 1000];
        let bytes = encode(&MasterMsg::FileReply {
            req: 1,
            result: Ok(Some(FileBlob {
                sha256: String::new(),
                data: Some(data),
            })),
        })
        .unwrap();
        // msgpack bin: one byte per byte plus a small header, not one
        // marker per element.
        assert!(bytes.len() < 1100, "{}", bytes.len());
    }
}
