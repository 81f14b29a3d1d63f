//! Findings for people (rustc-style, with the source line and a caret), for scripts (JSON) and for
//! code-scanning tools (SARIF 2.1.0).

use serde_json::{json, Value};
use tandem_api::{Diagnostic, Source};

use crate::lint::Finding;
use crate::rules::{Severity, RULES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

pub fn counts(findings: &[Finding]) -> Counts {
    let mut c = Counts::default();
    for f in findings {
        match f.severity {
            Severity::Error => c.errors += 1,
            Severity::Warning => c.warnings += 1,
            Severity::Note => c.notes += 1,
        }
    }
    c
}

/// The process exit status: 1 when there are errors, or warnings and `strict`; 0 otherwise.
pub fn exit_status(findings: &[Finding], strict: bool) -> i32 {
    let c = counts(findings);
    i32::from(c.errors > 0 || (strict && c.warnings > 0))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `2 errors, 1 warning, 0 notes`.
pub fn summary(findings: &[Finding]) -> String {
    let c = counts(findings);
    format!(
        "{}, {}, {}",
        plural(c.errors, "error"),
        plural(c.warnings, "warning"),
        plural(c.notes, "note")
    )
}

/// One finding, rustc-style:
///
/// ```text
/// warning[TND008]: container "app" has no resource requests or limits
///  --> pod.yaml:7:9
///   |
/// 7 |     - name: app
///   |       ^^^^
///   = field: spec.containers[0].resources (Pod/web)
///   = why: requests are what the scheduler reserves ...
///   = fix: in spec.containers[0]:
///   |     resources:
///   |       requests:
/// ```
pub fn render(f: &Finding, sources: &[Source]) -> String {
    let d = Diagnostic {
        severity: match f.severity {
            Severity::Error => tandem_api::Severity::Error,
            Severity::Warning | Severity::Note => tandem_api::Severity::Warning,
        },
        file: f.file.clone(),
        line: f.line,
        column: f.column,
        field: f.field.clone(),
        object: f.object.clone(),
        message: f.message.clone(),
        hint: None,
        stage: tandem_api::diag::Stage::Validation,
    };
    let rendered = d.render(sources);
    let body = rendered.split_once('\n').map_or("", |(_, rest)| rest);
    let mut out = format!("{}[{}]: {}\n{body}", f.severity, f.rule.id, f.message);
    let pad = " ".repeat(f.line.max(1).to_string().len());
    if f.rule.id != "TND000" {
        out.push_str(&format!(
            "{pad} = why: {}: {}\n",
            f.rule.name, f.rule.explanation
        ));
    }
    if let Some(h) = &f.help {
        out.push_str(&format!("{pad} = help: {h}\n"));
    }
    if let Some(fix) = &f.fix {
        out.push_str(&format!("{pad} = fix: {}\n", fix.action));
        for line in fix.yaml.lines() {
            if line.is_empty() {
                out.push_str(&format!("{pad} |\n"));
            } else {
                out.push_str(&format!("{pad} |     {line}\n"));
            }
        }
    }
    out
}

/// Every finding rendered, separated by blank lines, then the summary.
pub fn render_all(findings: &[Finding], sources: &[Source]) -> String {
    let mut out: Vec<String> = findings.iter().map(|f| render(f, sources)).collect();
    out.push(format!("tandem lint: {}\n", summary(findings)));
    out.join("\n")
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule.id,
        "name": f.rule.name,
        "severity": f.severity.as_str(),
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "object": f.object,
        "field": f.field,
        "message": f.message,
        "explanation": f.rule.explanation,
        "help": f.help,
        "fix": f.fix.as_ref().map(|x| json!({"action": x.action, "yaml": x.yaml})),
    })
}

/// `{"findings": [...], "summary": {"errors": n, "warnings": n, "notes": n}}`.
pub fn to_json(findings: &[Finding]) -> Value {
    let c = counts(findings);
    json!({
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "summary": {"errors": c.errors, "warnings": c.warnings, "notes": c.notes},
    })
}

/// A file name as a SARIF `uri` (a relative reference when the path is relative).
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A SARIF 2.1.0 log with one run: every rule in `tool.driver.rules`, one result per finding.
pub fn to_sarif(findings: &[Finding], version: &str) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.explanation},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut physical = json!({"artifactLocation": {"uri": uri(&f.file)}});
            if f.line > 0 {
                physical["region"] = json!({"startLine": f.line, "startColumn": f.column.max(1)});
            }
            let mut location = json!({"physicalLocation": physical});
            if !f.object.is_empty() {
                let name = if f.field.is_empty() {
                    f.object.clone()
                } else {
                    format!("{}.{}", f.object, f.field)
                };
                location["logicalLocations"] =
                    json!([{"fullyQualifiedName": name, "kind": "object"}]);
            }
            let mut text = f.message.clone();
            if let Some(h) = &f.help {
                text.push_str(&format!(" (help: {h})"));
            }
            let mut result = json!({
                "ruleId": f.rule.id,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule.id).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": text},
                "locations": [location],
            });
            if let Some(fix) = &f.fix {
                result["properties"] = json!({"fix": {"action": fix.action, "yaml": fix.yaml}});
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tandem lint",
                "version": version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}
