//! kubectl's JSONPath templates (`-o jsonpath=…`, and `custom-columns`): text with `{…}`
//! expressions — fields (`.a.b`, `['a.b']`), `$` for the root, indexes, slices and unions
//! (`[0]`, `[-1]`, `[1:3]`, `[0,2]`), `[*]`, recursive descent (`..name`), filters
//! (`[?(@.type=="Ready")]`, `[?(@.x)]`), string literals (`{"\n"}`) and `{range …}…{end}`. As in
//! `kubectl get`, a missing key prints nothing; several results of one expression are joined by
//! a space; strings print bare, everything else as JSON.
//! <https://kubernetes.io/docs/reference/kubectl/jsonpath/>

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    /// `..name` (`None`: `..*`).
    Recursive(Option<String>),
    Wildcard,
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>, i64),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Path(Path),
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    left: Path,
    /// `None`: `?(@.x)`, the key exists.
    compare: Option<(String, Operand)>,
}

/// Steps from the root (`$`) or from the current item (`@`, or a leading `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Path {
    from_root: bool,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Path(Path),
    Range(Path, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Node>);

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut nodes = vec![];
        let mut stack: Vec<(Path, Vec<Node>)> = vec![];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                nodes.push(Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                nodes.push(Node::Text(rest[..open].to_string()));
            }
            let close = matching_brace(&rest[open..])
                .ok_or_else(|| format!("unclosed action in {text:?}"))?;
            let action = rest[open + 1..open + close].trim();
            rest = &rest[open + close + 1..];
            if let Some(path) = action.strip_prefix("range ") {
                stack.push((parse_path(path.trim())?, std::mem::take(&mut nodes)));
            } else if action == "end" {
                let (path, outer) = stack.pop().ok_or("{end} without a {range}")?;
                let body = std::mem::replace(&mut nodes, outer);
                nodes.push(Node::Range(path, body));
            } else if let Some(lit) = string_literal(action) {
                nodes.push(Node::Text(lit));
            } else {
                nodes.push(Node::Path(parse_path(action)?));
            }
        }
        if !stack.is_empty() {
            return Err("a {range} has no {end}".into());
        }
        Ok(Template(nodes))
    }

    /// The template applied to `root`.
    pub fn render(&self, root: &Value) -> String {
        let mut out = String::new();
        render(&self.0, root, root, &mut out);
        out
    }

    /// The values of a template that is one expression (`custom-columns` cells).
    pub fn values(&self, root: &Value) -> Vec<Value> {
        match self.0.as_slice() {
            [Node::Path(p)] => eval(p, root, root).into_iter().cloned().collect(),
            _ => vec![Value::String(self.render(root))],
        }
    }
}

/// A value as a template prints it: strings bare, the rest as JSON.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn render(nodes: &[Node], root: &Value, current: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let shown: Vec<String> = eval(p, root, current).into_iter().map(show).collect();
                out.push_str(&shown.join(" "));
            }
            Node::Range(p, body) => {
                for item in eval(p, root, current) {
                    render(body, root, item, out);
                }
            }
        }
    }
}

/// The length of `{…}` at the start of `s`, up to its closing brace (braces inside string
/// literals do not count).
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `"…"` with Go's escapes (`\n`, `\t`, `\"`, `\\`).
fn string_literal(action: &str) -> Option<String> {
    let inner = action.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            other => out.push(other),
        }
    }
    Some(out)
}

