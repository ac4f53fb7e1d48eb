//! `--format` and `--delimiter`: how `con` and `get` print messages.

use clap::Args;

use crate::cmd::io::format::{Delimiter, Format, parse_delimiter, tokens_help};
use crate::error::Error;

/// The output flags of the commands that print messages.
#[derive(Debug, Args)]
pub struct FormatArgs {
    #[arg(long, value_name = "FORMAT", default_value = "received", long_help = tokens_help(), help = "Output format: received, body, json, or a %-template (see --help)")]
    format: String,

    /// What ends each body with --format body (escapes: \n \t \0 \xNN)
    /// [default: \n].
    #[arg(long, value_name = "D", value_parser = parse_delimiter)]
    delimiter: Option<Delimiter>,
}

impl FormatArgs {
    /// The parsed format; a delimiter without `--format body` or a template
    /// without a token is a usage error.
    pub fn resolve(&self) -> Result<Format, Error> {
        let delimiter = self.delimiter.as_ref().map(|d| d.0.as_slice());
        Format::parse(&self.format, delimiter).map_err(Error::Usage)
    }
}
