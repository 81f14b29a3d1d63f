//! Clean-up of the cgroups a pod's containers were placed in.
//!
//! libcontainer creates and removes each container's own cgroup; the parents tandem names in
//! `linux.cgroupsPath` (`/tandem/<pod-uid>/...`) are left behind, on every hierarchy of a v1 or
//! hybrid host. This module finds and removes them.

use std::path::{Path, PathBuf};

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
