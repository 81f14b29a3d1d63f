//! Command-line types only; the logic lives in `commands/`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use clap_complete::engine::ArgValueCandidates;

use crate::completion::{container_names, pod_names};
use crate::output::jsonpath::Template;

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Run Kubernetes multi-container Pods on this machine, as the kubelet would"
)]
pub struct Cli {
    /// Keep images and pods under this directory instead of /var/lib/tandem and /run/tandem.
    #[arg(long, global = true, env = "TANDEM_ROOT")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Pods and workloads (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
    /// CronJobs) of manifest files (YAML or JSON; `-` reads stdin).
    #[command(
        after_help = "Examples:\n  tandem run pod.yaml                  # in the foreground: logs per container, Ctrl-C stops it\n  tandem run -d -f app.yaml -f cm.yaml # in the background, with the ConfigMaps it uses\n  helm template app ./chart | tandem run -d -\n  tandem run -p 8080:80 web.yaml       # a container port published on this machine\n  tandem run -f job.yaml               # follows the Job's pods; ends when the Job does\n\nExit status: 0 when every pod succeeded (or stopped on request in its grace period) and every\nJob completed, else the exit code of the first main container of a Pod that failed; 1 when a\nJob failed, or for a manifest or setup error."
    )]
    Run(RunArgs),
    /// Make what the manifests hold and change what exists to what they now say: a changed
    /// template rolls out, a changed image restarts its container (kubectl apply).
    #[command(
        after_help = "Examples:\n  tandem apply -f app.yaml             # created, configured or unchanged, per object\n  helm template app ./chart | tandem apply -f -\n\nThe files are checked whole first: an object whose change the API server would refuse (an\nimmutable field, a pod field other than its images) refuses the whole apply, and nothing changes.\nLabels and annotations become the file's, as `kubectl replace` has them (kubectl apply keeps\nthose others added; tandem keeps no last-applied configuration)."
    )]
    Apply(ApplyArgs),
    /// List pods, or show one pod or its events.
    #[command(
        after_help = "Examples:\n  tandem get pods                      # NAME READY STATUS RESTARTS AGE\n  tandem get pods -A -l app=web --show-labels\n  tandem get pod web -o yaml           # also json, name, wide, jsonpath=..., custom-columns=...\n  tandem get pods -w                   # a new row whenever a pod changes\n  tandem get events --for pod/web\n  tandem get deploy                    # also rs, sts, ds, jobs, cj, rc\n  tandem get all                       # pods and every workload, as kubectl get all"
    )]
    Get(GetArgs),
    /// Print a container's logs.
    Logs(LogsArgs),
    /// Show a pod, Service or workload in detail: containers, state, probes, volumes,
    /// conditions, events (kubectl describe).
    Describe(DescribeArgs),
    /// Forward local ports to a pod's ports (kubectl port-forward).
    #[command(name = "port-forward", after_help = PORT_FORWARD_EXAMPLES)]
    PortForward(PortForwardArgs),
    /// Copy files and directories to and from a container (kubectl cp).
    #[command(after_help = CP_EXAMPLES)]
    Cp(CpArgs),
    /// CPU and memory of running pods and their containers (kubectl top pod).
    Top(TopArgs),
    /// Run a command in a running container (kubectl exec).
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// Attach to the process already running in a container: its output, and with -i its input
    /// (kubectl attach).
    #[command(after_help = ATTACH_EXAMPLES)]
    Attach(AttachArgs),
    /// Add an ephemeral container to a running pod, to debug it from inside with tools its
    /// image lacks (kubectl debug).
    #[command(after_help = DEBUG_EXAMPLES)]
    Debug(DebugArgs),
    /// Stop pods gracefully and remove them.
    #[command(
        after_help = "Examples:\n  tandem delete pod web                # gracefully, with its terminationGracePeriodSeconds\n  tandem delete pod web db --grace-period 5\n  tandem delete -f app.yaml            # the pods and workloads of a manifest\n  tandem delete deployment web        # with its pods, each gracefully\n  tandem delete configmap settings    # kept for the containers that read it when they start\n  tandem delete pods --all"
    )]
    Delete(DeleteArgs),
    /// Set a new number of replicas for a Deployment, ReplicaSet, StatefulSet or
    /// ReplicationController; its controller makes or removes pods to match.
    #[command(
        after_help = "Examples:\n  tandem scale deployment/web --replicas 3\n  tandem scale sts db --replicas 1     # removes db-2, then db-1"
    )]
    Scale(ScaleArgs),
    /// Create an object from another: `tandem create job NAME --from=cronjob/CRON` runs a
    /// CronJob's job now.
    #[command(subcommand)]
    Create(CreateCommand),
    /// A Deployment's rollout: follow it (`status`), start it again (`restart`), go back to an
    /// earlier template (`undo`), or list its revisions (`history`).
    #[command(
        subcommand,
        after_help = "Examples:\n  tandem set image deployment/web app=busybox:1.36\n  tandem rollout status deployment/web --timeout 2m\n  tandem rollout undo deployment/web\n  tandem rollout history deployment/web"
    )]
    Rollout(RolloutCommand),
    /// Wait until pods meet a condition (kubectl wait).
    #[command(
        after_help = "Examples:\n  tandem wait pod/web --for=condition=Ready --timeout=60s\n  tandem wait pod/job --for=jsonpath='{.status.phase}'=Succeeded\n  tandem wait pod/web --for=delete\n  tandem wait deployment/web --for=condition=Available\n  tandem wait job/migrate --for=condition=Complete --timeout=5m"
    )]
    Wait(WaitArgs),
    /// Change a running pod (kubectl set).
    #[command(subcommand)]
    Set(SetCommand),
    /// Set conditions of a pod's readiness gates, as a controller would (kubectl patch
    /// --subresource=status).
    #[command(
        after_help = "Examples:\n  tandem patch pod web --subresource=status --type=merge \\\n    -p '{\"status\":{\"conditions\":[{\"type\":\"example.com/gate\",\"status\":\"True\"}]}}'"
    )]
    Patch(PatchArgs),
    /// Check manifests: validation errors and multi-container mistakes, with fixes.
    #[command(
        after_help = "Examples:\n  tandem lint pod.yaml                 # findings with the line, the field and the fix\n  tandem lint -o sarif app.yaml > lint.sarif\n  tandem lint --strict --disable TND003 pod.yaml\n\nExit status: 1 when an error is found (with --strict, a warning too), else 0."
    )]
    Lint(LintArgs),
    /// Draw a pod's topology from a manifest or a running pod (Mermaid, DOT or SVG).
    #[command(
        after_help = "Examples:\n  tandem graph pod.yaml                # Mermaid, for a README\n  tandem graph pod/web -o svg > web.svg  # a running pod, drawn by tandem itself\n  tandem graph app.yaml --pod web -o dot | dot -Tpng > web.png"
    )]
    Graph(GraphArgs),
    /// Draw a pod's recorded run, one lane per container (HTML or SVG).
    #[command(
        after_help = "Examples:\n  tandem timeline web > web.html       # open it in a browser, offline\n  tandem timeline web -o svg -O web.svg --watch"
    )]
    Timeline(TimelineArgs),
    /// Set or remove labels of pods (kubectl label).
    #[command(
        after_help = "Examples:\n  tandem label pod web tier=front\n  tandem label pod/web tier=back --overwrite\n  tandem label pods -l app=web canary-     # removes the label canary\n  tandem label pods --all stage=test"
    )]
    Label(MetadataArgs),
    /// Set or remove annotations of pods (kubectl annotate).
    #[command(
        after_help = "Examples:\n  tandem annotate pod web note='rolled by hand'\n  tandem annotate pod web note-"
    )]
    Annotate(MetadataArgs),
    /// Serve the Kubernetes API for this store on https://127.0.0.1:6443, so kubectl and other
    /// Kubernetes clients reach its pods (with the kubeconfig `tandem kubeconfig` prints).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Print the kubeconfig that reaches `tandem serve` (or, with --path, where it is).
    #[command(
        after_help = "Examples:\n  tandem kubeconfig > ~/.kube/config\n  export KUBECONFIG=$(tandem kubeconfig --path)"
    )]
    Kubeconfig(KubeconfigArgs),
    /// Manage local images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print the script that makes a shell complete tandem's verbs, flags, pods and containers:
    /// `source <(tandem completion bash)`.
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct MetadataArgs {
    /// `pods NAME... KEY=VALUE... KEY-...` (or `pod/NAME`); `KEY-` removes a key.
    #[arg(required = true, num_args = 1..)]
    pub args: Vec<String>,
    /// Replace a value a key already has (else that is an error).
    #[arg(long)]
    pub overwrite: bool,
    /// Every pod of the namespace.
    #[arg(long)]
    pub all: bool,
    /// The pods whose labels match this selector.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const SERVE_EXAMPLES: &str = "Examples:
  tandem serve -d                          # in the background; its log is in the store
  export KUBECONFIG=$(tandem kubeconfig --path)
  kubectl get pods
  tandem serve --port 7443 --write-kubeconfig ~/.kube/tandem.yaml

Only clients with the kubeconfig's certificate (or the bearer token in the store's serve/token,
readable by root only) are let in. Stopping serve stops no pod; pods made with kubectl and with
`tandem run` are the same pods. Pods created through the API get the settings `tandem run` takes
from its environment (TANDEM_NETWORK, TANDEM_CNI_CONFIG_DIR, ...).";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Keep serving in the background; print the address and return.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// The address to listen on; 0.0.0.0 serves every address of the host.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: std::net::IpAddr,
    /// Also write the kubeconfig to this file (mode 0600).
    #[arg(long = "write-kubeconfig", value_name = "PATH")]
    pub write_kubeconfig: Option<PathBuf>,
    /// Set by `serve -d` on the process it starts.
    #[arg(long = "detached-child", hide = true)]
    pub detached_child: bool,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Print the kubeconfig's path instead of its content.
    #[arg(long)]
    pub path: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  source <(tandem completion bash)           # in ~/.bashrc\n  tandem completion zsh > \"${fpath[1]}/_tandem\"\n  tandem completion fish > ~/.config/fish/completions/tandem.fish"
)]
pub struct CompletionArgs {
    /// `bash`, `zsh`, `fish`, `elvish` or `powershell`.
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Manifest files; may also be given with -f.
    pub files: Vec<PathBuf>,
    /// A manifest file (repeatable); `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    /// Return once every pod is accepted and running in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Publish a port of the pod on the host, [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]
    /// (repeatable; the manifests must hold one pod). Reachable on 127.0.0.1 too.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[HOSTIP:]HOSTPORT:CONTAINERPORT"
    )]
    pub publish: Vec<String>,
    /// Refuse a pod with a volume this machine cannot have (a network or cloud disk, a CSI
    /// driver, a generic ephemeral volume) instead of running it with an empty directory
    /// standing in for that volume.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub pods: PodArgs,
}

