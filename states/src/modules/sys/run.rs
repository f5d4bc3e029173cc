//! Running the system's command-line tools and reading what they said.

use std::process::Command;

/// What a finished command reported.
#[derive(Debug, Clone)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The command's own explanation of a failure: stderr, else stdout, else
    /// the exit status.
    pub fn error_text(&self) -> String {
        let err = self.stderr.trim();
        if !err.is_empty() {
            return err.to_string();
        }
        let out = self.stdout.trim();
        if !out.is_empty() {
            return out.to_string();
        }
        match self.code {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        }
    }
}

/// A command to run: program, arguments, extra environment, optional stdin.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    cwd: Option<std::path::PathBuf>,
}

impl Cmd {
    pub fn new(program: &str) -> Cmd {
        Cmd {
            program: program.to_string(),
            ..Cmd::default()
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn stdin(mut self, text: impl Into<String>) -> Cmd {
        self.stdin = Some(text.into());
        self
    }

    pub fn cwd(mut self, dir: impl Into<std::path::PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs to completion through the process runner (capped output; killed
    /// with the job whose state run this thread serves). `Err` only when the
    /// program could not be started.
    pub fn run(&self) -> Result<Output, String> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        let mut run = brine_process::Run::new(command);
        if let Some(text) = &self.stdin {
            run = run.stdin(text.as_bytes());
        }
        let done = brine_process::run(run)
            .map_err(|error| format!("unable to run {}: {error}", self.program))?;
        Ok(Output {
            code: match done.ending {
                brine_process::Ending::Exited => done.status.and_then(|s| s.code()),
                _ => None,
            },
            stdout: done.stdout_lossy(),
            stderr: done.stderr_lossy(),
        })
    }

    /// Runs and requires exit status 0; the error is the command's message.
    pub fn run_ok(&self) -> Result<Output, String> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            Err(format!("{} failed: {}", self.display(), out.error_text()))
        }
    }
}

/// Whether `program` is found on `PATH` (or is an existing path).
pub fn which(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(std::path::PathBuf::from))
        .any(|dir| dir.join(program).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_status_and_stdin() {
        let out = Cmd::new("sh")
            .args(["-c", "cat; echo err >&2; exit 3"])
            .stdin("hello")
            .run()
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hello");
        assert_eq!(out.error_text(), "err");
        assert!(Cmd::new("sh").args(["-c", "exit 1"]).run_ok().is_err());
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        let err = Cmd::new("/nonexistent/brine-tool").run().unwrap_err();
        assert!(err.starts_with("unable to run /nonexistent/brine-tool"));
        assert!(!which("/nonexistent/brine-tool"));
        assert!(which("sh"));
    }
}
