//! `brine TARGET FUNCTION [ARGS...] [key=value...]`: run a function on the
//! minions a target selects and print each answer as it arrives.
//!
//! Exit codes: 0 every expected minion answered with success; 1 an error
//! (bad target, master unreachable...); 2 no minion matched the target;
//! 11 a minion returned a non-zero retcode; 20 an expected minion did not
//! return (not connected, timed out or still running), which takes precedence.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use brine_cli::args::parse_call_args;
use brine_cli::batch::{batch_size, BatchWindow, Finish};
use brine_cli::client::{master_config, MasterClient};
use brine_cli::entry::ConfigDirArg;
use brine_cli::outargs::OutputArgs;
use brine_cli::output::{render_all, render_one, OutputOptions};
use brine_proto::targeting::TargetType;
use brine_proto::{CliReply, CliRequest, Missing, Unstored};
use clap::Parser;
use serde_json::Value;

// Exit codes as README documents them; 1 (an error) comes from `run_client`.
const EX_OK: u8 = 0;
const EX_NO_MATCH: u8 = 2;
const EX_RETCODE: u8 = 11;
const EX_MISSING: u8 = 20;
/// A minion returned but the master could not store the return (disk full).
const EX_UNSTORED: u8 = 21;

#[derive(Parser, Debug)]
#[command(
    name = "brine",
    version,
    about = "Run a function on the minions a target selects"
)]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// Seconds to wait for returns (default: the master's `timeout`, 5).
    #[arg(short = 't', long)]
    timeout: Option<u64>,
    /// TARGET is a regular expression on minion ids.
    #[arg(short = 'E', long = "pcre", group = "tgt_kind")]
    pcre: bool,
    /// TARGET is a comma-separated list of minion ids.
    #[arg(short = 'L', long = "list", group = "tgt_kind")]
    list: bool,
    /// TARGET is a grain match, `key:glob` (nested keys with ':').
    #[arg(short = 'G', long = "grain", group = "tgt_kind")]
    grain: bool,
    /// TARGET is a grain match with a regular expression.
    #[arg(short = 'P', long = "grain-pcre", group = "tgt_kind")]
    grain_pcre: bool,
    /// TARGET is a compound expression (`G@os:Debian and web*`).
    #[arg(short = 'C', long = "compound", group = "tgt_kind")]
    compound: bool,
    /// TARGET is an IP address or CIDR.
    #[arg(short = 'S', long = "ipcidr", group = "tgt_kind")]
    ipcidr: bool,
    /// TARGET is a pillar match, `key:glob`, against the pillar the master
    /// last compiled for each minion.
    #[arg(short = 'I', long = "pillar", group = "tgt_kind")]
    pillar: bool,
    /// TARGET is a pillar match with a regular expression.
    #[arg(short = 'J', long = "pillar-pcre", group = "tgt_kind")]
    pillar_pcre: bool,
    /// TARGET is a nodegroup from the master config.
    #[arg(short = 'N', long = "nodegroup", group = "tgt_kind")]
    nodegroup: bool,
    /// Publish, print the jid and exit without waiting.
    #[arg(long = "async")]
    async_: bool,
    /// Print the jid before the returns.
    #[arg(long)]
    show_jid: bool,
    /// Say what is happening: the jid, then who did not return and why.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Run on N minions (or N%) at a time.
    #[arg(short = 'b', long = "batch", alias = "batch-size")]
    batch: Option<String>,
    /// With -b: seconds to wait after a minion returns before its slot
    /// goes to the next one.
    #[arg(long = "batch-wait", value_name = "SECONDS", default_value_t = 0.0)]
    batch_wait: f64,
    #[command(flatten)]
    output: OutputArgs,
    /// Write the output to this file instead of stdout.
    #[arg(long = "out-file")]
    out_file: Option<PathBuf>,
    /// Print all returns at once, as one document, when the job is done.
    #[arg(long = "static")]
    static_: bool,
    /// Log level for this command.
    #[arg(short = 'l', long = "log-level", default_value = "warning")]
    log_level: String,
    /// Run through a master's HTTP API instead of its local socket
    /// (`https://master:8000`): no shell on the master needed.
    #[arg(long = "api", env = "BRINE_API")]
    api: Option<String>,
    /// The API token (`POST /login`), with --api.
    #[arg(long = "token", env = "BRINE_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The CA certificate the API's certificate must chain to (the
    /// master's `ca.crt`); unset: the system's trusted roots.
    #[arg(long = "api-ca", env = "BRINE_API_CA")]
    api_ca: Option<PathBuf>,
    /// An API user's client certificate (`brine-key --gen-api-cert`), with
    /// --api and --key: authenticates instead of --token.
    #[arg(long = "cert", env = "BRINE_API_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert.
    #[arg(long = "key", env = "BRINE_API_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// The target expression.
    target: String,
    /// `module.function`.
    function: String,
    /// Arguments: positional, or `key=value`. Options may follow them, as with
    /// Salt; an argument that starts with `-` goes after `--`.
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
}

