//! `tollgate check`: validate rules files without running anything.

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::config::{self, Config};

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        match config::load(file) {
            Ok(Config { rules, .. }) => println!(
                "{}: ok ({} routes, {} allow ranges, {} deny ranges, mode {:?})",
                file.display(),
                rules.routes.len(),
                rules.allow.ranges(),
                rules.deny.ranges(),
                rules.mode
            ),
            Err(e) => {
                failed = true;
                eprint!("{e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
