//! `brine-key`: list, accept, reject and delete minion keys on the master;
//! export and import the master's CA for a cluster of masters.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use brine_cli::client::{master_config, MasterClient};
use brine_cli::entry::ConfigDirArg;
use brine_cli::output::{render_value, OutputFormat, OutputOptions};
use brine_master::MasterConfig;
use brine_pki::cluster_ca::{CaBundle, Installed};
use brine_proto::minion_id::display_id;
use brine_proto::{CliReply, CliRequest, KeyCommand, KeyEntry, KeyState};
use clap::Parser;
use serde_json::{json, Map, Value};

#[derive(Parser, Debug)]
#[command(group = clap::ArgGroup::new("ca_action").args(["export_ca", "import_ca"]))]
#[command(
    name = "brine-key",
    version,
    about = "Manage minion keys on the master"
)]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// List every key: accepted, pending, rejected, denied, with fingerprints.
    #[arg(short = 'L', long = "list-all")]
    list_all: bool,
    /// List keys in one state: acc, pre (pending), rej, den, all.
    #[arg(short = 'l', long = "list")]
    list: Option<String>,
    /// Accept the pending key(s) matching this glob.
    #[arg(short = 'a', long = "accept")]
    accept: Option<String>,
    /// Accept every pending key.
    #[arg(short = 'A', long = "accept-all")]
    accept_all: bool,
    /// Reject the pending key(s) matching this glob.
    #[arg(short = 'r', long = "reject")]
    reject: Option<String>,
    /// Reject every pending key.
    #[arg(short = 'R', long = "reject-all")]
    reject_all: bool,
    /// Delete the key(s) matching this glob (any state).
    #[arg(short = 'd', long = "delete")]
    delete: Option<String>,
    /// Delete every key.
    #[arg(short = 'D', long = "delete-all")]
    delete_all: bool,
    /// Print the fingerprint of the key(s) matching this glob.
    #[arg(short = 'f', long = "finger")]
    finger: Option<String>,
    /// Print every fingerprint.
    #[arg(short = 'F', long = "finger-all")]
    finger_all: bool,
    /// Answer yes to every question.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Accepting also takes rejected keys.
    #[arg(long = "include-rejected")]
    include_rejected: bool,
    /// Rejecting also takes accepted keys.
    #[arg(long = "include-accepted")]
    include_accepted: bool,
    /// Also accept/reject everything (both of the above).
    #[arg(long = "include-all")]
    include_all: bool,
    #[arg(long = "out")]
    out: Option<OutputFormat>,
    /// Write this master's CA certificate and private key to FILE, one PEM
    /// bundle created with mode 0600, for the other masters of a cluster
    /// ('-': standard output). The master need not be running.
    #[arg(long = "export-ca", value_name = "FILE", conflicts_with = "import_ca")]
    export_ca: Option<PathBuf>,
    /// Make the CA bundle FILE (from --export-ca on another master) this
    /// master's CA ('-': standard input); restart the master afterwards.
    #[arg(long = "import-ca", value_name = "FILE")]
    import_ca: Option<PathBuf>,
    /// With --export-ca: overwrite FILE. With --import-ca: replace a
    /// different CA (the old ca.crt and ca.key are kept as backups).
    #[arg(long = "force", requires = "ca_action")]
    force: bool,
    /// Issue API user USER (of api_users) a client certificate from the
    /// master's CA: writes USER.crt and USER.key (0600). The master must run.
    #[arg(long = "gen-api-cert", value_name = "USER")]
    gen_api_cert: Option<String>,
    /// With --gen-api-cert: days the certificate lasts (default 365).
    #[arg(long = "days", requires = "gen_api_cert")]
    days: Option<u32>,
    /// With --gen-api-cert: the directory to write to (default: the current one).
    #[arg(long = "out-dir", value_name = "DIR", requires = "gen_api_cert")]
    out_dir: Option<PathBuf>,
    /// List the API client certificates issued (serial, user, validity, revoked).
    #[arg(long = "list-api-certs")]
    list_api_certs: bool,
    /// Revoke the API client certificate with this serial, or every one of this user.
    #[arg(long = "revoke-api-cert", value_name = "SERIAL|USER")]
    revoke_api_cert: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    args.config.check_or_exit("brine-key");
    let _ = brine_cli::logging::init("warning", None);
    brine_cli::entry::run_client(run(args))
}

