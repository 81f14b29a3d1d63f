//! The validated, defaulted form of one Pod: what the lifecycle engine and the supervisor consume.
//!
//! Every field the API server would default is filled in; references to ConfigMaps and Secrets given
//! in the same manifest set are resolved to bytes; named ports are resolved to numbers. Values that can
//! only be known once the pod runs (its IP) stay symbolic (`FieldRef`) and are resolved by the
//! supervisor with [`crate::env::resolve_field_ref`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest wait taken from a manifest's seconds (about 136 years). The API server lets
/// `terminationGracePeriodSeconds` and a `sleep` hook reach `i64::MAX`; a wait that long is
/// indistinguishable from this one, and this one still fits when added to a monotonic clock.
pub const MAX_SECONDS: u64 = u32::MAX as u64;

/// A manifest's count of seconds as a wait: below zero is none, above [`MAX_SECONDS`] is that.
/// Every duration the engine and the supervisor derive from a pod's fields goes through here, so
/// no field can overflow a deadline.
pub fn seconds(s: i64) -> Duration {
    Duration::from_secs(s.clamp(0, MAX_SECONDS as i64) as u64)
}

/// One pod, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodPlan {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Kernel hostname of the pod: `spec.hostname` or the pod name, at most 63 characters.
    pub hostname: String,
    pub subdomain: Option<String>,
    pub restart_policy: RestartPolicy,
    pub termination_grace_period_seconds: i64,
    pub active_deadline_seconds: Option<i64>,
    /// `spec.initContainers` in declaration order: regular init containers and native sidecars.
    pub init_containers: Vec<ContainerPlan>,
    /// `spec.containers` in declaration order.
    pub containers: Vec<ContainerPlan>,
    /// `spec.ephemeralContainers`, in the order they were added to the running pod.
    #[serde(default)]
    pub ephemeral_containers: Vec<ContainerPlan>,
    pub volumes: Vec<VolumePlan>,
    pub dns_policy: DnsPolicy,
    pub dns_config: Option<DnsConfig>,
    pub host_aliases: Vec<HostAlias>,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub share_process_namespace: bool,
    pub service_account_name: String,
    /// Where the store keeps the key that signs the pod's service-account tokens (its projected
    /// `serviceAccountToken` files): `PlanOptions::api_access`. `None`: loaded by a tool that
    /// runs no pod, which writes no token.
    #[serde(default)]
    pub token_key: Option<String>,
    pub node_name: String,
    pub security: PodSecurity,
    /// `spec.priority`, `spec.priorityClassName` and other fields with no effect on one machine are
    /// not carried; the parser warns about them.
    pub enable_service_links: bool,
    /// `spec.readinessGates[*].conditionType`: the pod is Ready only while each of these
    /// conditions is True. Nothing on one machine sets such conditions.
    #[serde(default)]
    pub readiness_gates: Vec<String>,
    /// The node's pids limit for every pod (the kubelet's `--pod-max-pids`, from
    /// `tandem run --pod-max-pids`): the pod cgroup's `pids.max`. Not from the manifest.
    #[serde(default)]
    pub pod_max_pids: Option<u64>,
    /// The sysctls the node allows beyond the safe set (the kubelet's
    /// `--allowed-unsafe-sysctls`, from `tandem run`): names and `prefix*` patterns. Not from
    /// the manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// How container log files rotate (the kubelet's `containerLogMaxSize` and
    /// `containerLogMaxFiles`, from `tandem run`). Not from the manifest.
    #[serde(default)]
    pub container_logs: ContainerLogPolicy,
    /// `spec.resources` (pod-level resources, KEP-2837): when set, they size the pod cgroup and
    /// decide the QoS class instead of the containers' sum.
    #[serde(default)]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsPolicy {
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DnsConfig {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    /// `(name, value)`; value `None` for flag options such as `rotate`.
    pub options: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// When a container's log file is rotated and how many files are kept, as the kubelet's
/// `containerLogMaxSize` and `containerLogMaxFiles` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLogPolicy {
    /// A log file that has grown past this many bytes is rotated.
    pub max_size: u64,
    /// Files kept per container instance, the one being written included (at least 2).
    pub max_files: u32,
}

