//! `amqpctl profiles`: the named connection profiles of the config file,
//! shown as TOML with every password replaced.

use super::args::profile;
use super::io::output::{status, write_stdout};
use crate::error::Error;

/// `amqpctl profiles`.
pub fn run() -> Result<(), Error> {
    match profile::listing()? {
        (_, Some(listing)) => write_stdout(listing.as_bytes()),
        (path, None) => {
            status(format_args!(
                "No profiles: {} does not exist",
                path.display()
            ));
            Ok(())
        }
    }
}