/// `tandem apply -f FILE...`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files; may also be given with -f.
    pub files: Vec<PathBuf>,
    /// A manifest file (repeatable); `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    /// Refuse a pod with a volume this machine cannot have (a network or cloud disk, a CSI
    /// driver, a generic ephemeral volume) instead of running it with an empty directory
    /// standing in for that volume.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub pods: PodArgs,
}

/// How the pods a command makes run: their network, limits, logs and registries (`run`,
/// `apply`, and `serve` from its environment).
#[derive(Debug, Args, Clone)]
pub struct PodArgs {
    /// The pods' network: a CNI network name (looked up in --cni-config-dir), a .conflist or
    /// .conf file, or `none` for loopback only. Default: the built-in bridge network `tandem`
    /// (tandem0, 10.87.0.0/24).
    #[arg(long, env = "TANDEM_NETWORK", value_name = "NAME|FILE|none")]
    pub network: Option<String>,
    /// Where --network NAME is looked up (default /etc/cni/net.d).
    #[arg(
        long = "cni-config-dir",
        env = "TANDEM_CNI_CONFIG_DIR",
        value_name = "DIR"
    )]
    pub cni_config_dir: Option<PathBuf>,
    /// Where CNI plugins are looked up (repeatable; default /usr/lib/cni, then /opt/cni/bin).
    #[arg(
        long = "cni-plugin-dir",
        env = "TANDEM_CNI_PLUGIN_DIRS",
        value_delimiter = ':',
        value_name = "DIR"
    )]
    pub cni_plugin_dir: Vec<PathBuf>,
    /// The ranges Services' cluster IPs come from, as kube-apiserver's flag of that name: an
    /// IPv4 CIDR, then an IPv6 one for dual-stack Services; the store's from its first Service
    /// or pod until it has none. Default: 10.96.0.0/16, and fd00:10:96::/112 where pods have
    /// IPv6 addresses.
    #[arg(
        long = "service-cluster-ip-range",
        env = "TANDEM_SERVICE_CLUSTER_IP_RANGE",
        value_name = "CIDR[,CIDR]",
        value_parser = |text: &str| tandem_network::services::ServiceRanges::parse(text, tandem_network::ipv6_enabled())
    )]
    pub service_cluster_ip_range: Option<tandem_network::services::ServiceRanges>,
    /// The most processes (and threads) each pod may have, all its containers together: the
    /// pod cgroup's pids.max, as the kubelet's --pod-max-pids sets it. Default: unlimited.
    #[arg(long = "pod-max-pids", env = "TANDEM_POD_MAX_PIDS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pod_max_pids: Option<u64>,
    /// Sysctls pods may set beyond the kubelet's safe set, as the kubelet's flag of that name:
    /// names or prefixes ending in `*` of namespaced sysctls, comma-separated
    /// (`net.core.somaxconn,kernel.msg*`). Default: none.
    #[arg(long = "allowed-unsafe-sysctls", env = "TANDEM_ALLOWED_UNSAFE_SYSCTLS", value_name = "PATTERN[,PATTERN]", value_delimiter = ',', value_parser = parse_sysctl_pattern)]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// A container's log file is rotated once it grows past this size (a quantity: 10Mi, 500Ki),
    /// as the kubelet's containerLogMaxSize.
    #[arg(long = "container-log-max-size", env = "TANDEM_CONTAINER_LOG_MAX_SIZE", value_name = "QUANTITY", default_value = "10Mi", value_parser = parse_log_size)]
    pub container_log_max_size: u64,
    /// Log files kept per container, the current one included (at least 2), as the kubelet's
    /// containerLogMaxFiles.
    #[arg(long = "container-log-max-files", env = "TANDEM_CONTAINER_LOG_MAX_FILES", value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub container_log_max_files: u32,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One `--allowed-unsafe-sysctls` pattern, refused as the kubelet refuses it.
