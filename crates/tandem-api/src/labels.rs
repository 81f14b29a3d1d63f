//! Label selectors as `kubectl -l` and a Service's or workload's selector use them: the grammar of
//! apimachinery's `labels.Parse` (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
//! `!k`, `k>N`, `k<N`, comma-separated and all required), with its matching rules: `!=` and
//! `notin` also match objects without the key. Field selectors (`--field-selector`) too:
//! `field=value`, `field==value`, `field!=value`, comma-separated.
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed selector: every requirement must hold. The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::GreaterThan(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        }
    }
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// Parses a selector; the error names what is wrong, in apimachinery's terms where it has
    /// them.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let mut reqs = Vec::new();
        p.space();
        if p.done() {
            return Ok(Selector(reqs));
        }
        loop {
            reqs.push(p.requirement()?);
            p.space();
            if p.done() {
                return Ok(Selector(reqs));
            }
            if !p.eat(",") {
                return Err(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    p.rest()
                ));
            }
        }
    }
}

/// The fields pods can be selected by, as the API server's pod field label conversion allows
/// them.
pub const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

/// A field selector: every `(field, value, equal)` must hold (`equal` false: `!=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector(pub Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses `field=value,field!=value`; `known` lists the fields the kind can be selected by.
    pub fn parse(text: &str, known: &[&str]) -> Result<FieldSelector, String> {
        let mut reqs = vec![];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !known.contains(&field) {
                return Err(format!(
                    "\"{field}\" is not a known field selector: only {}",
                    known
                        .iter()
                        .map(|k| format!("\"{k}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            reqs.push((field.to_string(), value.trim().to_string(), equal));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether an object whose field values `value_of` gives is selected.
    pub fn matches(&self, value_of: impl Fn(&str) -> String) -> bool {
        self.0
            .iter()
            .all(|(field, value, equal)| (value_of(field) == *value) == *equal)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.s.len()
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.s[self.at..]).into_owned()
    }

    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.s[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// A key or value: letters, digits and `-_./` (the full checks come after).
    fn word(&mut self) -> String {
        self.space();
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-_./".contains(b))
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn key(&mut self) -> Result<String, String> {
        let key = self.word();
        if key.is_empty() {
            return Err(format!("found '{}', expected: identifier", self.rest()));
        }
        match crate::names::qualified_name(&key) {
            Some(e) => Err(format!("invalid label key {key:?}: {e}")),
            None => Ok(key),
        }
    }

    fn value(&mut self) -> Result<String, String> {
        let value = self.word();
        match crate::names::label_value(&value) {
            Some(e) => Err(format!("invalid label value {value:?}: {e}")),
            None => Ok(value),
        }
    }

    fn values(&mut self) -> Result<Vec<String>, String> {
        if !self.eat("(") {
            return Err(format!("found '{}', expected: '('", self.rest()));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(format!("found '{}', expected: ',' or ')'", self.rest()));
            }
        }
    }

    fn number(&mut self) -> Result<i64, String> {
        let n = self.word();
        n.parse().map_err(|_| {
            format!("for 'Gt', 'Lt' operators, the value must be an integer, got {n:?}")
        })
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.eat("!") {
            return Ok(Requirement::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        self.space();
        if self.done() || self.s[self.at] == b',' {
            return Ok(Requirement::Exists(key));
        }
        if self.eat("==") || self.eat("=") {
            return Ok(Requirement::Equals(key, self.value()?));
        }
        if self.eat("!=") {
            return Ok(Requirement::NotEquals(key, self.value()?));
        }
        if self.eat(">") {
            return Ok(Requirement::GreaterThan(key, self.number()?));
        }
        if self.eat("<") {
            return Ok(Requirement::LessThan(key, self.number()?));
        }
        // `in`/`notin` must stand as words: `key inx` is not `key in x`.
        let op = self.word();
        match op.as_str() {
            "in" => Ok(Requirement::In(key, self.values()?)),
            "notin" => Ok(Requirement::NotIn(key, self.values()?)),
            _ => Err(format!(
                "found '{op}', expected: in, notin, =, ==, !=, gt, lt"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_as_apimachinery_matches_them() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("replicas", "3")]);
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app = web , tier=front", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("missing in (db)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("replicas>2", true),
            ("replicas<3", false),
            ("app>2", false),
            ("app=web,!missing,tier in (front,back)", true),
            ("example.com/role=x", false),
        ];
        for (text, want) in cases {
            let s = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(&l), want, "{text}");
        }
    }

    #[test]
    fn field_selectors_compare_known_fields() {
        let known = ["metadata.name", "status.phase"];
        let s =
            FieldSelector::parse("status.phase=Running,metadata.name!=db", &known).expect("parses");
        let pod = |name: &'static str, phase: &'static str| {
            move |f: &str| {
                if f == "metadata.name" {
                    name.into()
                } else {
                    phase.into()
                }
            }
        };
        assert!(s.matches(pod("web", "Running")));
        assert!(!s.matches(pod("db", "Running")));
        assert!(!s.matches(pod("web", "Pending")));
        assert!(FieldSelector::parse("status.phase==Running", &known).is_ok());
        let e = FieldSelector::parse("spec.x=1", &known).expect_err("unknown");
        assert!(
            e.starts_with("\"spec.x\" is not a known field selector: only \"metadata.name\""),
            "{e}"
        );
        assert!(FieldSelector::parse("status.phase", &known).is_err());
    }

    #[test]
    fn malformed_selectors_are_errors_naming_what_was_expected() {
        for (text, want) in [
            ("app=web,", "expected: identifier"),
            ("app in web", "expected: '('"),
            ("app in (a b)", "expected: ',' or ')'"),
            ("app inx (a)", "found 'inx'"),
            ("app>x", "must be an integer"),
            ("-app=x", "invalid label key"),
            ("app=-x", "invalid label value"),
            ("a=b c=d", "expected: ',' or 'end of string'"),
        ] {
            let e = Selector::parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
