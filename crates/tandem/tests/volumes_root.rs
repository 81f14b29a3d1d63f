//! Volumes on real containers: hostPath type checks, downwardAPI and projected files, subPath and
//! subPathExpr, a changed ConfigMap reaching running pods, and a sandbox failure that must
//! leave nothing behind.

mod support;

use support::*;

#[test]
fn host_path_downward_api_projected_and_sub_paths_work_inside_containers() {
    let Some(()) = require_root("volume_kinds") else {
        return;
    };
    let env = Env::new();
    let host = env.root.path().join("host-data");
    let yaml = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: cm}}
data: {{greeting: hello}}
---
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {{app: shop, tier: web}}
spec:
  restartPolicy: Never
  volumes:
    - name: host
      hostPath: {{path: {host}, type: DirectoryOrCreate}}
    - name: info
      downwardAPI:
        items:
          - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
          - {{path: name, fieldRef: {{fieldPath: metadata.name}}}}
    - name: all
      projected:
        sources:
          - configMap: {{name: cm}}
          - downwardAPI: {{items: [{{path: ns, fieldRef: {{fieldPath: metadata.namespace}}}}]}}
    - name: scratch
      emptyDir: {{}}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      env:
        - {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
      command: ["sh", "-c", "echo from-container > /host/out; cat /info/labels; echo; cat /info/name; echo; cat /all/greeting; echo; cat /all/ns; echo; echo sub > /sub/file; echo expr > /expr/file"]
      volumeMounts:
        - {{name: host, mountPath: /host}}
        - {{name: info, mountPath: /info}}
        - {{name: all, mountPath: /all}}
        - {{name: scratch, mountPath: /sub, subPath: a/b}}
        - {{name: scratch, mountPath: /expr, subPathExpr: "per-$(POD)"}}
"#,
        host = host.display()
    );
    let out = env.run_yaml(&yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(host.join("out"))
            .expect("hostPath written")
            .trim(),
        "from-container"
    );
    let logs = stdout(&env.tandem(&["logs", "vols"]));
    assert!(
        logs.contains("app=\"shop\"\ntier=\"web\""),
        "downwardAPI labels: {logs}"
    );
    assert!(
        logs.contains("\nvols\n") && logs.contains("hello") && logs.contains("default"),
        "{logs}"
    );
    let scratch = env.pods_dir().join("default_vols/volumes/scratch");
    assert_eq!(
        std::fs::read_to_string(scratch.join("a/b/file"))
            .expect("subPath")
            .trim(),
        "sub"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.join("per-vols/file"))
            .expect("subPathExpr")
            .trim(),
        "expr"
    );
}