impl Args {
    fn tgt_type(&self) -> TargetType {
        match () {
            _ if self.pcre => TargetType::Pcre,
            _ if self.list => TargetType::List,
            _ if self.grain => TargetType::Grain,
            _ if self.grain_pcre => TargetType::GrainPcre,
            _ if self.compound => TargetType::Compound,
            _ if self.ipcidr => TargetType::Ipcidr,
            _ if self.nodegroup => TargetType::Nodegroup,
            _ if self.pillar => TargetType::Pillar,
            _ if self.pillar_pcre => TargetType::PillarPcre,
            _ => TargetType::Glob,
        }
    }
}

struct Printer {
    opts: OutputOptions,
    sink: Box<dyn Write>,
    collected: Vec<(String, Value)>,
}

impl Printer {
    fn show(&mut self, id: &str, value: Value) {
        if self.opts.static_ {
            self.collected.push((id.to_string(), value));
        } else {
            let _ = write!(self.sink, "{}", render_one(&self.opts, id, &value));
            let _ = self.sink.flush();
        }
    }
    fn finish(&mut self) {
        if self.opts.static_ && !self.collected.is_empty() {
            let _ = write!(self.sink, "{}", render_all(&self.opts, &self.collected));
        }
        let _ = self.sink.flush();
    }
}

#[derive(Default)]
struct Outcome {
    matched: bool,
    nonzero: bool,
    missing: Vec<Missing>,
    unstored: Vec<Unstored>,
    /// Minions the jobs expected, and how many of them returned.
    expected: usize,
    returned: usize,
}

/// Ids listed by `-v` before the returns; beyond this only the count (a
/// fleet's worth of names helps nobody).
const VERBOSE_LIST_MAX: usize = 50;

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    if args.api.is_none() {
        args.config.check_or_exit("brine");
    }
    brine_cli::logging::check_level_or_exit("brine", &args.log_level);
    let _ = brine_cli::logging::init(&args.log_level, None);
    brine_cli::entry::run_client(run(args))
}

