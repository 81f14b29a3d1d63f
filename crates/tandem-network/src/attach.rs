//! ADD, CHECK and DEL of a pod's attachment: the built-in network in-process ([`crate::builtin`]),
//! any other configuration list through its plugins, one after another, with the record
//! ([`crate::record`]) written before the first plugin runs and again with the list's result.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cni::{invoke, Op, Target};
use crate::config::{find_plugin, NetworkConfig};
use crate::record::{read_attachment, write_state, AddRequest, Attachment, Backend};
use crate::{CniResult, NetworkError, PortMapping, Result};

/// The configuration list an attachment was made with.
fn config_of(att: &Attachment) -> NetworkConfig {
    NetworkConfig {
        list: att.network.clone(),
        source: att.source.clone(),
        plugin_dirs: att.plugin_dirs.clone(),
    }
}

/// The configuration one plugin of the list gets on stdin.
fn plugin_conf(
    cfg: &NetworkConfig,
    plugin: &Value,
    prev: Option<&Value>,
    ports: &[PortMapping],
) -> Value {
    let mut conf = plugin.clone();
    if let Some(o) = conf.as_object_mut() {
        o.insert("name".into(), json!(cfg.name()));
        o.insert("cniVersion".into(), json!(cfg.cni_version()));
        if let Some(p) = prev.filter(|p| !p.is_null()) {
            o.insert("prevResult".into(), p.clone());
        }
        let wants_ports = plugin
            .get("capabilities")
            .and_then(|c| c.get("portMappings"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if wants_ports && !ports.is_empty() {
            o.insert("runtimeConfig".into(), json!({ "portMappings": ports }));
        }
    }
    conf
}

fn plugin_path(cfg: &NetworkConfig, plugin: &Value) -> Result<PathBuf> {
    let kind = plugin.get("type").and_then(Value::as_str).unwrap_or("");
    find_plugin(&cfg.plugin_dirs, kind).ok_or_else(|| NetworkError::PluginMissing {
        plugin: kind.into(),
        dirs: cfg
            .plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Adds the container to the network, recording the attachment in `state` first so that
/// [`del`] can undo even a partial ADD: the built-in network in-process, any other through its
/// plugins. On failure what was made is removed again.
pub fn add(cfg: &NetworkConfig, req: &AddRequest, state: &Path) -> Result<Attachment> {
    if cfg.is_builtin() {
        return crate::builtin::add(&cfg.list, req, state);
    }
    // Every plugin must be there before anything is changed.
    for p in cfg.plugins() {
        plugin_path(cfg, p)?;
    }
    let mut att = Attachment {
        network: cfg.list.clone(),
        source: cfg.source.clone(),
        plugin_dirs: cfg.plugin_dirs.clone(),
        container_id: req.container_id.clone(),
        netns: req.netns.clone(),
        ifname: req.ifname.clone(),
        port_mappings: req.port_mappings.clone(),
        result: None,
        backend: Backend::Cni,
    };
    write_state(state, &att)?;
    let netns = req.netns.to_string_lossy();
    let target = Target {
        container_id: &req.container_id,
        netns: &netns,
        ifname: &req.ifname,
        plugin_dirs: &cfg.plugin_dirs,
    };
    let mut prev: Option<Value> = None;
    for p in cfg.plugins() {
        let step = plugin_path(cfg, p).and_then(|path| {
            invoke(
                &path,
                Op::Add,
                &target,
                &plugin_conf(cfg, p, prev.as_ref(), &req.port_mappings),
            )
        });
        match step {
            Ok(v) => prev = Some(v),
            Err(e) => {
                att.result = prev;
                let _ = del_attachment(&att, true);
                let _ = std::fs::remove_file(state);
                return Err(e);
            }
        }
    }
    let result = prev.unwrap_or(Value::Null);
    if let Err(reason) = CniResult::parse(&result) {
        att.result = Some(result);
        let _ = del_attachment(&att, true);
        let _ = std::fs::remove_file(state);
        return Err(NetworkError::BadResult {
            plugin: cfg.name().into(),
            reason,
        });
    }
    att.result = Some(result);
    write_state(state, &att)?;
    Ok(att)
}

/// CHECKs an attachment (CNI 0.4.0 and later; older lists have no CHECK and pass).
pub fn check(att: &Attachment) -> Result<()> {
    if att.backend != Backend::Cni {
        return Ok(());
    }
    let cfg = config_of(att);
    let version: Vec<u32> = cfg
        .cni_version()
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    if version < vec![0, 4, 0] || cfg.list.get("disableCheck") == Some(&json!(true)) {
        return Ok(());
    }
    let netns = att.netns.to_string_lossy();
    let target = Target {
        container_id: &att.container_id,
        netns: &netns,
        ifname: &att.ifname,
        plugin_dirs: &cfg.plugin_dirs,
    };
    for p in cfg.plugins() {
        let path = plugin_path(&cfg, p)?;
        invoke(
            &path,
            Op::Check,
            &target,
            &plugin_conf(&cfg, p, att.result.as_ref(), &att.port_mappings),
        )?;
    }
    Ok(())
}

fn del_attachment(att: &Attachment, netns_alive: bool) -> Result<()> {
    if att.backend != Backend::Cni {
        return crate::builtin::remove(att);
    }
    let cfg = config_of(att);
    // A namespace path of a dead process could name another process's namespace once its pid is
    // reused: without a live namespace the plugins get none, and only release what they hold on
    // the host (addresses, rules); the interfaces went with the namespace.
    let netns = if netns_alive {
        att.netns.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let target = Target {
        container_id: &att.container_id,
        netns: &netns,
        ifname: &att.ifname,
        plugin_dirs: &cfg.plugin_dirs,
    };
    let mut first_err = None;
    for p in cfg.plugins().iter().rev() {
        let step = plugin_path(&cfg, p).and_then(|path| {
            invoke(
                &path,
                Op::Del,
                &target,
                &plugin_conf(&cfg, p, att.result.as_ref(), &att.port_mappings),
            )
        });
        if let Err(e) = step {
            first_err.get_or_insert(e);
        }
    }
    // Rules a plugin could only find through the namespace (bridge's masquerading chain) are
    // tagged with the container id; remove what is left.
    crate::sweep::remove_rules_of(&att.container_id);
    first_err.map_or(Ok(()), Err)
}

/// Deletes the attachment recorded in `state` (nothing to do when there is none) and removes the
/// record. `netns_alive` says whether the namespace recorded is still the pod's: false after its
/// holder died. The record stays when a plugin fails, so DEL can be tried again.
pub fn del(state: &Path, netns_alive: bool) -> Result<()> {
    let Some(att) = read_attachment(state)? else {
        return Ok(());
    };
    del_attachment(&att, netns_alive)?;
    std::fs::remove_file(state).map_err(|source| NetworkError::State {
        path: state.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STATE_FILE;

    #[test]
    fn plugin_conf_adds_name_version_prev_result_and_declared_capabilities() {
        let cfg = NetworkConfig {
            list: NetworkConfig::builtin(),
            source: "built-in".into(),
            plugin_dirs: vec![],
        };
        let ports = vec![PortMapping::parse("8080:80").expect("port")];
        let prev = json!({"ips": []});
        let bridge = plugin_conf(&cfg, &cfg.plugins()[0], None, &ports);
        assert_eq!(bridge["name"], "tandem");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert!(bridge.get("runtimeConfig").is_none());
        assert!(bridge.get("prevResult").is_none());
        let portmap = plugin_conf(&cfg, &cfg.plugins()[1], Some(&prev), &ports);
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0],
            json!({"hostPort": 8080, "containerPort": 80, "protocol": "tcp"})
        );
    }

    /// A fake plugin that logs its calls: ADD of the second plugin fails, and the first is
    /// deleted again with no record left behind.
    #[test]
    fn a_failed_add_is_rolled_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        for (name, fail) in [("good", false), ("bad", true)] {
            let p = dir.path().join(name);
            let body = format!(
                "#!/bin/sh\necho \"{name} $CNI_COMMAND $CNI_NETNS\" >> {}\n{}",
                log.display(),
                if fail {
                    "[ \"$CNI_COMMAND\" = ADD ] && { echo '{\"code\":7,\"msg\":\"nope\"}'; exit 1; }\nexit 0\n"
                } else {
                    "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.9.0.2/24\"}]}'\nexit 0\n"
                }
            );
            std::fs::write(&p, body).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let cfg = NetworkConfig {
            list: json!({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "good"}, {"type": "bad"}]}),
            source: "test".into(),
            plugin_dirs: vec![dir.path().into()],
        };
        let state = dir.path().join(STATE_FILE);
        let req = AddRequest {
            container_id: "cid-test".into(),
            netns: "/proc/self/ns/net".into(),
            ifname: "eth0".into(),
            port_mappings: vec![],
        };
        let err = add(&cfg, &req, &state).expect_err("a failing plugin");
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(!state.exists());
        let calls = std::fs::read_to_string(&log).expect("log");
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            [
                "good ADD /proc/self/ns/net",
                "bad ADD /proc/self/ns/net",
                "bad DEL /proc/self/ns/net",
                "good DEL /proc/self/ns/net"
            ]
        );

        // With only the good plugin, ADD records the result and DEL without a namespace clears it.
        let cfg = NetworkConfig {
            list: json!({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "good"}]}),
            ..cfg
        };
        let att = add(&cfg, &req, &state).expect("add");
        assert_eq!(att.pod_ips(), ["10.9.0.2"]);
        let saved = read_attachment(&state).expect("read").expect("record");
        assert_eq!(saved.pod_ips(), ["10.9.0.2"]);
        del(&state, false).expect("del");
        assert!(!state.exists());
        assert!(std::fs::read_to_string(&log)
            .expect("log")
            .ends_with("good DEL \n"));
    }
}