impl Default for ContainerLogPolicy {
    /// The kubelet's defaults: 10Mi and 5.
    fn default() -> Self {
        ContainerLogPolicy {
            max_size: 10 << 20,
            max_files: 5,
        }
    }
}

/// Pod-level `securityContext`. Ids are the kernel's 32-bit ids: validation has kept them within
/// the API server's 0..=2147483647, so none can wrap into another (4294967296 into root).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PodSecurity {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<u32>,
    pub fs_group_change_policy: Option<String>,
    pub supplemental_groups: Vec<u32>,
    pub sysctls: Vec<(String, String)>,
    /// `Merge` (the default: the image's /etc/group memberships of the user are added) or
    /// `Strict` (only runAsGroup, fsGroup and supplementalGroups).
    #[serde(default)]
    pub supplemental_groups_policy: Option<String>,
    /// `hostUsers: false`: the pod runs in a user namespace of its own, with 65536 host ids.
    #[serde(default)]
    pub user_namespace: bool,
}

/// Where a container sits in the pod's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerRole {
    /// `spec.initContainers[i]` without `restartPolicy: Always`: runs to success, one at a time.
    Init,
    /// `spec.initContainers[i]` with `restartPolicy: Always` (a native sidecar).
    Sidecar,
    /// `spec.containers[i]`.
    Main,
    /// `spec.ephemeralContainers[i]`: added to a running pod (`kubectl debug`), started once,
    /// never restarted, no part of the pod's phase or readiness.
    Ephemeral,
}

impl ContainerRole {
    /// The role of a container of `spec.initContainers` (`init`) or `spec.containers`, given its
    /// own `restartPolicy`: an init container with `Always` is a native sidecar.
    pub fn of(init: bool, restart_policy: Option<&str>) -> Self {
        match (init, restart_policy) {
            (true, Some("Always")) => ContainerRole::Sidecar,
            (true, _) => ContainerRole::Init,
            (false, _) => ContainerRole::Main,
        }
    }

    /// `init`, `sidecar` or `main`, as tandem's own output names the roles.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerRole::Init => "init",
            ContainerRole::Sidecar => "sidecar",
            ContainerRole::Main => "main",
            ContainerRole::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerPlan {
    pub name: String,
    pub role: ContainerRole,
    /// The image reference exactly as written in the manifest.
    pub image: String,
    pub image_pull_policy: PullPolicy,
    /// `command`; `None` means the image's Entrypoint applies.
    pub command: Option<Vec<String>>,
    /// `args`; `None` means the image's Cmd applies (only when `command` is also `None`).
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
    /// envFrom entries expanded first, then `env`, in the order the kubelet builds them; a later
    /// entry with the same name wins. `$(VAR)` references are still unexpanded.
    pub env: Vec<EnvVar>,
    pub ports: Vec<ContainerPort>,
    pub volume_mounts: Vec<VolumeMount>,
    pub resources: Resources,
    pub startup_probe: Option<Probe>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
    pub termination_message_path: String,
    pub termination_message_policy: TerminationMessagePolicy,
    pub security: ContainerSecurity,
    /// `stdin`: the container's stdin is a pipe the supervisor holds open for `attach`, not
    /// `/dev/null`.
    pub stdin: bool,
    /// `stdinOnce`: that pipe is closed once the first attach that sent input ends.
    #[serde(default)]
    pub stdin_once: bool,
    /// `tty`: the container's stdio is a pseudo-terminal of its own devpts.
    pub tty: bool,
    /// The container's own `restartPolicy` (KEP-5307) on a regular container or regular init
    /// container; `None` follows the pod's. Sidecars are [`ContainerRole::Sidecar`] and have `None`.
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    /// `restartPolicyRules`, checked in order before `restart_policy`: the first rule that
    /// matches the exit code decides. A sidecar may have rules with action
    /// `RestartAllContainers` only (KEP-5532).
    #[serde(default)]
    pub restart_rules: Vec<RestartRule>,
    /// `lifecycle.stopSignal` (`SIGUSR1`, `SIGRTMIN+3`, ...); `None`: the image's STOPSIGNAL,
    /// else SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// An ephemeral container's `targetContainerName`: it joins that container's process
    /// namespace.
    #[serde(default)]
    pub target_container: Option<String>,
}

/// One `restartPolicyRules` entry: what happens when the container's exit code matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRule {
    pub operator: ExitCodeOperator,
    pub values: Vec<i32>,
    /// Plans written before the action existed had only `Restart` rules.
    #[serde(default)]
    pub action: RestartAction,
}

