//! Shared harness for the root end-to-end tests: a private `--root` per test, the busybox image
//! imported into it, and helpers to run the built `tandem` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "localhost/tandem-busybox:1.35";
/// The busybox image with `/bin/tandem-checker` (crates/tandem-checker) added.
pub const CHECKER_IMAGE: &str = "localhost/tandem-checker:dev";

/// `None` (with the reason printed) when the test cannot run here.
pub fn require_root(test: &str) -> Option<()> {
    if nix::unistd::geteuid().is_root() {
        Some(())
    } else {
        tandem_testkit::skip(&format!(
            "{test} needs root (it creates namespaces, mounts and cgroups)"
        ));
        None
    }
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    /// A fresh store with the busybox image imported.
    pub fn new() -> Env {
        let root = tempfile::Builder::new()
            .prefix("tandem-e2e-")
            .tempdir()
            .expect("tempdir");
        let env = Env { root };
        env.import("tools/build-busybox-image.sh");
        env
    }

    /// A fresh store with the busybox image and [`CHECKER_IMAGE`] (busybox plus the
    /// in-container `tandem-checker`) imported.
    pub fn with_checker() -> Env {
        let env = Env::new();
        env.import("tools/build-checker-image.sh");
        env
    }

    fn import(&self, script: &str) {
        let out = Command::new("bash")
            .arg(repo().join(script))
            .arg(env!("CARGO_BIN_EXE_tandem"))
            .arg("--root")
            .arg(self.root.path())
            .env("BUSYBOX_TAR_OUT", self.rootfs_tar())
            .output()
            .expect("run an image build script");
        assert!(
            out.status.success(),
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The busybox image's root filesystem as a tarball, to import again under other names or
    /// settings (`tandem image import TAR REF --user …`).
    pub fn rootfs_tar(&self) -> PathBuf {
        self.root.path().join("busybox-rootfs.tar")
    }

    /// `tandem get pod NAME -o json` (`Null` when there is no such pod).
    pub fn pod_json(&self, name: &str) -> serde_json::Value {
        let out = self.tandem(&["get", "pod", name, "-o", "json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The pod's events as its supervisor recorded them (`events.jsonl`).
    pub fn event_records(&self, name: &str) -> Vec<serde_json::Value> {
        let path = self.pods_dir().join(format!("default_{name}/events.jsonl"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The waiting reason and message of container `index` of a pod, polled for up to 10 s
    /// until the reason is `reason`.
    pub fn waiting_for(&self, pod: &str, index: usize, reason: &str) -> (String, String) {
        let mut last = (String::new(), String::new());
        for _ in 0..100 {
            let v = self.pod_json(pod);
            let w = &v["status"]["containerStatuses"][index]["state"]["waiting"];
            last = (
                w["reason"].as_str().unwrap_or_default().to_string(),
                w["message"].as_str().unwrap_or_default().to_string(),
            );
            if last.0 == reason {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        last
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tandem"));
        c.arg("--root").arg(self.root.path());
        c
    }

    /// `tandem ARGS` started with its stdin, stdout and stderr piped to the test.
    pub fn spawn_piped(&self, args: &[&str]) -> std::process::Child {
        use std::process::Stdio;
        self.cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tandem")
    }

    pub fn tandem(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run tandem")
    }

    /// Runs a manifest given as text (through stdin) in the foreground.
    pub fn run_yaml(&self, yaml: &str, extra: &[&str]) -> Output {
        self.run_yaml_with(yaml, extra, &[])
    }

    /// [`Env::run_yaml`] with these environment variables set for `tandem run`.
    pub fn run_yaml_with(&self, yaml: &str, extra: &[&str], vars: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .envs(vars.iter().copied())
            .arg("run")
            .args(extra)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tandem run");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write manifest");
        child.wait_with_output().expect("wait tandem run")
    }

    pub fn pods_dir(&self) -> PathBuf {
        self.root.path().join("pods")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Workloads first (their controllers would make their pods again), then pods a failed
        // test left behind: none may outlive it.
        if let Ok(rd) = std::fs::read_dir(self.root.path().join("workloads")) {
            for e in rd.flatten() {
                let recorded = std::fs::read(e.path().join("workload.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .unwrap_or_default();
                let meta = &recorded["metadata"];
                if let (Some(kind), Some(name)) = (recorded["kind"].as_str(), meta["name"].as_str())
                {
                    let namespace = meta["namespace"].as_str().unwrap_or("default");
                    let _ = self.tandem(&[
                        "delete",
                        kind,
                        name,
                        "-n",
                        namespace,
                        "--grace-period",
                        "0",
                    ]);
                }
            }
        }
        // Services, so their proxy removes its rules and exits, and their addresses go back.
        if let Ok(rd) = std::fs::read_dir(self.root.path().join("services")) {
            for e in rd.flatten() {
                let recorded = std::fs::read(e.path().join("service.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .unwrap_or_default();
                let meta = &recorded["metadata"];
                if let Some(name) = meta["name"].as_str() {
                    let namespace = meta["namespace"].as_str().unwrap_or("default");
                    let _ = self.tandem(&["delete", "service", name, "-n", namespace]);
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.pods_dir()) {
            for e in rd.flatten() {
                // By the name the pod records: a long one's directory name is shortened.
                let recorded = std::fs::read(e.path().join("pod.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                if let Some(name) = recorded
                    .as_ref()
                    .and_then(|v| v["metadata"]["name"].as_str())
                    .map(str::to_string)
                {
                    let namespace = recorded
                        .as_ref()
                        .and_then(|v| v["metadata"]["namespace"].as_str())
                        .unwrap_or("default")
                        .to_string();
                    let _ = self.tandem(&[
                        "delete",
                        "pod",
                        &name,
                        "-n",
                        &namespace,
                        "--grace-period",
                        "0",
                    ]);
                }
            }
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Mount points under `dir` in the host's mount table.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    pids_mentioning(needle)
        .into_iter()
        .map(|(_, cmd)| cmd)
        .collect()
}

/// The pid and command line of each process whose command line contains `needle`.
pub fn pids_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            found.push((pid, cmd));
        }
    }
    found
}

/// The parent of process `pid` (proc(5): after the command name, which may hold parentheses).
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Cgroup directories of the pod with this uid, on every hierarchy.
pub fn cgroups_of(uid: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join("tandem").join(uid))
        .filter(|p| p.exists())
        .collect()
}

/// The pod's uid, from `get pod -o json`.
pub fn uid_of(env: &Env, pod: &str) -> String {
    let out = env.tandem(&["get", "pod", pod, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pod json");
    v["metadata"]["uid"].as_str().expect("uid").to_string()
}

/// Polls `f` every 20 ms until it returns `Some`, or fails after `secs` with `what`.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host end of the pod's veth and its address, from the attachment record (`None` without
/// the CNI plugins: the pod then has loopback only).
pub fn attachment(dir: &Path) -> Option<(String, String, String)> {
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("network.json")).ok()?).ok()?;
    let id = rec["container_id"].as_str()?.to_string();
    let veth = rec["result"]["interfaces"]
        .as_array()?
        .iter()
        .filter(|i| i["sandbox"].as_str().unwrap_or("").is_empty())
        .filter_map(|i| i["name"].as_str())
        .find(|n| n.starts_with("veth"))?
        .to_string();
    let ip = rec["result"]["ips"][0]["address"]
        .as_str()?
        .split('/')
        .next()?
        .to_string();
    Some((id, veth, ip))
}

/// What of these attachments is still on the host: veths, address allocations, masquerade rules
/// (of the plugins, in iptables) and published ports' rules (of the built-in network, commented
/// with the pod's id in nftables' `inet tandem` table).
pub fn network_leftovers(made: &[(String, String, String)]) -> Vec<String> {
    let rules = std::process::Command::new("iptables-save")
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    let nft = std::process::Command::new("nft")
        .args(["list", "table", "inet", "tandem"])
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    let mut found = vec![];
    for (id, veth, ip) in made {
        if Path::new("/sys/class/net").join(veth).exists() {
            found.push(format!("veth {veth}"));
        }
        let alloc = Path::new("/var/lib/cni/networks/tandem").join(ip);
        if std::fs::read_to_string(&alloc).is_ok_and(|c| c.contains(id.as_str())) {
            found.push(format!("allocation {ip} of {id}"));
        }
        // The masquerade rule names both the attachment's address and its id (the pod uid,
        // which a re-created sandbox's attachment shares): this attachment's and no other's.
        let source = format!("-s {ip}/");
        if rules
            .lines()
            .any(|l| l.contains(&source) && l.contains(id.as_str()))
        {
            found.push(format!("iptables rules of {id} for {ip}"));
        }
        if nft.contains(&format!("comment \"{id}\"")) {
            found.push(format!("nftables rules of {id}"));
        }
    }
    found
}

/// The pid its supervisor recorded in a pod directory.
/// The resident memory of a process, in KiB (0 once it is gone).
pub fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn supervisor_pid(dir: &Path) -> i32 {
    std::fs::read_to_string(dir.join("supervisor.pid"))
        .expect("supervisor.pid")
        .trim()
        .parse()
        .expect("pid number")
}

/// `kill -9 pid`.
pub fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
}

/// What a person at a terminal saw running a command (`support/drive_terminal.py`).
pub struct Terminal {
    /// Everything the terminal showed.
    pub shown: String,
    /// The command's exit status (JSON null if it was killed).
    pub exit: serde_json::Value,
}

/// Runs `argv` (the program first) on a pseudo-terminal of 30 × 100, typing and waiting as
/// `steps` say (drive_terminal.py's steps), with `envs` set; fails the test at a step whose
/// expected text never came, showing what did.
pub fn drive_terminal<S: AsRef<std::ffi::OsStr>>(
    steps: &serde_json::Value,
    argv: impl IntoIterator<Item = S>,
    envs: &[(&str, &Path)],
) -> Terminal {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("crates/tandem/tests/support/drive_terminal.py"))
        .arg(steps.to_string())
        .args(argv);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 drives the terminal");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let shown = report["output"].as_str().unwrap_or_default().to_string();
    assert!(
        report["failed"].is_null(),
        "stuck at {}: {shown}",
        report["failed"]
    );
    Terminal {
        shown,
        exit: report["exit"].clone(),
    }
}

/// A free TCP port of 127.0.0.1.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` different free TCP ports of 127.0.0.1: each is held until all are found, since a port
/// given back may be the next one handed out.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("bound").port())
}