async fn run(args: Args) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let (arg, kwarg) = parse_call_args(&args.args);
    if let Some(url) = args.api.clone() {
        return run_remote(&args, &url, arg, kwarg).await;
    }
    let config = master_config(&args.config.config_dir)?;
    let socket = config.cli_socket();
    let mut opts = args.output.options(&args.function, args.static_);
    if args.out_file.is_some() {
        opts.color = args.output.force_color;
    }
    let sink: Box<dyn Write> = match &args.out_file {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut printer = Printer {
        opts,
        sink,
        collected: Vec::new(),
    };
    let tgt_type = args.tgt_type();

    let mut outcome = Outcome::default();
    match &args.batch {
        None => {
            run_one(
                &args,
                &socket,
                &args.target,
                tgt_type,
                &arg,
                &kwarg,
                &mut printer,
                &mut outcome,
            )
            .await?;
        }
        Some(spec) => {
            let reply = MasterClient::call(
                &socket,
                &CliRequest::Resolve {
                    tgt: args.target.clone(),
                    tgt_type,
                },
            )
            .await?;
            let ids = match reply {
                CliReply::Minions { ids } => ids,
                CliReply::Error { message } => bail!("{message}"),
                other => bail!("unexpected reply from the master: {other:?}"),
            };
            let size = batch_size(spec, ids.len()).map_err(anyhow::Error::msg)?;
            let wait = Duration::try_from_secs_f64(args.batch_wait)
                .map_err(|_| anyhow::anyhow!("invalid --batch-wait {}", args.batch_wait))?;
            run_batched(
                &args,
                &socket,
                BatchWindow::new(ids, size, wait),
                (&arg, &kwarg),
                &mut printer,
                &mut outcome,
            )
            .await?;
        }
    }
    printer.finish();
    if !outcome.matched {
        eprintln!("No minions matched the target. No command was sent, no jid was assigned.");
        return Ok(EX_NO_MATCH);
    }
    if args.verbose {
        eprintln!("-------------------------------------------");
        eprintln!("Summary");
        eprintln!("-------------------------------------------");
        for m in &outcome.missing {
            eprintln!("{}: {}", m.id, m.reason.describe());
        }
        eprintln!(
            "{}/{} returned in {:.2} s",
            outcome.returned,
            outcome.expected,
            started.elapsed().as_secs_f64()
        );
    }
    for u in &outcome.unstored {
        eprintln!(
            "{}: the return could not be stored by the master: {}",
            u.id, u.error
        );
    }
    Ok(if !outcome.unstored.is_empty() {
        EX_UNSTORED
    } else if !outcome.missing.is_empty() {
        EX_MISSING
    } else if outcome.nonzero {
        EX_RETCODE
    } else {
        EX_OK
    })
}

/// What a sub-job of a batch run reports to the driver.
enum BatchEvent {
    Published(usize),
    Return(Box<brine_proto::JobReturn>),
    Done {
        missing: Vec<Missing>,
        unstored: Vec<Unstored>,
    },
    NoMatch(Vec<String>),
    Failed(String),
}

/// Runs the job over a rolling window (`-b`): each minion set free by a
/// return is handed to the next minions at once, as a new job on its own
/// connection to the master.
async fn run_batched(
    args: &Args,
    socket: &std::path::Path,
    mut window: BatchWindow,
    (arg, kwarg): (&[Value], &serde_json::Map<String, Value>),
    printer: &mut Printer,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let total = window.total();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<BatchEvent>();
    loop {
        let start = window.take_startable(Instant::now());
        if !start.is_empty() {
            if !progress {
                eprintln!("Executing run on {start:?}");
            }
            let req = CliRequest::Publish {
                tgt: start.join(","),
                tgt_type: TargetType::List,
                fun: args.function.clone(),
                arg: arg.to_vec(),
                kwarg: kwarg.clone(),
                timeout: args.timeout,
                detach: false,
            };
            tokio::spawn(sub_job(socket.to_path_buf(), req, start, tx.clone()));
        }
        if window.is_finished() {
            break;
        }
        let event = match window.next_slot_at() {
            Some(at) => tokio::select! {
                e = events.recv() => e,
                _ = tokio::time::sleep_until(at.into()) => continue,
            },
            None => events.recv().await,
        };
        match event {
            None => bail!("the batch run lost its jobs"),
            Some(BatchEvent::Failed(message)) => bail!("{message}"),
            Some(BatchEvent::Published(n)) => {
                outcome.matched = true;
                outcome.expected += n;
            }
            Some(BatchEvent::NoMatch(ids)) => {
                for id in ids {
                    window.finished(&id, Finish::DidNotReturn);
                }
            }
            Some(BatchEvent::Return(ret)) => {
                outcome.returned += 1;
                let ok = ret.retcode == 0 && ret.success;
                if !ok {
                    outcome.nonzero = true;
                }
                window.finished(
                    &ret.id,
                    if ok {
                        Finish::Succeeded
                    } else {
                        Finish::Failed
                    },
                );
                printer.show(&ret.id, ret.ret);
            }
            Some(BatchEvent::Done { missing, unstored }) => {
                for u in &unstored {
                    window.finished(&u.id, Finish::Failed);
                }
                outcome.unstored.extend(unstored);
                for m in &missing {
                    window.finished(&m.id, Finish::DidNotReturn);
                    printer.show(
                        &m.id,
                        Value::String(format!("Minion did not return. [{}]", m.reason.describe())),
                    );
                }
                outcome.missing.extend(missing);
            }
        }
        if progress {
            eprint!(
                "\r\x1b[K[batch] {}/{total} done, {} running",
                window.done,
                window.running()
            );
        }
    }
    if progress {
        eprintln!();
    }
    eprintln!(
        "Batch run over {total} minions: {} succeeded, {} failed, {} did not return",
        total - window.failed.len() - window.missing.len(),
        window.failed.len(),
        window.missing.len()
    );
    if !window.failed.is_empty() {
        eprintln!("Failed: {}", window.failed.join(", "));
    }
    if !window.missing.is_empty() {
        eprintln!("Did not return: {}", window.missing.join(", "));
    }
    Ok(())
}