/// `restartPolicyRules[].action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartAction {
    /// Restart this container alone (KEP-5307).
    #[default]
    Restart,
    /// Restart every container of the pod in place, init containers first, keeping the
    /// sandbox and the volumes (KEP-5532).
    RestartAllContainers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitCodeOperator {
    In,
    NotIn,
}

impl RestartRule {
    pub fn matches(&self, exit_code: i32) -> bool {
        self.values.contains(&exit_code) == (self.operator == ExitCodeOperator::In)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationMessagePolicy {
    File,
    FallbackToLogsOnError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvValue {
    /// A literal value (also what configMapKeyRef/secretKeyRef/envFrom resolve to), `$(VAR)` unexpanded.
    ///
    /// The kubelet expands only `value:`; values taken from ConfigMaps, Secrets and `envFrom` are
    /// used verbatim. To keep one variant, those are stored with every `$` doubled (`$$`), which
    /// [`crate::env::expand`] turns back into the original text. Use [`crate::env::resolve`] rather
    /// than reading this directly.
    Literal(String),
    /// `valueFrom.fieldRef.fieldPath`, e.g. `status.podIP` or `metadata.labels['app']`.
    FieldRef(String),
    /// `valueFrom.resourceFieldRef`.
    ResourceFieldRef(ResourceFieldRef),
    /// A ConfigMap or Secret (or a key of one) that was not among the objects the pod was loaded
    /// with: read from the store when the container is created, as the kubelet reads it then;
    /// until it is there the start fails with CreateContainerConfigError (unless optional).
    /// From `envFrom` (`key: None`) the variable's name is the prefix of every key's.
    FromObject(ObjectKeyRef),
}

/// The two kinds of object a container's environment and files may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    ConfigMap,
    Secret,
}

impl ObjectKind {
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "ConfigMap",
            ObjectKind::Secret => "Secret",
        }
    }

    /// The resource, as in `configmaps/NAME` and the API server's NotFound (`configmap "x"`).
    pub fn plural(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "configmaps",
            ObjectKind::Secret => "secrets",
        }
    }
}

/// A reference to a ConfigMap or Secret of the pod's namespace, or to one key of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectKeyRef {
    pub kind: ObjectKind,
    pub name: String,
    /// `None`: every key (`envFrom`).
    pub key: Option<String>,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFieldRef {
    /// The container whose resources are read (defaults to the container itself).
    pub container_name: String,
    /// `limits.cpu`, `requests.memory`, ...
    pub resource: String,
    /// The divisor as a quantity string (`1`, `1m`, `1Mi`).
    pub divisor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: u16,
    pub protocol: String,
    pub host_port: Option<u16>,
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// Name of a volume in [`PodPlan::volumes`].
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    pub sub_path: Option<String>,
    /// Expanded by the supervisor with the container's env.
    pub sub_path_expr: Option<String>,
}

