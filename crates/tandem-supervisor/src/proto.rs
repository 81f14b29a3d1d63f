//! The control protocol on `control.sock`: one JSON request line from the client, then JSON
//! lines from the supervisor until either side closes. The connection stays open until the
//! supervisor exits, so a client that waits for EOF waits for the pod to be gone.
//!
//! Descriptors travel with a message as SCM_RIGHTS ([`tandem_runtime::passfd`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodCondition;
use serde::{Deserialize, Serialize};

use crate::logs::LogLine;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stop the pod gracefully, with an optional grace period in seconds.
    Delete { grace_seconds: Option<u64> },
    /// Stream every container's log lines, then how the pod ended (the foreground `tandem run`).
    Follow,
    /// Update container images (container name → image), `tandem set image`: one `accepted`
    /// once the spec is updated, or one `rejected`, then the supervisor closes the connection.
    SetImage { images: BTreeMap<String, String> },
    /// Set conditions of the pod's readiness gates, merged by type (`tandem patch pod NAME
    /// --subresource=status`): one `accepted` once the status shows them, or one `rejected`,
    /// then the supervisor closes the connection.
    SetConditions { conditions: Vec<PodCondition> },
    /// Change the pod's labels, annotations or owners, as an update of the pod does (`tandem
    /// label`, the API's PATCH, a controller adopting or orphaning it): one `accepted` once
    /// pod.json shows them, or one `rejected`, then the supervisor closes the connection.
    SetMetadata(tandem_api::updates::MetadataChange),
    /// Add an ephemeral container to the running pod (`tandem debug`, the API's
    /// `pods/ephemeralcontainers`): its plan and its spec as the API has it. One `accepted` once
    /// the pod's spec and plan have it (the engine starts it next), or one `rejected`.
    AddEphemeral {
        container: Box<tandem_api::plan::ContainerPlan>,
        spec: Box<k8s_openapi::api::core::v1::EphemeralContainer>,
    },
    /// Run a command in a running container (`tandem exec`): one `accepted` (or `rejected`),
    /// then one `exec_ended` once the command has exited. Closing the connection before that
    /// kills the command.
    Exec(ExecRequest),
    /// Attach to the running instance of a container's own streams (`tandem attach`, the API's
    /// `pods/attach`), with the client's pipe ends (see [`AttachRequest`]): one `accepted` (or
    /// `rejected`); then the client may send [`AttachInput`] lines while the session lasts; one
    /// `attach_ended` once it has ended (the container's output ended, or the client's input did,
    /// see `crate::attach`). Closing the connection ends the session.
    AttachContainer(AttachRequest),
    /// Connect to a port on the pod's loopback from inside its network namespace
    /// (`tandem port-forward`): one `accepted` carrying the connected socket (SCM_RIGHTS), or
    /// one `rejected` saying why, then the supervisor closes the connection.
    Dial { port: u16 },
}

/// What `tandem exec` asks for. Without `tty`, the request comes with the pipe ends for the
/// command's stdin (only with `stdin`), stdout and stderr, in that order; with `tty`, with none,
/// and the `accepted` reply carries the controlling end of the command's pseudo-terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub tty: bool,
    /// The terminal's rows and columns to start with.
    #[serde(default)]
    pub size: Option<(u16, u16)>,
}

impl ExecRequest {
    /// How many descriptors come with the request.
    pub fn descriptors(&self) -> usize {
        match (self.tty, self.stdin) {
            (true, _) => 0,
            (false, true) => 3,
            (false, false) => 2,
        }
    }
}

/// What `tandem attach` asks for. The request comes with the read end of a pipe for the
/// container's input (only with `stdin`), then the write ends of pipes for its stdout and,
/// without a terminal, its stderr (a terminal has one output). `tty` is what the client read in
/// the pod's spec; the supervisor refuses a request that disagrees with the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    pub container: String,
    pub stdin: bool,
    pub tty: bool,
    /// The terminal's rows and columns to set first.
    #[serde(default)]
    pub size: Option<(u16, u16)>,
}

impl AttachRequest {
    /// How many descriptors come with the request.
    pub fn descriptors(&self) -> usize {
        usize::from(self.stdin) + if self.tty { 1 } else { 2 }
    }
}

/// What an attached client sends after its request, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachInput {
    /// The client's terminal has this many rows and columns now.
    Resize { rows: u16, columns: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Accepted,
    /// The request was refused; why, in words for the user.
    Rejected(String),
    Log(LogLine),
    Ended(Ended),
    /// How an exec'd command ended.
    ExecEnded(tandem_runtime::exec::ExecOutcome),
    /// An attach session has ended.
    AttachEnded,
}

/// How a pod ended, for the foreground CLI's exit status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub phase: tandem_kubelet::action::PodPhase,
    pub reason: tandem_kubelet::state::TerminationReason,
    /// 0 when the pod succeeded or was stopped on request with every container stopping in its
    /// grace period; else the exit code of the first main container (in spec order) that failed.
    pub exit_code: i32,
}
