//! The command lines of tandem's helper processes: the binary re-executed as `tandem __pause`,
//! `__shim`, `__exec`, `__netprobe` (and `__supervise`, whose arguments tandem-supervisor owns).
//! Each helper's arguments are one type that the parent turns into argv ([`HelperArgs::argv`])
//! and the child reads back ([`HelperArgs::parse`]), so the two ends cannot drift apart, and a
//! command line that does not parse is an error, never a default. A helper that answers prints
//! one JSON line, its outcome type, which the parent reads back with [`run`]; each helper's
//! module owns its arguments, its outcome, the child's body and the parent's call.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A helper's command line.
pub trait HelperArgs: Sized {
    /// The hidden subcommand (`__shim`, …).
    const VERB: &'static str;

    /// The small program that runs this helper, installed beside `tandem` (`tandem-pod`, …):
    /// linking only what the helper runs, it maps a fraction of the whole binary and starts
    /// faster. `None`: only `tandem` itself runs it. A helper that a container can make run as
    /// its own command (the shim's, exec's and probes') must share its program with the pod's
    /// supervisor, whose running keeps the file from being opened for writing (ETXTBSY,
    /// CVE-2019-5736; see `tandem-pod`).
    const PROGRAM: Option<&'static str> = None;

    /// What to start for this helper, given the `tandem` binary: its small program where that
    /// is installed beside it, else `tandem` itself (both take the same argv, verb first).
    fn program(exe: &Path) -> PathBuf {
        Self::PROGRAM
            .map(|name| exe.with_file_name(name))
            .filter(|small| small.is_file())
            .unwrap_or_else(|| exe.to_path_buf())
    }

    /// The arguments after the verb.
    fn to_args(&self) -> Vec<OsString>;

    /// Reads the arguments after the verb.
    fn parse(args: &[OsString]) -> Result<Self, ArgsError>;

    /// The whole argv after the program: the verb, then [`HelperArgs::to_args`].
    fn argv(&self) -> Vec<OsString> {
        let mut argv = vec![OsString::from(Self::VERB)];
        argv.extend(self.to_args());
        argv
    }
}

/// A helper program's main for one helper: parses the arguments after the verb as `A` and runs
/// `body`; a command line that does not parse is an error (exit 2), never a default.
pub fn dispatch<A: HelperArgs>(args: &[OsString], body: impl FnOnce(&A) -> i32) -> i32 {
    match A::parse(args) {
        Ok(a) => body(&a),
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// A helper program's answer to a verb it does not run (exit 2).
pub fn unknown_verb(program: &str, verbs: &[&str]) -> i32 {
    eprintln!(
        "error: {program} runs tandem's helpers {}; it is started by tandem, not by hand",
        verbs.join(", ")
    );
    2
}

/// A helper command line that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{verb}: {problem}")]
pub struct ArgsError {
    pub verb: &'static str,
    pub problem: String,
}

/// Reads positional arguments one by one, with errors that name what was expected.
pub struct Args<'a> {
    verb: &'static str,
    rest: std::slice::Iter<'a, OsString>,
}

impl<'a> Args<'a> {
    pub fn new(verb: &'static str, args: &'a [OsString]) -> Self {
        Args {
            verb,
            rest: args.iter(),
        }
    }

    pub fn error(&self, problem: impl Into<String>) -> ArgsError {
        ArgsError {
            verb: self.verb,
            problem: problem.into(),
        }
    }

    /// The next argument, as given.
    pub fn os(&mut self, what: &str) -> Result<&'a OsStr, ArgsError> {
        match self.rest.next() {
            Some(a) => Ok(a.as_os_str()),
            None => Err(self.error(format!("missing {what}"))),
        }
    }

    /// The next argument, which must be text.
    pub fn text(&mut self, what: &str) -> Result<&'a str, ArgsError> {
        let a = self.os(what)?;
        a.to_str()
            .ok_or_else(|| self.error(format!("{what} is not UTF-8: {a:?}")))
    }

    /// The next argument, parsed.
    pub fn value<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ArgsError> {
        let a = self.text(what)?;
        a.parse()
            .map_err(|_| self.error(format!("{what} is not valid: {a:?}")))
    }

    /// Every argument left.
    pub fn rest(&mut self) -> Vec<&'a OsStr> {
        self.rest.by_ref().map(OsString::as_os_str).collect()
    }

    /// Succeeds when nothing is left.
    pub fn end(&mut self) -> Result<(), ArgsError> {
        match self.rest.next() {
            None => Ok(()),
            Some(a) => Err(self.error(format!("unexpected argument {a:?}"))),
        }
    }
}

