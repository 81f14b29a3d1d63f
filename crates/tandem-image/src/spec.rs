//! The JSON documents of the OCI image spec and of `docker save`, as far as the store reads them,
//! and [`ImageConfig`], the runtime part of an image config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub(crate) const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const MEDIA_DOCKER_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const MEDIA_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Annotation holding a full image name (containerd, docker, buildkit).
pub(crate) const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI annotation naming a manifest in an image layout; often just a tag.
pub(crate) const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The default `PATH` of an imported image.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a layer's media type says about its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerMedia {
    /// A tar, uncompressed, gzip or zstd (the content decides, by magic bytes).
    Tar,
    /// A media type the store cannot unpack (not a tar layer at all).
    Unsupported,
}

pub(crate) fn layer_media(media_type: &str) -> LayerMedia {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        | "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => LayerMedia::Tar,
        _ => LayerMedia::Unsupported,
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// `manifest.json` of `docker save`: one entry per image.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DockerManifestEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// The image config blob (OCI and docker share this shape).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ConfigBlob {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub config: Option<RuntimeConfig>,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RootFs {
    pub diff_ids: Vec<Digest>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RuntimeConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

/// The parts of an image config a container needs: `config.Entrypoint`, `Cmd`, `Env`,
/// `WorkingDir`, `User`, `ExposedPorts` (as `"80/tcp"` strings), `Labels` and `StopSignal`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL` as written in the image (`SIGQUIT`, `QUIT`, `3`).
    pub stop_signal: Option<String>,
}

impl From<RuntimeConfig> for ImageConfig {
    fn from(c: RuntimeConfig) -> Self {
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        ImageConfig {
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            env: c.env.unwrap_or_default(),
            working_dir: non_empty(c.working_dir),
            user: non_empty(c.user),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            labels: c.labels.unwrap_or_default(),
            stop_signal: non_empty(c.stop_signal),
        }
    }
}

impl ImageConfig {
    /// The `config` object of an image config JSON, docker-style capitalised keys; `PATH` is
    /// added to `Env` when missing, ports without a protocol get `/tcp`.
    pub(crate) fn to_runtime_json(&self) -> serde_json::Value {
        let mut env = self.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH_ENV.to_string());
        }
        let mut obj = serde_json::Map::new();
        if let Some(ep) = &self.entrypoint {
            obj.insert("Entrypoint".into(), serde_json::json!(ep));
        }
        if let Some(cmd) = &self.cmd {
            obj.insert("Cmd".into(), serde_json::json!(cmd));
        }
        obj.insert("Env".into(), serde_json::json!(env));
        if let Some(wd) = &self.working_dir {
            obj.insert("WorkingDir".into(), serde_json::json!(wd));
        }
        if let Some(user) = &self.user {
            obj.insert("User".into(), serde_json::json!(user));
        }
        if !self.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, serde_json::Value> = self
                .exposed_ports
                .iter()
                .map(|p| {
                    let p = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    (p, serde_json::json!({}))
                })
                .collect();
            obj.insert("ExposedPorts".into(), serde_json::Value::Object(ports));
        }
        if !self.labels.is_empty() {
            obj.insert("Labels".into(), serde_json::json!(self.labels));
        }
        if let Some(sig) = &self.stop_signal {
            obj.insert("StopSignal".into(), serde_json::json!(sig));
        }
        serde_json::Value::Object(obj)
    }
}

/// The architecture name OCI uses for this host (`amd64`, `arm64`, ...).
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config_with_nulls() {
        let json = r#"{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",
            "config":{"Entrypoint":null,"Cmd":["sh"],"Env":["PATH=/bin","A=b"],"WorkingDir":"",
            "User":"1000:1000","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Labels":null,
            "StopSignal":"SIGQUIT"},
            "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        let blob: ConfigBlob = serde_json::from_str(json).expect("parses");
        let cfg = ImageConfig::from(blob.config.unwrap_or_default());
        assert_eq!(cfg.entrypoint, None);
        assert_eq!(cfg.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(cfg.env, vec!["PATH=/bin", "A=b"]);
        assert_eq!(cfg.working_dir, None);
        assert_eq!(cfg.user.as_deref(), Some("1000:1000"));
        assert_eq!(cfg.exposed_ports, vec!["53/udp", "80/tcp"]);
        assert!(cfg.labels.is_empty());
        assert_eq!(cfg.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(cfg.to_runtime_json()["StopSignal"], "SIGQUIT");
        assert_eq!(blob.rootfs.diff_ids.len(), 1);
        assert_eq!(blob.created.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn runtime_json_adds_default_path_and_tcp() {
        let cfg = ImageConfig {
            exposed_ports: vec!["8080".into()],
            ..Default::default()
        };
        let v = cfg.to_runtime_json();
        assert_eq!(v["Env"][0], DEFAULT_PATH_ENV);
        assert!(v["ExposedPorts"].get("8080/tcp").is_some());
        assert!(v.get("Entrypoint").is_none());
    }
}
