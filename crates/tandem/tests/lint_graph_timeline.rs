//! `tandem lint`, `tandem graph` and `tandem timeline` through the binary: flags, formats, exit
//! statuses, and `timeline --watch` following a pod directory as it changes. No root needed: the
//! pods are recorded runs copied into a private `--root`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lint_fixtures() -> PathBuf {
    repo().join("crates/tandem-lint/tests/fixtures")
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run tandem")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn article(name: &str) -> String {
    lint_fixture(&format!("article/{name}.yaml"))
}

fn lint_fixture(path: &str) -> String {
    format!("crates/tandem-lint/tests/fixtures/lint/{path}")
}

#[test]
fn lint_text_exit_status_and_strict() {
    let out = tandem(&["lint", &article("ambassador")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "warnings only: {stdout}");
    assert!(stdout.contains("warning[TND001]: container \"cloud-sql-proxy\" is a helper"));
    assert!(stdout
        .contains("  --> crates/tandem-lint/tests/fixtures/lint/article/ambassador.yaml:14:7\n"));
    assert!(stdout.contains("14 |     - name: cloud-sql-proxy\n   |       ^^^^\n"));
    assert!(stdout.contains("   = fix: move spec.containers[1] to spec.initContainers:\n"));
    assert!(
        stdout.ends_with("tandem lint: 0 errors, 10 warnings, 0 notes\n"),
        "{stdout}"
    );
    let strict = tandem(&["lint", "--strict", &article("ambassador")]);
    assert_eq!(strict.status.code(), Some(1));
    // A ConfigMap the file does not hold is a note about the input (a cluster accepts the pod,
    // which waits for it); a validation error fails without --strict.
    let noted = tandem(&["lint", &article("sidecar-logging")]);
    assert_eq!(noted.status.code(), Some(0));
    assert!(text(&noted.stdout).contains("note[TND000]: ConfigMap \"fluent-bit-config\" not found"));
    let err = tandem(&["lint", &lint_fixture("bad/invalid.yaml")]);
    assert_eq!(err.status.code(), Some(1));
    assert!(text(&err.stdout).contains("error[TND000]: unknown field \"imagePullPolcy\""));
}

#[test]
fn lint_json_and_sarif_agree() {
    let file = article("sidecar-logging");
    let json: serde_json::Value =
        serde_json::from_slice(&tandem(&["lint", "-o", "json", &file]).stdout).expect("json");
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(json["summary"]["errors"], 0);
    assert_eq!(json["summary"]["warnings"], 10);
    assert_eq!(json["summary"]["notes"], 1);
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"TND001") && rules.contains(&"TND003") && rules.contains(&"TND000"));
    let tnd1 = findings
        .iter()
        .find(|f| f["rule"] == "TND001")
        .expect("TND001");
    assert_eq!(
        (tnd1["line"].as_u64(), tnd1["column"].as_u64()),
        (Some(12), Some(7))
    );
    assert!(tnd1["fix"]["yaml"]
        .as_str()
        .is_some_and(|y| y.contains("restartPolicy: Always")));

    let out = tandem(&["lint", "-o", "sarif", &file]);
    assert_eq!(out.status.code(), Some(0));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), tandem_rule_count());
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.len());
    for r in results {
        let idx = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().is_some_and(|l| l >= 1));
        assert!(matches!(
            r["level"].as_str(),
            Some("error" | "warning" | "note")
        ));
    }
}

fn tandem_rule_count() -> usize {
    text(&tandem(&["lint", "--list-rules"]).stdout)
        .lines()
        .count()
}

#[test]
fn lint_disable_and_kube_version() {
    let file = article("native-sidecar");
    let all = text(&tandem(&["lint", &file]).stdout);
    assert!(all.contains("[TND008]") && all.contains("[TND012]") && all.contains("[TND002]"));
    let out = tandem(&[
        "lint",
        "--disable",
        "TND008,run-as-non-root-missing",
        "--disable",
        "TND013",
        &file,
    ]);
    let some = text(&out.stdout);
    assert!(!some.contains("[TND008]") && !some.contains("[TND012]") && !some.contains("[TND013]"));
    assert!(some.contains("[TND002]") && some.contains("[TND014]"));
    let bad = tandem(&["lint", "--disable", "TND999", &file]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("unknown lint rule \"TND999\""));
    let bad = tandem(&["lint", "--disable", "TND000", &file]);
    assert!(text(&bad.stderr).contains("cannot be disabled"));
    // Native sidecars before 1.28 are an error.
    let old = tandem(&["lint", "--kube-version", "1.27", &file]);
    assert_eq!(old.status.code(), Some(1));
    assert!(text(&old.stdout).contains("error[TND010]"));
    let bad = tandem(&["lint", "--kube-version", "one", &file]);
    assert!(text(&bad.stderr).contains("invalid Kubernetes version"));
}

#[test]
fn lint_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["lint", "-o", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let yaml = std::fs::read(lint_fixtures().join("lint/article/adapter.yaml")).expect("read");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &yaml).expect("write");
    let out = child.wait_with_output().expect("wait");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["findings"][0]["file"], "<stdin>");
}