/// The parent's end of a helper that answers: runs `exe` with `args` and reads the last line it
/// printed as the outcome `T`. The helper enforces its own timeout; `bound` (when given) limits
/// the wait with 30 s of slack in case it hangs. With `kill_on_drop` the helper is killed when
/// the caller stops waiting: only for helpers that have no children to orphan (the exec helper
/// must reap the command it ran, so it is left to end by itself).
pub async fn run<A: HelperArgs, T: serde::de::DeserializeOwned>(
    exe: &Path,
    args: &A,
    bound: Option<Duration>,
    kill_on_drop: bool,
) -> Result<T, String> {
    let child = tokio::process::Command::new(A::program(exe))
        .args(args.argv())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(kill_on_drop)
        .spawn()
        .map_err(|e| format!("cannot start the {} helper: {e}", A::VERB))?;
    let wait = child.wait_with_output();
    let out = match bound {
        Some(t) => tokio::time::timeout(t + Duration::from_secs(30), wait)
            .await
            .map_err(|_| format!("the {} helper did not return", A::VERB))?,
        None => wait.await,
    }
    .map_err(|e| format!("{} helper: {e}", A::VERB))?;
    outcome::<A, T>(&out.stdout)
}

/// A helper's outcome: the last line it printed.
pub fn outcome<A: HelperArgs, T: serde::de::DeserializeOwned>(printed: &[u8]) -> Result<T, String> {
    let line = String::from_utf8_lossy(printed)
        .lines()
        .last()
        .map(str::to_string)
        .ok_or_else(|| format!("the {} helper printed nothing", A::VERB))?;
    serde_json::from_str(&line).map_err(|e| format!("{} helper: {e}", A::VERB))
}

/// Spawns `cmd` in the mount namespace `ns` (an fd of `/proc/PID/ns/mnt`) instead of the
/// caller's: a long-lived process started by a pod's supervisor (the store's proxy) must not
/// hold the supervisor's private mount namespace, which would keep the pod's mounts, and a copy
/// of every host mount, alive after the pod (mount_namespaces(7)).
pub fn spawn_in_mount_namespace(
    cmd: &mut std::process::Command,
    ns: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<std::process::Child> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::process::CommandExt as _;
    let fd = ns.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only calls setns(2), which
    // is async-signal-safe, on a descriptor the caller keeps open until the spawn returns; the
    // child has one thread, as setns(CLONE_NEWNS) requires.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{ExecArgs, ExecStdio};
    use crate::netprobe::{NetRequest, NetprobeArgs};
    use crate::sandbox::PauseArgs;
    use crate::shim::ShimArgs;
    use std::path::PathBuf;
    use std::time::Duration;

    fn round_trip<A: HelperArgs + PartialEq + std::fmt::Debug>(a: A) {
        let argv = a.argv();
        assert_eq!(argv[0], A::VERB);
        assert_eq!(A::parse(&argv[1..]).expect("parses back"), a);
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_helper_reads_back_what_its_parent_wrote() {
        round_trip(PauseArgs {
            hostname: "web".into(),
            parent: 42,
            host_network: false,
            share_pid: true,
            user_ns: true,
        });
        round_trip(ShimArgs {
            bundle: PathBuf::from("/run/tandem/pods/default_web/containers/app-0"),
            status_fd: 7,
            go_fd: 8,
        });
        for stdio in [ExecStdio::Capture, ExecStdio::Terminal { status_fd: 11 }] {
            round_trip(ExecArgs {
                bundle: PathBuf::from("/run/x/containers/app-0"),
                init_fd: 9,
                timeout: Duration::from_millis(1500),
                stdio,
                argv: vec!["sh".into(), "-c".into(), "echo -- $x".into()],
            });
        }
        for netns in [Some(PathBuf::from("/proc/9/ns/net")), None] {
            round_trip(NetprobeArgs {
                netns,
                request: NetRequest::Tcp {
                    host: "127.0.0.1".into(),
                    port: 80,
                    timeout_ms: 1000,
                },
            });
        }
    }

    fn err<A: std::fmt::Debug>(parsed: Result<A, ArgsError>) -> String {
        parsed.expect_err("an error").to_string()
    }

    #[test]
    fn a_command_line_that_does_not_parse_is_an_error() {
        assert_eq!(
            err(ShimArgs::parse(&os(&["/b"]))),
            "__shim: missing status descriptor"
        );
        assert_eq!(
            err(ShimArgs::parse(&os(&["/b", "x"]))),
            "__shim: status descriptor is not valid: \"x\""
        );
        assert_eq!(
            err(ShimArgs::parse(&os(&["/b", "7"]))),
            "__shim: missing go descriptor"
        );
        assert_eq!(
            err(PauseArgs::parse(&os(&["web", "1", "--shared"]))),
            "__pause: unknown flag \"--shared\""
        );
        assert_eq!(
            err(ExecArgs::parse(&os(&["/b", "9", "10", "capture", "sh"]))),
            "__exec: expected -- before the command"
        );
        assert!(err(NetprobeArgs::parse(&os(&["-", "{"]))).starts_with("__netprobe: bad request"));
    }
}