/// Requests and limits in base units: CPU in millicores, memory and storage in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceList {
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub ephemeral_storage_bytes: Option<u64>,
    /// `ephemeral_storage_bytes` as the API server prints it (canonical form, `1Mi`), for the
    /// messages that quote the limit.
    #[serde(default)]
    pub ephemeral_storage_quantity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub handler: Handler,
    pub initial_delay_seconds: i32,
    pub timeout_seconds: i32,
    pub period_seconds: i32,
    pub success_threshold: i32,
    pub failure_threshold: i32,
    pub termination_grace_period_seconds: Option<i64>,
}

/// A probe or lifecycle-hook action. Named ports are already resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handler {
    Exec {
        command: Vec<String>,
    },
    HttpGet {
        /// Empty means the pod IP (127.0.0.1 only when the pod has no address).
        host: Option<String>,
        port: u16,
        path: String,
        scheme: HttpScheme,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        host: Option<String>,
        port: u16,
    },
    Grpc {
        port: u16,
        service: Option<String>,
    },
    Sleep {
        seconds: i64,
    },
    /// An httpGet or tcpSocket whose port names no containerPort of the container. The API
    /// server accepts it; the kubelet resolves the name at every run and errors with `port NAME
    /// not found` (a probe keeps its result, a hook fails): so does tandem's runtime.
    PortNotFound {
        action: PortAction,
        port: String,
    },
}

/// The action of a [`Handler::PortNotFound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortAction {
    HttpGet,
    TcpSocket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpScheme {
    Http,
    Https,
}

/// Container `securityContext` merged with the pod's (container fields win).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerSecurity {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    pub privileged: bool,
    pub read_only_root_filesystem: bool,
    pub allow_privilege_escalation: Option<bool>,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub proc_mount: Option<String>,
    /// `RuntimeDefault`, `Unconfined` or `Localhost/<localhostProfile>`.
    pub seccomp_profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumePlan {
    pub name: String,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeSource {
    EmptyDir {
        /// `medium: Memory`: a tmpfs.
        memory: bool,
        size_limit_bytes: Option<u64>,
        /// `sizeLimit` as the API server prints it (canonical form, `1Mi`), for the eviction
        /// message.
        #[serde(default)]
        size_limit_quantity: Option<String>,
    },
    HostPath {
        path: String,
        /// `""`, `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`.
        kind: String,
    },
    /// configMap, secret, downwardAPI and projected volumes: read-only files the supervisor
    /// writes as the kubelet's atomic writer does (a versioned directory behind `..data`), and
    /// writes again when what they project changes: a ConfigMap or Secret in the store, the
    /// pod's labels. The pod waits in ContainerCreating (`FailedMount`) for the objects it
    /// needs that were not among those it was loaded with ([`VolumeSource::awaiting`]).
    Files { parts: Vec<FilePart> },
    /// `image` (KEP-4639): an image's layers merged, mounted read-only, pulled as a container's
    /// image is. Set up with the volumes that wait, before any container starts.
    Image {
        reference: String,
        pull_policy: PullPolicy,
    },
    /// `persistentVolumeClaim`: the claim's directory on this machine
    /// (`PlanOptions::claims_dir`/NAMESPACE/CLAIM), made when first used and kept after the pod;
    /// `fsGroup` applies to it as to a claim's volume on a cluster.
    Claim { claim: String, path: String },
}

impl VolumeSource {
    /// Whether the volume is set up once the pod's engine runs, before any container starts
    /// (its ConfigMaps or Secrets read then, its token issued, its image pulled), rather than
    /// with the sandbox.
    pub fn set_up_late(&self) -> bool {
        match self {
            // A token is issued by the engine's runtime, as the kubelet asks for one at set-up.
            VolumeSource::Files { parts } => {
                self.awaiting().next().is_some()
                    || parts.iter().any(|p| matches!(p, FilePart::Token(_)))
            }
            VolumeSource::Image { .. } => true,
            _ => false,
        }
    }

    /// Whether the volume's files are kept current while the pod runs (§6.9 of
    /// docs/kubelet-rules.md): file volumes, whose ConfigMaps, Secrets and labels may change.
    pub fn resyncs(&self) -> bool {
        matches!(self, VolumeSource::Files { .. })
    }

    /// The ConfigMaps and Secrets a file volume cannot be set up without that the pod was not
    /// loaded with (or, loaded, lacked a listed key): read from the store when the volume is set
    /// up, as the kubelet reads them then.
    pub fn awaiting(&self) -> impl Iterator<Item = &ObjectFiles> {
        let parts = match self {
            VolumeSource::Files { parts } => parts.as_slice(),
            _ => &[],
        };
        parts.iter().filter_map(|p| match p {
            FilePart::Object {
                files,
                optional: false,
                held,
            } => match held {
                None => Some(files),
                Some(content) => (!files.project(content).1.is_empty()).then_some(files),
            },
            _ => None,
        })
    }
}

/// One part of a file volume: a `downwardAPI` volume is one [`FilePart::Fixed`], a `configMap`
/// or `secret` volume one [`FilePart::Object`], a projected volume one per source, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilePart {
    /// Files the pod itself defines: downwardAPI items (their references resolved when written).
    Fixed(Vec<FileProjection>),
    /// The keys of one ConfigMap or Secret.
    Object {
        files: ObjectFiles,
        /// `optional: true`: while the object (or a listed key) is missing, the volume goes
        /// without its files instead of waiting.
        optional: bool,
        /// What it held among the objects the pod was loaded with; `None`: it was not there.
        held: Option<BTreeMap<String, Vec<u8>>>,
    },
    /// A `serviceAccountToken` projection: a token of the pod's service account, bound to the
    /// pod, issued when the volume is written and again before it expires.
    Token(TokenFile),
}

