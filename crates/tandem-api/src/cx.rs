//! The per-object context every check reports through: it turns field paths into locations.

use crate::diag::{Diagnostic, Severity};
use crate::path::FieldPath;
use crate::yaml::{Node, Pos};

pub(crate) struct Cx<'a> {
    pub file: &'a str,
    /// The node checks are relative to: an object (a document, or an item of a List), or the
    /// pod template inside a workload.
    pub root: &'a Node,
    /// Where `root` sits in the object (`spec.template` for a workload's template; empty for an
    /// object): reported field paths start with it.
    pub base: FieldPath,
    /// `Kind/name`.
    pub object: String,
    pub diags: Vec<Diagnostic>,
    /// Paths already reported by the structural checks: later checks stay quiet at and below them
    /// (one mistake, one message).
    pub suppressed: Vec<FieldPath>,
    /// What the structural checks make of an unknown field.
    pub unknown_fields: crate::UnknownFields,
    /// Refuse what tandem would otherwise stand in for ([`crate::PlanOptions::strict`]).
    pub strict: bool,
    /// While set, a path at or below the first is reported as the second: where the API server
    /// names a part of an object otherwise than it is written (see [`Cx::error_named`]).
    pub alias: Option<(FieldPath, FieldPath)>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(file: &'a str, root: &'a Node, object: String) -> Cx<'a> {
        Cx {
            file,
            root,
            base: FieldPath::root(),
            object,
            diags: Vec::new(),
            suppressed: Vec::new(),
            unknown_fields: crate::UnknownFields::Refuse,
            strict: false,
            alias: None,
        }
    }

    /// A context for the part of an object at `base` (a workload's pod template), whose node is
    /// `root`: checks written for a Pod report at `base` + their path.
    pub(crate) fn nested(file: &'a str, root: &'a Node, base: FieldPath, object: String) -> Cx<'a> {
        Cx {
            base,
            ..Cx::new(file, root, object)
        }
    }

    pub(crate) fn push_at(
        &mut self,
        severity: Severity,
        path: &FieldPath,
        pos: Pos,
        message: String,
        hint: Option<String>,
    ) {
        let aliased = self.alias.as_ref().and_then(|(from, to)| {
            let rest = path.strip_prefix(from)?;
            Some(to.join(&rest))
        });
        let path = aliased.as_ref().unwrap_or(path);
        self.diags.push(Diagnostic {
            severity,
            file: self.file.to_string(),
            line: pos.line,
            column: pos.col,
            field: crate::diag::bounded(self.base.join(path).to_string()),
            object: crate::diag::bounded(self.object.clone()),
            message: crate::diag::bounded(message),
            hint: hint.map(crate::diag::bounded),
            stage: crate::diag::Stage::Validation,
        });
    }

    fn quiet(&self, path: &FieldPath) -> bool {
        self.suppressed.iter().any(|s| path.starts_with(s))
    }

    pub(crate) fn report(
        &mut self,
        severity: Severity,
        path: &FieldPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        if self.quiet(path) {
            return;
        }
        let pos = self.root.locate(path);
        self.push_at(severity, path, pos, message.into(), hint);
    }

    pub(crate) fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.report(Severity::Error, path, message, None);
    }

    /// An error located at `at` (the field as written) but named `named`, the path the API
    /// server reports for it where that differs (a Go field name, a field of the internal type's
    /// layout, an item's field without the item): kubectl users see the server's words.
    pub(crate) fn error_named(
        &mut self,
        at: &FieldPath,
        named: &FieldPath,
        message: impl Into<String>,
    ) {
        if self.quiet(at) {
            return;
        }
        let pos = self.root.locate(at);
        self.push_at(Severity::Error, named, pos, message.into(), None);
    }

    pub(crate) fn error_hint(
        &mut self,
        path: &FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.report(Severity::Error, path, message, Some(hint.into()));
    }

    /// An error of the Pod's admission rather than its validation ([`crate::diag::Stage`]).
    pub(crate) fn refuse(
        &mut self,
        path: &FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let before = self.diags.len();
        self.error_hint(path, message, hint);
        for d in &mut self.diags[before..] {
            d.stage = crate::diag::Stage::Admission;
        }
    }

    pub(crate) fn warn(
        &mut self,
        path: &FieldPath,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.report(Severity::Warning, path, message, hint);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether the input spelled out this field (as opposed to a default filling it in).
    pub(crate) fn given(&self, path: &FieldPath) -> bool {
        self.root.at(path).is_some_and(|n| !n.is_null())
    }
}

/// Checks a field that takes one of `allowed`; `name` is how the message names it. Returns
/// whether the value is allowed.
pub(crate) fn enumerated(
    cx: &mut Cx<'_>,
    path: &FieldPath,
    name: &str,
    value: &str,
    allowed: &[&str],
) -> bool {
    let ok = allowed.contains(&value);
    if !ok {
        cx.error(
            path,
            format!("{name} must be one of {}, got {value:?}", list(allowed)),
        );
    }
    ok
}

/// Reports `v` at `path` unless `min <= v <= max`, in the API server's words.
pub(crate) fn in_range(cx: &mut Cx<'_>, path: &FieldPath, field: &str, v: i64, min: i64, max: i64) {
    if !(min..=max).contains(&v) {
        cx.error(
            path,
            format!("{field} must be between {min} and {max}, inclusive, got {v}"),
        );
    }
}

pub(crate) fn list(allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|a| if a.is_empty() { "\"\"" } else { a })
        .collect::<Vec<_>>()
        .join(", ")
}
