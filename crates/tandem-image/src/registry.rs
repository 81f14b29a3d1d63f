//! Pulling images from registries and pushing them, over the OCI distribution protocol
//! (through the `oci-client` crate of the ORAS project).
//!
//! A pull:
//! 1. finds the endpoints for the reference in the registries configuration (mirrors first,
//!    then the location), and the login for each in the [`Credentials`];
//! 2. connects: HTTPS with certificate checks, or for an insecure registry HTTPS without
//!    checks falling back to plain HTTP; token (Bearer) and Basic auth are both handled;
//! 3. fetches the manifest (OCI or Docker schema 2; an index is followed to the manifest for
//!    `linux/<host arch>`) and the config; each is hashed and compared with the digest it was
//!    asked for by, and with its descriptor's size;
//! 4. takes the store lock (so concurrent pulls of the same image download it once), then
//!    downloads the missing layers in parallel into `ingest/` — every byte hashed, never more
//!    than the descriptor's size, a broken transfer resumed with a Range request — and renames
//!    each into `blobs/` only once its digest verified; each layer is unpacked into its
//!    snapshot as soon as it is in, while the others download (unpacking verifies the DiffID);
//! 5. names the image in `images.json` only when everything above succeeded.
//!
//! A failed or interrupted pull leaves no visible half-written blob: temp files live in
//! `ingest/` and vanish (or are cleared when the store is next opened). Blobs that did verify
//! stay for the next attempt; `prune` removes them if nothing ever names them.

use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::auth::{AuthFile, Credentials};
use crate::content::{Staged, MAX_JSON};
use crate::digest::{chain_ids, Digest};
use crate::error::{Error, Result};
use crate::index::IndexEntry;
use crate::progress::{Progress, ProgressFn};
use crate::reference::Reference;
use crate::registries_conf::{Endpoint, RegistriesConf};
use crate::spec::{self, ConfigBlob, Manifest};
use crate::{summary, ImageStore, ImageSummary};

const ACCEPT: &[&str] = &[
    spec::MEDIA_OCI_MANIFEST,
    spec::MEDIA_OCI_INDEX,
    spec::MEDIA_DOCKER_MANIFEST,
    spec::MEDIA_DOCKER_LIST,
];
const RETRIES: u32 = 3;
const MAX_INDEX_DEPTH: usize = 2;

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Endpoints, mirrors, insecure and blocked registries.
    pub registries: RegistriesConf,
    /// Logins, in priority order.
    pub credentials: Credentials,
    /// `false` (`--tls-verify=false`): every registry may be plain HTTP or have any certificate.
    pub tls_verify: bool,
    /// Blobs transferred at once.
    pub max_concurrent: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            registries: RegistriesConf::default(),
            credentials: Credentials::default(),
            tls_verify: true,
            max_concurrent: 3,
        }
    }
}

/// Where registry settings come from, as data a pod's supervisor can be handed (it is written,
/// mode 0600, into the pod's state directory so later pulls use the same settings).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PullSettings {
    /// registries.conf; `None`: [`crate::registries_conf::DEFAULT_REGISTRIES_CONF`] if it exists.
    #[serde(default)]
    pub registries_conf: Option<PathBuf>,
    /// The auth file; `None`: [`crate::auth::default_auth_file`] if it exists.
    #[serde(default)]
    pub authfile: Option<PathBuf>,
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// imagePullSecrets (docker config.json documents), before the auth file.
    #[serde(default)]
    pub pull_secrets: Vec<NamedAuth>,
}

fn yes() -> bool {
    true
}

impl Default for PullSettings {
    fn default() -> Self {
        PullSettings {
            registries_conf: None,
            authfile: None,
            tls_verify: true,
            pull_secrets: vec![],
        }
    }
}

/// A named docker config.json document.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamedAuth {
    pub name: String,
    pub docker_config_json: String,
}

