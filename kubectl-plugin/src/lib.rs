//! `kubectl-skupper`: link sites into an application network, Skupper v2 compatible. The
//! binary is [`main`]; this library is its implementation, not an API.
//!
//! [`main`] only parses, dispatches and maps the outcome to an exit code: 0 success, 1 the command
//! failed, 2 bad input (as upstream `skupper`). A closed pipe (`| head`) counts as success.
//! Where messages go: a command's own input problems and its failures on stdout (upstream prints
//! them there); clap's command-line syntax errors (unknown flag, missing value) on stderr, also
//! exit 2; help on stdout, exit 0.
//!
//! # Layout
//! - `cli`: clap definitions and one module per command group.
//! - `platform`: where sites live (`local`: files under the user's data directory).
//! - `runtime`: a running local site (`system start --foreground`).
//! - `controller` (feature `kubernetes`): a site in a Kubernetes namespace (`controller`).
//! - `grant`: grant server and token redemption client.
//! - `webhook` (feature `webhook`): the admission webhook's commands (its host is the
//!   `skupper-webhook-host` crate).
//! - `input`: size-bounded reading of the files and streams users hand the CLI.
//! - `output`: YAML/JSON, Go-style tables, progress.
//!
//! The embedded router, site certificates, connection limits and log lines are the
//! `skupper-router` crate, which cannot reach the CLI or a platform.

mod cli;
#[cfg(feature = "kubernetes")]
mod controller;
mod grant;
mod input;
mod output;
mod platform;
mod runtime;
mod tarball;
#[cfg(feature = "webhook")]
mod webhook;

use std::process::ExitCode;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Runs `kubectl-skupper` with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    skupper_router::logs::install();
    match cli::run(std::env::args_os().collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::CliError::Usage(msg)) => {
            // Upstream prints validation errors on stdout.
            let _ = output::line(&msg);
            ExitCode::from(2)
        }
        Err(cli::CliError::Failed(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(cli::CliError::Failed(e)) => {
            let _ = output::line(format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}
