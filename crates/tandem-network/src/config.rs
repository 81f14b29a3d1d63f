//! Network configuration lists: the built-in default, or one chosen by name (in a configuration
//! directory) or by path (`.conflist`, or a single-plugin `.conf`/`.json`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{NetworkError, Result};

/// Where the plugins are looked for, in order (Debian's package, then the upstream location).
pub const DEFAULT_PLUGIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];
/// Where `--network NAME` looks for configuration lists unless told otherwise.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/cni/net.d";

/// Which network a pod joins.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `None`: the built-in network. A value with a `/` or ending in `.conflist`/`.conf`/`.json`
    /// is a file; anything else is the `name` of a list in `config_dir`.
    pub network: Option<String>,
    pub config_dir: Option<PathBuf>,
    /// `None`: [`DEFAULT_PLUGIN_DIRS`].
    pub plugin_dirs: Option<Vec<PathBuf>>,
}

/// A loaded configuration list and the directories its plugins come from.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The list as JSON (`cniVersion`, `name`, `plugins`).
    pub list: Value,
    /// Where it came from, for messages: `built-in` or a path.
    pub source: String,
    pub plugin_dirs: Vec<PathBuf>,
}

impl NetworkConfig {
    /// The built-in network: bridge `tandem0` with host-local addresses from `10.87.0.0/24` (and
    /// `fd87:7a6e::/64` when the host has IPv6, so pods are dual-stack as on a dual-stack node) and
    /// masquerading for egress, portmap for published ports (with SNAT so 127.0.0.1 works),
    /// firewall to accept the pod's forwarded traffic, and loopback.
    pub fn builtin() -> Value {
        Self::builtin_for(crate::builtin::ipv6_enabled())
    }

    /// [`NetworkConfig::builtin`] with IPv6 on or off: what tandem makes in-process
    /// ([`crate::builtin`]), written as the CNI configuration list that would make the same.
    pub fn builtin_for(ipv6: bool) -> Value {
        let range = |r: &crate::ipam::Range| json!([{ "subnet": format!("{}/{}", r.subnet, r.prefix), "gateway": r.gateway.to_string() }]);
        let ranges: Vec<Value> = crate::builtin::ranges(ipv6).iter().map(range).collect();
        let mut routes = vec![json!({ "dst": "0.0.0.0/0" })];
        if ipv6 {
            routes.push(json!({ "dst": "::/0" }));
        }
        json!({
            "cniVersion": "1.0.0",
            "name": crate::builtin::NAME,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": crate::builtin::BRIDGE,
                    "isGateway": true,
                    "ipMasq": true,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": ranges,
                        "routes": routes
                    }
                },
                { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true },
                { "type": "firewall" },
                { "type": "loopback" }
            ]
        })
    }

    pub fn load(sel: &Selection) -> Result<NetworkConfig> {
        let plugin_dirs = sel
            .plugin_dirs
            .clone()
            .unwrap_or_else(|| DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect());
        let (list, source) = match sel.network.as_deref() {
            None | Some("") => (Self::builtin(), crate::record::BUILTIN_SOURCE.to_string()),
            Some(n) if is_path(n) => (read_list(Path::new(n))?, n.to_string()),
            Some(name) => {
                let dir = sel
                    .config_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR));
                find_by_name(&dir, name)?
            }
        };
        let cfg = NetworkConfig {
            list,
            source,
            plugin_dirs,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: &str| NetworkError::Config {
            source_name: self.source.clone(),
            reason: reason.into(),
        };
        if self.name().is_empty() {
            return Err(bad("it has no \"name\""));
        }
        let plugins = self
            .list
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("it has no \"plugins\" list"))?;
        if plugins.is_empty() {
            return Err(bad("its \"plugins\" list is empty"));
        }
        for p in plugins {
            if p.get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                return Err(bad("a plugin has no \"type\""));
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        self.list.get("name").and_then(Value::as_str).unwrap_or("")
    }

    pub fn cni_version(&self) -> &str {
        self.list
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("0.3.1")
    }

    pub fn plugins(&self) -> &[Value] {
        self.list
            .get("plugins")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Plugin types of the list not found in the plugin directories.
    /// The built-in network, which tandem makes itself.
    pub fn is_builtin(&self) -> bool {
        self.source == crate::record::BUILTIN_SOURCE
    }

    pub fn missing_plugins(&self) -> Vec<String> {
        if self.is_builtin() {
            return vec![];
        }
        self.plugins()
            .iter()
            .filter_map(|p| p.get("type").and_then(Value::as_str))
            .filter(|t| find_plugin(&self.plugin_dirs, t).is_none())
            .map(str::to_string)
            .collect()
    }
}

