//! Security settings a pod may give in more than one place, or only for one operating system —
//! seccomp and AppArmor profiles in annotations and in fields, Windows options and host-process
//! pods, the fields `spec.os` forbids — validated as the API server validates them
//! (`ValidateSeccompPodAnnotations`, `validateSeccompAnnotationsAndFields`,
//! `ValidateAppArmorPodAnnotations`, `validateAppArmorProfileField`, `validateWindows`,
//! `validateLinux`, `validateWindowsHostProcessPod` in kubernetes/kubernetes
//! pkg/apis/core/validation/validation.go), at its field paths.
//!
//! Never: applies a profile (the runtime does, from the plan), or runs a Windows pod.

use serde_json::Value;

use crate::cx::{enumerated, Cx};
use crate::names;
use crate::path::FieldPath;

const SECCOMP_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER: &str = "container.seccomp.security.alpha.kubernetes.io/";
const APPARMOR_CONTAINER: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Checks a pod (as JSON) whose spec sits at `spec`.
pub(crate) fn check(cx: &mut Cx<'_>, pod: &Value) {
    let meta = FieldPath::root().field("metadata").field("annotations");
    let sp = FieldPath::root().field("spec");
    let spec = &pod["spec"];
    let annotations = pod["metadata"]["annotations"].as_object();
    let containers = containers(spec);
    let pod_sc = &spec["securityContext"];
    let psp = sp.field("securityContext");

    for (key, value) in annotations.into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        if key == SECCOMP_POD || key.starts_with(SECCOMP_CONTAINER) {
            if !seccomp_annotation_ok(value) {
                // The API server's path for these: the key as a child, not a subscript.
                cx.error(
                    &meta.field(key),
                    format!("{value:?} must be a valid seccomp profile"),
                );
            }
        } else if let Some(name) = key.strip_prefix(APPARMOR_CONTAINER) {
            if !containers.iter().any(|(_, c)| c["name"] == name) {
                cx.error(&meta.key(key), format!("container {name:?} not found"));
            } else if !apparmor_annotation_ok(value) {
                cx.error(
                    &meta.key(key),
                    format!("invalid AppArmor profile name: {value:?}"),
                );
            }
        }
    }

    // seccomp: an annotation and the field it stands for must agree.
    if let Some(a) = annotation(annotations, SECCOMP_POD) {
        seccomp_match(
            cx,
            a,
            &pod_sc["seccompProfile"],
            &psp.field("seccompProfile"),
        );
    }
    apparmor_field(
        cx,
        &pod_sc["appArmorProfile"],
        &psp.field("appArmorProfile"),
    );
    for (p, c) in &containers {
        let csp = p.field("securityContext");
        let sc = &c["securityContext"];
        let name = c["name"].as_str().unwrap_or_default();
        if let Some(a) = annotation(annotations, &format!("{SECCOMP_CONTAINER}{name}")) {
            seccomp_match(cx, a, &sc["seccompProfile"], &csp.field("seccompProfile"));
        }
        apparmor_field(cx, &sc["appArmorProfile"], &csp.field("appArmorProfile"));
        if let Some(a) = annotation(annotations, &format!("{APPARMOR_CONTAINER}{name}")) {
            let field = match &sc["appArmorProfile"] {
                Value::Null => &pod_sc["appArmorProfile"],
                own => own,
            };
            apparmor_match(cx, a, field, &csp.field("appArmorProfile"));
        }
        if sc["allowPrivilegeEscalation"] == false && adds_sys_admin(sc) {
            cx.error(
                &csp,
                "cannot set allowPrivilegeEscalation to false and capabilities.add CAP_SYS_ADMIN",
            );
        }
        if sc["procMount"] == "Unmasked" && spec["hostUsers"] != false {
            cx.error(
                &csp.field("procMount"),
                "procMount Unmasked needs a user namespace (hostUsers: false)",
            );
        }
        windows_options(cx, &sc["windowsOptions"], &csp.field("windowsOptions"));
    }
    windows_options(cx, &pod_sc["windowsOptions"], &psp.field("windowsOptions"));
    if let Some(policy) = pod_sc["seLinuxChangePolicy"].as_str() {
        // MountOption needs the SELinuxMount feature, off by default.
        enumerated(
            cx,
            &psp.field("seLinuxChangePolicy"),
            "seLinuxChangePolicy",
            policy,
            &["Recursive"],
        );
    }
    match spec["os"]["name"].as_str() {
        Some("windows") => os_forbids(
            cx,
            spec,
            &containers,
            WINDOWS_FORBIDS_POD,
            WINDOWS_FORBIDS_CONTAINER,
            "windows",
        ),
        Some("linux") => os_forbids(
            cx,
            spec,
            &containers,
            &["windowsOptions"],
            &["windowsOptions"],
            "linux",
        ),
        _ => {}
    }
    host_process(cx, spec, &containers);
}

