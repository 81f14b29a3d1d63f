//! One plugin invocation (CNI spec, "Execution protocol") and the result it returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{NetworkError, Result};

/// The CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Check,
    Del,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Check => "CHECK",
            Op::Del => "DEL",
        }
    }
}

/// The container a plugin acts on; becomes the `CNI_*` variables.
pub(crate) struct Target<'a> {
    pub container_id: &'a str,
    /// Empty for a DEL whose namespace is gone.
    pub netns: &'a str,
    pub ifname: &'a str,
    pub plugin_dirs: &'a [PathBuf],
}

/// Runs `plugin` with `conf` on stdin; the parsed stdout (`null` when it printed nothing, as DEL
/// and CHECK do).
pub(crate) fn invoke(plugin: &Path, op: Op, target: &Target, conf: &Value) -> Result<Value> {
    let kind = plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = std::env::join_paths(target.plugin_dirs)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stdin = serde_json::to_vec(conf).map_err(|e| NetworkError::Config {
        source_name: kind.clone(),
        reason: e.to_string(),
    })?;
    let exec_err = |source| NetworkError::Exec {
        path: plugin.into(),
        source,
    };
    let mut cmd = Command::new(plugin);
    cmd.env("CNI_COMMAND", op.as_str())
        .env("CNI_CONTAINERID", target.container_id)
        .env("CNI_NETNS", target.netns)
        .env("CNI_IFNAME", target.ifname)
        .env("CNI_ARGS", "")
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // ETXTBSY: the executable is still open for writing somewhere (being installed, or a
    // descriptor inherited by a concurrent fork); it clears within moments.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other.map_err(exec_err)?,
        }
    };
    if let Some(mut i) = child.stdin.take() {
        // A plugin that exits without reading its configuration is judged by its exit status.
        match i.write_all(&stdin) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(exec_err(e)),
            _ => {}
        }
    }
    let out = child.wait_with_output().map_err(exec_err)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    if !out.status.success() {
        // An error result: {"code", "msg", "details"}; anything else is reported as printed.
        let (code, message) = match &parsed {
            Some(v) if v.get("msg").is_some() => {
                let msg = v["msg"].as_str().unwrap_or("").to_string();
                let details = v.get("details").and_then(Value::as_str).unwrap_or("");
                (
                    v.get("code").and_then(Value::as_u64),
                    if details.is_empty() {
                        msg
                    } else {
                        format!("{msg}: {details}")
                    },
                )
            }
            _ => {
                let err = String::from_utf8_lossy(&out.stderr);
                let both = format!("{} {}", text.trim(), err.trim());
                (None, format!("{} ({})", both.trim(), out.status))
            }
        };
        return Err(NetworkError::Plugin {
            plugin: kind,
            command: op.as_str().into(),
            code,
            message,
        });
    }
    match (op, parsed) {
        (Op::Add, None) => Err(NetworkError::BadResult {
            plugin: kind,
            reason: format!("its output is not JSON: {:?}", text.trim()),
        }),
        (_, v) => Ok(v.unwrap_or(Value::Null)),
    }
}

/// The parts of an ADD result (CNI 0.3.0 and later) tandem uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    /// The namespace path for an interface inside the container; empty on the host.
    #[serde(default)]
    pub sandbox: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// CIDR notation: `10.87.0.5/24`.
    pub address: String,
    #[serde(default)]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default)]
    pub interface: Option<usize>,
}

