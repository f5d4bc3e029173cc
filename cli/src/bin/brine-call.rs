//! `brine-call [--local] FUNCTION [ARGS...]`: run a function on this machine
//! directly, with the minion's config, grains and modules. Without
//! `--local` (and unless the config says `file_client: local`), as Salt's
//! `salt-call`: `salt://` files and pillar come from the master, and the
//! return is recorded in the master's job cache.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use brine_cli::args::parse_call_args;
use brine_cli::entry::ConfigDirArg;
use brine_cli::outargs::OutputArgs;
use brine_cli::output::render_one;
use brine_minion::config::MinionConfig;
use brine_minion::exec::Executor;
use brine_minion::grains::GrainsHandle;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "brine-call",
    version,
    about = "Run a function on this minion directly"
)]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// Run without contacting a master (masterless), as with `file_client:
    /// local` in the config or --file-root/--pillar-root. Otherwise files
    /// and pillar come from the master and the return goes to its job cache.
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    output: OutputArgs,
    /// Exit with the function's own retcode.
    #[arg(long = "retcode-passthrough")]
    retcode_passthrough: bool,
    #[arg(short = 'l', long = "log-level", default_value = "warning")]
    log_level: String,
    /// Serve `salt://` from this directory (masterless `file_roots: {base: [DIR]}`).
    #[arg(long = "file-root")]
    file_root: Option<PathBuf>,
    /// Read pillar from this directory (`pillar_roots: {base: [DIR]}`).
    #[arg(long = "pillar-root")]
    pillar_root: Option<PathBuf>,
    /// List the functions this minion offers, with their documentation.
    #[arg(short = 'd', long = "doc")]
    doc: bool,
    /// `module.function`.
    function: Option<String>,
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    args.config.check_or_exit("brine-call");
    brine_cli::logging::check_level_or_exit("brine-call", &args.log_level);
    let _ = brine_cli::logging::init(&args.log_level, None);
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> anyhow::Result<u8> {
    if args.doc {
        print!("{}", brine_minion::registry::render_docs());
        return Ok(0);
    }
    let fun = args
        .function
        .clone()
        .ok_or_else(|| anyhow!("missing FUNCTION (try brine-call -d for the list)"))?;
    let mut config = MinionConfig::load(&args.config.config_dir).map_err(|e| anyhow!("{e}"))?;
    if let Some(dir) = &args.file_root {
        config.file_roots = single_root(dir)?;
    }
    if let Some(dir) = &args.pillar_root {
        config.pillar_roots = single_root(dir)?;
    }
    if args.local || args.file_root.is_some() || args.pillar_root.is_some() {
        config.file_client = "local".into();
    }
    let config = Arc::new(config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let (arg, kwarg) = parse_call_args(&args.args);
    let masterless = config.file_client == "local";
    let ret = rt.block_on(async {
        let grains = GrainsHandle::load(&config);
        if masterless {
            let executor = Executor::new(config.clone(), grains);
            return Ok(executor.call(&fun, arg, kwarg).await);
        }
        let session = brine_minion::call_session::connect(config.clone(), grains).await?;
        let ret = session
            .executor
            .call(&fun, arg.clone(), kwarg.clone())
            .await;
        match session.client.record_call(arg, kwarg, ret.clone()).await {
            Ok(jid) => tracing::info!(%jid, master = %session.master, "return recorded in the master's job cache"),
            Err(error) => eprintln!("Warning: the return was not recorded on the master: {error}"),
        }
        anyhow::Ok(ret)
    })?;
    let opts = args.output.options(&fun, true);
    print!("{}", render_one(&opts, "local", &ret.ret));
    let code = if args.retcode_passthrough {
        ret.retcode.clamp(0, 255) as u8
    } else if ret.success {
        0
    } else {
        1
    };
    Ok(code)
}

/// `{base: [DIR]}` for `--file-root`/`--pillar-root`, made absolute.
fn single_root(dir: &std::path::Path) -> anyhow::Result<serde_yaml::Value> {
    let abs = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    let text = format!("base: [{:?}]", abs.display().to_string());
    serde_yaml::from_str(&text).context("building file roots")
}
