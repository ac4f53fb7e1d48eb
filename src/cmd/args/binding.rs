//! `-e -q --to-exchange -k`: the flags by which `declare binding` and
//! `unbind` name a binding.

use clap::Args;

use crate::error::Error;

/// A binding's source exchange, bound queue or exchange, and key, worded
/// for `declare binding` (`unbind` rewords `-q` and `--to-exchange`).
#[derive(Debug, Args)]
pub struct BindingArgs {
    /// Source exchange.
    #[arg(short = 'e', long = "exchange", value_name = "EXCHANGE")]
    pub exchange: String,
    /// Queue to bind.
    #[arg(
        short = 'q',
        long = "queue",
        value_name = "QUEUE",
        required_unless_present = "to_exchange",
        conflicts_with = "to_exchange"
    )]
    pub queue: Option<String>,
    /// Exchange to bind (exchange-to-exchange binding).
    #[arg(long, value_name = "NAME")]
    pub to_exchange: Option<String>,
    /// Binding key.
    #[arg(
        short = 'k',
        long = "routing-key",
        value_name = "KEY",
        default_value = ""
    )]
    pub routing_key: String,
}

impl BindingArgs {
    /// The bound queue or exchange, and whether it is an exchange.
    /// `command` is who needs one (clap asks for it before this).
    pub fn destination(&self, command: &str) -> Result<(String, bool), Error> {
        match (&self.queue, &self.to_exchange) {
            (Some(q), _) => Ok((q.clone(), false)),
            (None, Some(x)) => Ok((x.clone(), true)),
            (None, None) => Err(Error::Usage(format!(
                "{command} needs -q QUEUE or --to-exchange NAME"
            ))),
        }
    }
}