#[test]
fn a_host_path_of_the_wrong_type_fails_the_start_and_leaves_nothing() {
    let Some(()) = require_root("host_path_type") else {
        return;
    };
    let env = Env::new();
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hp\nspec:\n  volumes:\n  - name: h\n    hostPath: {path: /nonexistent-tandem-dir, type: Directory}\n  containers:\n  - name: c\n    image: localhost/tandem-busybox:1.35\n    volumeMounts:\n    - {name: h, mountPath: /h}\n";
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("hostPath /nonexistent-tandem-dir does not exist") && err.contains("volume h"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(env.pods_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "pod dir left"
    );
    assert_eq!(mounts_under(env.root.path()), Vec::<String>::new());
    assert!(processes_mentioning(&env.root.path().to_string_lossy()).is_empty());
}

#[test]
fn a_sub_path_through_a_symlink_is_refused() {
    let Some(()) = require_root("sub_path_symlink") else {
        return;
    };
    let env = Env::new();
    // The first container plants a symlink to / in the shared volume; the second mounts a subPath
    // through it and must be refused rather than given the host's root.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  restartPolicy: Never
  volumes: [{name: v, emptyDir: {}}]
  initContainers:
    - name: plant
      image: localhost/tandem-busybox:1.35
      command: ["ln", "-s", "/", "/v/link"]
      volumeMounts: [{name: v, mountPath: /v}]
  containers:
    - name: victim
      image: localhost/tandem-busybox:1.35
      command: ["ls", "/mnt"]
      volumeMounts: [{name: v, mountPath: /mnt, subPath: link/etc}]
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut status = String::new();
    for _ in 0..100 {
        status = stdout(&env.tandem(&["get", "pod", "escape", "-o", "json"]));
        if status.contains("CreateContainerConfigError") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        status.contains("CreateContainerConfigError") && status.contains("symlink"),
        "{status}"
    );
    assert!(
        stdout(&env.tandem(&["logs", "escape", "-c", "victim"])).is_empty(),
        "the victim ran"
    );
}

#[test]
fn a_host_users_false_pod_writes_into_sub_path_directories_made_for_it() {
    let Some(()) = require_root("sub_path_user_namespace") else {
        return;
    };
    let env = Env::new();
    // Neither subPath exists: the supervisor makes them at container start, after the volume
    // was shifted into the pod's id range, so they must be made the pod root's.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: usersub}
spec:
  hostUsers: false
  restartPolicy: Never
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "echo new > /new/file && echo deep > /deep/file"]
      volumeMounts:
        - {name: scratch, mountPath: /new, subPath: newdir}
        - {name: scratch, mountPath: /deep, subPath: a/b}
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let pod = env.pod_json("usersub");
    let state = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        state["exitCode"],
        0,
        "the pod's root writes its new subPath directories: {state} {}",
        stdout(&env.tandem(&["logs", "usersub"]))
    );
    let scratch = env.pods_dir().join("default_usersub/volumes/scratch");
    assert_eq!(
        std::fs::read_to_string(scratch.join("newdir/file")).expect("newdir/file"),
        "new\n"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.join("a/b/file")).expect("a/b/file"),
        "deep\n"
    );
    use std::os::unix::fs::MetadataExt;
    let volume_owner = std::fs::metadata(&scratch).expect("volume").uid();
    assert_ne!(volume_owner, 0, "the volume is in the pod's range");
    for d in ["newdir", "a", "a/b"] {
        let m = std::fs::metadata(scratch.join(d)).expect(d);
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (volume_owner, volume_owner, 0o755),
            "{d} belongs to the pod's root, mode 0755 as the kubelet's"
        );
    }
}

/// Under `hostUsers: false`, a volume completed once its ConfigMap exists is the pod's as the
/// files written at the start are: root's and fsGroup's inside the pod's user namespace, both
/// the file that waited and the downward API file beside it.
#[test]
fn a_volume_completed_later_belongs_to_a_host_users_false_pod() {
    let Some(()) = require_root("awaited_volume_user_namespace") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: userwait}
