//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// An edge filter in front of web apps: rate limits, bans, allow/deny lists, hot-reloaded rules.
#[derive(Parser, Debug)]
#[command(name = "tollgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy. Rules reload on file change and on SIGHUP; SIGTERM shuts down gracefully.
    Run(RunArgs),
    /// Validate rules files: print every error with file:line:column, exit 1 if any.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Rules file (TOML). Its [server] section sets listeners and upstreams; flags below override.
    #[arg(
        long,
        short,
        default_value = "rules/default.toml",
        env = "TOLLGATE_RULES"
    )]
    pub rules: PathBuf,
    /// Public listener, e.g. 0.0.0.0:80 (overrides [server] listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Upstream IP:PORT; repeat for several (overrides [server] upstreams).
    #[arg(long = "upstream")]
    pub upstreams: Vec<SocketAddr>,
    /// Admin listener for /metrics, /bans, /healthz (overrides [server] admin).
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// Directory for persisted bans and the pid file (overrides [server] state_dir).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Where the built-in demo backend listens when no upstream is configured.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub demo_backend: SocketAddr,
    /// Worker threads for the proxy (default: number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Most refusal log lines per second; the rest are counted in
    /// tollgate_log_lines_suppressed_total and summarised.
    #[arg(long, default_value_t = 50)]
    pub log_refusals_per_sec: u64,
    /// Seconds to keep serving in-flight requests after SIGTERM.
    #[arg(long, default_value_t = 5)]
    pub grace_secs: u64,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Rules files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
