//! `amqpctl completions SHELL` and `amqpctl manpage`: generated from the
//! clap definitions, so they never drift from the real flags.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

// Both generators write into memory first: clap_complete panics when its
// writer fails, and a closed stdout must stay a quiet exit.

pub fn completions(args: CompletionsArgs) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "amqpctl", &mut script);
    print(&script)
}

pub fn manpage() -> Result<(), Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::io("rendering the manual page", e))?;
    print(&page)
}

fn print(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}
