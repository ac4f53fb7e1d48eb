//! `amqpctl completions SHELL`: a completion script generated from the clap
//! definitions, so it never drifts from the real flags.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use super::io::output::write_stdout;
use crate::error::Error;

/// The flags of `amqpctl completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

/// `amqpctl completions SHELL`.
pub fn run(args: CompletionsArgs) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "amqpctl", &mut script);
    write_stdout(&script)
}
