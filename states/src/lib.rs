//! The state system: Salt-compatible SLS rendering (Jinja then YAML, as Salt
//! reads it), compilation to high and low data, ordering and requisites, and
//! the state modules that change a host.
//!
//! This crate does no network IO: files come through a [`source::FileSource`]
//! (local roots for `brine-call --local`, the master's file server for a
//! connected minion) and execution functions through a [`caller::ExecCaller`]
//! (the minion's registry), so the same code serves both.

pub mod caller;
pub mod compile;
pub mod ctx;
pub mod data;
pub mod high;
pub mod modules;
pub mod pillar;
pub mod pyjson;
pub mod pyrepr;
pub mod registry;
pub mod render;
pub mod result;
pub mod runtime;
pub mod source;
pub mod yaml;

pub use caller::{CallError, ExecCaller};
pub use ctx::{Cancel, StateArgs, StateCtx, TemplateRenderer};
pub use result::StateResult;
pub use source::{FileSource, LocalRoots, SourceError};
