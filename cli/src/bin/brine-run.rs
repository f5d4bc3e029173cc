//! `brine-run FUNCTION [ARGS...]`: master-side runners
//! (`jobs.lookup_jid`, `jobs.list_jobs`, `manage.status`, `manage.up`, `manage.down`,
//! `fileserver.update`, `fileserver.envs`, `fileserver.file_list`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use brine_cli::args::parse_call_args;
use brine_cli::client::{master_config, MasterClient};
use brine_cli::output::{
    format_for, parse_state_verbose, render_value, OutputFormat, OutputOptions, StateOutput,
};
use brine_proto::{CliReply, CliRequest};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "brine-run", version, about = "Run a master-side runner")]
struct Args {
    #[arg(
        short = 'c',
        long = "config-dir",
        default_value = "/etc/brine",
        env = "BRINE_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    /// Output format: nested, json, yaml, txt, raw (highstate is for the
    /// state functions).
    #[arg(long = "out", alias = "output")]
    out: Option<OutputFormat>,
    #[arg(long = "out-indent")]
    out_indent: Option<usize>,
    /// `highstate` output: full, terse, mixed or changes (`_id` suffix: the
    /// state ID in place of its name).
    #[arg(long = "state-output", alias = "state_output", default_value = "full")]
    state_output: StateOutput,
    /// `highstate` output: `false` hides states that succeeded without changes.
    #[arg(
        long = "state-verbose",
        alias = "state_verbose",
        default_value = "true",
        value_parser = parse_state_verbose,
        action = clap::ArgAction::Set
    )]
    state_verbose: bool,
    #[arg(long = "no-color")]
    no_color: bool,
    #[arg(long = "force-color")]
    force_color: bool,
    /// List the runners and exit.
    #[arg(short = 'd', long = "doc")]
    doc: bool,
    /// `runner.function`, e.g. jobs.lookup_jid.
    function: Option<String>,
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = brine_cli::logging::init("warning", None);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<u8> {
    if args.doc {
        for (name, summary) in brine_master::runners::RUNNERS {
            println!("{name}:\n    {summary}");
        }
        return Ok(0);
    }
    let Some(fun) = args.function.clone() else {
        bail!("missing FUNCTION (try brine-run -d for the list)");
    };
    let config = master_config(&args.config_dir)?;
    let (arg, kwarg) = parse_call_args(&args.args);
    let reply = MasterClient::call(
        &config.cli_socket(),
        &CliRequest::Runner {
            fun: fun.clone(),
            arg,
            kwarg,
        },
    )
    .await?;
    let format = format_for(args.out, &fun);
    let mut opts = OutputOptions::detect(format, args.no_color, args.force_color, true);
    opts.indent = args.out_indent;
    opts.state_output = args.state_output;
    opts.state_verbose = args.state_verbose;
    match reply {
        CliReply::Value { value } => {
            print!("{}", render_value(&opts, &value));
            Ok(0)
        }
        CliReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected reply from the master: {other:?}"),
    }
}
