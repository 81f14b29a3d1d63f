//! The API server's own Pod validation and defaulting tests, ported as data
//! (`tests/upstream/validation/*.yaml`; each file's header names the upstream file, commit and
//! test functions): every row is a Pod a user could send, and tandem must decide it as the API
//! server does — accept what it accepts, refuse what it refuses at the field it names (or a field
//! inside it), and fill the defaults it fills. The rows it does not decide so yet are listed,
//! with why, in `tests/upstream/known-disagreements.txt`.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tandem_api::{documents, load, Severity, Source};

fn tables() -> Vec<(String, Vec<Value>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/validation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = file_name(path);
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let docs = documents(&[Source::new(&name, text)])
                .unwrap_or_else(|d| panic!("{name}: {}", d.0[0].message));
            let cases = match docs.as_slice() {
                [Value::Array(cases)] => cases.clone(),
                _ => panic!("{name}: expected one sequence of cases"),
            };
            (name, cases)
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// The case's Pod as a manifest: its metadata over `name: p, namespace: default`.
fn manifest(case: &Value) -> String {
    let pod = &case["pod"];
    let mut metadata = json!({"name": "p", "namespace": "default"});
    if let Some(given) = pod["metadata"].as_object() {
        for (k, v) in given {
            metadata[k] = v.clone();
        }
    }
    let doc = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod["spec"]});
    serde_json::to_string_pretty(&doc).expect("json")
}

/// `spec.containers[0].imagePullPolicy` → the value there, if any.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = value;
    for part in path.split('.') {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            here = here.get(key)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            here = here.get(i)?;
        }
    }
    Some(here)
}

/// Whether tandem's field `got` is the API server's `want` or a field inside it: tandem may name
/// the key of a map (`requests[cpu]` where the API server says `requests`) or the one field of a
/// reference that is wrong (`valueFrom.secretKeyRef` where it says `valueFrom`).
///
/// The API server writes some paths without a list's index (`volumeMounts.subPath`): such a path
/// is taken to name every item, so tandem's `volumeMounts[0].subPath` is inside it.
fn at_or_inside(got: &str, want: &str) -> bool {
    let (got, want) = (got.as_bytes(), want.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < want.len() {
        if i < got.len() && got[i] == want[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < got.len() && got[i] == b'[' && (want[j] == b'.' || want[j] == b'[') {
            // An index the API server's path leaves out.
            match got[i..].iter().position(|&c| c == b']') {
                Some(end) if got[i + 1..i + end].iter().all(u8::is_ascii_digit) => i += end + 1,
                _ => return false,
            }
        } else {
            return false;
        }
    }
    i == got.len() || got[i] == b'.' || got[i] == b'['
}

/// What tandem decided about one case, when it is not what the API server decides.
fn disagreement(case: &Value) -> Option<String> {
    let text = manifest(case);
    let sources = [Source::new("case.json", text)];
    let loaded = load(&sources, &common::opts());
    if let Some(defaults) = case["defaults"].as_object() {
        let pod = match &loaded {
            Ok(l) => serde_json::to_value(&l.pods[0].object).expect("pod json"),
            Err(d) => return Some(format!("refused:\n{}", d.render(&sources))),
        };
        let wrong: Vec<String> = defaults
            .iter()
            // `null`: the API server leaves the field unset.
            .filter(|(path, want)| at(&pod, path).unwrap_or(&Value::Null) != *want)
            .map(|(path, want)| format!("{path}: want {want}, got {:?}", at(&pod, path)))
            .collect();
        return (!wrong.is_empty()).then(|| wrong.join("; "));
    }
    let valid = case["valid"].as_bool().expect("`valid` or `defaults`");
    match (&loaded, valid) {
        (Ok(_), true) => None,
        (Ok(_), false) => Some("accepted".into()),
        (Err(d), true) => Some(format!("refused:\n{}", d.render(&sources))),
        (Err(d), false) => {
            let fields: Vec<&str> = case["fields"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let got: Vec<&str> =
                d.0.iter()
                    .filter(|e| e.severity == Severity::Error)
                    .map(|e| e.field.as_str())
                    .collect();
            (!fields.is_empty()
                && !got
                    .iter()
                    .any(|g| fields.iter().any(|f| at_or_inside(g, f))))
            .then(|| format!("refused at {got:?}, the API server at {fields:?}"))
        }
    }
}

/// The rows tandem still decides otherwise, one `FILE: CASE` per line under a comment saying
/// why: the list may only shrink. A row that comes to agree must leave it, so it stays true.
fn known_disagreements() -> Vec<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/known-disagreements.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn tandem_decides_every_ported_row_as_the_api_server_does() {
    let known = known_disagreements();
    let mut total = 0;
    let mut new = Vec::new();
    let mut still = Vec::new();
    for (file, cases) in tables() {
        for case in &cases {
            total += 1;
            let id = format!("{file}: {}", case["case"].as_str().unwrap_or("?"));
            match disagreement(case) {
                Some(what) if known.contains(&id) => {
                    // Shown with `--no-capture`: where each known row stands today.
                    println!("known: {id}: {what}");
                    still.push(id)
                }
                Some(what) => new.push(format!("{id}: {what}")),
                None => {}
            }
        }
    }
    let fixed: Vec<&String> = known.iter().filter(|k| !still.contains(k)).collect();
    println!(
        "{total} ported rows; {} decided as the API server does, {} known otherwise",
        total - still.len(),
        still.len()
    );
    assert!(total >= 500, "only {total} rows ported");
    assert!(
        new.is_empty(),
        "decided otherwise than the API server:\n{}",
        new.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "agree now: remove from tests/upstream/known-disagreements.txt:\n{}",
        fixed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
