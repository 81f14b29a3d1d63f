//! The host's device nodes, read for privileged containers (an adapter: it reads /dev, so it
//! stays out of `translate`, which only turns data into a spec).

use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType};

/// Every character and block device under `dev` (the host's /dev), as containerd gives a
/// privileged container: the same numbers, mode and owner. Pseudo-terminals, shared memory,
/// message queues, /dev/fd and the console are the container's own and are skipped.
pub fn host_devices(dev: &Path) -> Vec<LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = vec![];
    let mut stack = vec![dev.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]
                    .contains(&name.to_string_lossy().as_ref())
                {
                    stack.push(path);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            if path == dev.join("console") {
                continue;
            }
            let rdev = meta.rdev();
            let built = LinuxDeviceBuilder::default()
                .path(Path::new("/dev").join(path.strip_prefix(dev).unwrap_or(&path)))
                .typ(typ)
                .major(nix::sys::stat::major(rdev) as i64)
                .minor(nix::sys::stat::minor(rdev) as i64)
                .file_mode(meta.mode() & 0o777)
                .uid(meta.uid())
                .gid(meta.gid())
                .build();
            if let Ok(d) = built {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}
