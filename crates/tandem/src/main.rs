//! `tandem`: run Kubernetes multi-container Pods on one Linux machine, in real containers.
//!
//! Owns: the command line, output formats, exit codes, and starting and finding each pod's
//! supervisor. Never: pod logic (the engine and the supervisor own it).
//!
//! Hidden entry points (`__supervise`, `__shim`, `__pause`, `__exec`, `__netprobe`) are dispatched first, before any
//! thread exists: the shim and the pause process must be single-threaded (see tandem-runtime).
//! The same helpers are also small programs of their own (`src/bin/`), which are started instead
//! where they are installed beside this binary.

mod cli;
mod commands;
mod completion;
mod errors;
mod output;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tandem_runtime::exec::ExecArgs;
use tandem_runtime::helper::{dispatch as helper, HelperArgs};
use tandem_runtime::netprobe::NetprobeArgs;
use tandem_runtime::sandbox::PauseArgs;
use tandem_runtime::shim::ShimArgs;
use tandem_supervisor::supervise::SuperviseArgs;

fn hidden_entry(args: &[OsString]) -> Option<i32> {
    let verb = args.get(1)?.to_str()?;
    let rest = &args[2..];
    Some(match verb {
        PauseArgs::VERB => helper(rest, |a: &PauseArgs| tandem_runtime::sandbox::pause_main(a)),
        ShimArgs::VERB => helper(rest, tandem_runtime::shim::shim_main),
        ExecArgs::VERB => helper(rest, tandem_runtime::exec::exec_main),
        NetprobeArgs::VERB => helper(rest, tandem_runtime::netprobe::netprobe_main),
        SuperviseArgs::VERB => helper(rest, |a: &SuperviseArgs| {
            let dir = tandem_supervisor::statedir::PodDir::open(a.pod_dir.clone());
            let exe = commands::own_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
            tandem_supervisor::supervise::supervise(dir, &a.images, exe)
        }),
        commands::controller::ControlArgs::VERB => helper(rest, commands::controller::control_main),
        tandem_supervisor::proxy::ProxyArgs::VERB => {
            helper(rest, commands::service_proxy::proxy_main)
        }
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(code) = hidden_entry(&args) {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // The shell asking for completions (see `tandem completion`).
    clap_complete::CompleteEnv::with_factory(<cli::Cli as clap::CommandFactory>::command)
        .var(completion::VAR)
        .complete();
    let cli = cli::Cli::parse();
    // Output piped into `head` ends the command quietly, as it ends `cat`; `run`, `apply` and
    // `serve` keep SIGPIPE ignored, since they also write to sockets (pods' control sockets, API
    // clients) that may close under them.
    if !matches!(
        cli.command,
        cli::Command::Run(_) | cli::Command::Apply(_) | cli::Command::Serve(_)
    ) {
        tandem_runtime::process::default_sigpipe();
    }
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            errors::report(&e);
            ExitCode::from(errors::exit_code(&e))
        }
    }
}
