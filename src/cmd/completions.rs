//! `amqpctl completions SHELL`: a completion script generated from the clap
//! definitions, so it never drifts from the real flags.

use clap::Args;
use clap_complete::Shell;

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
    clap_complete::generate(args.shell, &mut super::command(), "amqpctl", &mut script);
    write_stdout(&script)
}