/// Salt's section titles and JSON keys, in Salt's order.
const SECTIONS: &[(KeyState, &str, &str)] = &[
    (KeyState::Accepted, "Accepted Keys:", "minions"),
    (KeyState::Denied, "Denied Keys:", "minions_denied"),
    (KeyState::Pending, "Unaccepted Keys:", "minions_pre"),
    (KeyState::Rejected, "Rejected Keys:", "minions_rejected"),
];

async fn run(args: Args) -> anyhow::Result<u8> {
    let config = master_config(&args.config.config_dir)?;
    if let Some(file) = &args.export_ca {
        return export_ca(&config, file, args.force);
    }
    if let Some(file) = &args.import_ca {
        return import_ca(&config, file, args.force);
    }
    let socket = config.cli_socket();
    if let Some(user) = &args.gen_api_cert {
        let dir = args.out_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        return brine_cli::api_certs::generate(&socket, user, args.days, &dir).await;
    }
    if args.list_api_certs {
        let json = matches!(args.out, Some(OutputFormat::Json));
        return brine_cli::api_certs::list(&socket, json).await;
    }
    if let Some(what) = &args.revoke_api_cert {
        return brine_cli::api_certs::revoke(&socket, what).await;
    }
    let inc_rej = args.include_rejected || args.include_all;
    let inc_acc = args.include_accepted || args.include_all;
    let (cmd, verb, from): (KeyCommand, &str, Vec<KeyState>) = if let Some(g) = &args.accept {
        (accept(g, inc_rej), "accepted", accept_from(inc_rej))
    } else if args.accept_all {
        (accept("*", inc_rej), "accepted", accept_from(inc_rej))
    } else if let Some(g) = &args.reject {
        (reject(g, inc_acc), "rejected", reject_from(inc_acc))
    } else if args.reject_all {
        (reject("*", inc_acc), "rejected", reject_from(inc_acc))
    } else if let Some(g) = &args.delete {
        (
            KeyCommand::Delete { glob: g.clone() },
            "deleted",
            all_states(),
        )
    } else if args.delete_all {
        (
            KeyCommand::Delete { glob: "*".into() },
            "deleted",
            all_states(),
        )
    } else if let Some(g) = &args.finger {
        return list(
            &socket,
            KeyCommand::Finger { glob: g.clone() },
            &args,
            None,
            true,
        )
        .await;
    } else if args.finger_all {
        return list(
            &socket,
            KeyCommand::Finger { glob: "*".into() },
            &args,
            None,
            true,
        )
        .await;
    } else if let Some(which) = &args.list {
        let state = match which.as_str() {
            "acc" | "accepted" => Some(KeyState::Accepted),
            "pre" | "un" | "unaccepted" | "pending" => Some(KeyState::Pending),
            "rej" | "rejected" => Some(KeyState::Rejected),
            "den" | "denied" => Some(KeyState::Denied),
            "all" => None,
            other => bail!("unknown key state '{other}': use acc, pre, rej, den or all"),
        };
        return list(&socket, KeyCommand::List, &args, state, false).await;
    } else {
        let _ = args.list_all;
        return list(&socket, KeyCommand::List, &args, None, false).await;
    };
    let glob = match &cmd {
        KeyCommand::Accept { glob, .. }
        | KeyCommand::Reject { glob, .. }
        | KeyCommand::Delete { glob } => glob.clone(),
        _ => unreachable!("only changing commands reach here"),
    };
    // Show what will change and ask, as salt-key does.
    let current = match MasterClient::call(
        &socket,
        &CliRequest::Key(KeyCommand::Finger { glob: glob.clone() }),
    )
    .await?
    {
        CliReply::Keys { keys, .. } => keys,
        CliReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected reply from the master: {other:?}"),
    };
    let targets: Vec<&KeyEntry> = current.iter().filter(|k| from.contains(&k.state)).collect();
    if targets.is_empty() {
        eprintln!(
            "The key glob '{glob}' does not match any {} keys.",
            describe_states(&from)
        );
        return Ok(1);
    }
    if !args.yes {
        println!("The following keys are going to be {verb}:");
        print_sections(
            &targets.iter().map(|k| (*k).clone()).collect::<Vec<_>>(),
            None,
            false,
        );
        print!("Proceed? [n/Y] ");
        std::io::stdout().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        let a = answer.trim().to_lowercase();
        if !(a.is_empty() || a == "y" || a == "yes") {
            return Ok(1);
        }
    }
    match MasterClient::call(&socket, &CliRequest::Key(cmd)).await? {
        CliReply::Keys { changed, .. } => {
            let word = match verb {
                "accepted" => "Accepted",
                "rejected" => "Rejected",
                _ => "Deleted",
            };
            for id in &changed {
                println!("Key for minion {} {word}.", display_id(id));
            }
            Ok(0)
        }
        CliReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected reply from the master: {other:?}"),
    }
}

