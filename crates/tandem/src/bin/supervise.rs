//! `tandem-supervise`: a pod's supervisor as a program of its own. It lives as long as its pod,
//! so what it maps is paid for by every running pod: linking the engine, the runtime and the
//! supervisor without the command line, the API server, the controllers, lint and the DNS
//! server keeps the pages it touches few. Same command line and body as `tandem __supervise`
//! ([`tandem_supervisor::supervise::supervise`]); `tandem` starts it where it is installed
//! beside it ([`tandem_runtime::helper::HelperArgs::program`]). The helpers it starts in turn
//! (shims, the store's proxy) are found beside it too.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use tandem_runtime::helper::{dispatch, unknown_verb, HelperArgs};
use tandem_supervisor::statedir::PodDir;
use tandem_supervisor::supervise::SuperviseArgs;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|v| v.to_str()) {
        Some(SuperviseArgs::VERB) => dispatch(&args[2..], |a: &SuperviseArgs| {
            // The `tandem` binary beside this one: the helpers' fallback and the proxy's program.
            let tandem = std::env::current_exe()
                .map(|exe| exe.with_file_name("tandem"))
                .unwrap_or_else(|_| PathBuf::from("tandem"));
            tandem_supervisor::supervise::supervise(
                PodDir::open(a.pod_dir.clone()),
                &a.images,
                tandem,
            )
        }),
        _ => unknown_verb("tandem-supervise", &[SuperviseArgs::VERB]),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
