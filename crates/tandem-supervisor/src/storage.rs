//! Local ephemeral storage of a pod, measured for the engine's local-storage eviction (§4.1):
//! what the kubelet's summary stats give its eviction manager, taken here by walking directories.
//!
//! * a disk-backed emptyDir: its directory `volumes/<name>/`;
//! * a container: the writable layer of its current instance (the overlay upper directory
//!   `containers/<name>-<attempt>/upper`) plus every log file it wrote (`logs/<name>/`).
//!
//! Usage is counted as `du` counts it (the kubelet's `fs.DiskUsage`): allocated blocks of every
//! file and directory, each inode once, without crossing into other filesystems. Memory-backed
//! emptyDirs are not measured: their tmpfs is already `sizeLimit` large, so they cannot exceed it.
//!
//! The measurement is only made for a pod with a limit to check, every [`INTERVAL`]: the kubelet's
//! eviction housekeeping runs every 10 s; one second here stops a runaway writer within seconds,
//! for the price of one walk a second. The walk runs on the supervisor's single thread and yields
//! every few hundred entries, so a large volume slows the measurement, never the pod's lifecycle.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use tandem_api::plan::{PodPlan, VolumeSource};
use tandem_kubelet::runtime::RuntimeEvent;
use tandem_kubelet::runtime::StorageUsage;
use tokio::sync::mpsc;

use crate::statedir::PodDir;

/// How often the pod's local storage is measured.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Entries walked between two yields to the pod's other work.
const YIELD_EVERY: usize = 256;

/// Disk-backed emptyDirs with a `sizeLimit`, by name.
fn limited_empty_dirs(plan: &PodPlan) -> impl Iterator<Item = &str> {
    plan.volumes.iter().filter_map(|v| match &v.source {
        VolumeSource::EmptyDir {
            memory: false,
            size_limit_bytes: Some(l),
            ..
        } if *l > 0 => Some(v.name.as_str()),
        _ => None,
    })
}

/// Whether the pod has anything local-storage eviction checks: an emptyDir `sizeLimit` or an
/// `ephemeral-storage` limit on any container.
pub fn needs_measuring(plan: &PodPlan) -> bool {
    limited_empty_dirs(plan).next().is_some()
        || plan
            .all_containers()
            .any(|c| c.resources.limits.ephemeral_storage_bytes.is_some())
}

/// Measures the pod now. Anything missing (a container between instances, a volume not made)
/// counts as nothing.
pub async fn measure(plan: &PodPlan, dir: &PodDir) -> StorageUsage {
    let mut usage = StorageUsage::default();
    // The pod-level limit counts every disk-backed emptyDir, limited or not.
    let disk_empty_dirs = plan.volumes.iter().filter_map(|v| match &v.source {
        VolumeSource::EmptyDir { memory: false, .. } => Some(v.name.as_str()),
        _ => None,
    });
    for name in disk_empty_dirs {
        usage
            .empty_dirs
            .insert(name.to_string(), disk_usage(&dir.volume(name)).await);
    }
    let instances = current_instances(plan, dir);
    for c in plan.all_containers() {
        let mut used = disk_usage(&dir.logs(&c.name)).await;
        if let Some(bundle) = instances.get(c.name.as_str()) {
            used = used.saturating_add(disk_usage(&bundle.join("upper")).await);
        }
        usage.containers.insert(c.name.clone(), used);
    }
    usage
}

/// Each container's newest instance bundle under `containers/` (`<name>-<attempt>`; an exited
/// instance's bundle is removed with it). Container names are DNS labels, so the attempt is
/// whatever follows the name and a dash when it is all digits.
fn current_instances<'p>(plan: &'p PodPlan, dir: &PodDir) -> BTreeMap<&'p str, PathBuf> {
    let mut newest: BTreeMap<&str, (u32, PathBuf)> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.root.join("containers")) else {
        return BTreeMap::new();
    };
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(entry) = file_name.to_str() else {
            continue;
        };
        for c in plan.all_containers() {
            let attempt = entry
                .strip_prefix(c.name.as_str())
                .and_then(|r| r.strip_prefix('-'))
                .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|a| a.parse::<u32>().ok());
            let Some(attempt) = attempt else { continue };
            let slot = newest.entry(c.name.as_str()).or_insert((attempt, e.path()));
            if attempt >= slot.0 {
                *slot = (attempt, e.path());
            }
        }
    }
    newest.into_iter().map(|(k, (_, p))| (k, p)).collect()
}

