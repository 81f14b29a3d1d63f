//! The pod's own cgroup, and clean-up of the cgroups a pod's containers were placed in.
//!
//! libcontainer creates and removes each container's own cgroup below the pod's
//! (`/tandem/<pod-uid>/<container>-<attempt>`, from `linux.cgroupsPath`). The pod cgroup is made
//! here first, with the pod-level limits the kubelet would give it, and removed with everything
//! below it on every hierarchy of a v1, hybrid or v2 host when the pod ends.

use std::path::{Path, PathBuf};

/// The root of every pod cgroup, below each hierarchy's root.
const POD_PARENT: &str = "/tandem";
/// The leaf of a pod cgroup its pause process lives in.
const SANDBOX_LEAF: &str = "sandbox";

/// The cgroup of the pod with this uid: `/tandem/<uid>`. Its containers' cgroups are made below
/// it ([`container_cgroup`]) and its pause process lives in [`sandbox_cgroup`].
pub fn pod_cgroup(uid: &str) -> PathBuf {
    Path::new(POD_PARENT).join(uid)
}

/// The cgroup of one container instance: `/tandem/<uid>/<container>-<attempt>`.
pub fn container_cgroup(uid: &str, container: &str, attempt: u32) -> PathBuf {
    pod_cgroup(uid).join(format!("{container}-{attempt}"))
}

/// The leaf of the pod cgroup the pause process lives in: `/tandem/<uid>/sandbox`.
pub fn sandbox_cgroup(uid: &str) -> PathBuf {
    pod_cgroup(uid).join(SANDBOX_LEAF)
}

/// The pod cgroup whose sandbox leaf this process lives in (on any hierarchy of
/// `/proc/self/cgroup`), or `None` when it lives in no such leaf.
pub fn own_pod_cgroup() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own.lines().find_map(|l| {
        let path = Path::new(l.splitn(3, ':').nth(2)?);
        let pod = path.parent()?;
        (path.file_name()? == SANDBOX_LEAF && pod.parent()? == Path::new(POD_PARENT))
            .then(|| pod.to_path_buf())
    })
}

/// Every cgroup hierarchy mounted on this host (v1 controllers and the v2 unified tree).
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(pre.split(' ').nth(4).unwrap_or_default()))
        })
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// The controllers libcontainer's cgroup v1 manager places each container in (a directory of
/// its own in each of their hierarchies).
const V1_CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The cgroup v1 hierarchies of those controllers mounted under /sys/fs/cgroup
/// (`/sys/fs/cgroup/cpu,cpuacct`, `/sys/fs/cgroup/memory`, …): where each container has a
/// directory of its own. None on a v2 host; a named hierarchy (systemd's) and a hybrid host's
/// v2 tree are not among them.
pub fn v1_controller_hierarchies() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mut post = post.split(' ');
            let (fstype, _source, options) = (post.next()?, post.next()?, post.next()?);
            let controller = options.split(',').any(|o| V1_CONTROLLERS.contains(&o));
            let point = PathBuf::from(pre.split(' ').nth(4)?);
            (fstype == "cgroup" && controller && point.starts_with("/sys/fs/cgroup"))
                .then_some(point)
        })
        .collect()
}

/// Process ids in the cgroup `rel` (and below) on any hierarchy.
pub fn pids_in(rel: &Path) -> Vec<i32> {
    let mut pids = vec![];
    for h in hierarchies() {
        collect_pids(&h.join(rel.strip_prefix("/").unwrap_or(rel)), &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

/// Kills every process in the cgroup `rel` (and below) and removes the cgroups once they are
/// empty, waiting up to `patience` for the killed processes to be gone: a process SIGKILLed a
/// moment ago still counts in `cgroup.procs` until it has exited, and rmdir(2) of a cgroup with
/// members fails with EBUSY. Returns the directories that could not be removed.
pub fn kill_and_remove(rel: &Path, patience: std::time::Duration) -> Vec<PathBuf> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let pids = pids_in(rel);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = crate::process::send_signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut left = remove_tree(rel);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = remove_tree(rel);
    }
    left
}

/// Removes the cgroup `rel` and everything below it on every hierarchy (children first: rmdir(2)
/// on a cgroup with children fails with EBUSY). Returns the directories that could not be removed.
pub fn remove_tree(rel: &Path) -> Vec<PathBuf> {
    let mut left = vec![];
    for h in hierarchies() {
        let dir = h.join(rel.strip_prefix("/").unwrap_or(rel));
        if dir.exists() {
            remove_dir_tree(&dir, &mut left);
        }
    }
    left
}

fn remove_dir_tree(dir: &Path, left: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dir_tree(&e.path(), left);
            }
        }
    }
    if std::fs::remove_dir(dir).is_err() {
        left.push(dir.to_path_buf());
    }
}

