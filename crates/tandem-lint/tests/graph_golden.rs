//! `tandem graph` output, golden: Mermaid for the article's four examples, the repository's
//! examples and the pod of the article's diagram; DOT and SVG for the article's diagram and the
//! logging example. The SVG is checked to be well formed here, and rendered by Chromium (when
//! installed) with a screenshot kept under target/test-artifacts/.

mod common;

use std::path::{Path, PathBuf};

use common::{artifacts, balanced, chromium, fixtures, tags, workspace};
use tandem_api::Source;
use tandem_lint::graph::Diagram;
use tandem_lint::topology::Topology;
use tandem_testkit::golden;

fn diagram(path: &Path) -> Diagram {
    let text = std::fs::read_to_string(path).expect("read manifest");
    let pods = tandem_api::written_pods(&[Source::new("m.yaml", text)]);
    assert_eq!(pods.len(), 1, "{} should hold one pod", path.display());
    Diagram::of(&Topology::of(&pods[0].object))
}

fn inputs() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for name in ["sidecar-logging", "ambassador", "adapter", "native-sidecar"] {
        v.push((
            format!("article-{name}"),
            fixtures().join(format!("lint/article/{name}.yaml")),
        ));
    }
    for name in ["sidecar-logging", "ambassador", "adapter", "configmap"] {
        v.push((
            format!("examples-{name}"),
            workspace().join(format!("examples/{name}.yaml")),
        ));
    }
    v.push((
        "article-diagram".into(),
        fixtures().join("graph/article-diagram.yaml"),
    ));
    v
}

#[test]
fn mermaid_goldens() {
    let mut failures = Vec::new();
    for (name, path) in inputs() {
        let got = diagram(&path).mermaid();
        if let Some(p) = golden(&fixtures().join(format!("graph/{name}.mmd")), &got) {
            failures.push(p);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dot_and_svg_goldens() {
    let mut failures = Vec::new();
    for (name, path) in inputs() {
        if name != "article-diagram" && name != "article-sidecar-logging" {
            continue;
        }
        let d = diagram(&path);
        for (ext, got) in [("dot", d.dot()), ("svg", d.svg())] {
            if let Some(p) = golden(&fixtures().join(format!("graph/{name}.{ext}")), &got) {
                failures.push(p);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The article's diagram, redrawn from YAML: the app reaches the Envoy sidecar over localhost, the
/// log shipper reads the app's logs through the shared volume, the sidecars talk to the outside,
/// clients reach the declared ports.
#[test]
fn the_article_diagram_is_redrawn_from_yaml() {
    let m = diagram(&fixtures().join("graph/article-diagram.yaml")).mermaid();
    for edge in [
        "c_app -->|\"localhost:15001\"| c_envoy",
        "c_app -->|\"rw /var/log/app · image user\"| v_logs",
        "v_logs -->|\"ro /var/log/app · image user\"| c_log_shipper",
        "c_log_shipper --> x_http___elasticsearch_logging_svc_9200",
        "c_envoy --> x_https___api_example_com",
        "client -->|\":15001\"| c_envoy",
        "client -->|\":8080\"| c_app",
    ] {
        assert!(m.contains(edge), "missing {edge:?} in\n{m}");
    }
    assert!(m.starts_with("graph LR\n    subgraph pod[\"Pod app-with-sidecars"));
    assert!(m.contains("c_envoy([\"envoy<br/>native sidecar"), "{m}");
}

#[test]
fn undeclared_and_unserved_ports_are_drawn_as_such() {
    let m = diagram(&fixtures().join("lint/article/ambassador.yaml")).mermaid();
    assert!(
        m.contains("c_app -.->|\"localhost:5432 (undeclared)\"| c_cloud_sql_proxy"),
        "{m}"
    );
    let m = diagram(&fixtures().join("lint/bad/localhost-ports.yaml")).mermaid();
    assert!(
        m.contains("port_4317[/\"localhost:4317<br/>no container declares it\"/]"),
        "{m}"
    );
    assert!(
        m.contains("c_app -.->|\"localhost:4317\"| port_4317"),
        "{m}"
    );
}

#[test]
fn svg_is_well_formed_and_renders_in_chromium() {
    let d = diagram(&fixtures().join("graph/article-diagram.yaml"));
    let svg = d.svg();
    balanced(&svg).expect("balanced SVG");
    let nodes = tags(&svg, "<g class=\"node");
    let ids: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n.get("data-id").map(String::as_str))
        .collect();
    for id in ["c_envoy", "c_log_shipper", "c_app", "v_logs", "client"] {
        assert!(ids.contains(&id), "no node {id} in {ids:?}");
    }
    let path = artifacts().join("graph-article-diagram.svg");
    std::fs::write(&path, &svg).expect("write svg");
    let url = format!("file://{}", path.display());
    let Some(out) = chromium(&["--dump-dom", &url]) else {
        return;
    };
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        !dom.contains("parsererror"),
        "chromium could not parse the SVG:\n{dom}"
    );
    assert_eq!(tags(&dom, "<g class=\"node").len(), nodes.len());
    let shot = artifacts().join("graph-article-diagram.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1800,500",
        &url,
    ]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a real PNG"
    );
}

/// A claim (or a disk, a share) is drawn as its mount says: written where it is mounted without
/// readOnly; only the volumes made from API objects are read-only whatever the mount says.
#[test]
fn a_claim_mounted_read_write_is_drawn_written() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  volumes:\n    - {name: data, persistentVolumeClaim: {claimName: db-data}}\n    - {name: conf, configMap: {name: db-conf}}\n  containers:\n    - name: db\n      image: postgres:16\n      volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}, {name: conf, mountPath: /etc/db}]\n    - name: backup\n      image: backup:1\n      volumeMounts: [{name: data, mountPath: /data, readOnly: true}]\n";
    let pods = tandem_api::written_pods(&[Source::new("m.yaml", text.to_string())]);
    let m = Diagram::of(&Topology::of(&pods[0].object)).mermaid();
    for line in [
        "c_db -->|\"rw /var/lib/postgresql/data · image user\"| v_data",
        "v_data -->|\"ro /data · image user\"| c_backup",
        "v_conf -->|\"ro /etc/db · image user\"| c_db",
    ] {
        assert!(m.lines().any(|l| l.trim() == line), "{line}\n{m}");
    }
}
