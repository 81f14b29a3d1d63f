//! `tandem lint`: validation errors of the manifests plus the multi-container rules of tandem-lint,
//! as text (rustc-style), JSON or SARIF; exit status 1 on errors (or warnings with `--strict`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tandem_lint::report;
use tandem_lint::rules::{self, KubeVersion, RULES};
use tandem_lint::LintOptions;

use super::read_sources;
use crate::errors::hint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// rustc-style findings with the source line, a caret and the fix.
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Rules are listed by `tandem lint --list-rules`; turn one off for a pod with the annotation `tandem.dev/lint-disable: TND003,TND007`."
)]
pub struct LintArgs {
    /// Manifest files (YAML or JSON; `-` reads stdin).
    pub files: Vec<PathBuf>,
    /// A manifest file (repeatable).
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: LintFormat,
    /// Exit non-zero on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Rules to turn off everywhere, by id or name (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// The Kubernetes version the manifests are for (native sidecars need 1.29).
    #[arg(long = "kube-version", default_value_t = KubeVersion::DEFAULT.to_string())]
    pub kube_version: String,
    /// Print the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
}

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