/// Whether the kernel's OOM killer killed a process in the cgroup `rel`: the `oom_kill` counter of
/// `memory.oom_control` (v1, Linux 4.13+) or `memory.events` (v2).
pub fn oom_killed(rel: &Path) -> bool {
    if rel.as_os_str().is_empty() {
        return false;
    }
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    hierarchies().iter().any(|h| {
        ["memory.oom_control", "memory.events"].iter().any(|f| {
            std::fs::read_to_string(h.join(rel).join(f)).is_ok_and(|text| {
                text.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
        })
    })
}

/// The names of the cgroups directly below `rel`, on the first hierarchy that has it.
pub fn children(rel: &Path) -> Vec<String> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    hierarchies()
        .iter()
        .map(|h| h.join(rel))
        .find(|d| d.is_dir())
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect()
}

/// The CPU time used by the processes of cgroup `rel` and below, in nanoseconds: v1
/// `cpuacct.usage`, else v2 `cpu.stat`'s `usage_usec` (present whether or not the cpu controller
/// is enabled there).
pub fn cpu_usage_ns(rel: &Path) -> Option<u64> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let dirs: Vec<PathBuf> = hierarchies().iter().map(|h| h.join(rel)).collect();
    dirs.iter()
        .find_map(|d| {
            std::fs::read_to_string(d.join("cpuacct.usage"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
        })
        .or_else(|| {
            dirs.iter().find_map(|d| {
                stat_value(&d.join("cpu.stat"), "usage_usec").map(|us| us.saturating_mul(1000))
            })
        })
}

/// The memory working set of cgroup `rel` as cAdvisor computes it for the kubelet's summary
/// (what `kubectl top` shows): usage less the inactive file cache, never below zero. v1
/// `memory.usage_in_bytes` and `total_inactive_file`; v2 `memory.current` and `inactive_file`.
pub fn memory_working_set(rel: &Path) -> Option<u64> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    hierarchies().iter().map(|h| h.join(rel)).find_map(|d| {
        let read = |f: &str| -> Option<u64> {
            std::fs::read_to_string(d.join(f))
                .ok()
                .and_then(|t| t.trim().parse().ok())
        };
        if let Some(usage) = read("memory.usage_in_bytes") {
            let inactive = stat_value(&d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            return Some(usage.saturating_sub(inactive));
        }
        let usage = read("memory.current")?;
        let inactive = stat_value(&d.join("memory.stat"), "inactive_file").unwrap_or(0);
        Some(usage.saturating_sub(inactive))
    })
}

/// One `key value` line of a flat-keyed cgroup file.
fn stat_value(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the pod cgroup: {path}")]
pub struct CgroupError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl CgroupError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Internal
    }
}

/// Limits of a pod's own cgroup, computed by the caller (the kubelet's `ResourceConfigForPod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodLimits {
    pub memory_limit_bytes: Option<u64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: u64,
    /// v1 `cpu.shares`; converted to v2 `cpu.weight` as runc and the kubelet convert it.
    pub cpu_shares: u64,
    pub pids_max: Option<u64>,
}

