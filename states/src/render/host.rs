//! The bridge from template code to the caller's borrowed services.
//!
//! minijinja functions, objects and loaders must be `'static`, but the
//! [`ExecCaller`] and [`FileSource`] of a render are borrowed. So a render
//! runs on a scoped thread and its template code sends requests over a
//! channel to the calling thread, which owns the borrows and answers them
//! until the render thread hangs up.

use std::sync::mpsc::{channel, Receiver, Sender};

use serde_json::{Map, Value};

use crate::caller::{CallError, ExecCaller};
use crate::source::{FileSource, SourceError};

enum Request {
    Call {
        fun: String,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
        reply: Sender<Result<Value, CallError>>,
    },
    Has {
        fun: String,
        reply: Sender<bool>,
    },
    Read {
        path: String,
        reply: Sender<Result<Option<Vec<u8>>, SourceError>>,
    },
}

/// The render thread's handle (cheap to clone into template objects).
#[derive(Clone)]
pub struct Host {
    tx: Sender<Request>,
}

fn gone() -> CallError {
    CallError::Failed("the render was cancelled".into())
}

impl Host {
    pub fn call(
        &self,
        fun: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError> {
        let (reply, rx) = channel();
        self.tx
            .send(Request::Call {
                fun: fun.to_string(),
                args,
                kwargs,
                reply,
            })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    pub fn has(&self, fun: &str) -> bool {
        let (reply, rx) = channel();
        if self
            .tx
            .send(Request::Has {
                fun: fun.to_string(),
                reply,
            })
            .is_err()
        {
            return false;
        }
        rx.recv().unwrap_or(false)
    }

    /// A file of the render's saltenv.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let (reply, rx) = channel();
        let cancelled = || SourceError::Remote("the render was cancelled".into());
        self.tx
            .send(Request::Read {
                path: path.to_string(),
                reply,
            })
            .map_err(|_| cancelled())?;
        rx.recv().map_err(|_| cancelled())?
    }
}

/// Runs `work` on a scoped thread with a [`Host`], serving its requests from
/// `caller` and `files` (in `saltenv`) on this thread until it finishes.
pub fn run_with_host<T: Send>(
    caller: &dyn ExecCaller,
    files: &dyn FileSource,
    saltenv: &str,
    work: impl FnOnce(Host) -> T + Send,
) -> Result<T, String> {
    let (tx, rx) = channel();
    // the job's cancellation follows the render onto its thread
    let cancel = crate::Cancel::current().unwrap_or_default();
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("jinja-render".into())
            // deep templates recurse in the engine; give it room
            .stack_size(16 * 1024 * 1024)
            .spawn_scoped(scope, move || cancel.scope(|| work(Host { tx })))
            .map_err(|e| format!("cannot start the render thread: {e}"))?;
        serve(&rx, caller, files, saltenv);
        handle
            .join()
            .map_err(|_| "the render thread panicked".to_string())
    })
}

fn serve(rx: &Receiver<Request>, caller: &dyn ExecCaller, files: &dyn FileSource, saltenv: &str) {
    // ends when every Host clone is dropped, i.e. the render is over
    while let Ok(req) = rx.recv() {
        match req {
            Request::Call {
                fun,
                args,
                kwargs,
                reply,
            } => {
                let _ = reply.send(caller.call(&fun, args, kwargs));
            }
            Request::Has { fun, reply } => {
                let _ = reply.send(caller.has(&fun));
            }
            Request::Read { path, reply } => {
                let _ = reply.send(files.read(saltenv, &path));
            }
        }
    }
}
