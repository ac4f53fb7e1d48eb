//! `move`'s and `redrive`'s `--reconnect` flag (the transfer engine's
//! reconnect loop is `transfer::again`).

use clap::Args;

/// `--reconnect`, as `move` and `redrive` take it.
#[derive(Debug, Args)]
pub struct ReconnectArgs {
    /// After a lost connection, connect again (backoff with jitter; the
    /// --urls in order) and go on; what was in flight goes back to the
    /// source and is sent again, so it may arrive twice (the summary
    /// counts those).
    #[arg(long)]
    pub reconnect: bool,
}