/// A projected `serviceAccountToken` source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFile {
    /// Relative path inside the volume, validated.
    pub path: String,
    /// The projection's defaultMode.
    pub mode: u32,
    pub token: TokenRequest,
}

/// What a token is asked for with: its audience (`None`: the API server's own) and lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub audience: Option<String>,
    pub expiration_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProjection {
    /// Relative path inside the volume, validated: no `..`, not absolute.
    pub path: String,
    /// Permission bits (defaultMode or the item's mode).
    pub mode: u32,
    pub content: FileContent,
}

/// The files a volume projects from one ConfigMap or Secret (`configMap`/`secret` volumes and
/// projected sources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFiles {
    pub kind: ObjectKind,
    pub name: String,
    /// `items`; empty: every key, each a file of its name.
    pub items: Vec<KeyFile>,
    /// `defaultMode`, for every key's file when no item is listed.
    pub mode: u32,
}

/// One `items` entry: the object's key, the file's path in the volume, its mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub key: String,
    pub path: String,
    pub mode: u32,
}

impl ObjectFiles {
    /// The files of the object whose keys hold `content` (a ConfigMap's `data` and `binaryData`,
    /// a Secret's decoded `data`), in key or item order, and the indexes of the items whose key
    /// the object does not have (the kubelet's volume plugins refuse those unless the reference
    /// is optional).
    pub fn project(
        &self,
        content: &BTreeMap<String, Vec<u8>>,
    ) -> (Vec<FileProjection>, Vec<usize>) {
        if self.items.is_empty() {
            let files = content
                .iter()
                .map(|(k, v)| FileProjection {
                    path: k.clone(),
                    mode: self.mode,
                    content: FileContent::Bytes(v.clone()),
                })
                .collect();
            return (files, Vec::new());
        }
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for (i, it) in self.items.iter().enumerate() {
            match content.get(&it.key) {
                Some(v) => files.push(FileProjection {
                    path: it.path.clone(),
                    mode: it.mode,
                    content: FileContent::Bytes(v.clone()),
                }),
                None => missing.push(i),
            }
        }
        (files, missing)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileContent {
    Bytes(Vec<u8>),
    FieldRef(String),
    ResourceFieldRef(ResourceFieldRef),
    /// A service-account token, issued by whoever writes the file.
    Token(TokenRequest),
}

impl ContainerPlan {
    /// A container with only a name, role and image given, every other field at the API server's
    /// default (no command, so the image's applies). For tools and tests that build plans in code.
    pub fn new(name: &str, role: ContainerRole, image: &str) -> Self {
        ContainerPlan {
            name: name.into(),
            role,
            image: image.into(),
            image_pull_policy: PullPolicy::IfNotPresent,
            command: None,
            args: None,
            working_dir: None,
            env: vec![],
            ports: vec![],
            volume_mounts: vec![],
            resources: Resources::default(),
            startup_probe: None,
            liveness_probe: None,
            readiness_probe: None,
            post_start: None,
            pre_stop: None,
            termination_message_path: "/dev/termination-log".into(),
            termination_message_policy: TerminationMessagePolicy::File,
            security: ContainerSecurity::default(),
            stdin: false,
            stdin_once: false,
            tty: false,
            restart_policy: None,
            restart_rules: vec![],
            stop_signal: None,
            target_container: None,
        }
    }
}

impl PodPlan {
    /// A pod in namespace `default` with these containers and every other field at the API
    /// server's default. For tools and tests that build plans in code.
    pub fn new(
        name: &str,
        init_containers: Vec<ContainerPlan>,
        containers: Vec<ContainerPlan>,
    ) -> Self {
        PodPlan {
            name: name.into(),
            namespace: "default".into(),
            uid: format!("uid-{name}"),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            hostname: name.into(),
            subdomain: None,
            restart_policy: RestartPolicy::Always,
            termination_grace_period_seconds: 30,
            active_deadline_seconds: None,
            init_containers,
            containers,
            ephemeral_containers: vec![],
            volumes: vec![],
            dns_policy: DnsPolicy::ClusterFirst,
            dns_config: None,
            host_aliases: vec![],
            host_network: false,
            host_pid: false,
            host_ipc: false,
            share_process_namespace: false,
            service_account_name: "default".into(),
            token_key: None,
            node_name: "localhost".into(),
            security: PodSecurity::default(),
            enable_service_links: true,
            readiness_gates: vec![],
            pod_max_pids: None,
            allowed_unsafe_sysctls: Vec::new(),
            container_logs: ContainerLogPolicy::default(),
            resources: None,
        }
    }

    /// The init containers (and sidecars), then the main containers: what the pod's resources
    /// and QoS class are made of (ephemeral containers have no resources, §1.8).
    pub fn sized_containers(&self) -> impl Iterator<Item = &ContainerPlan> {
        self.init_containers.iter().chain(self.containers.iter())
    }

    /// All containers in declaration order: init containers (and sidecars), main containers,
    /// then ephemeral containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerPlan> {
        self.init_containers
            .iter()
            .chain(self.containers.iter())
            .chain(self.ephemeral_containers.iter())
    }

    /// Why a condition cannot be set from outside (`tandem patch … --subresource=status`):
    /// only readiness gates' conditions may be, as a controller sets them, with a status of
    /// True, False or Unknown. `None` when it can.
    pub fn gate_condition_problem(&self, type_: &str, status: &str) -> Option<String> {
        let gates = &self.readiness_gates;
        if !gates.iter().any(|g| g == type_) {
            return Some(if gates.is_empty() {
                format!(
                    "condition {type_:?} is not a readiness gate of pod {}, which has none",
                    self.name
                )
            } else {
                format!(
                    "condition {type_:?} is not a readiness gate of pod {} (its gates: {})",
                    self.name,
                    gates.join(", ")
                )
            });
        }
        if !matches!(status, "True" | "False" | "Unknown") {
            return Some(format!(
                "status of condition {type_:?} must be True, False or Unknown, got {status:?}"
            ));
        }
        None
    }

    pub fn container(&self, name: &str) -> Option<&ContainerPlan> {
        self.all_containers().find(|c| c.name == name)
    }

    pub fn volume(&self, name: &str) -> Option<&VolumePlan> {
        self.volumes.iter().find(|v| v.name == name)
    }
}