/// Creates the cgroup `rel` on every hierarchy and writes `limits` into the controllers that
/// hierarchy has. On a v2 tree the controllers are first enabled in every ancestor's
/// `cgroup.subtree_control` (cgroups(7): a controller is usable in a child only once its parent
/// delegates it).
pub fn create_pod_cgroup(rel: &Path, limits: &PodLimits) -> Result<(), CgroupError> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Which requested limits some hierarchy took: one nobody could take is an error, never a
    // limit silently dropped.
    let mut applied: Vec<&str> = vec![];
    for l in info.lines() {
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or_default();
        let superopts = post.nth(1).unwrap_or_default();
        let Some(mount) = pre
            .split(' ')
            .nth(4)
            .map(|m| PathBuf::from(crate::mounts::unescape_mountinfo(m)))
        else {
            continue;
        };
        let dir = mount.join(rel);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CgroupError { path, source }
        };
        let mut writes: Vec<(&str, String)> = vec![];
        match fstype {
            "cgroup" => {
                let has = |c: &str| superopts.split(',').any(|o| o == c);
                if has("memory") {
                    if let Some(m) = limits.memory_limit_bytes {
                        writes.push(("memory.limit_in_bytes", m.to_string()));
                    }
                }
                if has("cpu") {
                    writes.push(("cpu.shares", limits.cpu_shares.to_string()));
                    if let Some(q) = limits.cpu_quota_us {
                        writes.push(("cpu.cfs_period_us", limits.cpu_period_us.to_string()));
                        writes.push(("cpu.cfs_quota_us", q.to_string()));
                    }
                }
                if has("pids") {
                    writes.push(("pids.max", max_or(limits.pids_max)));
                }
            }
            "cgroup2" => {
                let mut parent = mount.clone();
                for part in rel.iter() {
                    let available = std::fs::read_to_string(parent.join("cgroup.controllers"))
                        .unwrap_or_default();
                    let control = parent.join("cgroup.subtree_control");
                    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
                    // Only what is offered and not yet delegated: rewriting an enabled
                    // controller can fail (a root with processes, real-time tasks and cpu)
                    // though there is nothing to do.
                    let wanted: Vec<String> = ["cpu", "memory", "pids"]
                        .iter()
                        .filter(|c| available.split_whitespace().any(|a| a == **c))
                        .filter(|c| !enabled.split_whitespace().any(|a| a == **c))
                        .map(|c| format!("+{c}"))
                        .collect();
                    if !wanted.is_empty() {
                        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
                        std::fs::write(&control, wanted.join(" ")).map_err(io(&control))?;
                    }
                    parent.push(part);
                }
                writes.push(("memory.max", max_or(limits.memory_limit_bytes)));
                writes.push((
                    "cpu.max",
                    format!("{} {}", max_or(limits.cpu_quota_us), limits.cpu_period_us),
                ));
                // runc's conversion of shares [2, 262144] onto weight [1, 10000].
                let weight = 1 + (limits.cpu_shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
                writes.push(("cpu.weight", weight.to_string()));
                writes.push(("pids.max", max_or(limits.pids_max)));
            }
            _ => continue,
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (file, value) in writes {
            let path = dir.join(file);
            // A controller this hierarchy does not offer has no file here (the empty v2 tree
            // of a hybrid host); another hierarchy may take the limit.
            if path.exists() {
                std::fs::write(&path, value).map_err(io(&path))?;
                applied.push(file.split('.').next().unwrap_or(file));
            }
        }
    }
    for (wanted, controller) in [
        (limits.memory_limit_bytes.is_some(), "memory"),
        (limits.cpu_quota_us.is_some(), "cpu"),
        (limits.pids_max.is_some(), "pids"),
    ] {
        if wanted && !applied.contains(&controller) {
            return Err(CgroupError {
                path: PathBuf::from("/sys/fs/cgroup").join(rel),
                source: std::io::Error::other(format!(
                    "the {controller} controller is not available, so the pod's {controller} limit cannot be enforced"
                )),
            });
        }
    }
    Ok(())
}

fn max_or(v: Option<u64>) -> String {
    v.map_or_else(|| "max".into(), |v| v.to_string())
}

/// Moves process `pid` into the existing cgroup `rel` on every hierarchy that has it (a process
/// joining a container's cgroups, as an exec'd command does). Hierarchies where `rel` is missing
/// are left alone: a container's cgroup is never made here, so one removed as its container
/// exited is not brought back.
pub fn join(rel: &Path, pid: i32) -> Result<(), CgroupError> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    for dir in hierarchies().into_iter().map(|h| h.join(rel)) {
        if !dir.is_dir() {
            continue;
        }
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).map_err(|source| CgroupError {
            path: procs,
            source,
        })?;
    }
    Ok(())
}

/// Moves process `pid` into the cgroup `rel` on every hierarchy where the parent of `rel` exists
/// (making `rel` there), so that a process not started by libcontainer (the pod's pause process)
/// counts against the pod's limits and dies with the pod's cgroups.
///
/// `rel` should be a leaf below the pod cgroup, not the pod cgroup itself: on a v2 tree a cgroup
/// that holds processes cannot delegate controllers to children (cgroups(7), "no internal
/// processes"), which libcontainer does for every container's cgroup.
pub fn add_process(rel: &Path, pid: i32) -> Result<(), CgroupError> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in info.lines() {
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or_default();
        let superopts = post.nth(1).unwrap_or_default();
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        // A v1 cpuset cgroup takes no process until its cpus and mems are set (ENOSPC), and the
        // pod sets neither: there the process stays where it is, which limits nothing of the pod.
        if fstype == "cgroup" && superopts.split(',').any(|o| o == "cpuset") {
            continue;
        }
        let Some(mount) = pre.split(' ').nth(4).map(PathBuf::from) else {
            continue;
        };
        let dir = mount.join(rel);
        if !dir.parent().is_some_and(Path::is_dir) {
            continue;
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CgroupError { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).map_err(io(&procs))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files_are_read_by_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stat = dir.path().join("memory.stat");
        std::fs::write(
            &stat,
            "cache 10\ninactive_file 4096\ntotal_inactive_file 8192\nusage_usec 77\n",
        )
        .expect("write");
        assert_eq!(stat_value(&stat, "inactive_file"), Some(4096));
        assert_eq!(stat_value(&stat, "total_inactive_file"), Some(8192));
        assert_eq!(stat_value(&stat, "usage_usec"), Some(77));
        assert_eq!(stat_value(&stat, "missing"), None);
        assert_eq!(stat_value(&dir.path().join("absent"), "cache"), None);
    }
}
