//! `-e -t -E`: the exchange flags of `pub` and `con`.

use clap::Args;

use super::values::{check_name, parse_exchange_type};
use crate::cmd::broker::declare::ExchangeSpec;
use crate::error::Error;

/// Exchange flags shared by `pub` and `con`.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Exchange name ("" is the default exchange).
    #[arg(id = "exchange", short = 'e', long = "exchange", value_name = "NAME")]
    pub name: Option<String>,

    /// Exchange type, used when declaring it.
    #[arg(id = "exchange_type", short = 't', long = "exchange-type", value_name = "TYPE", default_value = "direct", value_parser = parse_exchange_type)]
    pub kind: String,

    /// Declare the exchange first.
    #[arg(id = "declare_exchange", short = 'E', long = "declare-exchange")]
    pub declare: bool,
}

impl ExchangeArgs {
    /// Checks the name before anything is sent.
    pub fn resolve(&self) -> Result<ExchangeSpec, Error> {
        let name = self.name.clone().unwrap_or_default();
        check_name("the exchange name (-e)", &name)?;
        if self.declare && (name.is_empty() || name.starts_with("amq.")) {
            return Err(Error::Usage(format!(
                "-E needs an exchange name of our own with -e (got '{name}')"
            )));
        }
        Ok(ExchangeSpec {
            name,
            kind: self.kind.clone(),
            declare: self.declare,
        })
    }
}
