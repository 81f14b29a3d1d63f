//! `tandem-shim`: the runtime's short-lived helpers as a program of their own — the shim that
//! creates each container (`__shim`), a command run in a container (`__exec`, exec probes too)
//! and a probe from inside a pod's network (`__netprobe`). Each is started once per container or
//! per probe, so linking only tandem-runtime makes every such start cheaper than executing the
//! whole `tandem` binary. Same command lines and bodies as `tandem __shim` and the others; the
//! supervisor starts it where it is installed beside `tandem`
//! ([`tandem_runtime::helper::HelperArgs::program`]).

use std::ffi::OsString;
use std::process::ExitCode;

use tandem_runtime::exec::ExecArgs;
use tandem_runtime::helper::{dispatch, unknown_verb, HelperArgs};
use tandem_runtime::netprobe::NetprobeArgs;
use tandem_runtime::shim::ShimArgs;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let rest = args.get(2..).unwrap_or_default();
    let code = match args.get(1).and_then(|v| v.to_str()) {
        Some(ShimArgs::VERB) => dispatch(rest, tandem_runtime::shim::shim_main),
        Some(ExecArgs::VERB) => dispatch(rest, tandem_runtime::exec::exec_main),
        Some(NetprobeArgs::VERB) => dispatch(rest, tandem_runtime::netprobe::netprobe_main),
        _ => unknown_verb(
            "tandem-shim",
            &[ShimArgs::VERB, ExecArgs::VERB, NetprobeArgs::VERB],
        ),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
