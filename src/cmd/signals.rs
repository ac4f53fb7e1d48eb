//! SIGINT and SIGTERM as a channel, so that waiting loops can select on them
//! and stop cleanly. A second signal ends the process at once.

use crossbeam_channel::Receiver;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::Error;

/// Starts listening; each SIGINT/SIGTERM sends its number on the channel.
pub fn interrupts() -> Result<Receiver<i32>, Error> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| Error::io("installing signal handlers", e))?;
    let (tx, rx) = crossbeam_channel::bounded(4);
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen > 1 {
                    std::process::exit(128 + signal);
                }
                let _ = tx.try_send(signal);
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(rx)
}