fn parse_path(text: &str) -> Result<Path, String> {
    let bad = |why: &str| format!("invalid JSONPath {text:?}: {why}");
    let mut s = text.trim();
    let from_root = s.starts_with('$');
    s = s.trim_start_matches(['$', '@']);
    let mut steps = vec![];
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("..") {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            steps.push(Step::Recursive(
                (name != "*" && !name.is_empty()).then(|| name.to_string()),
            ));
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('.') {
            let end = name_end(r);
            match &r[..end] {
                "" => {}
                "*" => steps.push(Step::Wildcard),
                name => steps.push(Step::Field(name.replace("\\.", "."))),
            }
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let close = bracket_end(r).ok_or_else(|| bad("an unclosed ["))?;
            let inside = r[..close].trim();
            steps.push(parse_bracket(inside).map_err(|e| bad(&e))?);
            s = &r[close + 1..];
        } else {
            // A bare name (`{metadata.name}` is taken as `.metadata.name`).
            let end = s.find(['.', '[']).unwrap_or(s.len());
            steps.push(Step::Field(s[..end].to_string()));
            s = &s[end..];
        }
    }
    Ok(Path { from_root, steps })
}

/// The end of a field name: the next `.` or `[` that is not escaped (`kubernetes\.io/name`).
fn name_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    (0..bytes.len())
        .find(|&i| matches!(bytes[i], b'.' | b'[') && (i == 0 || bytes[i - 1] != b'\\'))
        .unwrap_or(s.len())
}

/// The index of the `]` closing a bracket whose `[` came just before `s`.
fn bracket_end(s: &str) -> Option<usize> {
    let mut depth = 1;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '(' => depth += 1,
            ')' => depth -= 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_bracket(inside: &str) -> Result<Step, String> {
    if inside == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(f) = inside.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return parse_filter(f.trim()).map(|f| Step::Filter(Box::new(f)));
    }
    if let Some(name) = quoted(inside) {
        return Ok(Step::Field(name));
    }
    if inside.contains(':') {
        let parts: Vec<&str> = inside.split(':').map(str::trim).collect();
        let num = |s: &str| -> Result<Option<i64>, String> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("{s:?} is not a number"))
            }
        };
        let step = match parts.get(2) {
            Some(s) => num(s)?.unwrap_or(1),
            None => 1,
        };
        return Ok(Step::Slice(
            num(parts[0])?,
            num(parts.get(1).copied().unwrap_or(""))?,
            step,
        ));
    }
    inside
        .split(',')
        .map(|i| {
            i.trim()
                .parse::<i64>()
                .map_err(|_| format!("{i:?} is not an index"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Step::Indexes)
}

fn quoted(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .map(str::to_string)
}

fn parse_filter(f: &str) -> Result<Filter, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((l, r)) = f.split_once(op) {
            let right = r.trim();
            let operand = if let Some(s) = quoted(right) {
                Operand::Literal(Value::String(s))
            } else if right.starts_with('@') || right.starts_with('$') {
                Operand::Path(parse_path(right)?)
            } else {
                Operand::Literal(
                    serde_json::from_str(right).map_err(|_| format!("{right:?} is not a value"))?,
                )
            };
            return Ok(Filter {
                left: parse_path(l.trim())?,
                compare: Some((op.to_string(), operand)),
            });
        }
    }
    Ok(Filter {
        left: parse_path(f)?,
        compare: None,
    })
}

fn eval<'v>(path: &Path, root: &'v Value, current: &'v Value) -> Vec<&'v Value> {
    let mut values = vec![if path.from_root { root } else { current }];
    for step in &path.steps {
        let mut next = vec![];
        for v in values {
            apply(step, v, root, &mut next);
        }
        values = next;
    }
    values
}

fn apply<'v>(step: &Step, v: &'v Value, root: &'v Value, out: &mut Vec<&'v Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.get(name) {
                out.push(x);
            }
        }
        Step::Wildcard => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Step::Recursive(name) => descend(v, name.as_deref(), out),
        Step::Indexes(idx) => {
            if let Value::Array(a) = v {
                for i in idx {
                    let at = if *i < 0 { a.len() as i64 + i } else { *i };
                    if let Some(x) = usize::try_from(at).ok().and_then(|at| a.get(at)) {
                        out.push(x);
                    }
                }
            }
        }
        Step::Slice(start, end, step) => {
            if let Value::Array(a) = v {
                let len = a.len() as i64;
                let clamp = |i: i64| (if i < 0 { len + i } else { i }).clamp(0, len);
                let (s, e) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
                let mut i = s;
                while i < e {
                    out.push(&a[i as usize]);
                    i += (*step).max(1);
                }
            }
        }
        Step::Filter(f) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            out.extend(items.into_iter().filter(|item| keeps(f, root, item)));
        }
    }
}

