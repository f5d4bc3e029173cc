//! `brine-minion`: parse flags, load config, start logging, run.

use std::process::ExitCode;

use brine_cli::entry::ConfigDirArg;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "brine-minion", version, about = "The Brine minion daemon")]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// Log level: error, warning, info, debug, trace (overrides log_level).
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    args.config.check_or_exit("brine-minion");
    if let Some(level) = &args.log_level {
        brine_cli::logging::check_level_or_exit("brine-minion", level);
    }
    let config = match brine_minion::config::MinionConfig::load(&args.config.config_dir) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("brine-minion: {error}");
            return ExitCode::from(64);
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
        eprintln!("brine-minion: {error:#}");
        return ExitCode::from(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("brine-minion: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let log_to_file = config.log_file.is_some();
    match rt.block_on(brine_minion::daemon::run(
        config,
        brine_cli::entry::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if log_to_file {
                tracing::error!(target: brine_cli::logging::LOGFILE_ONLY, %error, "minion failed");
            }
            eprintln!("brine-minion: {error}");
            ExitCode::from(1)
        }
    }
}
