//! Compliance.
