//! `tandem-pause`: the pod's pause process as a program of its own, so that what holds a pod's
//! namespaces for its whole life maps a few hundred kilobytes instead of the whole `tandem`
//! binary. It takes the same command line as `tandem __pause` (the verb first) and runs the same
//! body ([`tandem_runtime::sandbox::pause_main`]); the supervisor starts it where it is installed
//! beside `tandem` ([`tandem_runtime::helper::HelperArgs::program`]), `tandem __pause` otherwise.

use std::ffi::OsString;
use std::process::ExitCode;

use tandem_runtime::helper::{dispatch, unknown_verb, HelperArgs};
use tandem_runtime::sandbox::PauseArgs;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|v| v.to_str()) {
        Some(PauseArgs::VERB) => dispatch(&args[2..], |a: &PauseArgs| {
            tandem_runtime::sandbox::pause_main(a)
        }),
        _ => unknown_verb("tandem-pause", &[PauseArgs::VERB]),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
