//! The rule catalogue: stable ids, names, default severities and why each rule exists.
//!
//! Ids never change meaning and are never reused; a rule that goes away leaves a gap.

use std::fmt;

use crate::error::Error;

/// How bad a finding is. `--strict` makes warnings fail the run too; notes never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// `TND001`.
    pub id: &'static str,
    /// `sidecar-as-regular-container`.
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule catches.
    pub summary: &'static str,
    /// Why it matters, for people reading a finding.
    pub explanation: &'static str,
}

/// Every rule, by name: what the checks report findings under. Its position is the rule's
/// number, so [`RuleId::rule`] cannot miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleId {
    /// TND000 `invalid-manifest`.
    InvalidManifest,
    /// TND001 `sidecar-as-regular-container`.
    SidecarAsRegularContainer,
    /// TND002 `sidecar-without-startup-probe`.
    SidecarWithoutStartupProbe,
    /// TND003 `helper-stops-before-app`.
    HelperStopsBeforeApp,
    /// TND004 `shared-volume-without-fsgroup`.
    SharedVolumeWithoutFsgroup,
    /// TND005 `localhost-port-undeclared`.
    LocalhostPortUndeclared,
    /// TND006 `duplicate-container-port`.
    DuplicateContainerPort,
    /// TND007 `probe-port-undeclared`.
    ProbePortUndeclared,
    /// TND008 `missing-resources`.
    MissingResources,
    /// TND009 `hostpath-instead-of-emptydir`.
    HostpathInsteadOfEmptydir,
    /// TND010 `native-sidecar-unsupported`.
    NativeSidecarUnsupported,
    /// TND011 `sidecar-config-inline`.
    SidecarConfigInline,
    /// TND012 `run-as-non-root-missing`.
    RunAsNonRootMissing,
    /// TND013 `read-only-root-fs-missing`.
    ReadOnlyRootFsMissing,
    /// TND014 `privilege-escalation-allowed`.
    PrivilegeEscalationAllowed,
    /// TND015 `service-selects-nothing`.
    ServiceSelectsNothing,
    /// TND016 `service-target-port-undefined`.
    ServiceTargetPortUndefined,
    /// TND017 `image-reference-invalid`.
    ImageReferenceInvalid,
}

impl RuleId {
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }
}

impl Rule {
    pub fn is(&self, id: RuleId) -> bool {
        std::ptr::eq(self, id.rule())
    }
}

