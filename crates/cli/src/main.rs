//! The `ripcord` command.

use clap::Parser;
use ripcord::cli::Cli;
use ripcord_core::exit;

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