fn descend<'v>(v: &'v Value, name: Option<&str>, out: &mut Vec<&'v Value>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if name.is_none_or(|n| n == k) {
                    out.push(x);
                }
                descend(x, name, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                if name.is_none() {
                    out.push(x);
                }
                descend(x, name, out);
            }
        }
        _ => {}
    }
}

fn keeps(f: &Filter, root: &Value, item: &Value) -> bool {
    let left = eval(&f.left, root, item);
    let Some((op, right)) = &f.compare else {
        return !left.is_empty();
    };
    let rights: Vec<Value> = match right {
        Operand::Literal(v) => vec![v.clone()],
        Operand::Path(p) => eval(p, root, item).into_iter().cloned().collect(),
    };
    left.iter().any(|l| {
        rights.iter().any(|r| match op.as_str() {
            "==" => *l == r,
            "!=" => *l != r,
            op => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => match op {
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    _ => a >= b,
                },
                _ => false,
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input of the examples on kubectl's JSONPath page.
    fn example() -> Value {
        serde_json::json!({
          "kind": "List",
          "items": [
            {"kind": "None", "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
             "status": {"capacity": {"cpu": "4"},
                        "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]}},
            {"kind": "None", "metadata": {"name": "127.0.0.2"},
             "status": {"capacity": {"cpu": "8"},
                        "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.2"},
                                      {"type": "another", "address": "127.0.0.3"}]}}
          ],
          "users": [{"name": "myself", "user": {}}, {"name": "e2e", "user": {"username": "admin", "password": "secret"}}]
        })
    }

    fn run(t: &str) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .render(&example())
    }

    #[test]
    fn the_examples_of_kubectls_jsonpath_page() {
        assert_eq!(run("{.kind}"), "List");
        assert_eq!(run("{['kind']}"), "List");
        assert_eq!(run("{$.kind}"), "List");
        assert_eq!(run("{.items[0].metadata.name}"), "127.0.0.1");
        assert_eq!(run("{..name}"), "127.0.0.1 127.0.0.2 myself e2e");
        assert_eq!(run("{.items[*].metadata.name}"), "127.0.0.1 127.0.0.2");
        assert_eq!(run("{.users[?(@.name==\"e2e\")].user.password}"), "secret");
        assert_eq!(
            run("{.items[0].metadata.labels['kubernetes.io/hostname']}"),
            "127.0.0.1"
        );
        assert_eq!(
            run("{.items[0].metadata.labels.kubernetes\\.io/hostname}"),
            "127.0.0.1"
        );
        assert_eq!(
            run("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}"),
            "[127.0.0.1, {\"cpu\":\"4\"}] [127.0.0.2, {\"cpu\":\"8\"}] "
        );
        assert_eq!(run("{.items[-1:].metadata.name}"), "127.0.0.2");
        assert_eq!(run("{.items[0,1].status.capacity.cpu}"), "4 8");
        assert_eq!(
            run("{range .items[*]}{.metadata.name}{\"\\t\"}{.status.addresses[?(@.type==\"another\")].address}{\"\\n\"}{end}"),
            "127.0.0.1\t\n127.0.0.2\t127.0.0.3\n"
        );
        assert_eq!(
            run("{.items[?(@.metadata.labels)].metadata.name}"),
            "127.0.0.1"
        );
        // A missing key prints nothing, as in kubectl get.
        assert_eq!(run("{.missing.deeper}"), "");
        assert_eq!(run("name: {.items[1].metadata.name}!"), "name: 127.0.0.2!");
    }

    #[test]
    fn malformed_templates_are_errors() {
        for t in ["{.a", "{range .items[*]}{.x}", "{end}", "{.a[x]}", "{.a[1}"] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
    }
}