fn parse_sysctl_pattern(s: &str) -> Result<String, String> {
    match tandem_api::sysctls::pattern_problem(s) {
        None => Ok(s.to_string()),
        Some(problem) => Err(problem),
    }
}

/// A byte quantity of at least one record's worth (16Ki), as `--container-log-max-size` takes.
fn parse_log_size(s: &str) -> Result<u64, String> {
    let q = tandem_api::quantity::parse_quantity(s).map_err(|e| e.to_string())?;
    match q.bytes() {
        Some(b) if b >= 16 << 10 => Ok(b),
        Some(_) => Err("must be at least 16Ki, one log record".into()),
        None => Err("must be a whole number of bytes, such as 10Mi".into()),
    }
}

/// How to reach registries (`image pull`, `image push`, and the pulls of `run`).
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Require HTTPS with verified certificates; `--tls-verify=false` allows plain HTTP and
    /// self-signed certificates for every registry.
    #[arg(long = "tls-verify", action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,
    /// Credentials in docker config.json format (default: $REGISTRY_AUTH_FILE,
    /// $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// A containers-registries.conf file (insecure registries, mirrors, blocked registries);
    /// default /etc/containers/registries.conf.
    #[arg(
        long = "registries-conf",
        env = "TANDEM_REGISTRIES_CONF",
        value_name = "PATH"
    )]
    pub registries_conf: Option<PathBuf>,
}

