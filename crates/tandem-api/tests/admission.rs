//! Pods admitted as the API server's ServiceAccount admission plugin admits them
//! (`plugin/pkg/admission/serviceaccount`, its `admission_test.go` cases as data): the account
//! must exist, and unless automounting is turned off a projected token volume is mounted in
//! every container and init container at the path clients read.

mod common;

use common::brief;
use tandem_api::plan::{FilePart, VolumeSource};
use tandem_api::{load, ApiAccess, Loaded, PlanOptions, Source};

const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn opts(kept: Vec<serde_json::Value>) -> PlanOptions {
    PlanOptions {
        node_name: "node-1".into(),
        uid: Some("6f1c2f4e-0000-4000-8000-000000000001".into()),
        kept,
        api_access: Some(ApiAccess {
            token_key: "/store/serve/sa.key".into(),
            root_ca: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
        }),
        ..Default::default()
    }
}

fn admit(text: &str, kept: Vec<serde_json::Value>) -> Result<Loaded, Vec<String>> {
    let sources = [Source::new("pod.yaml", text)];
    load(&sources, &opts(kept)).map_err(|d| d.0.iter().map(brief).collect())
}

fn pod(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  initContainers: [{{name: setup, image: busybox:1.36}}]\n  containers:\n    - name: app\n      image: busybox:1.36\n    - name: proxy\n      image: busybox:1.36\n{spec}"
    )
}

/// The mounts at the token path, by container, and the token volume's name.
fn mounts(l: &Loaded) -> Vec<(String, Option<String>)> {
    let spec = l.pods[0].object.spec.clone().unwrap_or_default();
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| {
            let at = c
                .volume_mounts
                .iter()
                .flatten()
                .find(|m| m.mount_path == MOUNT);
            (c.name.clone(), at.map(|m| m.name.clone()))
        })
        .collect()
}

#[test]
fn every_container_mounts_a_token_volume_of_the_default_account() {
    let l = admit(&pod(""), vec![]).expect("admitted");
    let spec = l.pods[0].object.spec.clone().unwrap_or_default();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = spec.volumes.iter().flatten().last().expect("a volume");
    assert!(
        volume.name.starts_with("kube-api-access-"),
        "{}",
        volume.name
    );
    assert_eq!(volume.name.len(), "kube-api-access-".len() + 5);
    let name = Some(volume.name.clone());
    assert_eq!(
        mounts(&l),
        [
            ("setup".to_string(), name.clone()),
            ("app".to_string(), name.clone()),
            ("proxy".to_string(), name.clone()),
        ]
    );
    let all_read_only = spec
        .containers
        .iter()
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .all(|m| m.read_only == Some(true));
    assert!(all_read_only);
    // The plugin's projection, as the API server stores it.
    let projected =
        serde_json::to_value(volume.projected.as_ref().expect("projected")).expect("json");
    assert_eq!(
        projected,
        serde_json::json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        })
    );
    // Planned: a token asked for with the API server's audience, the CA the store publishes in
    // every namespace, and the namespace; signed with the store's key.
    let plan = &l.pods[0].plan;
    assert_eq!(plan.token_key.as_deref(), Some("/store/serve/sa.key"));
    let VolumeSource::Files { parts } = &plan.volume(&volume.name).expect("planned").source else {
        panic!("not a file volume");
    };
    assert!(
        matches!(&parts[0], FilePart::Token(t) if t.path == "token" && t.token.audience.is_none() && t.token.expiration_seconds == 3607)
    );
    let files = tandem_api::env::volume_files(parts, &Default::default(), true).expect("files");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["token", "ca.crt", "namespace"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // The name is the pod's: the same uid gives the same volume again.
    let again = admit(&pod(""), vec![]).expect("admitted");
    assert_eq!(mounts(&again), mounts(&l));
}

