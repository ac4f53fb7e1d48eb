//! amqpctl: publish, consume and declare on a RabbitMQ broker from the shell.

mod cmd;
mod error;

use std::process::ExitCode;

/// Large bodies (as many as `--max-inflight-bytes` lets in) are allocated
/// and freed all the time, and glibc gives each freed MiB back to the
/// kernel, which zeroes fresh pages for the next: 40 % of `con`'s CPU on
/// 1 MiB bodies went to page faults. Allocations up to 32 MiB stay in the
/// heap, and up to 64 MiB of freed memory stays for reuse (`scripts/bench
/// large`: CPU per 1,000 × 1 MiB 0.47-0.53 s before, 0.25-0.33 s after;
/// peak RSS unchanged, 43 MiB).
fn keep_freed_bodies() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two allocator parameters, before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

fn main() -> ExitCode {
    keep_freed_bodies();
    // A bug must still end in one line and a documented status, never a
    // backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_string());
        eprintln!("ERROR: internal error, please report it: {what}");
        error::Exit::Failure.now();
    }));
    let cli = cmd::parse();
    init_logging(cli.verbose);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e),
    }
}

/// Logs to stderr at the level `-v` asks for (or `RUST_LOG`). amiquip logs
/// the SASL response, password included, at debug level while logging in:
/// its handshake module is capped at info whatever the user asks.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    if verbose == 0 {
        // amiquip warns about closes and returns that amqpctl reports itself.
        builder.filter_module("amiquip", log::LevelFilter::Off);
    }
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder
        .filter_module("amiquip::io_loop::handshake_state", log::LevelFilter::Info)
        .format_timestamp_millis()
        .init();
}
