//! `tandem`: run Kubernetes multi-container Pods on one Linux machine, in real containers.
//!
//! Owns: the command line, output formats, exit codes, and starting and finding each pod's
//! supervisor. Never: pod logic (the engine and the supervisor own it).
//!
//! Hidden entry points (`__supervise`, `__shim`, `__pause`, `__exec`, `__netprobe`) are dispatched first, before any
//! thread exists: the shim and the pause process must be single-threaded (see tandem-runtime).

mod cli;
mod commands;
mod errors;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

fn hidden_entry(args: &[String]) -> Option<i32> {
    match args.get(1).map(String::as_str) {
        Some("__pause") => {
            let parent = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
            let flag = |f: &str| args.iter().skip(4).any(|a| a == f);
            tandem_runtime::sandbox::pause_main(
                args.get(2).map_or("pod", String::as_str),
                parent,
                flag("--host-network"),
                flag("--share-pid"),
                flag("--user-ns"),
            )
        }
        Some("__shim") => {
            let bundle = PathBuf::from(args.get(2).cloned().unwrap_or_default());
            let fd = args.get(3).and_then(|f| f.parse().ok()).unwrap_or(-1);
            Some(tandem_runtime::shim::shim_main(&bundle, fd))
        }
        Some("__exec") => {
            // __exec STATE_ROOT ID TIMEOUT_MS -- ARGV...
            let root = PathBuf::from(args.get(2).cloned().unwrap_or_default());
            let id = args.get(3).cloned().unwrap_or_default();
            let ms = args.get(4).and_then(|t| t.parse().ok()).unwrap_or(0);
            let argv = args.get(6..).map(<[String]>::to_vec).unwrap_or_default();
            Some(tandem_runtime::exec::exec_main(
                &root,
                &id,
                std::time::Duration::from_millis(ms),
                &argv,
            ))
        }
        Some("__netprobe") => {
            let netns = args.get(2).map_or("-", String::as_str);
            let req = args.get(3).map_or("", String::as_str);
            Some(tandem_runtime::netprobe::netprobe_main(netns, req))
        }
        Some("__supervise") => {
            let dir =
                tandem_supervisor::statedir::PodDir::open(args.get(2).cloned().unwrap_or_default());
            let images = PathBuf::from(args.get(3).cloned().unwrap_or_default());
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
            Some(tandem_supervisor::supervise::supervise(dir, &images, exe))
        }
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = hidden_entry(&args) {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let cli = cli::Cli::parse();
    // Output piped into `head` ends the command quietly, as it ends `cat`; `run` keeps SIGPIPE
    // ignored, since it also writes to pods' control sockets, which may close under it.
    if !matches!(cli.command, cli::Command::Run(_)) {
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