impl std::fmt::Debug for NamedAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedAuth")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PullSettings {
    /// Reads the files named and builds the options. An explicit auth file or registries.conf
    /// must exist; the default ones may be absent.
    pub fn options(&self) -> Result<RegistryOptions> {
        let registries = RegistriesConf::load(self.registries_conf.as_deref())?;
        let mut credentials = Credentials::new();
        for s in &self.pull_secrets {
            credentials.push(AuthFile::parse(
                s.docker_config_json.as_bytes(),
                &format!("imagePullSecret {}", s.name),
            )?);
        }
        match &self.authfile {
            Some(p) if !p.exists() => {
                return Err(Error::InvalidAuthFile {
                    source_name: p.display().to_string(),
                    reason: "the file does not exist".to_string(),
                })
            }
            Some(p) => credentials.push(AuthFile::read(p)?),
            None => {
                if let Some(p) = crate::auth::default_auth_file() {
                    credentials.push(AuthFile::read(&p)?);
                }
            }
        }
        Ok(RegistryOptions {
            registries,
            credentials,
            tls_verify: self.tls_verify,
            ..RegistryOptions::default()
        })
    }
}

/// What a pull did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullReport {
    pub image: ImageSummary,
    /// The digest the reference resolved to in the registry (an index for multi-platform
    /// images, else the manifest).
    pub resolved_digest: String,
    pub blobs_downloaded: usize,
    pub bytes_downloaded: u64,
    /// The store already had this exact image under this name: nothing was downloaded.
    pub up_to_date: bool,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushReport {
    /// The normalised destination.
    pub reference: String,
    pub manifest_digest: String,
    pub blobs_pushed: usize,
    pub bytes_pushed: u64,
}

/// A connection to one repository on one endpoint.
struct Session {
    client: Client,
    /// The repository on the endpoint (tag `latest`, only used for its registry and path).
    repo: oci_client::Reference,
    auth: RegistryAuth,
    had_credentials: bool,
    host: String,
    /// The user's reference, for messages.
    shown: String,
}

impl Session {
    fn at_digest(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.repo.registry().to_string(),
            self.repo.repository().to_string(),
            digest.to_string(),
        )
    }

    fn at_tag(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.repo.registry().to_string(),
            self.repo.repository().to_string(),
            tag.to_string(),
        )
    }

    fn err(&self, e: OciDistributionError) -> Error {
        map_error(e, &self.host, &self.shown, self.had_credentials)
    }
}

fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn make_client(insecure: bool, http: bool, max: usize) -> Result<Client, OciDistributionError> {
    install_crypto_provider();
    let config = ClientConfig {
        protocol: if http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        accept_invalid_certificates: insecure,
        use_monolithic_push: true,
        platform_resolver: None,
        max_concurrent_download: max,
        max_concurrent_upload: max,
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(60)),
        ..ClientConfig::default()
    };
    Client::try_from(config)
}

fn is_transport(e: &OciDistributionError) -> bool {
    matches!(e, OciDistributionError::RequestError(r) if r.is_connect() || r.is_request() || r.is_timeout())
}

fn map_error(e: OciDistributionError, host: &str, shown: &str, had_credentials: bool) -> Error {
    let unauthorized = |detail: String| Error::RegistryUnauthorized {
        registry: host.to_string(),
        reference: shown.to_string(),
        had_credentials,
        detail,
    };
    let unknown = |detail: String| Error::ManifestUnknown {
        registry: host.to_string(),
        reference: shown.to_string(),
        detail,
    };
    let other = |detail: String, hint: &'static str| Error::Registry {
        registry: host.to_string(),
        reference: shown.to_string(),
        detail,
        hint,
    };
    match e {
        OciDistributionError::UnauthorizedError { .. } => {
            unauthorized("HTTP 401 Unauthorized".to_string())
        }
        OciDistributionError::AuthenticationFailure(m) => {
            unauthorized(format!("the token server said: {}", m.trim()))
        }
        OciDistributionError::RegistryError { ref envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let text = envelope.to_string();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                unauthorized(text)
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            }) {
                unknown(text)
            } else {
                other(text, "the registry refused the request")
            }
        }
        OciDistributionError::ImageManifestNotFoundError(m) => unknown(m),
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 | 403 => unauthorized(format!("HTTP {code}: {}", message.trim())),
            404 => unknown(format!("HTTP 404: {}", message.trim())),
            _ => other(
                format!("HTTP {code}: {}", message.trim()),
                "the registry failed; try again later",
            ),
        },
        OciDistributionError::RequestError(ref r)
            if matches!(r.status().map(|s| s.as_u16()), Some(401 | 403)) =>
        {
            unauthorized(format!("HTTP {}", r.status().map_or(0, |s| s.as_u16())))
        }
        OciDistributionError::RequestError(ref r) if r.status().map(|s| s.as_u16()) == Some(404) => {
            unknown("HTTP 404".to_string())
        }
        OciDistributionError::RequestError(ref r) => other(
            tandem_errors::error_chain(r),
            "check the registry address and that it is up; a plain-HTTP or self-signed registry must be marked `insecure = true` in registries.conf, or pass --tls-verify=false",
        ),
        e => other(tandem_errors::error_chain(&e), "the registry does not follow the OCI distribution spec"),
    }
}