/// `-o`: how `get` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Wide,
    Name,
    Json,
    Yaml,
    /// `jsonpath=TEMPLATE` (kubectl's JSONPath template).
    JsonPath(Template),
    /// `custom-columns=HEADER:PATH,...`.
    CustomColumns(Vec<(String, Template)>),
}

fn parse_output(s: &str) -> Result<Output, String> {
    Ok(match s {
        "wide" => Output::Wide,
        "name" => Output::Name,
        "json" => Output::Json,
        "yaml" => Output::Yaml,
        _ => {
            if let Some(t) = s.strip_prefix("jsonpath=") {
                return Template::parse(t).map(Output::JsonPath);
            }
            if let Some(spec) = s.strip_prefix("custom-columns=") {
                let columns = spec
                    .split(',')
                    .map(|c| {
                        let (header, path) = c.split_once(':').ok_or_else(|| {
                            format!("custom-columns takes HEADER:PATH pairs, got {c:?}")
                        })?;
                        let path = if path.starts_with('{') {
                            path.to_string()
                        } else {
                            format!("{{{path}}}")
                        };
                        Ok((header.to_string(), Template::parse(&path)?))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                return Ok(Output::CustomColumns(columns));
            }
            return Err(format!(
                "unable to match a printer suitable for the output format {s:?}, allowed formats are: custom-columns, json, jsonpath, name, wide, yaml"
            ));
        }
    })
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// `pods` (also `pod`, `po`), `events` (also `event`, `ev`), `services` (`svc`),
    /// `endpoints` (`ep`), `endpointslices`, `all`, or a workload kind: `deployments`
    /// (`deploy`), `replicasets` (`rs`), `statefulsets` (`sts`), `daemonsets` (`ds`), `jobs`,
    /// `cronjobs` (`cj`), `replicationcontrollers` (`rc`); `KIND/NAME` too.
    pub resource: String,
    /// A pod name (for pods).
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub name: Option<String>,
    /// wide, name, json, yaml, jsonpath=TEMPLATE, custom-columns=HEADER:PATH,...
    #[arg(short = 'o', long = "output", value_parser = parse_output)]
    pub output: Option<Output>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// For events: only those of `pod/NAME`.
    #[arg(long = "for")]
    pub for_object: Option<String>,
    /// Only pods whose labels match this selector (`app=web`, `tier in (a,b)`, `!canary`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Only pods whose fields match (`status.phase=Running`, `spec.nodeName!=x`).
    #[arg(long = "field-selector")]
    pub field_selector: Option<String>,
    /// Pods of every namespace, with a NAMESPACE column.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// A LABELS column.
    #[arg(long = "show-labels")]
    pub show_labels: bool,
    /// After the list, a line each time a pod's row changes, until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Order the list by a JSONPath (`.metadata.name`, `{.status.startTime}`): numbers by value,
    /// the rest as text, objects without it first.
    #[arg(long = "sort-by", value_parser = parse_sort_by)]
    pub sort_by: Option<Template>,
}

impl GetArgs {
    /// kubectl's words for an empty list, on stderr.
    pub fn say_none_found(&self) {
        match self.all_namespaces {
            true => eprintln!("No resources found"),
            false => eprintln!("No resources found in {} namespace.", self.namespace),
        }
    }

    /// The first flag given that only `get pods` acts on, for other kinds to refuse.
    pub fn pod_only_flag(&self) -> Option<&'static str> {
        [
            ("--selector", self.selector.is_some()),
            ("--field-selector", self.field_selector.is_some()),
            ("--show-labels", self.show_labels),
            ("--watch", self.watch),
            ("--sort-by", self.sort_by.is_some()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}

fn parse_sort_by(s: &str) -> Result<Template, String> {
    if s.starts_with('{') {
        Template::parse(s)
    } else {
        Template::parse(&format!("{{{s}}}"))
    }
}

#[derive(Debug, Args)]
#[command(after_help = LOGS_EXAMPLES)]
pub struct LogsArgs {
    /// The pod (`NAME` or `pod/NAME`), or `svc/NAME` or a workload (`deployment/NAME`, …) to
    /// pick a running pod of; omitted with -l.
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub pod: Option<String>,
    /// The container; by default the one the pod's `kubectl.kubernetes.io/default-container`
    /// annotation names, else its first container.
    #[arg(short = 'c', long = "container", add = ArgValueCandidates::new(container_names))]
    pub container: Option<String>,
    /// Every container of the pod (init containers first).
    #[arg(long = "all-containers")]
    pub all_containers: bool,
    /// Keep printing as the containers write, through restarts, until they are gone.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The previous instance's logs (after a restart).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(long)]
    pub timestamps: bool,
    /// Only the last N lines of each container (-1: all; 10 with -l).
    #[arg(long, allow_negative_numbers = true)]
    pub tail: Option<i64>,
    /// Only lines newer than this: `30s`, `5m`, `1h`.
    #[arg(long, conflicts_with = "since_time")]
    pub since: Option<String>,
    /// Only lines at or after this RFC 3339 time.
    #[arg(long = "since-time")]
    pub since_time: Option<String>,
    /// Prefix each line with `[pod/NAME/CONTAINER]`.
    #[arg(long)]
    pub prefix: bool,
    /// At most this many bytes of each container's logs.
    #[arg(long = "limit-bytes")]
    pub limit_bytes: Option<u64>,
    /// The pods whose labels match this selector (`app=web`, `tier in (front,back)`, `!canary`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Print no note about the container picked by default.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const LOGS_EXAMPLES: &str = "Examples:
  tandem logs web                          # the default container's logs
  tandem logs web --all-containers --prefix -f   # every container, as they write
  tandem logs web -c app --previous        # the instance before the last restart
  tandem logs -l app=web --tail 20         # the last 20 lines of each matching pod
  tandem logs web --since 5m --timestamps";

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  tandem describe pod web\n  tandem describe pods            # every pod of the namespace\n  tandem describe pods -l app=web\n  tandem describe deployment web  # replicas, strategy, template, ReplicaSets, events\n  tandem describe deploy/web svc/web"
)]
pub struct DescribeArgs {
    /// `KIND [NAME...]` (every object of the kind when no name is given) or `KIND/NAME...`:
    /// pods, services, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs,
    /// replicationcontrollers, by kubectl's names and short names.
    #[arg(required = true, value_name = "KIND [NAME...] | KIND/NAME...")]
    pub args: Vec<String>,
    /// Only objects whose labels match this selector.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const PORT_FORWARD_EXAMPLES: &str = "Examples:
  tandem port-forward web 8080:80          # localhost:8080 here reaches port 80 in the pod
  tandem port-forward web :80              # any free port here
  tandem port-forward pod/web 9000:http    # the container port named http
  tandem port-forward --address 0.0.0.0 web 8080:80
  tandem port-forward svc/web 8080:80          # a pod behind the Service, at its targetPort
  tandem port-forward deployment/web 8080:http

Each connection is made from inside the pod, to its loopback: a server listening on 127.0.0.1
in the pod is reached. Runs until interrupted, or until the pod is gone.";

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// The pod (`NAME` or `pod/NAME`), or `svc/NAME` or a workload (`deployment/NAME`, …) to
    /// pick a running pod of.
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub pod: String,
    /// `[LOCAL:]REMOTE` pairs: REMOTE a port number or a container port's name; `:REMOTE` picks a
    /// free local port.
    #[arg(required = true)]
    pub ports: Vec<String>,
    /// Addresses to listen on, comma-separated: `localhost` (127.0.0.1 and ::1) or IPs.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const CP_EXAMPLES: &str = "Examples:
  tandem cp web:/var/log/app ./app-logs      # a directory out of the default container
  tandem cp ./config.json web:/etc/app/config.json -c app
  tandem cp ./certs web:/etc/ssl/            # into a directory, under its own name

Into an existing directory a copy lands under its own name, as with cp(1). Symlinks coming out
of a container are never followed here: one pointing outside the copy is skipped with a
warning, as are hard links and devices. The container needs tar.";

#[derive(Debug, Args)]
pub struct CpArgs {
    /// `POD:PATH` or a local path.
    pub source: String,
    /// A local path or `POD:PATH`.
    pub destination: String,
    /// The container; by default the pod's default one.
    #[arg(short = 'c', long = "container", add = ArgValueCandidates::new(container_names))]
    pub container: Option<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  tandem top pod                     # every pod of the namespace\n  tandem top pod web --containers    # per container\n  tandem top pod --sort-by cpu\n\nCPU is measured over half a second, in millicores; memory is the working set (usage less\ninactive file cache), as the kubelet reports it."
)]
pub struct TopArgs {
    /// `pod` (also `pods`, `po`).
    pub resource: String,
    /// A pod name; every pod of the namespace without one.
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub name: Option<String>,
    /// One line per container.
    #[arg(long)]
    pub containers: bool,
    /// Highest first by `cpu` or `memory` (by name without it).
    #[arg(long = "sort-by", value_enum)]
    pub sort_by: Option<TopSort>,
    /// Only pods whose labels match this selector.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopSort {
    Cpu,
    Memory,
}

const EXEC_EXAMPLES: &str = "Examples:
  tandem exec web -- ls /                     # in the pod's default container
  tandem exec web -c log-shipper -- env       # in the container log-shipper
  tandem exec -it web -- sh                   # an interactive shell on a terminal
  echo hi | tandem exec -i web -- cat         # stdin passed on, then its end

Exit status: the command's; 127 when it is not found, 126 when it cannot be executed,
1 when it could not be run at all.";

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The pod (`NAME` or `pod/NAME`), or `svc/NAME` or a workload (`deployment/NAME`, …) to
    /// pick a running pod of.
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub pod: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// The container; by default the one the pod's `kubectl.kubernetes.io/default-container`
    /// annotation names, else its first container.
    #[arg(short = 'c', long = "container", add = ArgValueCandidates::new(container_names))]
    pub container: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long = "stdin")]
    pub stdin: bool,
    /// Give the command a terminal (with -i, when stdin is one).
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Print nothing but the command's own output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const ATTACH_EXAMPLES: &str = "Examples:
  tandem attach web                           # what the default container writes from now on
  tandem attach -it shell -c sh               # a container with stdin and tty: its terminal
  echo hi | tandem attach -i reader           # input for a container with stdin: true

The session ends when the container exits, or when the input ends (a container with
stdinOnce: true then reads the end of its stdin, and its output is followed until it exits).";

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The pod (`NAME` or `pod/NAME`).
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub pod: String,
    /// The container; by default the one the pod's `kubectl.kubernetes.io/default-container`
    /// annotation names, else its first container.
    #[arg(short = 'c', long = "container", add = ArgValueCandidates::new(container_names))]
    pub container: Option<String>,
    /// Pass stdin to the container (which needs `stdin: true`, or a terminal).
    #[arg(short = 'i', long = "stdin")]
    pub stdin: bool,
    /// Use the container's terminal (it needs `tty: true`), with -i when stdin is one.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Print nothing but the container's own output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

const DEBUG_EXAMPLES: &str = "Examples:
  tandem debug -it web --image=busybox --target=app -- sh   # a shell seeing app's processes
  tandem debug web --image=busybox -c probe -- wget -qO- localhost:8080/healthz
  tandem logs web -c probe                                  # what it printed

The container joins the pod's network, IPC and UTS namespaces (with --target, that container's
processes too), runs once and is never restarted; it cannot be removed, and goes with the pod.";

