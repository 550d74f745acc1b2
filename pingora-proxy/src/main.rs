//! `tollgate`: the edge filter as a Pingora reverse proxy.
//!
//! `tollgate run --rules rules/default.toml` starts the proxy (with a built-in demo backend when
//! the rules name no upstream); `tollgate check FILE` validates rules files; `tollgate solve URL`
//! pays a site's toll from the command line; `tollgate token` mints a clearance cookie;
//! `tollgate rotate-secret` rotates the signing key. See `--help`.

mod admin;
mod admission;
mod app;
mod check;
mod cli;
mod config;
mod crawlers;
mod demo;
mod fleet;
mod held;
mod hello;
mod logging;
mod metrics;
mod persist;
mod proxy;
mod reload;
mod secrets;
mod solve;
mod tls;
mod upstream;
mod view;

use clap::Parser;

/// mimalloc instead of glibc's allocator: the proxy allocates per request (headers, buffers),
/// and glibc's malloc and free were 12-13% of its samples under wrk (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Run(args) => app::run(args),
        cli::Command::Check(args) => check::run(&args),
        cli::Command::Solve(args) => solve::solve(&args),
        cli::Command::Token(args) => solve::token(&args),
        cli::Command::RotateSecret(args) => solve::rotate(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