impl ImageStore {
    /// Connects to the first endpoint that answers (mirrors fall through to the next).
    async fn connect(
        &self,
        endpoint: &Endpoint,
        shown: &str,
        opts: &RegistryOptions,
        op: RegistryOperation,
    ) -> Result<Session> {
        let login = opts.credentials.find(&endpoint.host, &endpoint.path);
        let auth = login.map_or(RegistryAuth::Anonymous, |l| {
            RegistryAuth::Basic(l.username.clone(), l.password.clone())
        });
        let schemes: &[bool] = if endpoint.insecure {
            &[false, true]
        } else {
            &[false]
        };
        let mut last = None;
        for (i, &http) in schemes.iter().enumerate() {
            let client = make_client(endpoint.insecure, http, opts.max_concurrent)
                .map_err(|e| map_error(e, &endpoint.host, shown, login.is_some()))?;
            let repo = oci_client::Reference::with_tag(
                endpoint.host.clone(),
                endpoint.path.clone(),
                "latest".to_string(),
            );
            match client.auth(&repo, &auth, op).await {
                Ok(_) => {
                    return Ok(Session {
                        client,
                        repo,
                        auth,
                        had_credentials: login.is_some(),
                        host: endpoint.host.clone(),
                        shown: shown.to_string(),
                    })
                }
                Err(e) if is_transport(&e) && i + 1 < schemes.len() => last = Some(e),
                Err(e) => return Err(map_error(e, &endpoint.host, shown, login.is_some())),
            }
        }
        Err(map_error(
            last.unwrap_or(OciDistributionError::GenericError(None)),
            &endpoint.host,
            shown,
            login.is_some(),
        ))
    }

    /// Pulls `reference` (normalised like everywhere in the store) and unpacks it. Concurrent
    /// pulls of the same image (from any process) download it once.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PullReport> {
        let name = Reference::parse(reference)?;
        let shown = name.to_string();
        let endpoints = opts.registries.endpoints(&name, false, !opts.tls_verify)?;
        let mut last_err = None;
        for endpoint in &endpoints {
            let attempt = async {
                let session = self
                    .connect(endpoint, &shown, opts, RegistryOperation::Pull)
                    .await?;
                self.pull_from(&session, &name, opts, progress).await
            };
            match attempt.await {
                Ok(report) => return Ok(report),
                // A mirror that fails (down, or without the image) falls through.
                Err(e) if endpoint.mirror => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or(Error::ManifestUnknown {
            registry: name.domain().to_string(),
            reference: shown,
            detail: "no endpoint is configured".to_string(),
        }))
    }