spec:
  hostUsers: false
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 2000}
  volumes:
    - name: cfg
      projected:
        sources:
          - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
          - configMap: {name: later}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      imagePullPolicy: Never
      command: ["sh", "-c", "stat -L -c '%n %u %g %a' /cfg/name /cfg/app.conf; cat /cfg/app.conf; echo; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      volumeMounts: [{name: cfg, mountPath: /cfg}]
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let cm = env.root.path().join("later.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\ndata: {app.conf: ready}\n",
    )
    .expect("write");
    let applied = env.tandem(&["apply", "-f", cm.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let logs = wait_for("the container to read its volume", 30, || {
        let logs = stdout(&env.tandem(&["logs", "userwait"]));
        logs.contains("ready").then_some(logs)
    });
    assert!(logs.contains("/cfg/name 0 2000 644"), "{logs}");
    assert!(logs.contains("/cfg/app.conf 0 2000 644"), "{logs}");
    // A new version of the volume (the ConfigMap changed) is the pod's as the first was.
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\ndata: {app.conf: changed}\n",
    )
    .expect("write");
    let applied = env.tandem(&["apply", "-f", cm.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let script = "cat /cfg/app.conf; echo; stat -L -c '%u %g %a' /cfg/app.conf";
    let seen = wait_for("the changed ConfigMap in the pod", 20, || {
        let out = stdout(&env.tandem(&["exec", "userwait", "--", "sh", "-c", script]));
        out.starts_with("changed").then_some(out)
    });
    assert_eq!(seen, "changed\n0 2000 644\n");
    let out = env.tandem(&["delete", "pod", "userwait"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A ConfigMap changed in the store reaches the files of a running pod's volume within a resync
/// period, as one atomic change (a key changed, a key added, one removed); a subPath of it and
/// the environment read from it stay as they were when the container started, as on a node. A
/// deleted ConfigMap leaves the files and says so once, in the volume plugin's words.
#[test]
fn a_changed_config_map_reaches_a_running_pods_files_but_not_its_sub_path_or_env() {
    let Some(()) = require_root("config_map_updates") else {
        return;
    };
    let env = Env::new();
    let cm = |data: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {data}\n")
    };
    let yaml = format!(
        r#"{}---
apiVersion: v1
kind: Pod
metadata: {{name: live}}
spec:
  terminationGracePeriodSeconds: 0
  securityContext: {{fsGroup: 2000}}
  volumes:
    - name: cfg
      configMap: {{name: settings}}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      imagePullPolicy: Never
      command: [sleep, "3600"]
      env:
        - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}}}
      volumeMounts:
        - {{name: cfg, mountPath: /cfg}}
        - {{name: cfg, mountPath: /pinned/greeting, subPath: greeting}}
"#,
        cm("{greeting: hello, old: x}")
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let ready = env.tandem(&["wait", "pod/live", "--for=condition=Ready", "--timeout=30s"]);
    assert!(ready.status.success(), "{}", stderr(&ready));
    let sh = |script: &str| stdout(&env.tandem(&["exec", "live", "--", "sh", "-c", script]));
    assert_eq!(
        sh("cat /cfg/greeting; echo; ls /cfg"),
        "hello\ngreeting\nold\n"
    );

    let file = env.root.path().join("settings.yaml");
    std::fs::write(&file, cm("{greeting: bonjour, extra: more}")).expect("write");
    let out = env.tandem(&["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = wait_for("the volume to change", 20, || {
        let now = sh("cat /cfg/greeting; echo; ls /cfg; stat -L -c %g /cfg/extra");
        now.starts_with("bonjour").then_some(now)
    });
    // All at once: the new key is there and the removed one gone with the new value, and the
    // new file belongs to the fsGroup as the first ones did.
    assert_eq!(seen, "bonjour\nextra\ngreeting\n2000\n");
    assert_eq!(
        sh("cat /pinned/greeting; echo; echo $GREETING"),
        "hello\nhello\n"
    );
    assert_eq!(sh("readlink /cfg/greeting"), "..data/greeting\n");

    let out = env.tandem(&["delete", "configmap", "settings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = wait_for("a FailedMount warning", 20, || {
        let ev = stdout(&env.tandem(&["get", "events", "--for", "pod/live"]));
        ev.contains("FailedMount").then_some(ev)
    });
    assert!(
        events.contains(
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"settings\" not found"
        ),
        "{events}"
    );
    // Said once, not at every resync; the files stay.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let ev = stdout(&env.tandem(&["get", "events", "--for", "pod/live"]));
    assert_eq!(ev.matches("FailedMount").count(), 1, "{ev}");
    assert_eq!(sh("cat /cfg/greeting"), "bonjour");
    let out = env.tandem(&["delete", "pod", "live"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Image volumes (KEP-4639): an image's files mounted read-only, set up before any container
/// starts. One that is not there yet (pull policy Never) holds the pod in ContainerCreating
/// with FailedMount events until it is imported; it cannot be removed while the pod uses it.
#[test]
fn an_image_volume_mounts_an_images_files_read_only_once_the_image_is_there() {
    let Some(()) = require_root("image_volume") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: imgvol}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - name: tools
      image: {reference: localhost/tandem-busybox:1.35, pullPolicy: Never}
    - name: content
      image: {reference: localhost/content:1, pullPolicy: Never}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      imagePullPolicy: Never
      command: ["sh", "-c", "cat /content/site/hello.txt; ls /tools/bin/busybox; touch /content/x 2>/dev/null || echo read-only; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      volumeMounts:
        - {name: tools, mountPath: /tools}
        - {name: content, mountPath: /content}
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let failed = wait_for("a FailedMount event for the missing image", 30, || {
        env.event_records("imgvol")
            .into_iter()
            .find(|e| e["reason"] == "FailedMount")
            .and_then(|e| e["message"].as_str().map(str::to_string))
    });
    assert!(
        failed.starts_with("MountVolume.SetUp failed for volume \"content\" : Container image \"localhost/content:1\" is not present with pull policy of Never"),
        "{failed}"
    );
    let v = env.pod_json("imgvol");
    assert_eq!(v["status"]["phase"], "Pending", "{v}");
    assert_eq!(
        v["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating",
        "{v}"
    );

    // A one-layer image, as `docker import` makes them.
    let rootfs = env.root.path().join("content");
    std::fs::create_dir_all(rootfs.join("site")).expect("mkdir");
    std::fs::write(
        rootfs.join("site/hello.txt"),
        "hello from an image volume\n",
    )
    .expect("write");
    let tarball = env.root.path().join("content.tar");
    let tarred = std::process::Command::new("tar")
        .args([
            "-C",
            rootfs.to_str().expect("path"),
            "-cf",
            tarball.to_str().expect("path"),
            ".",
        ])
        .status()
        .expect("tar");
    assert!(tarred.success());
    let imported = env.tandem(&[
        "image",
        "import",
        tarball.to_str().expect("path"),
        "localhost/content:1",
    ]);
    assert!(imported.status.success(), "{}", stderr(&imported));

    let logs = wait_for("the container to read its image volumes", 30, || {
        let logs = stdout(&env.tandem(&["logs", "imgvol"]));
        logs.contains("read-only").then_some(logs)
    });
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        [
            "hello from an image volume",
            "/tools/bin/busybox",
            "read-only"
        ],
        "{logs}"
    );
    let rm = env.tandem(&["image", "rm", "localhost/content:1"]);
    assert!(!rm.status.success());
    assert!(
        stderr(&rm).contains("in use by pod(s) default/imgvol"),
        "{}",
        stderr(&rm)
    );
    let out = env.tandem(&["delete", "pod", "imgvol"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rm = env.tandem(&["image", "rm", "localhost/content:1"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
}

/// A Deployment written for a cluster, with a cloud disk and a CSI volume: on this machine each
/// is an empty directory of the pod's own (said once, as a warning) and the pod runs; `--strict`
/// refuses it before anything starts.
#[test]
fn a_cloud_disk_runs_as_an_empty_directory_and_strict_refuses_it() {
    let Some(()) = require_root("cloud_disk_stand_in") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: disks}
spec:
  restartPolicy: Never
  volumes:
    - name: data
      gcePersistentDisk: {pdName: shop-data, fsType: ext4}
    - name: secrets
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: vault}}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      imagePullPolicy: Never
      command: ["sh", "-c", "ls -A /data | wc -l; echo kept > /data/f; cat /data/f; ls -A /secrets | wc -l"]
      volumeMounts:
        - {name: data, mountPath: /data}
        - {name: secrets, mountPath: /secrets}
"#;
    let refused = env.run_yaml(yaml, &["--strict"]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("gcePersistentDisk volume \"data\" cannot exist on this machine (--strict)"),
        "{said}"
    );
    assert!(said.contains("nothing was started"), "{said}");
    assert!(
        !env.pods_dir().join("default_disks").exists(),
        "a refused pod left its directory"
    );

    let out = env.run_yaml(yaml, &[]);
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    for source in [
        "gcePersistentDisk volume \"data\"",
        "csi volume \"secrets\"",
    ] {
        assert!(
            said.contains(&format!(
                "{source} cannot exist on this machine: an empty directory stands in for it"
            )),
            "{said}"
        );
    }
    let logs = env.tandem(&["logs", "disks"]);
    assert_eq!(
        stdout(&logs).split_whitespace().collect::<Vec<_>>(),
        ["0", "kept", "0"]
    );
}