#[test]
fn automounting_is_the_pods_choice_then_its_accounts() {
    let account = |automount: Option<bool>| {
        let mut sa = serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": "default", "uid": "sa-1"},
        });
        if let Some(a) = automount {
            sa["automountServiceAccountToken"] = a.into();
        }
        sa
    };
    let named = "  serviceAccountName: builder\n";
    // (the pod's field, the account's field, whether a token is mounted)
    let cases = [
        (None, None, true),
        (None, Some(false), false),
        (None, Some(true), true),
        (Some(false), None, false),
        (Some(false), Some(true), false),
        (Some(true), Some(false), true),
    ];
    for (pods, accounts, mounted) in cases {
        let spec = match pods {
            Some(p) => format!("{named}  automountServiceAccountToken: {p}\n"),
            None => named.to_string(),
        };
        let l = admit(&pod(&spec), vec![account(accounts)]).expect("admitted");
        let any = mounts(&l).iter().any(|(_, v)| v.is_some());
        assert_eq!(any, mounted, "pod {pods:?}, account {accounts:?}");
        let volumes = l.pods[0].object.spec.clone().unwrap_or_default().volumes;
        let has_volume = volumes
            .iter()
            .flatten()
            .any(|v| v.name.starts_with("kube-api-access-"));
        assert_eq!(has_volume, mounted, "pod {pods:?}, account {accounts:?}");
    }
}

#[test]
fn a_container_with_its_own_mount_at_the_path_keeps_it_and_a_given_volume_is_reused() {
    let spec = "  volumes:\n    - name: kube-api-access-given\n      projected: {sources: [{serviceAccountToken: {path: token}}]}\n    - name: mine\n      emptyDir: {}\n";
    let text = pod(spec).replace(
        "    - name: proxy\n      image: busybox:1.36\n",
        &format!("    - name: proxy\n      image: busybox:1.36\n      volumeMounts: [{{name: mine, mountPath: {MOUNT}}}]\n"),
    );
    let l = admit(&text, vec![]).expect("admitted");
    assert_eq!(
        mounts(&l),
        [
            (
                "setup".to_string(),
                Some("kube-api-access-given".to_string())
            ),
            ("app".to_string(), Some("kube-api-access-given".to_string())),
            ("proxy".to_string(), Some("mine".to_string())),
        ]
    );
    let volumes = l.pods[0].object.spec.clone().unwrap_or_default().volumes;
    assert_eq!(volumes.map(|v| v.len()), Some(2), "no second token volume");
}

#[test]
fn an_account_that_does_not_exist_refuses_the_pod_and_one_in_the_same_file_admits_it() {
    let spec = "  serviceAccountName: builder\n";
    let refused = admit(&pod(spec), vec![]).expect_err("refused");
    assert_eq!(
        refused,
        ["error 11:23 Pod/web spec.serviceAccountName | pods \"web\" is forbidden: error looking up service account default/builder: serviceaccount \"builder\" not found"]
    );
    let with_account = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: builder}}\nautomountServiceAccountToken: false\n---\n{}",
        pod(spec)
    );
    let l = admit(&with_account, vec![]).expect("admitted");
    // Its `automountServiceAccountToken: false` is read too.
    assert!(mounts(&l).iter().all(|(_, v)| v.is_none()));
    assert_eq!(l.references.len(), 1, "the account is kept with the file");
    // Another namespace's account of that name is not the pod's.
    let elsewhere = with_account.replace(
        "metadata: {name: builder}",
        "metadata: {name: builder, namespace: ci}",
    );
    assert!(admit(&elsewhere, vec![]).is_err());
}

#[test]
fn a_template_is_not_admitted_and_a_tool_without_a_store_admits_nothing() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      serviceAccountName: builder\n      containers: [{name: app, image: busybox:1.36}]\n";
    let l = admit(deployment, vec![]).expect("a template names any account");
    let template = serde_json::to_value(&l.workloads[0].object).expect("json");
    assert!(template["spec"]["template"]["spec"]["volumes"].is_null());
    let sources = [Source::new("pod.yaml", pod(""))];
    let l = load(&sources, &common::opts()).expect("loads");
    assert!(mounts(&l).iter().all(|(_, v)| v.is_none()));
    assert_eq!(l.pods[0].plan.token_key, None);
}

