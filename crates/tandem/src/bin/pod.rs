//! `tandem-pod`: what runs for a pod, as a program of its own — its supervisor (`__supervise`),
//! which lives as long as the pod, and the runtime's helpers the supervisor starts: the shim
//! that creates each container (`__shim`), a command run in a container (`__exec`, exec probes
//! too) and a probe from inside the pod's network (`__netprobe`). Linking the engine, the runtime
//! and the supervisor without the command line, the API server, the controllers, lint and the DNS
//! server keeps what a pod maps and what each helper start loads small. Same command lines and
//! bodies as `tandem __supervise` and the others; `tandem` and the supervisor start it where it
//! is installed beside `tandem` ([`tandem_runtime::helper::HelperArgs::program`]).
//!
//! The helpers and the supervisor must be one file: a container can make a helper run inside it
//! as its own command (an exec probe of `/proc/self/exe`) and then hold the host's file through
//! `/proc/PID/exe` (CVE-2019-5736); the kernel refuses to open it for writing (ETXTBSY) only
//! while some process runs it, and the supervisor runs it for the pod's whole life.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use tandem_runtime::exec::ExecArgs;
use tandem_runtime::helper::{dispatch, unknown_verb, HelperArgs};
use tandem_runtime::netprobe::NetprobeArgs;
use tandem_runtime::shim::ShimArgs;
use tandem_supervisor::statedir::PodDir;
use tandem_supervisor::supervise::SuperviseArgs;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let rest = args.get(2..).unwrap_or_default();
    let code = match args.get(1).and_then(|v| v.to_str()) {
        Some(SuperviseArgs::VERB) => dispatch(rest, |a: &SuperviseArgs| {
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
        Some(ShimArgs::VERB) => dispatch(rest, tandem_runtime::shim::shim_main),
        Some(ExecArgs::VERB) => dispatch(rest, tandem_runtime::exec::exec_main),
        Some(NetprobeArgs::VERB) => dispatch(rest, tandem_runtime::netprobe::netprobe_main),
        _ => unknown_verb(
            "tandem-pod",
            &[
                SuperviseArgs::VERB,
                ShimArgs::VERB,
                ExecArgs::VERB,
                NetprobeArgs::VERB,
            ],
        ),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
