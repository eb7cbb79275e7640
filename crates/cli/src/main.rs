//! The `ripcord` command.

use clap::Parser;
use ripcord::cli::Cli;
use ripcord_core::exit;

// The proof and the restore decode millions of small values: glibc's allocator spent a fifth
// of the verify phase in malloc/free (bench/verify_memory.sh, perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
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