fn is_path(n: &str) -> bool {
    n.contains('/')
        || [".conflist", ".conf", ".json"]
            .iter()
            .any(|e| n.ends_with(e))
}

/// Reads a `.conflist`, or a single-plugin `.conf` wrapped into a list.
fn read_list(path: &Path) -> Result<Value> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| NetworkError::Config {
        source_name: source_name.clone(),
        reason: format!("cannot be read: {e}"),
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| NetworkError::Config {
        source_name: source_name.clone(),
        reason: format!("is not valid JSON: {e}"),
    })?;
    if v.get("plugins").is_some() {
        return Ok(v);
    }
    if v.get("type").is_some() {
        let mut plugin = v.clone();
        let name = plugin.get("name").cloned().unwrap_or(Value::Null);
        let version = plugin.get("cniVersion").cloned().unwrap_or(Value::Null);
        if let Some(o) = plugin.as_object_mut() {
            o.remove("name");
            o.remove("cniVersion");
        }
        return Ok(json!({ "cniVersion": version, "name": name, "plugins": [plugin] }));
    }
    Err(NetworkError::Config {
        source_name,
        reason:
            "is neither a configuration list (\"plugins\") nor a plugin configuration (\"type\")"
                .into(),
    })
}

fn find_by_name(dir: &Path, name: &str) -> Result<(Value, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let Some(ext) = f.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !matches!(ext, "conflist" | "conf" | "json") {
            continue;
        }
        // Files that do not parse are skipped here, as CNI's own loaders do when searching.
        if let Ok(v) = read_list(&f) {
            if v.get("name").and_then(Value::as_str) == Some(name) {
                return Ok((v, f.display().to_string()));
            }
        }
    }
    Err(NetworkError::NetworkNotFound {
        name: name.into(),
        dir: dir.into(),
    })
}

/// The executable for plugin `kind` in the first directory that has it.
pub fn find_plugin(dirs: &[PathBuf], kind: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if kind.is_empty() || kind.contains('/') || kind == "." || kind == ".." {
        return None;
    }
    dirs.iter().map(|d| d.join(kind)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_is_valid() {
        let cfg = NetworkConfig::load(&Selection::default()).expect("built-in");
        assert_eq!(cfg.name(), "tandem");
        let types: Vec<_> = cfg
            .plugins()
            .iter()
            .filter_map(|p| p["type"].as_str())
            .collect();
        assert_eq!(types, ["bridge", "portmap", "firewall", "loopback"]);
    }

    #[test]
    fn builtin_list_is_dual_stack_only_when_the_host_has_ipv6() {
        let v4 = NetworkConfig::builtin_for(false);
        assert_eq!(
            v4["plugins"][0]["ipam"]["ranges"].as_array().map(Vec::len),
            Some(1)
        );
        let dual = NetworkConfig::builtin_for(true);
        let ipam = &dual["plugins"][0]["ipam"];
        assert_eq!(ipam["ranges"][1][0]["subnet"], "fd87:7a6e::/64");
        assert_eq!(ipam["routes"][1]["dst"], "::/0");
    }

    #[test]
    fn lists_load_by_name_and_path_and_single_plugins_are_wrapped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("10-a.conflist"),
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"loopback"}]}"#,
        )
        .expect("write");
        std::fs::write(
            dir.path().join("20-b.conf"),
            r#"{"cniVersion":"0.4.0","name":"b","type":"bridge"}"#,
        )
        .expect("write");
        std::fs::write(dir.path().join("30-broken.conf"), "{").expect("write");
        let sel = |n: &str| Selection {
            network: Some(n.into()),
            config_dir: Some(dir.path().into()),
            plugin_dirs: Some(vec![]),
        };
        let a = NetworkConfig::load(&sel("a")).expect("a");
        assert_eq!(a.plugins().len(), 1);
        let b = NetworkConfig::load(&sel("b")).expect("b");
        assert_eq!(b.cni_version(), "0.4.0");
        assert_eq!(b.plugins()[0]["type"], "bridge");
        assert!(b.plugins()[0].get("name").is_none());
        assert_eq!(b.missing_plugins(), ["bridge"]);
        let missing = NetworkConfig::load(&sel("nope")).expect_err("no such network");
        assert!(matches!(missing, NetworkError::NetworkNotFound { .. }));
        let path = dir.path().join("30-broken.conf");
        let broken =
            NetworkConfig::load(&sel(&path.display().to_string())).expect_err("broken JSON");
        assert!(broken.to_string().contains("not valid JSON"), "{broken}");
    }

    #[test]
    fn plugin_names_cannot_escape_their_directory() {
        assert_eq!(find_plugin(&[PathBuf::from("/usr/bin")], "../bin/sh"), None);
        assert_eq!(find_plugin(&[PathBuf::from("/")], ".."), None);
    }
}
