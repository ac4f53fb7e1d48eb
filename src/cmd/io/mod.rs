//! The machinery that crosses the process's edges, shared by the commands:
//! output lines, message formats and JSON envelopes, the property table
//! behind both, `--exec` commands, and signals.

pub mod envelope;
pub mod exec;
pub mod format;
pub mod output;
pub mod pace;
pub mod properties;
pub mod saved;
pub mod signals;
