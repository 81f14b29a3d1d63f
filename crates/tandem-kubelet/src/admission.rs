//! Pod admission: whether this node runs the pod at all (the kubelet's `PodAdmitHandler`s),
//! decided from the plan alone before anything of the pod starts. A refused pod ends Failed with
//! the handler's reason, as the kubelet's `rejectPod` leaves it.

use tandem_api::plan::PodPlan;
use tandem_api::sysctls::{allowed_by, dotted, namespace_of, Namespace, SAFE};

/// The reasons a pod is refused, as the kubelet names them in its status and event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// A sysctl outside the allowed set, or of a namespace the pod shares with the host
    /// (`pkg/kubelet/sysctl` `ForbiddenReason`).
    SysctlForbidden,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::SysctlForbidden => "SysctlForbidden",
        }
    }
}

/// Why a pod is refused: the reason, and the handler's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub message: String,
}

impl Rejection {
    /// The pod's `status.message` (the kubelet's `rejectPod` prefix).
    pub fn status_message(&self) -> String {
        format!("Pod was rejected: {}", self.message)
    }
}

/// The admission of `plan`: its sysctls must be in the kubelet's safe set or among the node's
/// `--allowed-unsafe-sysctls` (`plan.allowed_unsafe_sysctls`), and none of a namespace the pod
/// shares with the host (`patternAllowlist.Admit`).
pub fn admit(plan: &PodPlan) -> Result<(), Rejection> {
    for (name, _) in &plan.security.sysctls {
        let name = dotted(name);
        let problem = match namespace_of(&name) {
            Some(Namespace::Net) if plan.host_network => Some(Namespace::Net),
            Some(Namespace::Ipc) if plan.host_ipc => Some(Namespace::Ipc),
            _ => None,
        };
        let message = match problem {
            Some(ns) => format!("{name:?} not allowed with host {} enabled", ns.word()),
            None if !SAFE.contains(&name.as_str())
                && !allowed_by(&plan.allowed_unsafe_sysctls, &name) =>
            {
                format!("{name:?} not allowlisted")
            }
            None => continue,
        };
        return Err(Rejection {
            reason: RejectReason::SysctlForbidden,
            message: format!("forbidden sysctl: {message}"),
        });
    }
    Ok(())
}
