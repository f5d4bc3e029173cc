//! The output flags `brine`, `brine-call` and `brine-run` share (Salt's
//! `--out`, `--out-indent`, `--state-output`, `--state-verbose`, colour).

use crate::output::{format_for, parse_state_verbose, OutputFormat, OutputOptions, StateOutput};

#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format: nested, json, yaml, txt, raw, highstate, table, csv
    /// (default: highstate for the state functions, nested for the others).
    #[arg(long = "out", alias = "output")]
    pub out: Option<OutputFormat>,
    /// Indentation for json output.
    #[arg(long = "out-indent")]
    pub out_indent: Option<usize>,
    /// `highstate` output: full, terse, mixed or changes (`_id` suffix: the
    /// state ID in place of its name).
    #[arg(long = "state-output", alias = "state_output", default_value = "full")]
    pub state_output: StateOutput,
    /// `highstate` output: `false` hides states that succeeded without changes.
    #[arg(
        long = "state-verbose",
        alias = "state_verbose",
        default_value = "true",
        value_parser = parse_state_verbose,
        action = clap::ArgAction::Set
    )]
    pub state_verbose: bool,
    /// No colour even on a terminal (also: the NO_COLOR variable).
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Colour even when not on a terminal.
    #[arg(long = "force-color")]
    pub force_color: bool,
}

impl OutputArgs {
    /// The options for printing the result of `fun` (whose default format
    /// depends on it); `static_`: one document at the end.
    pub fn options(&self, fun: &str, static_: bool) -> OutputOptions {
        let format = format_for(self.out, fun);
        let mut opts = OutputOptions::detect(format, self.no_color, self.force_color, static_);
        opts.indent = self.out_indent;
        opts.state_output = self.state_output;
        opts.state_verbose = self.state_verbose;
        opts
    }
}