/// Every container of the spec (init containers first), with its path.
fn containers(spec: &Value) -> Vec<(FieldPath, &Value)> {
    let sp = FieldPath::root().field("spec");
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(|list| {
            let lp = sp.field(list);
            spec[list]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(i, c)| (lp.index(i), c))
        })
        .collect()
}

fn annotation<'v>(a: Option<&'v serde_json::Map<String, Value>>, key: &str) -> Option<&'v str> {
    a?.get(key)?.as_str()
}

fn seccomp_annotation_ok(v: &str) -> bool {
    match v {
        "runtime/default" | "docker/default" | "unconfined" => true,
        _ => v
            .strip_prefix("localhost/")
            .is_some_and(|p| !p.is_empty() && names::local_descending_path(p).is_none()),
    }
}

fn apparmor_annotation_ok(v: &str) -> bool {
    matches!(v, "" | "runtime/default" | "unconfined") || v.starts_with("localhost/")
}

fn seccomp_match(cx: &mut Cx<'_>, annotation: &str, field: &Value, p: &FieldPath) {
    let Some(kind) = field["type"].as_str() else {
        return;
    };
    let agrees = match kind {
        "Unconfined" => annotation == "unconfined",
        "RuntimeDefault" => matches!(annotation, "runtime/default" | "docker/default"),
        "Localhost" => match annotation.strip_prefix("localhost/") {
            Some(profile) => {
                if field["localhostProfile"].as_str() != Some(profile) {
                    cx.error(
                        &p.field("localhostProfile"),
                        "the seccomp profile in the annotation and in the field must match",
                    );
                }
                true
            }
            None => false,
        },
        _ => true,
    };
    if !agrees {
        cx.error(
            &p.field("type"),
            "the seccomp type in the annotation and in the field must match",
        );
    }
}

fn apparmor_field(cx: &mut Cx<'_>, f: &Value, p: &FieldPath) {
    if f.is_null() {
        return;
    }
    let kind = f["type"].as_str().unwrap_or_default();
    if kind.is_empty() {
        cx.error(&p.field("type"), "appArmorProfile.type is required");
    } else {
        enumerated(
            cx,
            &p.field("type"),
            "appArmorProfile.type",
            kind,
            &["RuntimeDefault", "Localhost", "Unconfined"],
        );
    }
    let profile = f["localhostProfile"].as_str();
    let lp = p.field("localhostProfile");
    match (kind, profile) {
        ("Localhost", None | Some("")) => {
            cx.error(&lp, "must be set when the AppArmor type is Localhost")
        }
        ("Localhost", Some(text)) => {
            if text.len() > 4095 {
                cx.error(&lp, "may not be longer than 4095 bytes");
            } else if text.trim() != text {
                cx.error(&lp, "must not be padded with whitespace");
            }
        }
        (_, Some(_)) => cx.error(&lp, "can only be set when the AppArmor type is Localhost"),
        _ => {}
    }
}

fn apparmor_match(cx: &mut Cx<'_>, annotation: &str, field: &Value, p: &FieldPath) {
    let Some(kind) = field["type"].as_str() else {
        return;
    };
    let from_annotation = match annotation {
        "runtime/default" => "RuntimeDefault",
        "unconfined" => "Unconfined",
        a if a.starts_with("localhost/") => "Localhost",
        _ => return,
    };
    if from_annotation != kind {
        cx.error(
            &p.field("type"),
            "the AppArmor type in the annotation and in the field must match",
        );
    } else if kind == "Localhost"
        && annotation.strip_prefix("localhost/") != field["localhostProfile"].as_str()
    {
        cx.error(
            &p.field("localhostProfile"),
            "the AppArmor profile in the annotation and in the field must match",
        );
    }
}

