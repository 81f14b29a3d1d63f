//! A small YAML emitter for JSON values, enough for `-o yaml` of API objects: block style, keys in
//! the order given, strings quoted only when YAML would read them as something else.

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out, false);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.contains([
            '\n', ':', '#', '"', '\'', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>', '%', '@',
            '`', '\t',
        ])
        // "-x" is a plain scalar; "- x" and "-" would read as a list item.
        && !s.starts_with([' ', '?'])
        && s != "-"
        && !s.starts_with("- ")
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn is_nested(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn emit(v: &Value, indent: usize, out: &mut String, in_list: bool) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (i, (k, val)) in m.iter().enumerate() {
                if !(in_list && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str(&quote(k));
                out.push(':');
                if is_nested(val) {
                    out.push('\n');
                    let child = if matches!(val, Value::Array(_)) {
                        indent
                    } else {
                        indent + 2
                    };
                    emit(val, child, out, false);
                } else {
                    out.push(' ');
                    out.push_str(&scalar(val));
                    out.push('\n');
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                out.push_str(&pad);
                out.push_str("- ");
                if is_nested(item) {
                    if matches!(item, Value::Array(_)) {
                        out.push('\n');
                        emit(item, indent + 2, out, false);
                    } else {
                        emit(item, indent + 2, out, true);
                    }
                } else {
                    out.push_str(&scalar(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_and_lists_render_as_block_yaml() {
        let v = serde_json::json!({
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "a", "args": ["1", "--port=5432", "yes"]}], "empty": []}
        });
        assert_eq!(
            to_yaml(&v),
            "kind: Pod\nmetadata:\n  labels:\n    app: x\n  name: web\nspec:\n  containers:\n  - args:\n    - \"1\"\n    - --port=5432\n    - \"yes\"\n    name: a\n  empty: []\n"
        );
    }
}
