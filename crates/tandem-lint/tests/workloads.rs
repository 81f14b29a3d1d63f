//! The rules and the graph work on a workload's pod template: findings are located inside
//! `spec.template` (a CronJob's inside `spec.jobTemplate.spec.template`) and name the workload.

use tandem_api::Source;
use tandem_lint::{lint, LintOptions};

const FILE: &str = "apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: \"@daily\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: backup
              image: busybox
";

#[test]
fn findings_point_into_the_template_of_the_workload() {
    let findings = lint(&[Source::new("cron.yaml", FILE)], &LintOptions::default());
    let resources = findings
        .iter()
        .find(|f| f.rule.id == "TND008")
        .expect("missing-resources on the template's container");
    assert_eq!(resources.object, "CronJob/nightly");
    assert_eq!(
        resources.field,
        "spec.jobTemplate.spec.template.spec.containers[0].resources"
    );
    assert_eq!((resources.line, resources.column), (12, 15));
    let fix = resources.fix.as_ref().expect("a fix");
    assert_eq!(
        fix.action,
        "in spec.jobTemplate.spec.template.spec.containers[0]:"
    );
    assert!(findings.iter().all(|f| f.object == "CronJob/nightly"));
}

#[test]
fn the_graph_draws_the_template_named_after_the_workload() {
    let pods = tandem_api::written_pods(&[Source::new("cron.yaml", FILE)]);
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].label, "CronJob/nightly");
    let diagram =
        tandem_lint::graph::Diagram::of(&tandem_lint::topology::Topology::of(&pods[0].object));
    let mermaid = diagram.mermaid();
    assert!(mermaid.contains("Pod nightly"), "{mermaid}");
    assert!(mermaid.contains("backup"), "{mermaid}");
}
