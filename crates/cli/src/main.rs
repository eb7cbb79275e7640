//! The `ripcord` command.

use clap::Parser;
use ripcord::cli::Cli;
use ripcord_core::exit;

// The proof and the restore decode millions of small values: glibc's allocator spent a fifth
// of the verify phase in malloc/free (bench/verify_memory.sh, perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    end_quietly_on_a_closed_pipe();
    let cli = Cli::parse();
    let code = match ripcord::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", ripcord_core::redact::scrub(&format!("{e:#}")));
            match e.downcast_ref::<ripcord_core::Error>() {
                Some(err) => err.exit_code(),
                None => exit::INTERNAL,
            }
        }
    };
    std::process::exit(code);
}

/// `ripcord status | head -1`: Rust ignores SIGPIPE, so printing to a pipe whose reader is
/// gone is an EPIPE error, on which `println!` panics. A closed stdout or stderr now ends
/// the process the way SIGPIPE ends a C tool (the shell sees 141, `pipefail` sees a failure,
/// nothing is printed). Only those two: SIGPIPE itself stays ignored, so a closed socket or
/// a child's pipe is still an error the code handles, never a sudden death mid-rollback.
fn end_quietly_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload_as_str().unwrap_or_default();
        let printing = msg.starts_with("failed printing to stdout")
            || msg.starts_with("failed printing to stderr");
        if printing && msg.ends_with(&format!("(os error {})", libc::EPIPE)) {
            // SAFETY: restoring a signal's default action and raising it in this thread;
            // nothing runs after it.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
            std::process::exit(128 + libc::SIGPIPE);
        }
        default(info)
    }));
}