/// Every rule, in id order.
pub static RULES: &[Rule] = &[
    Rule {
        id: "TND000",
        name: "invalid-manifest",
        severity: Severity::Error,
        summary:
            "the manifest does not pass the API server's validation (as `tandem run` checks it)",
        explanation:
            "tandem refuses a manifest the API server would refuse; warnings are fields that \
                      have no effect on one machine or are suspicious",
    },
    Rule {
        id: "TND001",
        name: "sidecar-as-regular-container",
        severity: Severity::Warning,
        summary: "a helper other containers depend on is declared in spec.containers",
        explanation:
            "regular containers start together and in no guaranteed order, so the app may \
                      start (and connect, or write) before its helper is there; a native sidecar \
                      (an init container with restartPolicy: Always) starts before the containers \
                      and stops after them",
    },
    Rule {
        id: "TND002",
        name: "sidecar-without-startup-probe",
        severity: Severity::Warning,
        summary: "a native sidecar that serves other containers has no startupProbe",
        explanation: "the next container starts as soon as a native sidecar is started, and \
                      without a startupProbe \"started\" only means its process exists, not that \
                      it listens; a startupProbe makes the containers wait until it does",
    },
    Rule {
        id: "TND003",
        name: "helper-stops-before-app",
        severity: Severity::Warning,
        summary: "a regular helper container without preStop may exit while the app still drains",
        explanation: "at pod termination every regular container gets SIGTERM at the same time; \
                      a helper that exits at once leaves the app without its proxy, log shipper or \
                      adapter for the rest of its drain; native sidecars are stopped only after \
                      the containers have exited, and a preStop hook keeps a regular one up; \
                      a helper whose command visibly does its work and exits (echo, cp, a shell \
                      line without a loop or wait) is not one",
    },
    Rule {
        id: "TND004",
        name: "shared-volume-without-fsgroup",
        severity: Severity::Warning,
        summary:
            "a shared emptyDir is used by containers running as different users, without fsGroup",
        explanation: "files one container creates are owned by its user; another user may not \
                      read or write them; with a pod-level fsGroup the volume and every file in \
                      it belong to that group and every container is a member",
    },
    Rule {
        id: "TND005",
        name: "localhost-port-undeclared",
        severity: Severity::Warning,
        summary:
            "a container connects to localhost:PORT but no container of the pod declares that port",
        explanation: "containers of a pod share one network namespace, so localhost:PORT reaches \
                      whichever container listens there; when none declares it, either nothing \
                      listens (a typo, a missing helper) or the port is invisible to tooling, \
                      probes by name and readers of the manifest",
    },
    Rule {
        id: "TND006",
        name: "duplicate-container-port",
        severity: Severity::Warning,
        summary: "two containers that run at the same time declare the same port",
        explanation: "containers of a pod share one network namespace: only one of them can bind \
                      the port, the other fails to start or serves nothing. A warning, as the API \
                      server's: declaring a port binds nothing, so the pod may be right",
    },
    Rule {
        id: "TND007",
        name: "probe-port-undeclared",
        severity: Severity::Warning,
        summary: "a probe points at a port no container of the pod declares",
        explanation: "the probe checks whatever listens on that port of the pod, which may be \
                      nothing at all; declare the port on the container that serves it (a port \
                      another container declares is fine: it answers for this one, as a mesh's \
                      proxy answers the app's probes)",
    },
    Rule {
        id: "TND008",
        name: "missing-resources",
        severity: Severity::Warning,
        summary: "a container (sidecars included) lacks resource requests or limits, and the pod sets none for all of them",
        explanation: "requests are what the scheduler reserves and limits what the kernel \
                      enforces; a container without them can be starved or starve its neighbours, \
                      sidecars included — they share the pod's budget",
    },
    Rule {
        id: "TND009",
        name: "hostpath-instead-of-emptydir",
        severity: Severity::Warning,
        summary: "a hostPath volume holds what an emptyDir would hold: scratch space, or files the pod's containers share",
        explanation: "hostPath ties the pod to one node's filesystem, outlives the pod and is \
                      shared with anything else on the host; to share files between the \
                      containers of a pod an emptyDir is enough (a hostPath the pod only reads, \
                      or one container keeps its data in, is left alone)",
    },
    Rule {
        id: "TND010",
        name: "native-sidecar-unsupported",
        severity: Severity::Error,
        summary: "native sidecars used with a Kubernetes version that does not run them",
        explanation: "restartPolicy on init containers (native sidecars) exists from 1.28 behind \
                      the SidecarContainers feature gate (alpha, off by default) and is on by \
                      default from 1.29; older API servers drop the field, and the sidecar then \
                      blocks the pod as an init container that never exits",
    },
    Rule {
        id: "TND011",
        name: "sidecar-config-inline",
        severity: Severity::Note,
        summary: "a helper's configuration is written inline instead of in a ConfigMap",
        explanation: "configuration in a ConfigMap can be changed, reviewed and reused without \
                      touching the pod spec or the app, and mounted as files the helper reads",
    },
    Rule {
        id: "TND012",
        name: "run-as-non-root-missing",
        severity: Severity::Warning,
        summary: "a container may run as root (no runAsNonRoot: true, no non-zero runAsUser)",
        explanation: "a process running as root inside the container is root on the shared \
                      volumes and a step closer to root on the host after an escape",
    },
    Rule {
        id: "TND013",
        name: "read-only-root-fs-missing",
        severity: Severity::Warning,
        summary: "a container's root filesystem is writable (no readOnlyRootFilesystem: true)",
        explanation: "a read-only root filesystem stops an intruder from changing binaries and \
                      makes every place the container writes explicit (emptyDir mounts)",
    },
    Rule {
        id: "TND014",
        name: "privilege-escalation-allowed",
        severity: Severity::Warning,
        summary: "a container does not set allowPrivilegeEscalation: false",
        explanation: "without it a process can gain privileges through setuid binaries or file \
                      capabilities (no_new_privs is not set)",
    },
    Rule {
        id: "TND015",
        name: "service-selects-nothing",
        severity: Severity::Warning,
        summary: "a Service's selector matches no Pod or pod template in the manifests",
        explanation: "the Service then has no endpoints and refuses every connection; it is \
                      created all the same, so the mistake shows only as traffic that fails",
    },
    Rule {
        id: "TND016",
        name: "service-target-port-undefined",
        severity: Severity::Warning,
        summary: "a Service's targetPort names a port no container of its pods defines",
        explanation: "pods without a container port of that name are left out of that port's \
                      endpoints, so the Service refuses connections to it",
    },
    Rule {
        id: "TND017",
        name: "image-reference-invalid",
        severity: Severity::Error,
        summary: "a container's or an image volume's image reference cannot be parsed",
        explanation: "the API server takes any image string, but the kubelet must parse it to \
                      pull: a container whose reference does not parse never starts (it waits \
                      with InvalidImageName), nor does a pod whose image volume's does, on a \
                      cluster as here",
    },
];