/// Bytes of allocated blocks under `root` (`du -s -x -B1`): files and directories, hard links
/// once, not descending into other filesystems. Missing or vanishing entries count as nothing.
pub async fn disk_usage(root: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return 0;
    };
    let dev = top.dev();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = top.blocks().saturating_mul(512);
    let mut pending = vec![root.to_path_buf()];
    let mut walked = 0usize;
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            walked += 1;
            if walked.is_multiple_of(YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total = total.saturating_add(m.blocks().saturating_mul(512));
            if m.is_dir() {
                pending.push(e.path());
            }
        }
    }
    total
}

/// Measures the pod every [`INTERVAL`] and reports each measurement to the engine, for as long as
/// the engine listens. Does nothing for a pod without a limit to check.
pub fn spawn_monitor(plan: Rc<PodPlan>, dir: PodDir, tx: mpsc::UnboundedSender<RuntimeEvent>) {
    if !needs_measuring(&plan) {
        return;
    }
    tokio::task::spawn_local(async move {
        loop {
            let began = tokio::time::Instant::now();
            let usage = measure(&plan, &dir).await;
            if tx.send(RuntimeEvent::LocalStorage(usage)).is_err() {
                return;
            }
            // A pod with millions of files would keep the supervisor's one thread walking
            // them: the pause between walks grows with the walk, so measuring takes at most
            // a tenth of that thread.
            tokio::time::sleep(INTERVAL.max(began.elapsed() * 9)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::{ContainerPlan, ContainerRole, VolumePlan};

    fn plan() -> PodPlan {
        let mut app = ContainerPlan::new("app", ContainerRole::Main, "img");
        app.resources.limits.ephemeral_storage_bytes = Some(1 << 20);
        let mut plan = PodPlan::new(
            "p",
            vec![],
            vec![app, ContainerPlan::new("app-1", ContainerRole::Main, "img")],
        );
        plan.volumes = vec![
            VolumePlan {
                name: "scratch".into(),
                source: VolumeSource::EmptyDir {
                    memory: false,
                    size_limit_bytes: Some(1 << 20),
                    size_limit_quantity: Some("1Mi".into()),
                },
            },
            VolumePlan {
                name: "ram".into(),
                source: VolumeSource::EmptyDir {
                    memory: true,
                    size_limit_bytes: Some(1 << 20),
                    size_limit_quantity: Some("1Mi".into()),
                },
            },
        ];
        plan
    }

    fn write(path: &Path, bytes: usize) {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).expect("mkdir");
        }
        std::fs::write(path, vec![7u8; bytes]).expect("write");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn measures_volumes_writable_layers_and_logs_as_du_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = PodDir::open(tmp.path());
        let plan = plan();
        assert!(needs_measuring(&plan));
        write(&dir.volume("scratch").join("a/b/blob"), 3 << 20);
        // A hard link is counted once.
        std::fs::hard_link(
            dir.volume("scratch").join("a/b/blob"),
            dir.volume("scratch").join("link"),
        )
        .expect("link");
        // The older instance of `app` is gone with its exit; only the newest counts. `app-1`'s
        // bundle must not be taken for an instance of `app`.
        write(&dir.bundle("app", 0).join("upper/old"), 5 << 20);
        write(&dir.bundle("app", 2).join("upper/tmp/new"), 2 << 20);
        write(&dir.bundle("app-1", 0).join("upper/x"), 4 << 20);
        write(&dir.log_file("app", 0), 1 << 20);
        let u = measure(&plan, &dir).await;
        let mib = |v: u64| v as f64 / (1 << 20) as f64;
        let scratch = mib(u.empty_dirs["scratch"]);
        assert!((3.0..3.2).contains(&scratch), "scratch {scratch} MiB");
        assert!(
            !u.empty_dirs.contains_key("ram"),
            "tmpfs volumes are not walked"
        );
        let app = mib(u.containers["app"]);
        assert!(
            (3.0..3.2).contains(&app),
            "app: 2 MiB layer + 1 MiB log, got {app}"
        );
        let app1 = mib(u.containers["app-1"]);
        assert!((4.0..4.2).contains(&app1), "app-1 {app1} MiB");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sparse_file_counts_its_blocks_not_its_length() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let f = std::fs::File::create(tmp.path().join("sparse")).expect("create");
        f.set_len(64 << 20).expect("truncate");
        assert!(disk_usage(tmp.path()).await < 1 << 20);
        assert_eq!(disk_usage(&tmp.path().join("missing")).await, 0);
    }

    #[test]
    fn a_pod_without_limits_is_not_measured() {
        let mut p = plan();
        p.volumes.clear();
        p.containers[0].resources.limits.ephemeral_storage_bytes = None;
        assert!(!needs_measuring(&p));
    }
}
