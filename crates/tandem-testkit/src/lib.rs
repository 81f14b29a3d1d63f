//! Test support shared by more than one of tandem's crates (a dev-dependency only).
//!
//! It owns what a skipped test means ([`skip`]: a pass on a developer's machine, a failure in CI)
//! and how a test compares its output with a golden file ([`golden`], rewritten by [`bless`]).
//!
//! It owns the registry the image and end-to-end tests pull from: Debian's `docker-registry`
//! (the CNCF distribution registry) started per test on 127.0.0.1 with a free port, its storage
//! and optional htpasswd file in a temp dir, killed by pid on drop. It never talks to anything
//! but loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Says that a test cannot run here; the caller then returns. Outside CI the test passes with
/// `skipped: …` printed. In CI (`CI` set, as it is for `.ci/run`) it fails instead: CI runs as
/// root with everything `tools/setup.sh` installs, so a test that would skip there is a broken
/// machine or a broken test, and must not pass silently.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("this test would be skipped in CI, where it must run: {why}");
    }
    println!("skipped: {why}");
}

/// `TANDEM_BLESS=1 cargo nextest run …` rewrites every golden file from the current output;
/// review the diff before keeping it.
pub fn bless() -> bool {
    std::env::var_os("TANDEM_BLESS").is_some_and(|v| v == "1")
}

/// Compares `got` with the golden file at `path` (or writes it when blessing); returns a message on
/// mismatch.
pub fn golden(path: &Path, got: &str) -> Option<String> {
    if bless() {
        std::fs::write(path, got).expect("write golden file");
        return None;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with TANDEM_BLESS=1 to create it)",
            path.display()
        )
    });
    if want == got {
        return None;
    }
    let mut msg = format!("{} differs from the output:\n", path.display());
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            msg.push_str(&format!(
                "  line {}:\n    want: {}\n    got:  {}\n",
                i + 1,
                a.unwrap_or(&"<none>"),
                b.unwrap_or(&"<none>")
            ));
        }
    }
    Some(msg)
}

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
pub const HTPASSWD_BIN: &str = "/usr/bin/htpasswd";

/// Why a registry test cannot run here (to print as `skipped: …`), or `None` when it can.
pub fn registry_missing(with_login: bool) -> Option<String> {
    if !Path::new(REGISTRY_BIN).exists() {
        return Some(format!(
            "needs {REGISTRY_BIN} (apt-get install docker-registry, or tools/setup.sh)"
        ));
    }
    if with_login && !Path::new(HTPASSWD_BIN).exists() {
        return Some(format!(
            "needs {HTPASSWD_BIN} (apt-get install apache2-utils, or tools/setup.sh)"
        ));
    }
    None
}

/// A running registry; killed and its storage removed on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    /// Starts a registry on a free port of 127.0.0.1, with basic auth for `login` if given, and
    /// waits until it accepts connections. Panics (it is for tests) when it cannot start.
    pub fn start(login: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            );
            if let Some((user, pass)) = login {
                let out = Command::new(HTPASSWD_BIN)
                    .args(["-Bbn", user, pass])
                    .output()
                    .expect("htpasswd (apt-get install apache2-utils)");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.path().join("htpasswd"), out.stdout).expect("htpasswd file");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: tandem-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("registry config");
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Whoever answered, ours must still be alive a moment later: a registry
                    // that lost the port to another test's exits at once.
                    std::thread::sleep(Duration::from_millis(100));
                    if let Ok(None) = child.try_wait() {
                        return Registry { child, dir, port };
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    /// `127.0.0.1:PORT`, as image references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A containers-registries.conf file marking this registry insecure (plain HTTP).
    pub fn insecure_conf(&self) -> PathBuf {
        let p = self.dir.path().join("registries.conf");
        std::fs::write(
            &p,
            format!(
                "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
                self.host()
            ),
        )
        .expect("registries.conf");
        p
    }

    /// A blob's data file in the registry's storage (to tamper with it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or(hex))
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
