//! `tandem-pause`: the pod's pause process as a program of its own, so that what holds a pod's
//! namespaces for its whole life maps a few hundred kilobytes instead of the whole `tandem`
//! binary. It takes the same command line as `tandem __pause` (the verb first) and runs the same
//! body ([`tandem_runtime::sandbox::pause_main`]); the supervisor starts it when it is installed
//! beside `tandem` ([`tandem_runtime::sandbox::pause_program`]) and `tandem __pause` otherwise.

use std::ffi::OsString;
use std::process::ExitCode;

use tandem_runtime::helper::HelperArgs;
use tandem_runtime::sandbox::PauseArgs;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let parsed = match args.split_first() {
        Some((verb, rest)) if verb == PauseArgs::VERB => PauseArgs::parse(rest),
        _ => {
            eprintln!(
                "error: usage: tandem-pause {} HOSTNAME PARENT_PID [FLAGS]",
                PauseArgs::VERB
            );
            return ExitCode::from(2);
        }
    };
    match parsed {
        Ok(a) => tandem_runtime::sandbox::pause_main(&a),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
