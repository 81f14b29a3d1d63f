//! `tandem-checker`: a test program that runs *inside* tandem's containers.
//!
//! It owns one job: report, from the inside, what a container really has (ids, capabilities,
//! seccomp mode, no_new_privs, masked paths, mounts, cgroup limits, visible processes) and try
//! the escapes a container must never manage, printing one `key: value` line per finding so the
//! root tests can compare. It never decides whether a finding is right; the tests do.
//!
//! It uses the standard library only, so `tools/build-checker-image.sh` can link it statically
//! with a bare `rustc` call and put it into a busybox image with no libc.

mod grpc;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `O_PATH` from <fcntl.h> on Linux: opens a file without read or write access, which is how
/// the CVE-2019-5736 exploit keeps a handle on the runtime's binary until it can write to it.
const O_PATH: i32 = 0o10000000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: tandem-checker report|fds|try-write PATH...|steal-exe SECONDS [HOLD_PORT]|sleep");
        return ExitCode::from(2);
    };
    match cmd.as_str() {
        "report" => report(),
        "fds" => fds(),
        "try-write" => try_write(rest),
        "steal-exe" => steal_exe(rest),
        "sleep" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "grpc-health-server" => grpc::serve(rest),
        _ => {
            eprintln!("tandem-checker: unknown command {cmd:?}");
            ExitCode::from(2)
        }
    }
}

fn line(key: &str, value: impl std::fmt::Display) {
    println!("{key}: {value}");
}

fn read(path: &str) -> String {
    match fs::read_to_string(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => format!("error {}", e.raw_os_error().unwrap_or(0)),
    }
}

/// Everything a test may want to compare, one `key: value` per line.
fn report() -> ExitCode {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for key in [
        "Uid",
        "Gid",
        "Groups",
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
    ] {
        let v = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "absent".into());
        line(&key.to_lowercase(), v);
    }
    line("uid_map", read("/proc/self/uid_map").replace('\n', ";"));
    line("gid_map", read("/proc/self/gid_map").replace('\n', ";"));
    line("hostname", read("/proc/sys/kernel/hostname"));
    // containerd masks these paths: a character device bound over files, an empty read-only
    // tmpfs over directories.
    for p in [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ] {
        line(&format!("masked {p}"), masked(p));
    }
    for p in [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ] {
        let flag = if Path::new(p).exists() {
            mount_flag(p)
        } else {
            "absent".into()
        };
        line(&format!("readonly {p}"), flag);
    }
    for (k, p) in [
        ("cgroup memory.max", "/sys/fs/cgroup/memory.max"),
        ("cgroup cpu.max", "/sys/fs/cgroup/cpu.max"),
        ("cgroup pids.max", "/sys/fs/cgroup/pids.max"),
        (
            "cgroup memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ),
        (
            "cgroup cpu.cfs_quota_us",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ),
        ("cgroup cpu.shares", "/sys/fs/cgroup/cpu/cpu.shares"),
        ("cgroup pids.max", "/sys/fs/cgroup/pids/pids.max"),
    ] {
        if Path::new(p).exists() {
            line(k, read(p));
        }
    }
    let mut devices: Vec<String> = fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| t.is_char_device() || t.is_block_device())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    devices.sort();
    line("devices", devices.join(" "));
    let procs = processes();
    line("process count", procs.len());
    for (pid, cmd) in procs {
        line(&format!("process {pid}"), cmd);
    }
    for m in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        // mountinfo: id parent major:minor root mountpoint options ... - fstype source superopts
        let f: Vec<&str> = m.split(' ').collect();
        let fstype = m.split(" - ").nth(1).and_then(|t| t.split(' ').next());
        if f.len() > 5 {
            line(
                "mount",
                format!("{} {} {} {}", f[4], fstype.unwrap_or("?"), f[5], f[3]),
            );
        }
    }
    ExitCode::SUCCESS
}

/// How a masked path looks from inside: `null-device`, `empty-ro-dir`, `absent` or `VISIBLE`.
fn masked(p: &str) -> &'static str {
    let Ok(meta) = fs::metadata(p) else {
        return "absent";
    };
    if meta.file_type().is_char_device() {
        return "null-device";
    }
    if meta.is_dir() {
        let empty = fs::read_dir(p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if empty && mount_flag(p) == "ro" {
            return "empty-ro-dir";
        }
    }
    "VISIBLE"
}

/// `ro` or `rw`: the options of the innermost mount covering `p`.
fn mount_flag(p: &str) -> String {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for m in info.lines() {
        let f: Vec<&str> = m.split(' ').collect();
        if f.len() < 6 {
            continue;
        }
        let mp = f[4];
        let covers = p == mp || p.starts_with(&format!("{}/", mp.trim_end_matches('/')));
        // Later lines are mounted on top of earlier ones, so `>=` keeps the last of equals.
        if covers && best.as_ref().is_none_or(|(len, _)| mp.len() >= *len) {
            let ro = f[5].split(',').any(|o| o == "ro");
            best = Some((mp.len(), if ro { "ro" } else { "rw" }.into()));
        }
    }
    best.map(|(_, v)| v).unwrap_or_else(|| "unmounted".into())
}

