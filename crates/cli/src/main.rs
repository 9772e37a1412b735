//! The `provmark` command-line tool: a thin layer over the library. It parses flags, calls the
//! library, prints results, and maps failures to exit status 2.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            if e.is_broken_pipe() {
                return ExitCode::SUCCESS;
            }
            eprintln!("provmark: {e}");
            ExitCode::from(2)
        }
    }
}
