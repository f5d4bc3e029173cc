//! `brine-master`: parse flags, load config, start logging, run.

use anyhow::Context;
use brine_cli::entry::ConfigDirArg;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "brine-master", version, about = "The Brine master daemon")]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// Log level: error, warning, info, debug, trace (overrides log_level).
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    /// Read a password on standard input and print its argon2 hash, for
    /// `api_users: NAME: password_hash:` in the master config; then exit.
    #[arg(long = "hash-password")]
    hash_password: bool,
    /// Internal: run as a publisher process of a master (started by the
    /// master itself, with the publish socket as descriptor 3).
    #[arg(long, hide = true)]
    publisher_child: bool,
}

fn main() -> std::process::ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    if args.publisher_child {
        return match brine_master::publisher::child_main() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("brine-master (publisher): {error}");
                std::process::ExitCode::from(1)
            }
        };
    }
    if args.hash_password {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err()
            || line.trim_end_matches(['\r', '\n']).is_empty()
        {
            eprintln!("brine-master: --hash-password reads the password on standard input");
            return std::process::ExitCode::from(64);
        }
        return match brine_master::auth::password::hash(line.trim_end_matches(['\r', '\n'])) {
            Ok(h) => {
                println!("{h}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("brine-master: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    args.config.check_or_exit("brine-master");
    if let Some(level) = &args.log_level {
        brine_cli::logging::check_level_or_exit("brine-master", level);
    }
    let config = match brine_master::MasterConfig::load(&args.config.config_dir) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("brine-master: {error}");
            return std::process::ExitCode::from(64);
        }
    };
    let level = args
        .log_level
        .clone()
        .unwrap_or_else(|| config.log_level.clone());
    if let Err(error) = brine_cli::logging::init_daemon(
        &level,
        config
            .log_file
            .as_deref()
            .map(|f| (f, config.log_level_logfile.as_deref().unwrap_or(&level))),
    ) {
        eprintln!("brine-master: {error:#}");
        return std::process::ExitCode::from(1);
    }
    let log_to_file = config.log_file.is_some();
    match run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Once on stderr (the console log leaves it out), and in the
            // log file when there is one.
            if log_to_file {
                tracing::error!(target: brine_cli::logging::LOGFILE_ONLY, error = %format!("{error:#}"), "master failed");
            }
            eprintln!("brine-master: {error:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(config: brine_master::MasterConfig) -> anyhow::Result<()> {
    brine_master::memory::limit_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        // Pillar templates get the minion's function table, run here.
        let functions: brine_master::state::PillarFunctions = std::sync::Arc::new(|id, grains| {
            Box::new(brine_minion::caller::for_master_pillar(id, grains))
        });
        // The publish port's connections live in publisher processes of
        // this same program (ARCHITECTURE.md: descriptors).
        let layout = match (config.publisher_processes, std::env::current_exe()) {
            (0, _) => brine_master::publisher::Layout::InProcess,
            (count, Ok(exe)) => brine_master::publisher::Layout::Children {
                exe,
                args: vec!["--publisher-child".into()],
                count,
            },
            (_, Err(error)) => {
                tracing::warn!(%error, "cannot find this program; publishing from the master process");
                brine_master::publisher::Layout::InProcess
            }
        };
        brine_master::run_with(
            config,
            brine_cli::entry::shutdown_signal(),
            Some(functions),
            layout,
        )
        .await?;
        Ok(())
    })
}
