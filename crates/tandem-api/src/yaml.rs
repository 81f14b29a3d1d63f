//! YAML (and therefore JSON) text into a tree of [`Node`]s that remember where they came from.
//!
//! Scalars are resolved the way Kubernetes tooling resolves them (go-yaml v2, YAML 1.1 flavour):
//! `yes`/`no`/`on`/`off` are booleans and `0644` is octal. Everything downstream (schema checks,
//! deserialisation into the API types, validation) works on this tree so that every problem can be
//! reported at `file:line:column`.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::path::{FieldPath, Seg};

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line().max(1),
            col: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
    /// The scalar as written, for plain (unquoted) scalars; used in messages ("quote it").
    pub plain: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A problem in the YAML text itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// One document of a stream (the text between `---` markers).
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub root: Node,
}

/// Deepest nesting accepted; protects the recursive builder from hostile input.
const MAX_DEPTH: usize = 256;
/// Most nodes one stream may expand to (aliases are copied); protects against alias bombs. The
/// API server takes objects of at most 3 MiB, far fewer nodes than this.
const MAX_NODES: usize = 500_000;
/// Most bytes of text (scalars and keys) one stream may expand to: a 1 KiB string aliased
/// 100,000 times is a 0.4 MB file that would become 100 MB of plan. Ten times the API server's
/// largest request (3 MiB) leaves room for a long List.
const MAX_TEXT_BYTES: usize = 32 << 20;

/// Parses a whole stream. Documents before a syntax error are returned; the error ends the stream.
/// Non-fatal problems (duplicate keys) are returned too and do not stop parsing.
pub(crate) fn parse_stream(text: &str) -> (Vec<Document>, Vec<YamlError>) {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        errors: Vec::new(),
        nodes: 0,
        text_bytes: 0,
    };
    let mut docs = Vec::new();
    loop {
        let (event, span) = match builder.next() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(err) => {
                builder.errors.push(err);
                break;
            }
        };
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                builder.anchors.clear();
                match builder.node_after_start() {
                    Ok(root) => docs.push(Document { root }),
                    Err(err) => {
                        builder.errors.push(err);
                        break;
                    }
                }
            }
            other => {
                builder.errors.push(YamlError {
                    pos: Pos::from_span(&span),
                    message: format!("unexpected YAML event {other:?}"),
                });
                break;
            }
        }
    }
    (docs, builder.errors)
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    errors: Vec<YamlError>,
    nodes: usize,
    /// Bytes of text made so far, aliases' copies included.
    text_bytes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Option<(Event<'a>, Span)>, YamlError> {
        match self.parser.next_event() {
            None => Ok(None),
            Some(Ok(ev)) => Ok(Some(ev)),
            Some(Err(err)) => Err(YamlError {
                pos: Pos {
                    line: err.marker().line().max(1),
                    col: err.marker().col() + 1,
                },
                message: format!("invalid YAML: {}", err.info()),
            }),
        }
    }

    fn next_required(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.next()? {
            Some(ev) => Ok(ev),
            None => Err(YamlError {
                pos: Pos::default(),
                message: "invalid YAML: unexpected end of input".into(),
            }),
        }
    }

    fn node_after_start(&mut self) -> Result<Node, YamlError> {
        let (event, span) = self.next_required()?;
        self.node(event, span, 0)
    }

    fn count(&mut self, pos: Pos, weight: Weight) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(weight.nodes);
        self.text_bytes = self.text_bytes.saturating_add(weight.bytes);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                pos,
                message: format!("YAML expands to more than {MAX_NODES} nodes (alias bomb?)"),
            });
        }
        if self.text_bytes > MAX_TEXT_BYTES {
            return Err(YamlError {
                pos,
                message: format!(
                    "YAML expands to more than {} MiB of text (alias bomb?)",
                    MAX_TEXT_BYTES >> 20
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        let pos = Pos::from_span(&span);
        if depth > MAX_DEPTH {
            return Err(YamlError {
                pos,
                message: format!("YAML nested deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(pos, Weight { nodes: 1, bytes: 0 })?;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(
                    pos,
                    Weight {
                        nodes: 0,
                        bytes: text.len(),
                    },
                )?;
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let node = if style == ScalarStyle::Plain && !forced_str {
                    Node {
                        value: resolve_plain(&text),
                        pos,
                        plain: Some(text.to_string()),
                    }
                } else {
                    Node {
                        value: Value::Str(text.to_string()),
                        pos,
                        plain: None,
                    }
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(found) => {
                    let mut node = found.clone();
                    self.count(pos, weight(&node))?;
                    node.pos = pos;
                    Ok(node)
                }
                None => Err(YamlError {
                    pos,
                    message: "invalid YAML: alias to an unknown anchor".into(),
                }),
            },
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next_required()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp, depth + 1)?);
                }
                let node = Node {
                    value: Value::Seq(items),
                    pos,
                    plain: None,
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, _) => {
                let node = self.mapping(pos, depth)?;
                self.remember(anchor, &node);
                Ok(node)
            }
            other => Err(YamlError {
                pos,
                message: format!("invalid YAML: unexpected {other:?}"),
            }),
        }
    }

    fn mapping(&mut self, pos: Pos, depth: usize) -> Result<Node, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (ev, sp) = self.next_required()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let key_is_plain = matches!(&ev, Event::Scalar(_, ScalarStyle::Plain, _, _));
            let key_node = self.node(ev, sp, depth + 1)?;
            let (vev, vsp) = self.next_required()?;
            let value = self.node(vev, vsp, depth + 1)?;
            let key = match &key_node.value {
                Value::Str(s) => s.clone(),
                Value::Null => key_node.plain.clone().unwrap_or_default(),
                Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                    key_node.plain.clone().unwrap_or_default()
                }
                Value::Seq(_) | Value::Map(_) => {
                    self.errors.push(YamlError {
                        pos: key_node.pos,
                        message: "complex mapping keys are not supported".into(),
                    });
                    continue;
                }
            };
            if key == "<<" && key_is_plain {
                merges.push(value);
                continue;
            }
            if let Some(first) = index.get(&key).map(|&i| &entries[i]) {
                self.errors.push(YamlError {
                    pos: key_node.pos,
                    message: format!(
                        "duplicate key \"{key}\" (first defined at line {})",
                        first.key_pos.line
                    ),
                });
                continue;
            }
            index.insert(key.clone(), entries.len());
            entries.push(Entry {
                key,
                key_pos: key_node.pos,
                value,
            });
        }
        // Merge keys (`<<: *base`): keys already present win; earlier merged maps win over later ones.
        for merge in merges {
            let maps = match merge.value {
                Value::Map(m) => vec![m],
                Value::Seq(items) => items
                    .into_iter()
                    .filter_map(|n| match n.value {
                        Value::Map(m) => Some(m),
                        _ => None,
                    })
                    .collect(),
                _ => {
                    self.errors.push(YamlError {
                        pos: merge.pos,
                        message: "a merge key (<<) needs a mapping or a list of mappings".into(),
                    });
                    Vec::new()
                }
            };
            for map in maps {
                for entry in map {
                    if !index.contains_key(&entry.key) {
                        index.insert(entry.key.clone(), entries.len());
                        entries.push(entry);
                    }
                }
            }
        }
        Ok(Node {
            value: Value::Map(entries),
            pos,
            plain: None,
        })
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

