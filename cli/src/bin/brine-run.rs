//! `brine-run FUNCTION [ARGS...]`: master-side runners
//! (`jobs.lookup_jid`, `jobs.list_jobs`, `manage.status`, `manage.up`, `manage.down`,
//! `fileserver.update`, `fileserver.envs`, `fileserver.file_list`, `pillar.show_pillar`,
//! `state.orchestrate`, `state.event`, `event.send`).

use std::process::ExitCode;

use anyhow::bail;
use brine_cli::args::parse_call_args;
use brine_cli::client::{master_config, MasterClient};
use brine_cli::entry::ConfigDirArg;
use brine_cli::outargs::OutputArgs;
use brine_cli::output::{render_all, render_value};
use brine_proto::{CliReply, CliRequest};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "brine-run", version, about = "Run a master-side runner")]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    #[command(flatten)]
    output: OutputArgs,
    /// List the runners and exit.
    #[arg(short = 'd', long = "doc")]
    doc: bool,
    /// `runner.function`, e.g. jobs.lookup_jid.
    function: Option<String>,
    /// Arguments: positional ones, `key=value`, or `--key value` (after the
    /// function, `--group-by x` is `group_by=x`; `--out` still picks the
    /// outputter).
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

/// Turns `--key value` / `--key=value` / `--flag` after the function into
/// `key=value` arguments (dashes in the key become underscores, as Salt's
/// keyword names), except the output flags, which it returns.
fn split_flags(args: &[String]) -> anyhow::Result<(Vec<String>, Option<String>, Option<String>)> {
    let mut plain = Vec::new();
    let (mut out, mut indent) = (None, None);
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let Some(flag) = a.strip_prefix("--").filter(|f| !f.is_empty()) else {
            plain.push(a.clone());
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match it.peek() {
                // A following `key=value` is an argument of its own: the
                // flag is then a boolean.
                Some(next) if !next.starts_with("--") && !next.contains('=') => {
                    (flag.to_string(), it.next().unwrap().clone())
                }
                _ => (flag.to_string(), "True".to_string()),
            },
        };
        match key.as_str() {
            "out" | "output" => out = Some(value),
            "out-indent" | "out_indent" => indent = Some(value),
            _ => plain.push(format!("{}={value}", key.replace('-', "_"))),
        }
    }
    Ok((plain, out, indent))
}

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    args.config.check_or_exit("brine-run");
    let _ = brine_cli::logging::init("warning", None);
    brine_cli::entry::run_client(run(args))
}

async fn run(args: Args) -> anyhow::Result<u8> {
    if args.doc {
        let mut all: Vec<&(&str, &str)> = brine_master::runners::RUNNERS
            .iter()
            .chain(brine_master::cmdb::RUNNERS)
            .collect();
        all.sort();
        for (name, summary) in all {
            println!("{name}:\n    {summary}");
        }
        return Ok(0);
    }
    let Some(fun) = args.function.clone() else {
        bail!("missing FUNCTION (try brine-run -d for the list)");
    };
    let config = master_config(&args.config.config_dir)?;
    let (plain, out, indent) = split_flags(&args.args)?;
    let mut args = args;
    if let Some(out) = out {
        args.output.out = Some(out.parse().map_err(|e| anyhow::anyhow!("--out: {e}"))?);
    }
    if let Some(indent) = indent {
        args.output.out_indent = Some(
            indent
                .parse()
                .map_err(|_| anyhow::anyhow!("--out-indent must be a number"))?,
        );
    }
    let (arg, kwarg) = parse_call_args(&plain);
    if fun == "state.event" {
        return stream_events(&config, &arg, &kwarg).await;
    }
    let reply = MasterClient::call(
        &config.cli_socket(),
        &CliRequest::Runner {
            fun: fun.clone(),
            arg,
            kwarg,
        },
    )
    .await?;
    match reply {
        // Salt's runner return that names its outputter (the orchestrate
        // runner): `data` printed with it, `retcode` the exit code.
        CliReply::Value { value }
            if value.get("outputter").and_then(|o| o.as_str()) == Some("highstate")
                && value.get("data").is_some_and(|d| d.is_object()) =>
        {
            let opts = args.output.options("state.apply", true);
            let data: Vec<(String, serde_json::Value)> = value["data"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            print!("{}", render_all(&opts, &data));
            let retcode = value.get("retcode").and_then(|r| r.as_u64()).unwrap_or(0);
            Ok(u8::try_from(retcode).unwrap_or(1))
        }
        CliReply::Value { value } => {
            let opts = args.output.options(&fun, true);
            print!("{}", render_value(&opts, &value));
            Ok(0)
        }
        CliReply::Error { message } => bail!("{message}"),
        other => bail!("unexpected reply from the master: {other:?}"),
    }
}

/// `brine-run state.event [TAGMATCH] [count=N] [pretty=True] [quiet=True]`:
/// Salt's live event stream, a line per event (`tag<TAB>json`), until
/// interrupted or `count` events were printed.
async fn stream_events(
    config: &brine_master::MasterConfig,
    arg: &[serde_json::Value],
    kwarg: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<u8> {
    use std::io::Write;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let truthy = |k: &str| {
        kwarg.get(k).is_some_and(|v| {
            v.as_bool()
                .unwrap_or_else(|| text(v).eq_ignore_ascii_case("true"))
        })
    };
    let tag = arg
        .first()
        .or_else(|| kwarg.get("tagmatch"))
        .map(text)
        .filter(|t| t != "*");
    let count: i64 = match kwarg.get("count") {
        None => -1,
        Some(v) => text(v)
            .parse()
            .map_err(|_| anyhow::anyhow!("count must be a number, not {v}"))?,
    };
    let (pretty, quiet) = (truthy("pretty"), truthy("quiet"));
    let mut stream =
        MasterClient::request(&config.cli_socket(), &CliRequest::Events { tag }).await?;
    let mut seen = 0i64;
    let stdout = std::io::stdout();
    while count < 0 || seen < count {
        match stream.next().await? {
            None => bail!("the master closed the event stream"),
            Some(CliReply::Event { tag, data }) => {
                seen += 1;
                if quiet {
                    continue;
                }
                let body = if pretty {
                    serde_json::to_string_pretty(&data)?
                } else {
                    serde_json::to_string(&data)?
                };
                let mut out = stdout.lock();
                // A closed stdout (piped into head) ends the stream quietly.
                if writeln!(out, "{tag}\t{body}").and_then(|_| out.flush()).is_err() {
                    return Ok(0);
                }
            }
            Some(CliReply::EventsMissed { count }) => eprintln!(
                "brine-run: {count} events were dropped before this reader got them (it read too slowly)"
            ),
            Some(CliReply::Error { message }) => bail!("{message}"),
            Some(other) => bail!("unexpected reply from the master: {other:?}"),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::split_flags;

    #[test]
    fn flags_after_the_function_become_keyword_arguments() {
        let args: Vec<String> = [
            "G@os:Debian",
            "--fields",
            "id,os",
            "--group-by=os",
            "--out",
            "csv",
            "--all",
            "n=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (plain, out, indent) = split_flags(&args).unwrap();
        assert_eq!(
            plain,
            [
                "G@os:Debian",
                "fields=id,os",
                "group_by=os",
                "all=True",
                "n=1"
            ]
        );
        assert_eq!(out.as_deref(), Some("csv"));
        assert_eq!(indent, None);
    }
}