/// The rule with this id (`TND003`, any case) or name (`helper-stops-before-app`).
pub fn find(key: &str) -> Option<&'static Rule> {
    let key = key.trim();
    RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(key) || r.name == key)
}

/// Parses a comma-separated list of rule ids or names, as `--disable` and the
/// `tandem.dev/lint-disable` annotation take them.
pub fn parse_list(list: &str) -> Result<Vec<&'static Rule>, Error> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| find(s).ok_or_else(|| Error::UnknownRule(s.to_string())))
        .collect()
}

/// A Kubernetes minor version, the target of `--kube-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    /// The release tandem follows ([`tandem_api::KUBERNETES_VERSION`]).
    pub const DEFAULT: KubeVersion = KubeVersion {
        major: tandem_api::KUBERNETES_VERSION.0,
        minor: tandem_api::KUBERNETES_VERSION.1,
    };

    pub const fn new(major: u32, minor: u32) -> KubeVersion {
        KubeVersion { major, minor }
    }

    /// `1.29`, `v1.29`, `1.29.3`.
    pub fn parse(s: &str) -> Result<KubeVersion, Error> {
        let bad = || Error::KubeVersion(s.to_string());
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        match parts.next() {
            None => {}
            Some(p) if p.parse::<u32>().is_ok() && parts.next().is_none() => {}
            Some(_) => return Err(bad()),
        }
        Ok(KubeVersion { major, minor })
    }
}

impl Default for KubeVersion {
    fn default() -> Self {
        KubeVersion::DEFAULT
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ordered_and_names_are_kebab_case() {
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.id, format!("TND{i:03}"));
            assert!(r.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }

    #[test]
    fn rules_are_found_by_id_or_name() {
        assert_eq!(find("tnd003").map(|r| r.id), Some("TND003"));
        assert_eq!(find("missing-resources").map(|r| r.id), Some("TND008"));
        assert_eq!(
            parse_list("TND003, TND007,").map(|v| v.iter().map(|r| r.id).collect::<Vec<_>>()),
            Ok(vec!["TND003", "TND007"])
        );
        assert_eq!(
            parse_list("TND003,TND999"),
            Err(Error::UnknownRule("TND999".into()))
        );
    }

    #[test]
    fn kube_versions_parse_and_order() {
        assert_eq!(KubeVersion::parse("v1.29.3"), Ok(KubeVersion::new(1, 29)));
        assert_eq!(KubeVersion::parse("1.28"), Ok(KubeVersion::new(1, 28)));
        assert!(KubeVersion::parse("1").is_err());
        assert!(KubeVersion::parse("1.x").is_err());
        assert!(KubeVersion::parse("1.2.3.4").is_err());
        assert!(KubeVersion::new(1, 28) < KubeVersion::new(1, 29));
        assert_eq!(KubeVersion::default().to_string(), "1.33");
    }

    /// The enum and the table agree: each variant's rule has the variant's number and name.
    #[test]
    fn every_rule_id_names_its_own_rule() {
        let ids = [
            RuleId::InvalidManifest,
            RuleId::SidecarAsRegularContainer,
            RuleId::SidecarWithoutStartupProbe,
            RuleId::HelperStopsBeforeApp,
            RuleId::SharedVolumeWithoutFsgroup,
            RuleId::LocalhostPortUndeclared,
            RuleId::DuplicateContainerPort,
            RuleId::ProbePortUndeclared,
            RuleId::MissingResources,
            RuleId::HostpathInsteadOfEmptydir,
            RuleId::NativeSidecarUnsupported,
            RuleId::SidecarConfigInline,
            RuleId::RunAsNonRootMissing,
            RuleId::ReadOnlyRootFsMissing,
            RuleId::PrivilegeEscalationAllowed,
            RuleId::ServiceSelectsNothing,
            RuleId::ServiceTargetPortUndefined,
            RuleId::ImageReferenceInvalid,
        ];
        assert_eq!(ids.len(), RULES.len());
        for (i, id) in ids.into_iter().enumerate() {
            let r = id.rule();
            assert_eq!(r.id, format!("TND{i:03}"));
            assert_eq!(
                format!("{id:?}"),
                r.name
                    .split('-')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<String>()
            );
            assert!(r.is(id));
        }
    }
}