    async fn pull_from(
        &self,
        s: &Session,
        name: &Reference,
        opts: &RegistryOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PullReport> {
        let (manifest_bytes, manifest_digest, index, resolved) =
            self.resolve_manifest(s, name).await?;
        let bad = |what, reason: String| Error::BadRegistryContent {
            registry: s.host.clone(),
            reference: s.shown.clone(),
            what,
            reason,
        };
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| bad("manifest", e.to_string()))?;
        check_media_types(s, &manifest, &manifest_digest)?;
        let config_bytes = self
            .fetch_small(s, &manifest.config.digest, manifest.config.size, "config")
            .await?;
        let config: ConfigBlob =
            serde_json::from_slice(&config_bytes).map_err(|e| bad("config", e.to_string()))?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != manifest.layers.len() {
            return Err(bad(
                "config",
                format!(
                    "it lists {} diff_ids for {} layers",
                    diff_ids.len(),
                    manifest.layers.len()
                ),
            ));
        }
        let mut blobs: Vec<(String, u64)> = manifest
            .layers
            .iter()
            .map(|l| (l.digest.to_string(), l.size))
            .collect();
        blobs.push((manifest.config.digest.to_string(), manifest.config.size));
        progress(Progress::Resolved {
            reference: s.shown.clone(),
            manifest: manifest_digest.to_string(),
            blobs,
        });
        progress(Progress::Done {
            digest: manifest.config.digest.to_string(),
            size: manifest.config.size,
        });

        // Everything below mutates the store: one pull at a time per store, so a second pull of
        // the same image finds it complete and downloads nothing.
        let store = self.clone();
        let _lock = tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| Error::io("lock", self.lock_path(), std::io::Error::other(e)))??;

        let key = name.to_string();
        let chains = chain_ids(&diff_ids);
        let complete = |store: &ImageStore| {
            manifest
                .layers
                .iter()
                .all(|l| blob_has_size(store, &l.digest, l.size))
                && chains.iter().all(|c| store.snapshot_fs(c).is_dir())
        };
        let index_file = self.read_index()?;
        if let Some(existing) = index_file.images.get(&key) {
            if existing.manifest == manifest_digest
                && self.content.blob_path(&existing.config).is_file()
                && complete(self)
            {
                for l in &manifest.layers {
                    progress(Progress::Exists {
                        digest: l.digest.to_string(),
                        size: l.size,
                    });
                }
                return Ok(PullReport {
                    image: summary(&key, existing),
                    resolved_digest: resolved.to_string(),
                    blobs_downloaded: 0,
                    bytes_downloaded: 0,
                    up_to_date: true,
                });
            }
        }

        let results = self
            .fetch_layers(s, &manifest, &diff_ids, &chains, opts, progress)
            .await?;