/// How much of the budget a copy of a node takes: its nodes, and the bytes of its text.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

fn weight(node: &Node) -> Weight {
    let add = |a: Weight, b: Weight| Weight {
        nodes: a.nodes.saturating_add(b.nodes),
        bytes: a.bytes.saturating_add(b.bytes),
    };
    let own = Weight {
        nodes: 1,
        bytes: match &node.value {
            Value::Str(s) => s.len(),
            _ => node.plain.as_ref().map_or(0, String::len),
        },
    };
    match &node.value {
        Value::Seq(items) => items.iter().map(weight).fold(own, add),
        Value::Map(entries) => entries
            .iter()
            .map(|e| {
                add(
                    weight(&e.value),
                    Weight {
                        nodes: 0,
                        bytes: e.key.len(),
                    },
                )
            })
            .fold(own, add),
        _ => own,
    }
}

/// Resolves a plain scalar as go-yaml v2 does (what `kubectl` uses): YAML 1.1 booleans, octal with a
/// leading zero, `0x`/`0o`/`0b` integers, floats, null.
pub(crate) fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            return Value::Bool(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return Value::Int(i);
    }
    if is_float(s) {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, rest)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    // go-yaml falls back to a float beyond 64 bits.
    if v > i128::from(u64::MAX) {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

impl Node {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Null, `{}` and `[]` carry no information.
    pub(crate) fn is_empty(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Map(m) => m.is_empty(),
            Value::Seq(s) => s.is_empty(),
            _ => false,
        }
    }

    /// The node at `path`, if present.
    pub(crate) fn at(&self, path: &FieldPath) -> Option<&Node> {
        let mut cur = self;
        for seg in path.segs() {
            cur = match (seg, &cur.value) {
                (Seg::Field(k) | Seg::Key(k), Value::Map(_)) => cur.get(k)?,
                (Seg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Where to point for `path`: a scalar value if present; for a mapping or list reached through
    /// a key, that key (the mapping's own position would be its first child); when absent, the
    /// same for the deepest present ancestor.
    pub(crate) fn locate(&self, path: &FieldPath) -> Pos {
        let mut cur = self;
        let mut via_key: Option<Pos> = None;
        for seg in path.segs() {
            let next = match (seg, &cur.value) {
                (Seg::Field(k) | Seg::Key(k), Value::Map(_)) => {
                    cur.entry(k).map(|e| (&e.value, Some(e.key_pos)))
                }
                (Seg::Index(i), Value::Seq(items)) => items.get(*i).map(|n| (n, None)),
                _ => None,
            };
            match next {
                Some((n, _)) if !n.is_null() => {
                    cur = n;
                    via_key = next.and_then(|(_, k)| k);
                }
                // `key:` with no value: point at the key.
                Some((_, Some(key_pos))) => return key_pos,
                _ => break,
            }
        }
        match (&cur.value, via_key) {
            (Value::Map(_) | Value::Seq(_), Some(key_pos)) => key_pos,
            _ => cur.pos,
        }
    }

    /// The JSON form handed to serde.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    J::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    J::from(v)
                } else {
                    J::Null
                }
            }
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A short description for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => match &self.plain {
                Some(p) if p != "true" && p != "false" => format!("the boolean {b} (plain `{p}`)"),
                _ => format!("the boolean {b}"),
            },
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(_) => format!("the number {}", self.plain.as_deref().unwrap_or("?")),
            Value::Str(s) => {
                let shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    format!("the string \"{shown}...\"")
                } else {
                    format!("the string \"{shown}\"")
                }
            }
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let (docs, errs) = parse_stream(text);
        assert!(errs.is_empty(), "{errs:?}");
        docs.into_iter().next().expect("a document").root
    }

    #[test]
    fn scalars_resolve_like_go_yaml_v2() {
        assert_eq!(resolve_plain("0644"), Value::Int(420));
        assert_eq!(resolve_plain("0o644"), Value::Int(420));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("-12"), Value::Int(-12));
        assert_eq!(resolve_plain("yes"), Value::Bool(true));
        assert_eq!(resolve_plain("Off"), Value::Bool(false));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("1.5"), Value::Float(1.5));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain("100m"), Value::Str("100m".into()));
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(resolve_plain("08"), Value::Float(8.0));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_positions_are_one_based() {
        let root = one("a: \"80\"\nb:\n  - 1\n");
        let a = root.get("a").expect("a");
        assert_eq!(a.value, Value::Str("80".into()));
        assert_eq!(a.pos, Pos { line: 1, col: 4 });
        let b0 = root
            .at(&FieldPath::root().field("b").index(0))
            .expect("b[0]");
        assert_eq!(b0.pos, Pos { line: 3, col: 5 });
        assert_eq!(root.entry("b").expect("b").key_pos, Pos { line: 2, col: 1 });
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (_, errs) = parse_stream("a: 1\nb: 2\na: 3\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pos, Pos { line: 3, col: 1 });
        assert!(errs[0].message.contains("first defined at line 1"));
    }

    #[test]
    fn alias_bombs_stop_at_the_budget() {
        // One 1 KiB string aliased 100,000 times: 0.4 MB of text, 100 MB expanded.
        let mut text = format!("s: &s {}\nl:\n", "x".repeat(1024));
        text.push_str(&"  - *s\n".repeat(100_000));
        let (_, errs) = parse_stream(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].message.contains("MiB of text"),
            "{}",
            errs[0].message
        );
        // Nested aliases, each level ten of the one before: the node budget.
        let mut laughs = String::from("a0: &a0 [x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let (_, errs) = parse_stream(&laughs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("nodes"), "{}", errs[0].message);
        // A large honest stream is no bomb: 2,000 small objects, aliases and all.
        let honest = "- &p {name: web, image: 'nginx:1.27', ports: [80, 443]}\n- *p\n".repeat(1000);
        let (docs, errs) = parse_stream(&honest);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn aliases_and_merge_keys() {
        let root = one("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n");
        let c = root.get("c").expect("c");
        assert_eq!(c.get("x").map(|n| &n.value), Some(&Value::Int(1)));
        assert_eq!(c.get("y").map(|n| &n.value), Some(&Value::Int(3)));
    }

    #[test]
    fn syntax_errors_are_located_and_keep_earlier_documents() {
        let (docs, errs) = parse_stream("a: 1\n---\nb: [1, 2\nc: d\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pos.line, 4);
    }

    #[test]
    fn json_is_yaml() {
        let root = one(r#"{"kind": "Pod", "n": 3, "l": [true, null]}"#);
        assert_eq!(
            root.to_json(),
            serde_json::json!({"kind": "Pod", "n": 3, "l": [true, null]})
        );
    }
}
