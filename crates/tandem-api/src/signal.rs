//! Stop signals: the names `lifecycle.stopSignal` accepts on Linux pods, and how a signal given by
//! name or number (an image's STOPSIGNAL) maps to its Linux number.

/// The signal names the API server accepts in `lifecycle.stopSignal` of a Linux pod.
pub const LINUX_STOP_SIGNALS: &[&str] = &[
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGIOT",
    "SIGKILL",
    "SIGPIPE",
    "SIGPOLL",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTKFLT",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGRTMIN",
    "SIGRTMIN+1",
    "SIGRTMIN+2",
    "SIGRTMIN+3",
    "SIGRTMIN+4",
    "SIGRTMIN+5",
    "SIGRTMIN+6",
    "SIGRTMIN+7",
    "SIGRTMIN+8",
    "SIGRTMIN+9",
    "SIGRTMIN+10",
    "SIGRTMIN+11",
    "SIGRTMIN+12",
    "SIGRTMIN+13",
    "SIGRTMIN+14",
    "SIGRTMIN+15",
    "SIGRTMAX-14",
    "SIGRTMAX-13",
    "SIGRTMAX-12",
    "SIGRTMAX-11",
    "SIGRTMAX-10",
    "SIGRTMAX-9",
    "SIGRTMAX-8",
    "SIGRTMAX-7",
    "SIGRTMAX-6",
    "SIGRTMAX-5",
    "SIGRTMAX-4",
    "SIGRTMAX-3",
    "SIGRTMAX-2",
    "SIGRTMAX-1",
    "SIGRTMAX",
];

/// The only stop signals of a Windows pod.
pub const WINDOWS_STOP_SIGNALS: &[&str] = &["SIGTERM", "SIGKILL"];

/// SIGTERM, what a container gets when neither the pod nor the image names a stop signal.
pub const SIGTERM: i32 = 15;

// Real-time signals as the C library numbers them (it keeps 32 and 33 for itself), which is what
// container runtimes use for SIGRTMIN/SIGRTMAX names.
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// The Linux number of a signal given as a number (`"10"`) or a name with or without the `SIG`
/// prefix, in any case (`SIGUSR1`, `usr1`, `RTMIN+3`), as container runtimes read an image's
/// STOPSIGNAL. `None` for anything else.
pub fn parse(raw: &str) -> Option<i32> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i32>() {
        return (1..=RTMAX).contains(&n).then_some(n);
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    // An image's STOPSIGNAL is not validated by anyone before this: no arithmetic may overflow.
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n = RTMIN.checked_add(off.parse::<i32>().ok()?)?;
        return (RTMIN..=RTMAX).contains(&n).then_some(n);
    }
    if let Some(off) = name.strip_prefix("RTMAX-") {
        let n = RTMAX.checked_sub(off.parse::<i32>().ok()?)?;
        return (RTMIN..=RTMAX).contains(&n).then_some(n);
    }
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" | "CLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        "RTMIN" => RTMIN,
        "RTMAX" => RTMAX,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_name_has_a_number() {
        for name in LINUX_STOP_SIGNALS {
            assert!(parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn out_of_range_real_time_offsets_are_refused_without_overflow() {
        for raw in [
            "SIGRTMIN+2147483647",
            "RTMAX--2147483648",
            "RTMIN+-1",
            "RTMAX-31",
            "RTMIN+31",
        ] {
            assert_eq!(parse(raw), None, "{raw}");
        }
        assert_eq!(parse("RTMAX-30"), Some(34));
    }

    #[test]
    fn names_numbers_and_real_time_offsets() {
        assert_eq!(parse("SIGUSR1"), Some(10));
        assert_eq!(parse("usr1"), Some(10));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("SIGRTMIN+3"), Some(37));
        assert_eq!(parse("SIGRTMAX-1"), Some(63));
        assert_eq!(parse("SIGRTMAX-40"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("SIGNOPE"), None);
    }
}
