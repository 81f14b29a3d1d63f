//! How long reading manifests takes, end to end (YAML parse, schema check, validation, defaults,
//! planning): the repository's examples, and one file of 50 pods with sidecars (the size of a
//! `helm template` of a small app). `cargo bench -p tandem-api`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_api::{load, PlanOptions, Source};

fn examples() -> Vec<Source> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("example");
            Source::new(p.display().to_string(), text)
        })
        .collect()
}

/// Pod `i` of the big file: an app with a native sidecar, probes, a shared volume and limits.
fn pod(i: usize) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web-{i}
  labels: {{app: web, shard: "{i}"}}
spec:
  volumes: [{{name: logs, emptyDir: {{}}}}]
  initContainers:
    - name: shipper
      image: busybox:1.36
      restartPolicy: Always
      command: ["sh", "-c", "tail -F /logs/app.log"]
      volumeMounts: [{{name: logs, mountPath: /logs}}]
      startupProbe: {{exec: {{command: ["true"]}}, periodSeconds: 1}}
      resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}
  containers:
    - name: app
      image: nginx:1.27
      ports: [{{containerPort: 80, name: http}}]
      env: [{{name: SHARD, value: "{i}"}}, {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}]
      readinessProbe: {{httpGet: {{path: /healthz, port: http}}}}
      livenessProbe: {{tcpSocket: {{port: 80}}, periodSeconds: 5}}
      volumeMounts: [{{name: logs, mountPath: /var/log/nginx}}]
      resources: {{requests: {{cpu: 250m, memory: 128Mi}}, limits: {{memory: 256Mi}}}}
"#
    )
}

fn bench(c: &mut Criterion) {
    let opts = PlanOptions::default();
    let examples = examples();
    c.bench_function("load/examples", |b| {
        b.iter(|| load(black_box(&examples), &opts))
    });
    let big = (0..50).map(pod).collect::<Vec<_>>().join("---\n");
    let sources = [Source::new("app.yaml", big.clone())];
    assert!(
        load(&sources, &opts).is_ok(),
        "the benchmark's own file must load"
    );
    let mut group = c.benchmark_group("load");
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("50-pods", |b| b.iter(|| load(black_box(&sources), &opts)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
