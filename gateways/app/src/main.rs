use std::process::ExitCode;

use clap::Parser;
use eventmall::cli::{Cli, run};

/// A projector's windows allocate and free millions of small objects at once; glibc's
/// allocator spent a fifth of a catch-up consolidating its free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