#[test]
fn a_token_projection_is_checked_as_the_api_server_checks_it() {
    let volume = |source: &str| {
        pod(&format!(
            "  volumes:\n    - name: t\n      projected: {{sources: [{source}]}}\n"
        ))
    };
    let refused = |source: &str| admit(&volume(source), vec![]).expect_err("refused");
    assert_eq!(
        refused("{serviceAccountToken: {path: token, expirationSeconds: 599}}"),
        ["error 13:84 Pod/web spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds | may not specify a duration less than 10 minutes, got 599"]
    );
    assert!(
        refused("{serviceAccountToken: {path: token, expirationSeconds: 4294967297}}")[0]
            .contains("may not specify a duration larger than 2^32 seconds")
    );
    assert!(refused("{serviceAccountToken: {path: ../token}}")[0]
        .contains("serviceAccountToken.path | must not contain '..'"));
    assert!(refused("{serviceAccountToken: {path: token}}, {downwardAPI: {items: [{path: token, fieldRef: {fieldPath: metadata.name}}]}}")[0]
        .contains("conflicting duplicate path \"token\""));
    let l = admit(
        &volume("{serviceAccountToken: {path: vault, audience: vault, expirationSeconds: 600}}"),
        vec![],
    )
    .expect("admitted");
    let plan = &l.pods[0].plan;
    let VolumeSource::Files { parts } = &plan.volume("t").expect("t").source else {
        panic!("not a file volume");
    };
    assert!(
        matches!(&parts[0], FilePart::Token(t) if t.token.audience.as_deref() == Some("vault") && t.token.expiration_seconds == 600)
    );
}

#[test]
fn rbac_of_a_file_is_kept_as_written_without_a_note_and_named_as_the_api_server_names_it() {
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:app-reader\"}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [list]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: app}\nsubjects: [{kind: ServiceAccount, name: default}]\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \"system:app-reader\"}\n";
    let l = admit(rbac, vec![]).expect("kept");
    let kept: Vec<(&str, &str)> = l
        .kept
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [("ClusterRole", "system:app-reader"), ("RoleBinding", "app")]
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // A name with a slash is no path segment.
    let refused = admit(&rbac.replace("name: app}", "name: a/b}"), vec![]).expect_err("refused");
    assert!(refused[0].contains("invalid name \"a/b\""), "{refused:?}");
}

#[test]
fn a_pod_that_names_no_pull_secrets_pulls_with_its_accounts() {
    let file = |pod_spec: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\nstringData: {{.dockerconfigjson: '{{\"auths\":{{\"registry.example:5000\":{{\"auth\":\"dTpw\"}}}}}}'}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: builder}}\nimagePullSecrets: [{{name: regcred}}]\n---\n{}",
            pod(&format!("  serviceAccountName: builder\n{pod_spec}"))
        )
    };
    let l = admit(&file(""), vec![]).expect("admitted");
    assert_eq!(pull_secrets(&l), ["regcred"]);
    assert_eq!(
        l.pods[0].image_pull_secrets.len(),
        1,
        "resolved for the pulls"
    );
    // Its own win; none at all stays none.
    let own = admit(&file("  imagePullSecrets: [{name: mine}]\n"), vec![]).expect("admitted");
    assert_eq!(pull_secrets(&own), ["mine"]);
    let plain = admit(&pod(""), vec![]).expect("admitted");
    let spec = plain.pods[0].object.spec.clone().unwrap_or_default();
    assert_eq!(spec.image_pull_secrets, None);
}

/// The names of the first pod's `imagePullSecrets`.
fn pull_secrets(l: &Loaded) -> Vec<String> {
    let spec = l.pods[0].object.spec.clone().unwrap_or_default();
    spec.image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect()
}
