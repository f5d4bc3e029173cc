//! Shared pieces of the Brine command-line tools and daemons' entry points.
pub mod api_certs;
pub mod args;
pub mod batch;
pub mod client;
pub mod entry;
pub mod logging;
pub mod outargs;
pub mod output;