#[derive(Debug, Args)]
pub struct DebugArgs {
    /// The pod (`NAME` or `pod/NAME`).
    #[arg(add = ArgValueCandidates::new(pod_names))]
    pub pod: String,
    /// The image of the debug container.
    #[arg(long)]
    pub image: String,
    /// The command (or with --arguments-only, its arguments), after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// The debug container's name; by default `debugger-` and five random characters.
    #[arg(short = 'c', long = "container")]
    pub container: Option<String>,
    /// A container whose process namespace the debug container joins.
    #[arg(long, add = ArgValueCandidates::new(container_names))]
    pub target: Option<String>,
    /// Keep the debug container's stdin open and attach to it.
    #[arg(short = 'i', long = "stdin")]
    pub stdin: bool,
    /// Give the debug container a terminal.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Always, IfNotPresent or Never.
    #[arg(long = "image-pull-policy", value_parser = ["Always", "IfNotPresent", "Never"])]
    pub image_pull_policy: Option<String>,
    /// The words after `--` are the image's arguments rather than the command.
    #[arg(long = "arguments-only")]
    pub arguments_only: bool,
    /// Print nothing but the container's own output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// `pod NAME...` (or `pod/NAME`), or a workload: `deployment NAME` (or `deployment/NAME`),
    /// which goes with its pods.
    pub targets: Vec<String>,
    /// Delete every pod of the namespace (`tandem delete pods --all`).
    #[arg(long)]
    pub all: bool,
    /// Delete the pods and workloads of these manifest files.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    /// With -f: also delete the directories of the file's PersistentVolumeClaims, and their data.
    #[arg(long = "include-volumes")]
    pub include_volumes: bool,
    /// Seconds between SIGTERM and SIGKILL, instead of the pod's terminationGracePeriodSeconds.
    #[arg(long = "grace-period")]
    pub grace_period: Option<u64>,
    /// What becomes of a workload's dependents, as kubectl's flag: `background` (the default)
    /// and `foreground` delete its pods with it; `orphan` keeps them running without it (a
    /// Deployment's ReplicaSets become ReplicaSets of their own), for the next workload that
    /// selects them to adopt.
    #[arg(long = "cascade", value_enum, default_value_t = Cascade::Background)]
    pub cascade: Cascade,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

/// `--cascade`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cascade {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// A Job from a CronJob's job template, now.
    #[command(after_help = "Example:\n  tandem create job backup-now --from=cronjob/nightly")]
    Job(CreateJobArgs),
}