        let (config_digest, config_size) = self.content.write_bytes(&config_bytes, self.root())?;
        let (manifest_digest, manifest_size) =
            self.content.write_bytes(&manifest_bytes, self.root())?;
        if let Some((index_bytes, _)) = &index {
            self.content.write_bytes(index_bytes, self.root())?;
        }
        let entry = IndexEntry {
            manifest: manifest_digest,
            config: config_digest,
            size: manifest_size + config_size + manifest.layers.iter().map(|l| l.size).sum::<u64>(),
            created: config.created.clone(),
            index: index.map(|(_, d)| d),
        };
        let mut index_file = self.read_index()?;
        index_file.images.insert(key.clone(), entry.clone());
        self.write_index(&index_file)?;
        Ok(PullReport {
            image: summary(&key, &entry),
            resolved_digest: resolved.to_string(),
            blobs_downloaded: results.iter().flatten().count(),
            bytes_downloaded: results.iter().flatten().sum(),
            up_to_date: false,
        })
    }

    /// The manifest `name` points at, for this host's platform: its bytes and digest, the top
    /// index it was chosen from (bytes, digest) if any, and the digest the name resolved to
    /// (checked against the name's own digest when it has one).
    async fn resolve_manifest(
        &self,
        s: &Session,
        name: &Reference,
    ) -> Result<(Vec<u8>, Digest, Option<(Vec<u8>, Digest)>, Digest)> {
        let top = match (name.digest(), name.tag()) {
            (Some(d), _) => s.at_digest(&d.to_string()),
            (None, Some(t)) => s.at_tag(t),
            (None, None) => s.at_tag(crate::DEFAULT_TAG),
        };
        let (bytes, _) = s
            .client
            .pull_manifest_raw(&top, &s.auth, ACCEPT)
            .await
            .map_err(|e| s.err(e))?;
        let resolved = Digest::of_bytes(&bytes);
        if let Some(pinned) = name.digest() {
            if &resolved != pinned {
                return Err(Error::BlobDigestMismatch {
                    location: format!("manifest of {} from {}", s.shown, s.host),
                    expected: pinned.to_string(),
                    actual: resolved.to_string(),
                });
            }
        }
        let (manifest_bytes, manifest_digest, index) = self
            .select_platform(s, bytes.to_vec(), resolved.clone())
            .await?;
        Ok((manifest_bytes, manifest_digest, index, resolved))
    }

    /// Downloads every layer not in the store yet (a few at a time) and unpacks every snapshot
    /// not made yet. Returns the size of each layer downloaded (`None` for one already there).
    async fn fetch_layers(
        &self,
        s: &Session,
        manifest: &Manifest,
        diff_ids: &[Digest],
        chains: &[Digest],
        opts: &RegistryOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Vec<Option<u64>>> {
        let is_root = nix::unistd::geteuid().is_root();
        let jobs = manifest
            .layers
            .iter()
            .zip(diff_ids.iter())
            .zip(chains.iter())
            .map(|((layer, diff_id), chain)| async move {
                let downloaded = if blob_has_size(self, &layer.digest, layer.size) {
                    progress(Progress::Exists {
                        digest: layer.digest.to_string(),
                        size: layer.size,
                    });
                    None
                } else {
                    Some(
                        self.download(s, &layer.digest, layer.size, progress)
                            .await?,
                    )
                };
                if !self.snapshot_fs(chain).is_dir() {
                    progress(Progress::Unpacking {
                        digest: layer.digest.to_string(),
                    });
                    let (store, image, blob, diff_id, chain) = (
                        self.clone(),
                        s.shown.clone(),
                        layer.digest.clone(),
                        diff_id.clone(),
                        chain.clone(),
                    );
                    tokio::task::spawn_blocking(move || {
                        store.unpack_snapshot(&image, &blob, &diff_id, &chain, is_root)
                    })
                    .await
                    .map_err(|e| {
                        Error::io("unpack", self.snapshots_dir(), std::io::Error::other(e))
                    })??;
                    progress(Progress::Unpacked {
                        digest: layer.digest.to_string(),
                    });
                }
                Ok::<Option<u64>, Error>(downloaded)
            });
        stream::iter(jobs)
            .buffer_unordered(opts.max_concurrent.max(1))
            .try_collect()
            .await
    }

    /// Follows an index to the manifest for `linux/<host arch>`. Returns the manifest bytes, its
    /// digest, and the top index (bytes, digest) when there was one.
    async fn select_platform(
        &self,
        s: &Session,
        mut bytes: Vec<u8>,
        mut digest: Digest,
    ) -> Result<(Vec<u8>, Digest, Option<(Vec<u8>, Digest)>)> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            schema_version: Option<i64>,
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<Vec<spec::Descriptor>>,
        }
        let mut top = None;
        for depth in 0..=MAX_INDEX_DEPTH {
            let probe: Probe =
                serde_json::from_slice(&bytes).map_err(|e| Error::BadRegistryContent {
                    registry: s.host.clone(),
                    reference: s.shown.clone(),
                    what: "manifest",
                    reason: e.to_string(),
                })?;
            if probe.schema_version == Some(1) {
                return Err(Error::UnsupportedMediaType {
                    what: format!("manifest of {}", s.shown),
                    media_type: "Docker schema 1 (re-push the image with a current tool)"
                        .to_string(),
                });
            }
            let is_index = matches!(
                probe.media_type.as_deref(),
                Some(spec::MEDIA_OCI_INDEX | spec::MEDIA_DOCKER_LIST)
            ) || (probe.media_type.is_none() && probe.manifests.is_some());
            if !is_index {
                return Ok((bytes, digest, top));
            }
            if depth == MAX_INDEX_DEPTH {
                break;
            }
            let manifests = probe.manifests.unwrap_or_default();
            let arch = spec::host_arch();
            let want_variant = match arch {
                "arm64" => Some("v8"),
                _ => None,
            };
            let candidates: Vec<&spec::Descriptor> = manifests
                .iter()
                .filter(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == arch)
                })
                .collect();
            let chosen = candidates
                .iter()
                .find(|m| m.platform.as_ref().and_then(|p| p.variant.as_deref()) == want_variant)
                .or(candidates.first())
                .copied()
                .cloned();
            let Some(chosen) = chosen else {
                let available: Vec<String> = manifests
                    .iter()
                    .filter_map(|m| m.platform.as_ref().map(ToString::to_string))
                    .collect();
                return Err(Error::NoMatchingPlatform {
                    index: format!("{digest} of {}", s.shown),
                    platform: format!("linux/{arch}"),
                    available: if available.is_empty() {
                        "no platforms".to_string()
                    } else {
                        available.join(", ")
                    },
                });
            };
            if top.is_none() {
                top = Some((bytes.clone(), digest.clone()));
            }
            if chosen.size > MAX_JSON {
                return Err(Error::BlobSizeMismatch {
                    location: format!("manifest {} of {}", chosen.digest, s.shown),
                    expected: MAX_JSON,
                    actual: chosen.size,
                });
            }
            let (b, _) = s
                .client
                .pull_manifest_raw(&s.at_digest(&chosen.digest.to_string()), &s.auth, ACCEPT)
                .await
                .map_err(|e| s.err(e))?;
            check_bytes(
                &b,
                &chosen.digest,
                chosen.size,
                &format!("manifest of {} from {}", s.shown, s.host),
            )?;
            bytes = b.to_vec();
            digest = chosen.digest.clone();
        }
        Err(Error::BadRegistryContent {
            registry: s.host.clone(),
            reference: s.shown.clone(),
            what: "index",
            reason: "image indexes are nested too deeply".to_string(),
        })
    }

    /// A small blob (config) into memory, verified.
    async fn fetch_small(
        &self,
        s: &Session,
        digest: &Digest,
        size: u64,
        what: &'static str,
    ) -> Result<Vec<u8>> {
        if size > MAX_JSON {
            return Err(Error::BadRegistryContent {
                registry: s.host.clone(),
                reference: s.shown.clone(),
                what,
                reason: format!(
                    "its descriptor says {size} bytes, more than the {MAX_JSON} allowed"
                ),
            });
        }
        let desc = descriptor(digest, size);
        let mut out = Vec::new();
        let mut stream = s
            .client
            .pull_blob_stream(&s.repo, &desc)
            .await
            .map_err(|e| s.err(e))?;
        while let Some(chunk) = stream.stream.next().await {
            match chunk {
                Ok(c) => out.extend_from_slice(&c),
                // Every byte is in and oci-client's own check failed: ours says why below.
                Err(_) if out.len() as u64 >= size => break,
                Err(e) => return Err(s.err(OciDistributionError::IoError(e))),
            }
            if out.len() as u64 > size {
                break;
            }
        }
        check_bytes(
            &out,
            digest,
            size,
            &format!("{what} {digest} of {} from {}", s.shown, s.host),
        )?;
        Ok(out)
    }

    /// Downloads one blob into `ingest/`, verifies it and renames it into `blobs/`. A broken
    /// transfer is resumed with a Range request (or restarted when the registry ignores it).
    async fn download(
        &self,
        s: &Session,
        digest: &Digest,
        size: u64,
        progress: ProgressFn<'_>,
    ) -> Result<u64> {
        let ingest = self.content.ingest_dir();
        let tmp = tempfile::Builder::new()
            .prefix("pull-")
            .tempfile_in(ingest)
            .map_err(|e| Error::io("create a temp file in", ingest, e))?;
        let tmp_path = tmp.path().to_path_buf();
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| Error::io("open", &tmp_path, e))?;
        let desc = descriptor(digest, size);
        let location = format!("layer {digest} of {} from {}", s.shown, s.host);
        let mut hasher = Sha256::new();
        let mut done: u64 = 0;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut failures = 0u32;
        let mut last_report = 0u64;
        'transfer: loop {
            let response = if done == 0 {
                s.client
                    .pull_blob_stream(&s.repo, &desc)
                    .await
                    .map(|r| (r, true))
            } else {
                s.client
                    .pull_blob_stream_partial(&s.repo, &desc, done, None)
                    .await
                    .map(|r| match r {
                        oci_client::client::BlobResponse::Full(st) => (st, true),
                        oci_client::client::BlobResponse::Partial(st) => (st, false),
                    })
            };
            let (mut sized, full) = match response {
                Ok(r) => r,
                Err(e) if is_transport(&e) && failures < RETRIES => {
                    failures += 1;
                    progress(Progress::Retrying {
                        digest: digest.to_string(),
                        offset: done,
                        error: tandem_errors::error_chain(&e),
                    });
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
                    continue 'transfer;
                }
                Err(e) => return Err(s.err(e)),
            };
            if full && done > 0 {
                // The registry ignored the Range: start over.
                out.flush().map_err(|e| Error::io("write", &tmp_path, e))?;
                let f = out.get_mut();
                f.set_len(0)
                    .and_then(|()| std::io::Seek::rewind(f).map(drop))
                    .map_err(|e| Error::io("truncate", &tmp_path, e))?;
                hasher = Sha256::new();
                done = 0;
            }
            while let Some(chunk) = sized.stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    // All bytes are in and oci-client's verification failed: ours will say so.
                    Err(_) if done == size => break,
                    Err(e) if failures < RETRIES => {
                        failures += 1;
                        progress(Progress::Retrying {
                            digest: digest.to_string(),
                            offset: done,
                            error: e.to_string(),
                        });
                        continue 'transfer;
                    }
                    Err(e) => return Err(s.err(OciDistributionError::IoError(e))),
                };
                done += chunk.len() as u64;
                if done > size {
                    return Err(Error::BlobSizeMismatch {
                        location,
                        expected: size,
                        actual: done,
                    });
                }
                hasher.update(&chunk);
                out.write_all(&chunk)
                    .map_err(|e| Error::io("write", &tmp_path, e))?;
                if done - last_report >= 256 << 10 || done == size {
                    last_report = done;
                    progress(Progress::Bytes {
                        digest: digest.to_string(),
                        done,
                        total: size,
                    });
                }
            }
            break;
        }
        if done != size {
            return Err(Error::BlobSizeMismatch {
                location,
                expected: size,
                actual: done,
            });
        }
        let actual = Digest::from_hex(&hex::encode(hasher.finalize()))
            .ok_or_else(|| Error::io("hash", &tmp_path, std::io::Error::other("bad digest")))?;
        if &actual != digest {
            return Err(Error::BlobDigestMismatch {
                location,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io("write", &tmp_path, e.into_error()))?;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("sync", &tmp_path, e))?;
        drop(file);
        let staged = Staged {
            path: tmp.into_temp_path(),
            digest: actual,
            size,
        };
        self.content.commit(&staged)?;
        progress(Progress::Done {
            digest: digest.to_string(),
            size,
        });
        Ok(size)
    }

    /// Pushes a local image to `destination` (default: its own name), blobs first (those the
    /// registry has are skipped), then the manifest exactly as stored, so its digest is kept.
    pub async fn push(
        &self,
        source: &str,
        destination: Option<&str>,
        opts: &RegistryOptions,
        progress: ProgressFn<'_>,
    ) -> Result<PushReport> {
        let index_file = self.read_index()?;
        let found = crate::find(&index_file, source)?;
        let Some((key, entry)) = found.first() else {
            return Err(Error::ImageNotFound {
                reference: source.to_string(),
            });
        };
        let dest = Reference::parse(destination.unwrap_or(key))?;
        let Some(tag) = dest.tag().map(str::to_string) else {
            return Err(Error::InvalidReference {
                reference: dest.to_string(),
                reason: "a push destination needs a tag".to_string(),
            });
        };
        let shown = dest.to_string();
        let manifest_bytes = self.content.read_verified(&entry.manifest, key)?;
        let (manifest, _) = self.read_image(key, entry)?;
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| spec::MEDIA_OCI_MANIFEST.to_string());
        let endpoints = opts.registries.endpoints(&dest, true, !opts.tls_verify)?;
        let Some(endpoint) = endpoints.last() else {
            return Err(Error::ManifestUnknown {
                registry: dest.domain().to_string(),
                reference: shown,
                detail: "no endpoint is configured".to_string(),
            });
        };
        let s = self
            .connect(endpoint, &shown, opts, RegistryOperation::Push)
            .await?;
        let mut blobs: Vec<(Digest, u64)> = manifest
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect();
        blobs.push((manifest.config.digest.clone(), manifest.config.size));
        let mut seen = HashSet::new();
        blobs.retain(|(d, _)| seen.insert(d.clone()));
        progress(Progress::Resolved {
            reference: shown.clone(),
            manifest: entry.manifest.to_string(),
            blobs: blobs.iter().map(|(d, s)| (d.to_string(), *s)).collect(),
        });
        let jobs = blobs.iter().map(|(digest, size)| {
            let s = &s;
            async move {
                let exists = s
                    .client
                    .blob_exists(&s.repo, &digest.to_string())
                    .await
                    .map_err(|e| s.err(e))?;
                if exists {
                    progress(Progress::Exists {
                        digest: digest.to_string(),
                        size: *size,
                    });
                    return Ok::<Option<u64>, Error>(None);
                }
                let path = self.content.blob_path(digest);
                let bytes = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || fs::read(path)
                })
                .await
                .map_err(|e| Error::io("read blob", &path, std::io::Error::other(e)))?
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::MissingBlob {
                        image: key.to_string(),
                        digest: digest.to_string(),
                    },
                    _ => Error::io("read blob", &path, e),
                })?;
                check_bytes(&bytes, digest, *size, &path.display().to_string())?;
                let n = bytes.len() as u64;
                s.client
                    .push_blob(&s.repo, bytes, &digest.to_string())
                    .await
                    .map_err(|e| s.err(e))?;
                progress(Progress::Done {
                    digest: digest.to_string(),
                    size: n,
                });
                Ok(Some(n))
            }
        });
        let pushed: Vec<Option<u64>> = stream::iter(jobs)
            .buffer_unordered(opts.max_concurrent.max(1))
            .try_collect()
            .await?;
        let content_type =
            http::HeaderValue::from_str(&media_type).map_err(|e| Error::CorruptBlob {
                image: key.to_string(),
                what: "manifest",
                digest: entry.manifest.to_string(),
                reason: e.to_string(),
            })?;
        s.client
            .push_manifest_raw(&s.at_tag(&tag), manifest_bytes, content_type)
            .await
            .map_err(|e| s.err(e))?;
        Ok(PushReport {
            reference: shown,
            manifest_digest: entry.manifest.to_string(),
            blobs_pushed: pushed.iter().flatten().count(),
            bytes_pushed: pushed.iter().flatten().sum(),
        })
    }
}