#[test]
fn graph_of_a_file_matches_the_golden_diagrams() {
    for (name, fixture) in [
        ("article-ambassador", article("ambassador")),
        (
            "article-diagram",
            "crates/tandem-lint/tests/fixtures/graph/article-diagram.yaml".into(),
        ),
    ] {
        let out = tandem(&["graph", &fixture]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let path = lint_fixtures().join(format!("graph/{name}.mmd"));
        if let Some(diff) = tandem_testkit::golden(&path, &text(&out.stdout)) {
            panic!("{diff}");
        }
    }
    let dot = text(&tandem(&["graph", "-o", "dot", &article("ambassador")]).stdout);
    assert!(dot.starts_with("digraph \"Pod app-with-proxy\" {"));
    let svg = text(&tandem(&["graph", "-o", "svg", &article("ambassador")]).stdout);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tandem-graph\""));
    // A manifest with an error is still drawn, with a note.
    let out = tandem(&["graph", &lint_fixture("bad/invalid.yaml")]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("the manifest has 1 error(s)"));
    let two = repo().join("crates/tandem-lint/tests/fixtures/lint/good/log-shipping.yaml");
    let out = tandem(&["graph", "--pod", "nope", two.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("holds no pod named \"nope\""));
}

/// A `--root` with the recorded sidecar-logging run as a pod directory.
fn recorded_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("pods/default_sidecar-logging");
    std::fs::create_dir_all(&dir).expect("pod dir");
    for f in ["pod.json", "events.jsonl"] {
        std::fs::copy(
            lint_fixtures().join("timeline/sidecar-logging").join(f),
            dir.join(f),
        )
        .expect("copy");
    }
    root
}

#[test]
fn timeline_and_graph_of_a_recorded_pod() {
    let root = recorded_root();
    let r = root.path().to_str().expect("root");
    let out = tandem(&["--root", r, "timeline", "sidecar-logging"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<g class=\"lane\" data-container=\"log-shipper\" data-role=\"sidecar\""));
    assert!(html.contains("<g class=\"lane\" data-container=\"app\" data-role=\"main\""));
    assert!(!html.contains("http-equiv"));
    let file = root.path().join("t.svg");
    let out = tandem(&[
        "--root",
        r,
        "timeline",
        "pod/sidecar-logging",
        "-o",
        "svg",
        "-O",
        file.to_str().expect("path"),
    ]);
    assert!(out.status.success());
    let svg = std::fs::read_to_string(&file).expect("svg written");
    assert!(svg.starts_with("<svg") && svg.contains("class=\"span running\""));
    let graph = text(&tandem(&["--root", r, "graph", "sidecar-logging"]).stdout);
    assert!(
        graph.contains("c_log_shipper([\"log-shipper<br/>native sidecar"),
        "{graph}"
    );
    let missing = tandem(&["--root", r, "timeline", "nope"]);
    assert!(text(&missing.stderr).contains("Error from server (NotFound): pods \"nope\" not found"));
    let watch_without_file = tandem(&["--root", r, "timeline", "--watch", "sidecar-logging"]);
    assert_eq!(watch_without_file.status.code(), Some(2));
}

fn wait_for(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn timeline_watch_follows_the_pod_until_it_ends() {
    let root = recorded_root();
    let dir = root.path().join("pods/default_sidecar-logging");
    // Rewind the run: the first four events, phase Running, a live supervisor (this process).
    let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let lines: Vec<&str> = events.lines().collect();
    std::fs::write(dir.join("events.jsonl"), lines[..4].join("\n") + "\n").expect("write");
    let finished = std::fs::read_to_string(dir.join("pod.json")).expect("pod");
    std::fs::write(
        dir.join("pod.json"),
        finished.replace("\"phase\": \"Succeeded\"", "\"phase\": \"Running\""),
    )
    .expect("write");
    std::fs::write(dir.join("supervisor.pid"), std::process::id().to_string()).expect("pid");

    let out = root.path().join("live.html");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "--root",
            root.path().to_str().expect("root"),
            "timeline",
            "sidecar-logging",
            "--watch",
            "-O",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("the first rendering", Duration::from_secs(20), || {
        out.exists()
    });
    let first = std::fs::read_to_string(&out).expect("read");
    assert!(first.contains("<meta http-equiv=\"refresh\" content=\"1\">"));
    assert!(!first.contains("Container app exited"));

    // The app exits: the page is rewritten without anyone polling.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("events.jsonl"))
        .expect("open");
    std::io::Write::write_all(&mut f, format!("{}\n", lines[4]).as_bytes()).expect("append");
    drop(f);
    wait_for(
        "the app's exit on the page",
        Duration::from_secs(20),
        || std::fs::read_to_string(&out).is_ok_and(|t| t.contains("Container app exited")),
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "watch ended early"
    );

    // The pod ends: last events, then pod.json replaced atomically with the final status.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("events.jsonl"))
        .expect("open");
    std::io::Write::write_all(&mut f, (lines[5..].join("\n") + "\n").as_bytes()).expect("append");
    drop(f);
    std::fs::write(dir.join("pod.json.tmp"), &finished).expect("write");
    std::fs::rename(dir.join("pod.json.tmp"), dir.join("pod.json")).expect("rename");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "watch did not end with the pod"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let last = std::fs::read_to_string(&out).expect("read");
    assert!(
        !last.contains("http-equiv"),
        "the final page must not reload"
    );
    assert!(last.contains("phase Succeeded"));
    assert!(last.contains("Container log-shipper exited with code 0"));
}