/// One job of a batch run, on its own connection: its events go to the
/// driver.
async fn sub_job(
    socket: PathBuf,
    req: CliRequest,
    ids: Vec<String>,
    tx: tokio::sync::mpsc::UnboundedSender<BatchEvent>,
) {
    let mut client = match MasterClient::request(&socket, &req).await {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(BatchEvent::Failed(format!("{e:#}")));
            return;
        }
    };
    loop {
        let event = match client.next().await {
            Ok(Some(CliReply::Published { expected, .. })) => {
                // those the master no longer knows count as not returned
                let gone: Vec<String> = ids
                    .iter()
                    .filter(|id| !expected.contains(id))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    let _ = tx.send(BatchEvent::NoMatch(gone));
                }
                BatchEvent::Published(expected.len())
            }
            Ok(Some(CliReply::Return(ret))) => BatchEvent::Return(Box::new(ret)),
            Ok(Some(CliReply::Done { missing, unstored })) => {
                let _ = tx.send(BatchEvent::Done { missing, unstored });
                return;
            }
            Ok(Some(CliReply::NoMatch)) => {
                let _ = tx.send(BatchEvent::NoMatch(ids));
                return;
            }
            Ok(Some(CliReply::Error { message })) => BatchEvent::Failed(message),
            Ok(Some(other)) => {
                BatchEvent::Failed(format!("unexpected reply from the master: {other:?}"))
            }
            Ok(None) => BatchEvent::Failed(
                "the master closed the connection before the job finished".into(),
            ),
            Err(e) => BatchEvent::Failed(format!("{e:#}")),
        };
        let failed = matches!(event, BatchEvent::Failed(_));
        if tx.send(event).is_err() || failed {
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_one(
    args: &Args,
    socket: &PathBuf,
    tgt: &str,
    tgt_type: TargetType,
    arg: &[Value],
    kwarg: &serde_json::Map<String, Value>,
    printer: &mut Printer,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let req = CliRequest::Publish {
        tgt: tgt.to_string(),
        tgt_type,
        fun: args.function.clone(),
        arg: arg.to_vec(),
        kwarg: kwarg.clone(),
        timeout: args.timeout,
        detach: args.async_,
    };
    let mut client = MasterClient::request(socket, &req).await?;
    while let Some(reply) = client.next().await? {
        match reply {
            CliReply::NoMatch => return Ok(()),
            CliReply::Error { message } => bail!("{message}"),
            CliReply::Published { jid, expected } => {
                outcome.matched = true;
                if args.async_ {
                    println!("Executed command with job ID: {jid}");
                    return Ok(());
                }
                if args.show_jid {
                    println!("jid: {jid}");
                }
                outcome.expected += expected.len();
                if args.verbose {
                    eprintln!("Executing job with jid {jid}");
                    eprintln!("-------------------------------------------");
                    if expected.len() <= VERBOSE_LIST_MAX {
                        eprintln!(
                            "Waiting for {} minion(s): {}",
                            expected.len(),
                            expected.join(", ")
                        );
                    } else {
                        eprintln!("Waiting for {} minions", expected.len());
                    }
                }
            }
            CliReply::Return(ret) => {
                outcome.returned += 1;
                if ret.retcode != 0 || !ret.success {
                    outcome.nonzero = true;
                }
                printer.show(&ret.id, ret.ret);
            }
            CliReply::Done { missing, unstored } => {
                for u in &unstored {
                    printer.show(
                        &u.id,
                        Value::String(format!(
                            "Minion returned, but the master could not store the return \
                             (the minion keeps it and sends it again): {}",
                            u.error
                        )),
                    );
                }
                outcome.unstored.extend(unstored);
                for m in &missing {
                    printer.show(
                        &m.id,
                        Value::String(format!("Minion did not return. [{}]", m.reason.describe())),
                    );
                }
                outcome.missing.extend(missing);
                return Ok(());
            }
            other => bail!("unexpected reply from the master: {other:?}"),
        }
    }
    bail!("the master closed the connection before the job finished")
}

/// `brine --api URL --token TOKEN TARGET FUNCTION ARGS`: the job goes
/// through the master's HTTP API (`POST /jobs`), the returns print as
/// they would locally, and the exit codes are the same.
async fn run_remote(
    args: &Args,
    url: &str,
    arg: Vec<Value>,
    kwarg: serde_json::Map<String, Value>,
) -> anyhow::Result<u8> {
    if args.batch.is_some() {
        bail!("--batch is not available with --api yet; run the batch on the master");
    }
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let client_cert = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        _ => None,
    };
    let token = args.token.clone();
    if token.is_none() && client_cert.is_none() {
        bail!("--api needs --token (or BRINE_API_TOKEN; POST /login gives one) or --cert and --key (brine-key --gen-api-cert)");
    }
    let body = serde_json::json!({
        "tgt": args.target,
        "tgt_type": args.tgt_type().as_str(),
        "fun": args.function,
        "arg": arg,
        "kwarg": kwarg,
        "timeout": args.timeout,
        "async": args.async_,
    });
    let endpoint = format!("{}/jobs", url.trim_end_matches('/'));
    let ca = match &args.api_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let (status, reply) = tokio::task::spawn_blocking(move || -> anyhow::Result<(u16, Value)> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        if let Some(pem) = &ca {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| anyhow::anyhow!("--api-ca: {e}"))?
                .to_owned();
            tls = tls.root_certs(RootCerts::Specific(std::sync::Arc::new(vec![cert])));
        }
        if let Some((cert, key)) = &client_cert {
            let cert = Certificate::from_pem(cert)
                .map_err(|e| anyhow::anyhow!("--cert: {e}"))?
                .to_owned();
            let key = ureq::tls::PrivateKey::from_pem(key)
                .map_err(|e| anyhow::anyhow!("--key: {e}"))?
                .to_owned();
            tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[cert], key)));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        let mut request = agent.post(&endpoint);
        if let Some(token) = &token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut resp = request
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .with_context(|| format!("cannot reach the API at {endpoint}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    })
    .await??;
    match status {
        200 => {}
        404 => {
            eprintln!("No minions matched the target. No command was sent, no jid was assigned.");
            return Ok(EX_NO_MATCH);
        }
        _ => bail!(
            "the API answered {status}: {}",
            reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or(&reply.to_string())
        ),
    }
    let jid = reply["jid"].as_str().unwrap_or_default();
    if args.async_ {
        println!("Executed command with job ID: {jid}");
        return Ok(EX_OK);
    }
    if args.show_jid {
        println!("jid: {jid}");
    }
    let mut opts = args.output.options(&args.function, args.static_);
    if args.out_file.is_some() {
        opts.color = args.output.force_color;
    }
    let sink: Box<dyn Write> = match &args.out_file {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut printer = Printer {
        opts,
        sink,
        collected: Vec::new(),
    };
    let empty = serde_json::Map::new();
    let returns = reply["returns"].as_object().unwrap_or(&empty);
    let mut nonzero = false;
    for (id, value) in returns {
        if reply["retcodes"][id].as_i64().unwrap_or(0) != 0 {
            nonzero = true;
        }
        printer.show(id, value.clone());
    }
    let missing = reply["missing"].as_array().cloned().unwrap_or_default();
    for m in &missing {
        let id = m["id"].as_str().unwrap_or_default();
        let reason = m["reason"].as_str().unwrap_or_default();
        printer.show(
            id,
            Value::String(format!("Minion did not return. [{reason}]")),
        );
    }
    printer.finish();
    Ok(if !missing.is_empty() {
        EX_MISSING
    } else if nonzero {
        EX_RETCODE
    } else {
        EX_OK
    })
}
