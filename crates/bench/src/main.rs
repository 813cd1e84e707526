//! The `chat-bench` binary: parses the command line and hands it to [`chat_bench::run`].

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = chat_bench::cli::Cli::parse();
    match chat_bench::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
