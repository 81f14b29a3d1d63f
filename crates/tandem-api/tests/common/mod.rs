#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tandem_api::{load, Diagnostic, Diagnostics, Loaded, PlanOptions, Source};

pub fn fixture_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// A fixture as a [`Source`] named after its file (`good/ambassador.yaml` → `ambassador.yaml`).
pub fn source(kind: &str, file: &str) -> Source {
    let path = fixture_dir(kind).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Source::new(file, text)
}

pub fn opts() -> PlanOptions {
    PlanOptions {
        node_name: "node-1".into(),
        uid: None,
        claims_dir: None,
        ..Default::default()
    }
}

pub fn load_ok(sources: &[Source]) -> Loaded {
    match load(sources, &opts()) {
        Ok(l) => l,
        Err(d) => panic!("expected success, got:\n{}", d.render(sources)),
    }
}

pub fn load_err(sources: &[Source]) -> Diagnostics {
    match load(sources, &opts()) {
        Ok(l) => panic!("expected errors, got {} pods", l.pods.len()),
        Err(d) => d,
    }
}

pub fn good(file: &str) -> Loaded {
    load_ok(&[source("good", file)])
}

pub fn brief(d: &Diagnostic) -> String {
    format!(
        "{} {}:{} {} {} | {}",
        d.severity,
        d.line,
        d.column,
        if d.object.is_empty() { "-" } else { &d.object },
        if d.field.is_empty() { "-" } else { &d.field },
        d.message
    )
}
