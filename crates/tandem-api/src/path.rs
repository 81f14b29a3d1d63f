//! Field paths in the notation users see: `spec.containers[1].ports[0].containerPort`,
//! `data[app.conf]` for map keys.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A field of an object.
    Field(String),
    /// An element of a list.
    Index(usize),
    /// A key of a map (labels, ConfigMap data, ...).
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    pub(crate) fn field(&self, name: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Field(name.to_string()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    pub(crate) fn key(&self, k: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// The path one step up (the root stays the root).
    pub(crate) fn parent(&self) -> FieldPath {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// This path followed by `rest`.
    pub(crate) fn join(&self, rest: &FieldPath) -> FieldPath {
        let mut p = self.clone();
        p.0.extend(rest.0.iter().cloned());
        p
    }

    /// The path below `base`, when it starts there.
    pub(crate) fn strip_prefix(&self, base: &FieldPath) -> Option<FieldPath> {
        self.0
            .strip_prefix(base.0.as_slice())
            .map(|rest| FieldPath(rest.to_vec()))
    }

    pub(crate) fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The path with every index replaced by `[*]`, for matching against rule tables.
    pub(crate) fn generic(&self) -> String {
        let mut s = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Field(f) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(f);
                }
                Seg::Index(_) => s.push_str("[*]"),
                Seg::Key(_) => s.push_str("[*]"),
            }
        }
        s
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Field(name) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
                Seg::Key(k) => write!(f, "[{k}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_kubernetes() {
        let p = FieldPath::root()
            .field("spec")
            .field("containers")
            .index(1)
            .field("ports")
            .index(0)
            .field("containerPort");
        assert_eq!(p.to_string(), "spec.containers[1].ports[0].containerPort");
        assert_eq!(p.generic(), "spec.containers[*].ports[*].containerPort");
        assert_eq!(
            FieldPath::root().field("data").key("a.conf").to_string(),
            "data[a.conf]"
        );
    }
}
