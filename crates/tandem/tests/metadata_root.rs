//! `tandem label` and `tandem annotate` as kubectl's, on running pods, as root: keys set,
//! replaced only with --overwrite, removed with `KEY-`, by name or selector, with kubectl's
//! words; invalid keys refused; selectors see the new labels at once; a downwardAPI volume's
//! files of labels and annotations follow them.

mod support;

use support::{require_root, stderr, stdout, Env, IMAGE};

fn pod_yaml(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n{extra_spec}"
    )
}

#[test]
fn labels_and_annotations_change_on_running_pods_as_kubectl_changes_them() {
    if require_root("labels_and_annotations_change_on_running_pods_as_kubectl_changes_them")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let out = env.run_yaml(&pod_yaml("web", ""), &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let labels = || env.pod_json("web")["metadata"]["labels"].clone();

    let out = env.tandem(&["label", "pod", "web", "tier=front"]);
    assert_eq!(stdout(&out), "pod/web labeled\n", "{}", stderr(&out));
    assert_eq!(labels()["tier"], "front");
    let out = env.tandem(&["get", "pods", "-l", "tier=front", "-o", "name"]);
    assert_eq!(stdout(&out), "pod/web\n");

    let out = env.tandem(&["label", "pod/web", "tier=back"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("'tier' already has a value (front), and --overwrite is false"),
        "{}",
        stderr(&out)
    );
    assert_eq!(labels()["tier"], "front");
    let out = env.tandem(&["label", "pod/web", "tier=back", "--overwrite"]);
    assert_eq!(stdout(&out), "pod/web labeled\n", "{}", stderr(&out));
    let out = env.tandem(&["label", "pods", "-l", "app=web", "tier-", "gone-"]);
    assert_eq!(
        stdout(&out),
        "label \"gone\" not found.\npod/web unlabeled\n",
        "{}",
        stderr(&out)
    );
    assert!(labels()["tier"].is_null());
    let out = env.tandem(&["label", "pod", "web", "app=web"]);
    assert_eq!(stdout(&out), "pod/web not labeled\n");
    let out = env.tandem(&["label", "pod", "web", "bad key!=x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("metadata.labels"), "{}", stderr(&out));

    let out = env.tandem(&["annotate", "pod", "web", "note=rolled by hand"]);
    assert_eq!(stdout(&out), "pod/web annotated\n", "{}", stderr(&out));
    assert_eq!(
        env.pod_json("web")["metadata"]["annotations"]["note"],
        "rolled by hand"
    );
    let out = env.tandem(&["annotate", "pod", "web", "note-"]);
    assert_eq!(stdout(&out), "pod/web annotated\n");
    assert!(env.pod_json("web")["metadata"]["annotations"]["note"].is_null());

    // A downwardAPI volume's files of labels and annotations follow them, as the kubelet
    // rewrites them (one atomic change, through `..data`).
    let projected = "      volumeMounts: [{name: info, mountPath: /etc/info}]\n  volumes:\n    - name: info\n      downwardAPI:\n        items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: note, fieldRef: {fieldPath: \"metadata.annotations['note']\"}}]\n";
    let out = env.run_yaml(&pod_yaml("info", projected), &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ready = env.tandem(&["wait", "pod/info", "--for=condition=Ready", "--timeout=30s"]);
    assert!(ready.status.success(), "{}", stderr(&ready));
    let read = |file: &str| stdout(&env.tandem(&["exec", "info", "--", "cat", file]));
    assert_eq!(read("/etc/info/labels"), "app=\"web\"");
    let out = env.tandem(&["label", "pod", "info", "tier=front"]);
    assert_eq!(stdout(&out), "pod/info labeled\n", "{}", stderr(&out));
    let out = env.tandem(&["annotate", "pod", "info", "note=ok"]);
    assert_eq!(stdout(&out), "pod/info annotated\n", "{}", stderr(&out));
    support::wait_for("the downwardAPI files to follow", 10, || {
        let labels = read("/etc/info/labels");
        (labels == "app=\"web\"\ntier=\"front\"" && read("/etc/info/note") == "ok").then_some(())
    });
    // The file is a link through `..data`, as on a node.
    let out = env.tandem(&["exec", "info", "--", "readlink", "/etc/info/labels"]);
    assert_eq!(stdout(&out), "..data/labels\n");
}