#[derive(Debug, Args)]
pub struct CreateJobArgs {
    /// The Job's name.
    pub name: String,
    /// `cronjob/NAME`: the CronJob whose job template to run.
    #[arg(long, required = true)]
    pub from: String,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Wait until the rollout is done, printing its progress as kubectl does.
    Status(RolloutStatusArgs),
    /// Replace every pod by rolling out the same template again.
    Restart(RolloutTarget),
    /// Roll back to the previous revision (or `--to-revision N`).
    Undo(RolloutUndoArgs),
    /// The revisions kept (one per ReplicaSet).
    History(RolloutTarget),
    /// Stop a Deployment's rollouts: template changes wait (scaling goes on) until `resume`.
    Pause(RolloutTarget),
    /// Let a paused Deployment roll out its template again.
    Resume(RolloutTarget),
}

#[derive(Debug, Args)]
pub struct RolloutTarget {
    /// `deployment/NAME` or `deployment NAME`.
    #[arg(required = true, num_args = 1..=2)]
    pub target: Vec<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    #[command(flatten)]
    pub target: RolloutTarget,
    /// How long to wait (`0` waits for ever, as kubectl's default).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct RolloutUndoArgs {
    #[command(flatten)]
    pub target: RolloutTarget,
    /// The revision to go back to (`rollout history` lists them); 0 is the previous one.
    #[arg(long = "to-revision", default_value_t = 0)]
    pub to_revision: i64,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// `KIND/NAME` or `KIND NAME` (deployment, replicaset, statefulset, replicationcontroller).
    #[arg(required = true, num_args = 1..=2)]
    pub target: Vec<String>,
    /// The number of pods wanted.
    #[arg(long, allow_negative_numbers = true)]
    pub replicas: i32,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// `pod/NAME...` (or `pod NAME...`), or workloads: `deployment/NAME`, `job/NAME`, ….
    pub targets: Vec<String>,
    /// `condition=Ready[=true]`, `delete`, or `jsonpath='{.status.phase}'=Succeeded`.
    #[arg(long = "for")]
    pub for_condition: String,
    /// How long to wait: `30s`, `5m`, `1h` (`0` checks once).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Update container images of a running pod: `tandem set image pod/NAME CONTAINER=IMAGE...`.
    /// Each image is pulled first as the container's imagePullPolicy says; running containers
    /// then restart with it, as the kubelet restarts them.
    #[command(
        after_help = "Example:\n  tandem set image pod/web app=registry.example.com/app:1.2 log-shipper=fluent-bit:3.1"
    )]
    Image(SetImageArgs),
}

