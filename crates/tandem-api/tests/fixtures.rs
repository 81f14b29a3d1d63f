//! The corpus of broken manifests under `tests/fixtures/bad/`: every diagnostic asserted exactly
//! (see `tests/fixtures/bad/README.md` for the `.expected` format).

mod common;

use common::{brief, fixture_dir, opts, source};
use tandem_api::{load, Diagnostic, Severity};

struct Expected {
    severity: Severity,
    line: usize,
    column: usize,
    object: String,
    field: String,
    message: String,
    hint: Option<String>,
}

fn parse_expected(text: &str) -> Vec<Expected> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.splitn(3, " | ");
            let head = parts.next().expect("head");
            let message = parts.next().expect("message part").to_string();
            let hint = parts.next().map(str::to_string);
            let mut h = head.splitn(4, ' ');
            let severity = match h.next() {
                Some("error") => Severity::Error,
                Some("warning") => Severity::Warning,
                other => panic!("bad severity {other:?} in {l:?}"),
            };
            let (line, column) = h.next().and_then(|p| p.split_once(':')).expect("line:col");
            let dash = |s: &str| {
                if s == "-" {
                    String::new()
                } else {
                    s.to_string()
                }
            };
            Expected {
                severity,
                line: line.parse().expect("line"),
                column: column.parse().expect("column"),
                object: dash(h.next().expect("object")),
                field: dash(h.next().expect("field")),
                message,
                hint,
            }
        })
        .collect()
}

fn check(file: &str) {
    let sources = [source("bad", file)];
    let expected_path = fixture_dir("bad").join(file.replace(".yaml", ".expected"));
    let expected = parse_expected(
        &std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{expected_path:?}: {e}")),
    );
    // A fixture whose expectations are all warnings is accepted with them.
    let only_warnings = expected.iter().all(|e| e.severity == Severity::Warning);
    let got: Vec<Diagnostic> = match load(&sources, &opts()) {
        Ok(l) if only_warnings => l.warnings,
        Ok(_) => panic!("{file}: expected errors, the manifests were accepted"),
        Err(d) => d.0,
    };
    let listing = got.iter().map(brief).collect::<Vec<_>>().join("\n");
    assert_eq!(
        got.len(),
        expected.len(),
        "{file}: wrong number of diagnostics; got:\n{listing}"
    );
    for (g, e) in got.iter().zip(&expected) {
        let ctx = format!("{file}: diagnostic {}\nall:\n{listing}", brief(g));
        assert_eq!(g.file, file, "{ctx}");
        assert_eq!(g.severity, e.severity, "{ctx}");
        assert_eq!((g.line, g.column), (e.line, e.column), "{ctx}");
        assert_eq!(g.object, e.object, "{ctx}");
        assert_eq!(g.field, e.field, "{ctx}");
        assert!(
            g.message.contains(&e.message),
            "{ctx}\nmessage lacks {:?}",
            e.message
        );
        if let Some(h) = &e.hint {
            let hint = g.hint.as_deref().unwrap_or_default();
            assert!(
                hint.contains(h.as_str()),
                "{ctx}\nhint {hint:?} lacks {h:?}"
            );
        }
    }
}

macro_rules! corpus {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { check($file); })*

        /// Every broken fixture has an expectation and a test.
        #[test]
        fn every_bad_fixture_is_covered() {
            let listed = [$($file),*];
            for entry in std::fs::read_dir(fixture_dir("bad")).expect("fixtures/bad") {
                let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
                if name.ends_with(".yaml") {
                    assert!(listed.contains(&name.as_str()), "{name} has no test in tests/fixtures.rs");
                    let exp = fixture_dir("bad").join(name.replace(".yaml", ".expected"));
                    assert!(exp.exists(), "{name} has no .expected file");
                }
            }
        }
    };
}

corpus! {
    typo_with_did_you_mean => "typo-field.yaml",
    port_out_of_range => "port-out-of-range.yaml",
    duplicate_container_names => "duplicate-container-names.yaml",
    volume_mount_to_missing_volume => "missing-volume.yaml",
    bad_dns_names => "bad-dns-name.yaml",
    missing_config_map_and_secret => "missing-configmap.yaml",
    invalid_base64_in_secret => "bad-base64.yaml",
    workloads_and_kinds_not_applied => "workloads.yaml",
    yaml_syntax_error => "yaml-syntax.yaml",
    wrong_types => "wrong-type.yaml",
    errors_inside_a_list => "list-item-error.yaml",
    probe_and_hook_rules => "probes.yaml",
    unsupported_fields => "unsupported.yaml",
    resources_env_and_volume_rules => "resources-env.yaml",
}

/// What a user sees for the classic mistake, byte for byte.
#[test]
fn rendering_of_a_port_error() {
    let sources = [source("bad", "port-out-of-range.yaml")];
    let d = load(&sources, &opts()).expect_err("must fail");
    let want = "\
error: containerPort must be between 1 and 65535, got 70000
  --> port-out-of-range.yaml:14:26
   |
14 |         - containerPort: 70000
   |                          ^^^^^
   = field: spec.containers[1].ports[0].containerPort (Pod/web)
";
    assert_eq!(d.0[0].render(&sources), want);
}

#[test]
fn rendering_of_a_did_you_mean() {
    let sources = [source("bad", "typo-field.yaml")];
    let d = load(&sources, &opts()).expect_err("must fail");
    let want = "\
error: unknown field \"contianers\" in Pod/web at spec, did you mean \"containers\"?
 --> typo-field.yaml:8:3
  |
8 |   contianers:
  |   ^^^^^^^^^^
  = field: spec.contianers (Pod/web)
";
    assert_eq!(d.0[1].render(&sources), want);
}

#[test]
fn display_lists_all_errors_briefly() {
    let sources = [source("bad", "missing-volume.yaml")];
    let d = load(&sources, &opts()).expect_err("must fail");
    let text = d.to_string();
    assert!(text.starts_with("4 errors in the manifests\n"), "{text}");
    assert!(text.contains(
        "missing-volume.yaml:16:20: error: subPath \"../etc\" must not contain '..' [spec.containers[0].volumeMounts[2].subPath in Pod/web]"
    ), "{text}");
    let as_error: &dyn std::error::Error = &d;
    assert_eq!(as_error.to_string(), text);
}
