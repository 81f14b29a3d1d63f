//! `tandem get pods` as people use kubectl's: label and field selectors, every namespace, the
//! LABELS column, and `-w` printing a row as a pod changes. As root, on real pods.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

fn pod_yaml(name: &str, namespace: &str, labels: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}, labels: {{{labels}}}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: {command}\n"
    )
}

#[test]
fn selectors_namespaces_labels_and_watch() {
    if require_root("selectors_namespaces_labels_and_watch").is_none() {
        return;
    }
    let env = Env::new();
    let id = std::process::id();
    let (web, db, other) = (
        format!("web-{id}"),
        format!("db-{id}"),
        format!("else-{id}"),
    );
    for yaml in [
        pod_yaml(&web, "default", "app: web, tier: front", "[sleep, '3600']"),
        pod_yaml(&db, "default", "app: db", "[sh, -c, 'sleep 2']"),
        pod_yaml(&other, "team-b", "app: web", "[sleep, '3600']"),
    ] {
        let out = env.run_yaml(&yaml, &["-d"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Watched while it runs: a new row when it completes.
    let mut watcher = env
        .cmd()
        .args(["get", "pod", &db, "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn get -w");
    let mut lines = BufReader::new(watcher.stdout.take().expect("stdout")).lines();
    let header = lines.next().expect("a header").expect("read");
    assert!(header.starts_with("NAME"), "{header}");
    let completed = wait_for("a Completed row", 60, || {
        let line = lines.next()?.ok()?;
        line.contains("Completed").then_some(line)
    });
    assert!(completed.starts_with(&db), "{completed}");
    assert!(completed.contains("0/1"), "{completed}");
    let _ = watcher.kill();
    let _ = watcher.wait();

    wait_for("web to run", 30, || {
        (env.pod_json(&web)["status"]["phase"] == "Running").then_some(())
    });
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["get", "pods", "-o", "name"];
        all.extend_from_slice(args);
        let out = env.tandem(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().map(str::to_string).collect()
    };
    assert_eq!(names(&["-l", "app=web"]), [format!("pod/{web}")]);
    assert_eq!(names(&["-l", "app in (web,db)"]).len(), 2);
    assert_eq!(names(&["-l", "tier"]), [format!("pod/{web}")]);
    assert_eq!(
        names(&["--field-selector", "status.phase=Succeeded"]),
        [format!("pod/{db}")]
    );
    assert_eq!(
        names(&[
            "--field-selector",
            "status.phase!=Succeeded,metadata.name!=nobody"
        ]),
        [format!("pod/{web}")]
    );
    assert_eq!(names(&["-n", "team-b"]), [format!("pod/{other}")]);
    assert_eq!(names(&["-A", "-l", "app=web"]).len(), 2);

    let out = env.tandem(&["get", "pods", "-A", "--show-labels", "-l", "app=web"]);
    let table = stdout(&out);
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "LABELS"
        ]
    );
    let first: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(first[0], "default", "{table}");
    assert_eq!(first[1], web, "{table}");
    assert_eq!(first[6], "app=web,tier=front", "{table}");
    let second: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!((second[0], second[6]), ("team-b", "app=web"), "{table}");

    // kubectl's JSONPath templates and custom columns.
    let out = env.tandem(&[
        "get",
        "pod",
        &web,
        "-o",
        "jsonpath={.metadata.labels.app}:{.spec.containers[0].name}",
    ]);
    assert_eq!(stdout(&out), "web:app", "{}", stderr(&out));
    let out = env.tandem(&[
        "get", "pods", "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    assert_eq!(
        stdout(&out),
        format!("{db}=False\n{web}=True\n"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "custom-columns=NAME:.metadata.name,PHASE:.status.phase,GONE:.spec.nope",
    ]);
    let cells: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        cells,
        [
            vec!["NAME".to_string(), "PHASE".into(), "GONE".into()],
            vec![web.clone(), "Running".into(), "<none>".into()]
        ]
    );
    // Sorted by a JSONPath: pods without the value (db has no tier label) come first; text
    // values as text.
    let sorted = names(&["--sort-by", ".metadata.labels.tier"]);
    assert_eq!(sorted, [format!("pod/{db}"), format!("pod/{web}")]);
    let sorted = names(&["--sort-by", "{.status.phase}"]);
    assert_eq!(
        sorted,
        [format!("pod/{web}"), format!("pod/{db}")],
        "Running < Succeeded"
    );
    let out = env.tandem(&["get", "pods", "-o", "jsonpath={.items[0]", "--watch"]);
    assert!(!out.status.success());

    // Completion: the shell asks tandem, which answers with the store's pods and containers.
    let complete = |index: &str, words: &[&str]| -> Vec<String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .env("TANDEM_ROOT", env.root.path())
            .env("TANDEM_COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", index)
            .arg("--")
            .args(words)
            .output()
            .expect("tandem completes");
        stdout(&out)
            .split(['\n', '\u{b}'])
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let pods = complete("2", &["tandem", "exec", ""]);
    assert!(pods.contains(&web) && pods.contains(&db), "{pods:?}");
    assert!(
        !pods.contains(&other) || pods.contains(&other),
        "every namespace's pods may show"
    );
    assert_eq!(complete("4", &["tandem", "logs", &web, "-c", ""]), ["app"]);
    assert!(complete("1", &["tandem", "po"]).contains(&"port-forward".to_string()));
    let script = env.tandem(&["completion", "bash"]);
    let mut bash = std::process::Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .expect("bash");
    std::io::Write::write_all(&mut bash.stdin.take().expect("stdin"), &script.stdout)
        .expect("write");
    assert!(
        bash.wait().expect("bash -n").success(),
        "{}",
        stdout(&script)
    );
    assert!(
        stdout(&script).contains("TANDEM_COMPLETE"),
        "{}",
        stdout(&script)
    );

    let out = env.tandem(&["get", "pods", "--field-selector", "spec.bogus=1"]);
    assert!(
        stderr(&out).contains("\"spec.bogus\" is not a known field selector"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["get", "pods", "-l", "app=nobody"]);
    assert_eq!(stderr(&out), "No resources found in default namespace.\n");
}
