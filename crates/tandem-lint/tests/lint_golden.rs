//! The lint corpus: every manifest under `tests/fixtures/lint/{article,good,bad}` and every
//! `examples/*.yaml` of the repository, with the exact findings expected in a `.expected` file next
//! to it (under `tests/fixtures/lint/examples/` for the examples).
//!
//! `.expected` format, one finding per line (lines starting with `#` are comments):
//! `RULE severity line:col field | message`, with `-` for an empty field. A manifest may start with
//! `# lint: --kube-version 1.27 --disable TND013,TND014` to lint it with those options.
//! The article's four examples and the bad manifests also have their full rendered output (with
//! the fixes) in a `.txt` golden file.

mod common;

use std::path::Path;

use common::{files, fixtures, workspace};
use tandem_api::Source;
use tandem_lint::report::render_all;
use tandem_lint::{lint, rules, Finding, KubeVersion, LintOptions};
use tandem_testkit::golden;

fn options(text: &str) -> LintOptions {
    // As `tandem lint` runs it: with the image store's reference grammar.
    let mut opts = LintOptions {
        image_reference: Some(|r| {
            tandem_image::Reference::parse(r)
                .err()
                .map(|e| e.to_string())
        }),
        ..LintOptions::default()
    };
    let Some(directive) = text.lines().next().and_then(|l| l.strip_prefix("# lint:")) else {
        return opts;
    };
    let words: Vec<&str> = directive.split_whitespace().collect();
    for pair in words.chunks(2) {
        match pair {
            ["--kube-version", v] => {
                opts.kube_version = KubeVersion::parse(v).expect("kube version in directive")
            }
            ["--disable", list] => opts
                .disabled
                .extend(rules::parse_list(list).expect("rules in directive")),
            other => panic!("unknown lint directive {other:?}"),
        }
    }
    opts
}

fn line(f: &Finding) -> String {
    format!(
        "{} {} {}:{} {} | {}",
        f.rule.id,
        f.severity,
        f.line,
        f.column,
        if f.field.is_empty() { "-" } else { &f.field },
        f.message
    )
}

/// Lints one manifest (named `name` in the findings) and compares with `expected`.
fn check(manifest: &Path, name: &str, expected: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).expect("read manifest");
    let sources = [Source::new(name, text.clone())];
    let findings = lint(&sources, &options(&text));
    let header: String = std::fs::read_to_string(expected)
        .unwrap_or_default()
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let body: String = findings.iter().map(|f| format!("{}\n", line(f))).collect();
    let mut problems = golden(expected, &format!("{header}{body}"));
    let txt = expected.with_extension("txt");
    if txt.exists()
        || (tandem_testkit::bless() && (name.starts_with("article/") || name.starts_with("bad/")))
    {
        let rendered = render_all(&findings, &sources);
        if let Some(p) = golden(&txt, &rendered) {
            problems = Some(problems.unwrap_or_default() + &p);
        }
    }
    problems
}

fn check_dir(dir: &str) {
    let base = fixtures().join("lint").join(dir);
    let mut failures = Vec::new();
    let manifests = files(&base, "yaml");
    assert!(!manifests.is_empty(), "no fixtures in {}", base.display());
    for m in manifests {
        let file = m.file_name().and_then(|f| f.to_str()).expect("file name");
        let name = format!("{dir}/{file}");
        if let Some(p) = check(&m, &name, &m.with_extension("expected")) {
            failures.push(p);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn article_examples() {
    check_dir("article");
}

#[test]
fn good_manifests() {
    check_dir("good");
    // Good means no error and no warning; notes (what tandem does not enforce yet) may remain.
    for e in files(&fixtures().join("lint/good"), "expected") {
        let text = std::fs::read_to_string(&e).expect("read");
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.is_empty() || l.contains(" note ")),
            "{} lists findings",
            e.display()
        );
    }
}

#[test]
fn bad_manifests() {
    check_dir("bad");
    // Every rule is exercised by some bad fixture.
    let mut all = String::new();
    for e in files(&fixtures().join("lint/bad"), "expected") {
        all.push_str(&std::fs::read_to_string(&e).expect("read"));
    }
    for r in rules::RULES {
        assert!(
            all.lines().any(|l| l.starts_with(&format!("{} ", r.id))),
            "no bad fixture triggers {} {}",
            r.id,
            r.name
        );
    }
}

#[test]
fn repository_examples() {
    let examples = files(&workspace().join("examples"), "yaml");
    assert!(examples.len() >= 4, "examples/ went missing");
    let mut failures = Vec::new();
    for m in examples {
        let file = m.file_name().and_then(|f| f.to_str()).expect("file name");
        let expected = fixtures()
            .join("lint/examples")
            .join(file)
            .with_extension("expected");
        if let Some(p) = check(&m, &format!("examples/{file}"), &expected) {
            failures.push(p);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