fn processes() -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .map(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            (pid, cmd)
        })
        .collect();
    out.sort();
    out
}

/// Every open descriptor and where it leads, plus the working directory: a descriptor or cwd
/// that names a host path is the CVE-2024-21626 class of leak.
fn fds() -> ExitCode {
    let mut fds: Vec<u32> = fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    for fd in fds {
        // The directory listing's own descriptor is closed by now: ENOENT, not a finding.
        let target = match fs::read_link(format!("/proc/self/fd/{fd}")) {
            Ok(t) => t.display().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => format!("error {}", e.raw_os_error().unwrap_or(0)),
        };
        line(&format!("fd {fd}"), target);
    }
    line(
        "cwd",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|e| format!("error {}", e.raw_os_error().unwrap_or(0))),
    );
    // Climbing out of the working directory must stop at the container's root.
    let up = (0..16).map(|_| "..").collect::<Vec<_>>().join("/");
    let same_root = match (fs::metadata(&up), fs::metadata("/")) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    };
    line("cwd climbs to root", same_root);
    ExitCode::SUCCESS
}

/// `write PATH: ok` or `write PATH: denied errno N` for every path.
fn try_write(paths: &[String]) -> ExitCode {
    for p in paths {
        let r = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .and_then(|mut f| f.write_all(b"tandem-checker was here\n"));
        match r {
            Ok(()) => line(&format!("write {p}"), "ok"),
            Err(e) => line(
                &format!("write {p}"),
                format!("denied errno {}", e.raw_os_error().unwrap_or(0)),
            ),
        }
    }
    ExitCode::SUCCESS
}

/// The CVE-2019-5736 attack from inside: for SECONDS, look for processes whose executable is not
/// the checker's own image (a runtime helper entering the container for an exec probe or hook),
/// keep an `O_PATH` handle on it, and try to reopen it for writing both at once and after the
/// helper has gone. Prints `exe-seen: N`, `exe-handles: N`, the errnos of the refusals, and one
/// `exe-opened-for-write: ...` line per success (none is the only right answer).
fn steal_exe(args: &[String]) -> ExitCode {
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    // HOLD_PORT: a listener on 127.0.0.1 that accepts and never answers, so a runtime binary
    // lured into the container as an HTTP client stays alive long enough to be grabbed.
    if let Some(port) = args.get(1).and_then(|p| p.parse::<u16>().ok()) {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => {
                std::thread::spawn(move || {
                    let held: Vec<_> = l.incoming().collect();
                    drop(held);
                });
            }
            Err(e) => line("hold-port", format!("error {e}")),
        }
    }
    let me = fs::metadata("/proc/self/exe").map(|m| m.ino()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = 0usize;
    let mut denied_errnos = std::collections::BTreeSet::new();
    let mut held: Vec<(u32, fs::File)> = Vec::new();
    let mut considered = std::collections::BTreeSet::new();
    let mut refused = std::collections::BTreeSet::new();
    let mut opened = Vec::new();
    while Instant::now() < deadline {
        for (pid, _) in processes() {
            if considered.contains(&pid) {
                continue;
            }
            let exe = format!("/proc/{pid}/exe");
            let target = match fs::read_link(&exe) {
                Ok(t) => t,
                // A helper the kernel will not let us look at (not dumpable): refused for now,
                // but looked at again, since it may yet execute something we can open.
                Err(e) if matches!(e.raw_os_error(), Some(1 | 13)) => {
                    if refused.insert(pid) {
                        seen += 1;
                    }
                    denied_errnos.insert(e.raw_os_error().unwrap_or(0));
                    continue;
                }
                Err(_) => continue,
            };
            // The checker and busybox applets are the container's own; anything else entered
            // from outside.
            let own = fs::metadata(&exe).is_ok_and(|m| m.ino() == me)
                || target == Path::new("/bin/busybox");
            considered.insert(pid);
            if own {
                continue;
            }
            if !refused.contains(&pid) {
                seen += 1;
            }
            match fs::OpenOptions::new().write(true).open(&exe) {
                Ok(_) => opened.push(format!("{pid} {}", target.display())),
                Err(e) => {
                    denied_errnos.insert(e.raw_os_error().unwrap_or(0));
                }
            }
            match fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_PATH)
                .open(&exe)
            {
                Ok(f) => held.push((pid, f)),
                Err(e) => {
                    denied_errnos.insert(e.raw_os_error().unwrap_or(0));
                }
            }
        }
        for (pid, f) in &held {
            let via = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f));
            if fs::OpenOptions::new().write(true).open(&via).is_ok() {
                opened.push(format!("{pid} via O_PATH handle"));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    line("exe-seen", seen);
    line("exe-handles", held.len());
    line(
        "exe-denied-errnos",
        denied_errnos
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    opened.sort();
    opened.dedup();
    for o in &opened {
        line("exe-opened-for-write", o);
    }
    ExitCode::SUCCESS
}
