//! Shared by the golden tests: fixture paths (the golden-file helper is the test kit's).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The workspace root (for `examples/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file with extension `ext` in `dir`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// Where tests keep what people may want to look at (screenshots): `target/test-artifacts/`.
pub fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// The attributes of every start tag whose text begins with `prefix` (e.g. `<rect class="span`).
pub fn tags(doc: &str, prefix: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(prefix) {
        let tag = &rest[i..];
        let end = tag.find('>').unwrap_or(tag.len());
        let body = &tag[..end];
        let mut attrs = std::collections::HashMap::new();
        let mut s = body;
        while let Some(eq) = s.find("=\"") {
            let key = s[..eq]
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_string();
            let after = &s[eq + 2..];
            let close = after.find('"').unwrap_or(after.len());
            attrs.insert(key, after[..close].to_string());
            s = &after[(close + 1).min(after.len())..];
        }
        out.push(attrs);
        rest = &tag[end.min(tag.len())..];
    }
    out
}

/// Checks that start and end tags balance (enough to catch a broken SVG or HTML fragment; the
/// content has no comments, CDATA or processing instructions).
pub fn balanced(doc: &str) -> Result<(), String> {
    const VOID: [&str; 4] = ["meta", "!DOCTYPE", "br", "!doctype"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find('<') {
        let tag = &rest[i + 1..];
        let end = tag.find('>').ok_or("unclosed tag")?;
        let inner = &tag[..end];
        rest = &tag[end + 1..];
        if let Some(name) = inner.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
        } else if !inner.ends_with('/') {
            let name = inner
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if !VOID.contains(&name.as_str()) {
                stack.push(name);
            }
        }
    }
    match stack.pop() {
        None => Ok(()),
        Some(open) => Err(format!("<{open}> is never closed")),
    }
}

/// Debian's chromium, headless, sandbox and background networking off, with a throwaway profile;
/// `None` (after printing why) when it is not installed.
pub fn chromium(args: &[&str]) -> Option<std::process::Output> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("chromium").is_file()));
    if !found {
        tandem_testkit::skip(
            "chromium is not installed (apt-get install chromium; tools/setup.sh does)",
        );
        return None;
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = std::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdin(std::process::Stdio::null());
    let out = cmd.output().expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}