fn adds_sys_admin(sc: &Value) -> bool {
    sc["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| matches!(c.as_str(), Some("CAP_SYS_ADMIN" | "SYS_ADMIN")))
}

/// A Windows user name as `DOMAIN\USER` or `USER` (the API server's `validateWindowsSecurityContextOptions`).
fn windows_options(cx: &mut Cx<'_>, w: &Value, p: &FieldPath) {
    if w.is_null() {
        return;
    }
    if let Some(name) = w["gmsaCredentialSpecName"].as_str() {
        if let Some(msg) = names::dns1123_subdomain(name) {
            cx.error(&p.field("gmsaCredentialSpecName"), msg);
        }
    }
    if let Some(spec) = w["gmsaCredentialSpec"].as_str() {
        if spec.is_empty() {
            cx.error(
                &p.field("gmsaCredentialSpec"),
                "gmsaCredentialSpec cannot be an empty string",
            );
        } else if spec.len() > 64 * 1024 {
            cx.error(
                &p.field("gmsaCredentialSpec"),
                "gmsaCredentialSpec may not be longer than 64 KiB",
            );
        }
    }
    if let Some(user) = w["runAsUserName"].as_str() {
        if let Some(msg) = windows_user_name(user) {
            cx.error(&p.field("runAsUserName"), msg);
        }
    }
}

fn windows_user_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("runAsUserName cannot be an empty string");
    }
    if name.chars().any(char::is_control) {
        return Some("runAsUserName cannot contain control characters");
    }
    if name.len() > 256 {
        return Some("runAsUserName may not be longer than 256 characters");
    }
    let parts: Vec<&str> = name.split('\\').collect();
    let (domain, user) = match parts.as_slice() {
        [user] => (None, *user),
        [domain, user] => (Some(*domain), *user),
        _ => return Some("runAsUserName may contain at most one backslash"),
    };
    if let Some(domain) = domain {
        if domain.is_empty() {
            return Some("runAsUserName's domain may not be empty");
        }
        // At most 15 characters and no dot: a NetBios name; else a DNS name.
        let netbios = domain.len() <= 15 && !domain.contains('.');
        let ok = if netbios {
            !domain.chars().any(|c| "\\/:*?\"<>|".contains(c))
        } else {
            domain.len() <= 255
                && domain.split('.').all(|label| {
                    let b = label.as_bytes();
                    !b.is_empty()
                        && b.len() <= 63
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                })
        };
        if !ok {
            return Some("runAsUserName's domain is not a valid NetBios or DNS name");
        }
    }
    if user.is_empty() {
        return Some("runAsUserName's user name may not be empty");
    }
    if user.len() > 104 {
        return Some("runAsUserName's user name may not be longer than 104 characters");
    }
    if user.chars().all(|c| c == ' ' || c == '.') {
        return Some("runAsUserName's user name cannot contain only periods or spaces");
    }
    if user.chars().any(|c| "\"/\\[]:;|=,+*?<>@".contains(c)) {
        return Some("runAsUserName's user name contains characters Windows does not allow");
    }
    None
}

/// What a Windows pod may not set: Linux-only settings.
const WINDOWS_FORBIDS_POD: &[&str] = &[
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "fsGroup",
    "fsGroupChangePolicy",
    "sysctls",
    "runAsUser",
    "runAsGroup",
    "supplementalGroups",
    "supplementalGroupsPolicy",
];
const WINDOWS_FORBIDS_CONTAINER: &[&str] = &[
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
];

fn os_forbids(
    cx: &mut Cx<'_>,
    spec: &Value,
    containers: &[(FieldPath, &Value)],
    pod: &[&str],
    container: &[&str],
    os: &str,
) {
    let psp = FieldPath::root().field("spec").field("securityContext");
    for f in pod {
        if !spec["securityContext"][*f].is_null() {
            cx.error(
                &psp.field(f),
                format!("may not be set for a {os} pod (spec.os.name)"),
            );
        }
    }
    for (p, c) in containers {
        for f in container {
            if !c["securityContext"][*f].is_null() {
                cx.error(
                    &p.field("securityContext").field(f),
                    format!("may not be set for a {os} pod (spec.os.name)"),
                );
            }
        }
    }
}

/// A host-process pod is one entirely: every container, and the host's network.
fn host_process(cx: &mut Cx<'_>, spec: &Value, containers: &[(FieldPath, &Value)]) {
    let pod = spec["securityContext"]["windowsOptions"]["hostProcess"].as_bool();
    let effective: Vec<(&FieldPath, Option<bool>, bool)> = containers
        .iter()
        .map(|(p, c)| {
            let own = c["securityContext"]["windowsOptions"]["hostProcess"].as_bool();
            (p, own, own.or(pod).unwrap_or(false))
        })
        .collect();
    let any = pod == Some(true) || effective.iter().any(|e| e.2);
    if !any {
        return;
    }
    if spec["hostNetwork"] != true {
        cx.error(
            &FieldPath::root().field("spec").field("hostNetwork"),
            "must be true for a host-process pod (windowsOptions.hostProcess)",
        );
    }
    if !effective.iter().all(|e| e.2) {
        cx.error(
            &FieldPath::root().field("spec"),
            "a host-process pod must run every container as a host process",
        );
        for (p, own, _) in &effective {
            if *own == Some(pod != Some(true)) && pod.is_some() {
                cx.error(
                    &p.field("securityContext")
                        .field("windowsOptions")
                        .field("hostProcess"),
                    "differs from the pod's windowsOptions.hostProcess",
                );
            }
        }
    }
}