fn descriptor(digest: &Digest, size: u64) -> OciDescriptor {
    OciDescriptor {
        digest: digest.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
    }
}

fn blob_has_size(store: &ImageStore, digest: &Digest, size: u64) -> bool {
    fs::metadata(store.content.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
}

fn check_bytes(bytes: &[u8], digest: &Digest, size: u64, location: &str) -> Result<()> {
    let actual = Digest::of_bytes(bytes);
    if &actual != digest {
        return Err(Error::BlobDigestMismatch {
            location: location.to_string(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    if bytes.len() as u64 != size {
        return Err(Error::BlobSizeMismatch {
            location: location.to_string(),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    Ok(())
}
/// Refuses what is not a container image tandem can unpack: another kind of manifest, a config
/// that is not an image config, a layer in a format it cannot read.
fn check_media_types(s: &Session, manifest: &Manifest, digest: &Digest) -> Result<()> {
    if let Some(mt) = &manifest.media_type {
        if mt != spec::MEDIA_OCI_MANIFEST && mt != spec::MEDIA_DOCKER_MANIFEST {
            return Err(Error::UnsupportedMediaType {
                what: format!("manifest {digest} of {}", s.shown),
                media_type: mt.clone(),
            });
        }
    }
    let config_type = manifest.config.media_type.as_str();
    if config_type != spec::MEDIA_OCI_CONFIG && config_type != spec::MEDIA_DOCKER_CONFIG {
        return Err(Error::UnsupportedMediaType {
            what: format!("config of {} (it is not a container image)", s.shown),
            media_type: config_type.to_string(),
        });
    }
    for l in &manifest.layers {
        if spec::layer_media(&l.media_type) == spec::LayerMedia::Unsupported {
            return Err(Error::UnsupportedMediaType {
                what: format!("layer {} of {}", l.digest, s.shown),
                media_type: l.media_type.clone(),
            });
        }
    }
    Ok(())
}