impl CniResult {
    /// Parses a result; results of CNI 0.1/0.2 (`ip4`/`ip6`) are read for their addresses.
    pub fn parse(v: &Value) -> std::result::Result<CniResult, String> {
        if v.get("ips").is_none() && (v.get("ip4").is_some() || v.get("ip6").is_some()) {
            let ips = ["ip4", "ip6"]
                .iter()
                .filter_map(|k| v.get(*k)?.get("ip")?.as_str())
                .map(|a| IpConfig {
                    address: a.into(),
                    ..Default::default()
                })
                .collect();
            return Ok(CniResult {
                interfaces: vec![],
                ips,
            });
        }
        let r: CniResult = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        for ip in &r.ips {
            if address_of(&ip.address).is_none() {
                return Err(format!(
                    "{:?} is not an IP address in CIDR form",
                    ip.address
                ));
            }
            if ip.interface.is_some_and(|i| i >= r.interfaces.len()) {
                return Err(format!(
                    "{:?} names an interface it does not list",
                    ip.address
                ));
            }
        }
        Ok(r)
    }

    /// The pod's addresses (no prefix length): those on interfaces inside the container, or
    /// unattributed ones, never loopback. IPv4 first, as the kubelet orders podIPs.
    pub fn pod_ips(&self) -> Vec<String> {
        let mut ips: Vec<std::net::IpAddr> = self
            .ips
            .iter()
            .filter(|ip| match ip.interface {
                Some(i) => self
                    .interfaces
                    .get(i)
                    .is_some_and(|iface| !iface.sandbox.is_empty()),
                None => true,
            })
            .filter_map(|ip| address_of(&ip.address))
            .filter(|a| !a.is_loopback())
            .collect();
        ips.sort_by_key(|a| a.is_ipv6());
        ips.dedup();
        ips.iter().map(ToString::to_string).collect()
    }

    /// Interfaces the plugins made on the host side (bridge, veth).
    pub fn host_interfaces(&self) -> Vec<String> {
        self.interfaces
            .iter()
            .filter(|i| i.sandbox.is_empty())
            .map(|i| i.name.clone())
            .collect()
    }
}

fn address_of(cidr: &str) -> Option<std::net::IpAddr> {
    cidr.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_give_the_pod_ips_and_host_interfaces() {
        let v = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "tandem0", "mac": "aa"},
                {"name": "veth1234", "mac": "bb"},
                {"name": "eth0", "mac": "cc", "sandbox": "/proc/1/ns/net"},
                {"name": "lo", "sandbox": "/proc/1/ns/net"}
            ],
            "ips": [
                {"address": "fd00:87::5/64", "interface": 2},
                {"address": "10.87.0.5/24", "gateway": "10.87.0.1", "interface": 2},
                {"address": "127.0.0.1/8", "interface": 3},
                {"address": "10.87.0.1/24", "interface": 0}
            ]
        });
        let r = CniResult::parse(&v).expect("parse");
        assert_eq!(r.pod_ips(), ["10.87.0.5", "fd00:87::5"]);
        assert_eq!(r.host_interfaces(), ["tandem0", "veth1234"]);
    }

    #[test]
    fn malformed_results_are_errors_not_panics() {
        assert!(CniResult::parse(&json!({"ips": [{"address": "nonsense"}]})).is_err());
        assert!(
            CniResult::parse(&json!({"ips": [{"address": "10.0.0.1/8", "interface": 4}]})).is_err()
        );
        assert!(CniResult::parse(&json!({"ips": "x"})).is_err());
        let old = CniResult::parse(&json!({"ip4": {"ip": "10.1.0.2/16"}})).expect("0.2.0");
        assert_eq!(old.pod_ips(), ["10.1.0.2"]);
    }

    #[test]
    fn plugin_errors_carry_the_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("failing");
        std::fs::write(
            &p,
            "#!/bin/sh\necho \"$CNI_COMMAND $CNI_IFNAME\" >&2\necho '{\"code\":11,\"msg\":\"no luck\",\"details\":\"really\"}'\nexit 1\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let t = Target {
            container_id: "c",
            netns: "",
            ifname: "eth0",
            plugin_dirs: &[],
        };
        match invoke(&p, Op::Add, &t, &json!({})) {
            Err(NetworkError::Plugin { code, message, .. }) => {
                assert_eq!(code, Some(11));
                assert_eq!(message, "no luck: really");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
