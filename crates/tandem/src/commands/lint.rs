//! `tandem lint`: validation errors of the manifests plus the multi-container rules of tandem-lint,
//! as text (rustc-style), JSON or SARIF; exit status 1 on errors (or warnings with `--strict`).

use tandem_lint::report;
use tandem_lint::rules::{self, KubeVersion, RULES};
use tandem_lint::LintOptions;

use super::read_sources;
use crate::cli::{LintArgs, LintFormat};
use crate::errors::hint;

pub fn lint(a: LintArgs) -> anyhow::Result<i32> {
    if a.list_rules {
        for r in RULES {
            println!("{}  {:<30} {:<7}  {}", r.id, r.name, r.severity, r.summary);
        }
        return Ok(0);
    }
    let kube_version = KubeVersion::parse(&a.kube_version)
        .map_err(|e| hint(e.to_string(), "e.g. --kube-version 1.29"))?;
    let mut disabled = Vec::new();
    for d in &a.disable {
        let list = rules::parse_list(d)
            .map_err(|e| hint(e.to_string(), "`tandem lint --list-rules` lists the rules"))?;
        if let Some(r) = list.iter().find(|r| r.id == "TND000") {
            return Err(hint(
                tandem_lint::Error::NotDisableable(r.id.to_string()).to_string(),
                "fix the manifest instead: `tandem run` refuses it too",
            ));
        }
        disabled.extend(list);
    }
    let mut files = a.filename.clone();
    files.extend(a.files.iter().cloned());
    let sources = read_sources(&files)?;
    let findings = tandem_lint::lint(
        &sources,
        &LintOptions {
            kube_version,
            disabled,
            image_reference: Some(|r| {
                tandem_image::Reference::parse(r)
                    .err()
                    .map(|e| e.to_string())
            }),
        },
    );
    match a.output {
        LintFormat::Text => print!("{}", report::render_all(&findings, &sources)),
        LintFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::to_json(&findings))?
        ),
        LintFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&report::to_sarif(&findings, env!("CARGO_PKG_VERSION")))?
        ),
    }
    Ok(report::exit_status(&findings, a.strict))
}