fn accept(glob: &str, include_rejected: bool) -> KeyCommand {
    KeyCommand::Accept {
        glob: glob.to_string(),
        include_rejected,
    }
}

fn reject(glob: &str, include_accepted: bool) -> KeyCommand {
    KeyCommand::Reject {
        glob: glob.to_string(),
        include_accepted,
    }
}

fn accept_from(inc_rej: bool) -> Vec<KeyState> {
    let mut v = vec![KeyState::Pending];
    if inc_rej {
        v.push(KeyState::Rejected);
    }
    v
}

fn reject_from(inc_acc: bool) -> Vec<KeyState> {
    let mut v = vec![KeyState::Pending];
    if inc_acc {
        v.push(KeyState::Accepted);
    }
    v
}

fn all_states() -> Vec<KeyState> {
    vec![
        KeyState::Accepted,
        KeyState::Pending,
        KeyState::Rejected,
        KeyState::Denied,
    ]
}

fn describe_states(states: &[KeyState]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

async fn list(
    socket: &PathBuf,
    cmd: KeyCommand,
    args: &Args,
    only: Option<KeyState>,
    fingers: bool,
) -> anyhow::Result<u8> {
    let (keys, master_finger) = match MasterClient::call(socket, &CliRequest::Key(cmd)).await? {
        CliReply::Keys {
            keys,
            master_finger,
            ..
        } => (keys, master_finger),
        CliReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected reply from the master: {other:?}"),
    };
    match args.out {
        Some(format) if format != OutputFormat::Nested => {
            let opts = OutputOptions::detect(format, true, false, true);
            // JSON and YAML escape what they print; the plain formats get
            // escaped ids.
            let keys: Vec<KeyEntry> = match format {
                OutputFormat::Json | OutputFormat::Yaml => keys,
                _ => keys
                    .into_iter()
                    .map(|mut k| {
                        k.id = display_id(&k.id);
                        k
                    })
                    .collect(),
            };
            let mut doc = keys_document(&keys, only, fingers);
            if fingers {
                doc["local"] = json!({ "master_ca.crt": master_finger });
            }
            print!("{}", render_value(&opts, &doc));
        }
        _ => {
            if fingers {
                println!("Local Keys:\nmaster_ca.crt:  {master_finger}");
            }
            print_sections(&keys, only, true)
        }
    }
    Ok(0)
}

/// Salt's `salt-key --out json` shape (`minions`, `minions_pre`, ...); with
/// `-f`/`-F` each section maps id to fingerprint, else lists ids, and
/// `fingerprints` carries them alongside.
fn keys_document(keys: &[KeyEntry], only: Option<KeyState>, fingers: bool) -> Value {
    let mut doc = Map::new();
    let mut fps = Map::new();
    for (state, _, name) in SECTIONS {
        if only.is_some_and(|o| o != *state) {
            continue;
        }
        let in_state = keys.iter().filter(|k| k.state == *state);
        if fingers {
            let m: Map<String, Value> = in_state
                .map(|k| (k.id.clone(), json!(k.fingerprint)))
                .collect();
            doc.insert((*name).to_string(), Value::Object(m));
        } else {
            let ids: Vec<Value> = in_state
                .map(|k| {
                    fps.insert(k.id.clone(), json!(k.fingerprint));
                    json!(k.id)
                })
                .collect();
            doc.insert((*name).to_string(), Value::Array(ids));
        }
    }
    if !fingers {
        doc.insert("fingerprints".into(), Value::Object(fps));
    }
    Value::Object(doc)
}

fn print_sections(keys: &[KeyEntry], only: Option<KeyState>, with_fp: bool) {
    for (state, title, _) in SECTIONS {
        if only.is_some_and(|o| o != *state) {
            continue;
        }
        let in_state: Vec<_> = keys.iter().filter(|k| k.state == *state).collect();
        if in_state.is_empty() && !with_fp {
            continue;
        }
        println!("{title}");
        for k in in_state {
            // An id is one line, whatever it holds: control characters
            // (a newline, an ANSI escape) are shown escaped.
            if with_fp {
                println!("{}  {}", display_id(&k.id), k.fingerprint);
            } else {
                println!("{}", display_id(&k.id));
            }
        }
    }
}

/// `--export-ca FILE`: this master's CA as one PEM bundle (mode 0600).
fn export_ca(config: &MasterConfig, file: &Path, force: bool) -> anyhow::Result<u8> {
    let bundle = CaBundle::from_pki_dir(&config.pki_dir)?;
    if file == Path::new("-") {
        print!("{}", bundle.to_pem());
        std::io::stdout().flush().context("writing the bundle")?;
        eprintln!("CA fingerprint: {}", bundle.fingerprint());
        return Ok(0);
    }
    bundle.write_to(file, force)?;
    println!(
        "Exported this master's CA ({}) from {} to {} (mode 0600).",
        bundle.subject(),
        config.pki_dir.display(),
        file.display()
    );
    println!("CA fingerprint: {}", bundle.fingerprint());
    println!(
        "The file holds the CA's private key: copy it only to the other masters of the cluster, \
         over a secure channel, run `brine-key --import-ca FILE` there, then delete every copy."
    );
    println!(
        "Minions pin the fingerprint above (master_finger) for every master. Each master keeps \
         its own master.crt and publication signing key (master_sign.key): they are not in the file."
    );
    Ok(0)
}

/// `--import-ca FILE`: checks the bundle and installs it as this master's CA.
fn import_ca(config: &MasterConfig, file: &Path, force: bool) -> anyhow::Result<u8> {
    let (text, origin) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the bundle from standard input")?;
        (text, "standard input".to_string())
    } else {
        (
            brine_pki::files::read_secret_file(file)?,
            file.display().to_string(),
        )
    };
    let bundle = CaBundle::parse(&text, &origin)?;
    let pki_dir = &config.pki_dir;
    let outcome = bundle.install(pki_dir, force)?;
    match &outcome {
        Installed::Unchanged => {
            println!(
                "This master already has this CA ({}) in {}; nothing changed.",
                bundle.subject(),
                pki_dir.display()
            );
            println!("CA fingerprint: {}", bundle.fingerprint());
            return Ok(0);
        }
        Installed::New => println!(
            "Imported the CA ({}) from {origin} into {} (ca.crt, and ca.key with mode 0600).",
            bundle.subject(),
            pki_dir.display()
        ),
        Installed::Replaced { previous, backups } => {
            println!(
                "Imported the CA ({}) from {origin} into {}, replacing {}.",
                bundle.subject(),
                pki_dir.display(),
                match previous {
                    Some(fp) if fp == bundle.fingerprint() => "a damaged ca.key".to_string(),
                    Some(fp) => format!("the CA with fingerprint {fp}"),
                    None => "a ca.key without its ca.crt".to_string(),
                }
            );
            for b in backups {
                println!("Kept the old file as {}", b.display());
            }
            if previous.as_deref() != Some(bundle.fingerprint()) {
                println!(
                    "Certificates the old CA issued are no longer valid here, and minions that \
                     pinned it refuse this master: give them the new master_finger below (and \
                     remove their minion.crt so they ask for a new certificate)."
                );
            }
        }
    }
    println!("CA fingerprint: {}", bundle.fingerprint());
    let running = std::os::unix::net::UnixStream::connect(config.cli_socket()).is_ok();
    println!(
        "Next: {} brine-master with this config so that it uses this CA.",
        if running {
            "restart the running"
        } else {
            "start (or restart)"
        }
    );
    println!(
        "Certificates issued by any master sharing this CA are then valid here; minions pin \
         master_finger: {} for every master of the cluster.",
        bundle.fingerprint()
    );
    println!(
        "Unless the masters share one store, accept each minion's key here too (brine-key -a ID)."
    );
    Ok(0)
}
