//! Services checked against the pods of the same manifests: a selector that matches nothing
//! (TND015) and a named targetPort no container defines (TND016), each at its field.

use tandem_api::Source;
use tandem_lint::{lint, LintOptions};

const APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - name: proxy
          image: envoy
          restartPolicy: Always
          ports: [{name: admin, containerPort: 9901}]
      containers:
        - name: app
          image: web
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: admin, port: 9901, targetPort: admin}
    - {name: metrics, port: 9090, targetPort: metrics}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80}]
";

#[test]
fn services_are_checked_against_the_pods_they_select() {
    let findings = lint(&[Source::new("app.yaml", APP)], &LintOptions::default());
    let of = |id: &str| -> Vec<(String, String, usize)> {
        findings
            .iter()
            .filter(|f| f.rule.id == id)
            .map(|f| (f.object.clone(), f.field.clone(), f.line))
            .collect()
    };
    // The sidecar's named port counts; the port nobody names does not.
    assert_eq!(
        of("TND016"),
        [(
            "Service/web".to_string(),
            "spec.ports[2].targetPort".to_string(),
            27
        )]
    );
    let message = &findings
        .iter()
        .find(|f| f.rule.id == "TND016")
        .expect("TND016")
        .message;
    assert!(
        message.contains("\"metrics\"") && message.contains("Deployment/web"),
        "{message}"
    );
    assert_eq!(
        of("TND015"),
        [("Service/api".to_string(), "spec.selector".to_string(), 33)]
    );
}

#[test]
fn the_rules_can_be_disabled() {
    let opts = LintOptions {
        disabled: vec![
            tandem_lint::rules::find("TND015").expect("rule"),
            tandem_lint::rules::find("service-target-port-undefined").expect("rule"),
        ],
        ..Default::default()
    };
    let findings = lint(&[Source::new("app.yaml", APP)], &opts);
    assert!(
        findings
            .iter()
            .all(|f| f.rule.id != "TND015" && f.rule.id != "TND016"),
        "{findings:?}"
    );
}