#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// `pod/NAME` (or `NAME`, or `pod NAME`), then `CONTAINER=IMAGE` pairs.
    #[arg(required = true, num_args = 2.., value_name = "POD CONTAINER=IMAGE")]
    pub args: Vec<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// `pod NAME` (or `pod/NAME`).
    #[arg(required = true, num_args = 1..=2, value_name = "pod NAME")]
    pub targets: Vec<String>,
    /// The subresource to patch; only `status` is supported.
    #[arg(long)]
    pub subresource: Option<String>,
    /// The patch type: `strategic` (the default) or `merge`; conditions are merged by type
    /// with either.
    #[arg(long = "type", default_value = "strategic")]
    pub patch_type: String,
    /// The patch, as JSON: `{"status":{"conditions":[{"type":"GATE","status":"True"}]}}`.
    #[arg(short = 'p', long = "patch")]
    pub patch: String,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Load images from a `docker save` tarball, an OCI archive or an OCI layout directory.
    #[command(
        after_help = "Example:\n  docker save busybox:1.36 -o busybox.tar && tandem image load -i busybox.tar"
    )]
    Load {
        #[arg(short = 'i', long = "input")]
        input: PathBuf,
    },
    /// Create a one-layer image from a root filesystem tarball (like `docker import`).
    #[command(
        after_help = "Example:\n  tandem image import rootfs.tar localhost/tool:1.0 --cmd '[\"/bin/tool\"]' --user app"
    )]
    Import {
        tarball: PathBuf,
        reference: String,
        /// The image's default command, as a JSON array or a plain command line split on spaces.
        #[arg(long)]
        cmd: Option<String>,
        /// The image's USER: a name or number from its /etc/passwd, optionally `:group`.
        #[arg(long, value_name = "USER[:GROUP]")]
        user: Option<String>,
    },
    /// Pull an image from a registry (and unpack it).
    #[command(
        after_help = "Examples:\n  tandem image pull nginx:1.27\n  tandem image pull 127.0.0.1:5000/app:dev --tls-verify=false"
    )]
    Pull {
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        /// No progress display.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Push a local image to a registry (to DESTINATION, default its own name).
    #[command(
        after_help = "Example:\n  tandem image push localhost/tool:1.0 registry.example.com/me/tool:1.0 --authfile auth.json"
    )]
    Push {
        source: String,
        destination: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// No progress display.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show images as JSON: names, digests, config, layers.
    #[command(after_help = "Example:\n  tandem image inspect nginx:1.27")]
    Inspect { references: Vec<String> },
    /// List images.
    #[command(alias = "list", after_help = "Example:\n  tandem image ls")]
    Ls,
    /// Remove images (refused while a pod uses one, unless --force).
    #[command(after_help = "Example:\n  tandem image rm nginx:1.27 && tandem image prune")]
    Rm {
        references: Vec<String>,
        /// Remove even when a pod uses the image.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Delete blobs and snapshots no image name references.
    #[command(after_help = "Example:\n  tandem image rm old:1.0 && tandem image prune")]
    Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// rustc-style findings with the source line, a caret and the fix.
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Rules are listed by `tandem lint --list-rules`; turn one off for a pod with the annotation `tandem.dev/lint-disable: TND003,TND007`."
)]
pub struct LintArgs {
    /// Manifest files (YAML or JSON; `-` reads stdin).
    pub files: Vec<PathBuf>,
    /// A manifest file (repeatable).
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: LintFormat,
    /// Exit non-zero on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Rules to turn off everywhere, by id or name (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// The Kubernetes version the manifests are for (native sidecars need 1.29).
    #[arg(long = "kube-version", default_value_t = tandem_lint::rules::KubeVersion::DEFAULT.to_string())]
    pub kube_version: String,
    /// Print the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    /// Drawn by tandem itself, no external tool needed.
    Svg,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// A manifest file (`-` reads stdin), or the name of a pod tandem runs (`NAME`, `pod/NAME`).
    pub target: String,
    #[arg(short = 'o', long = "output", value_enum, default_value = "mermaid")]
    pub output: GraphFormat,
    /// Which pod of the file, when it holds several.
    #[arg(long)]
    pub pod: Option<String>,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimelineFormat {
    /// A page with the drawing and the table of events; opens offline.
    Html,
    Svg,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The pod (`NAME` or `pod/NAME`).
    pub pod: String,
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    #[arg(short = 'o', long = "output", value_enum, default_value = "html")]
    pub output: TimelineFormat,
    /// Write to this file (atomically) instead of stdout.
    #[arg(short = 'O', long = "output-file")]
    pub output_file: Option<PathBuf>,
    /// Rewrite the output file whenever the pod's events or status change, until the pod ends.
    #[arg(long, requires = "output_file")]
    pub watch: bool,
}
