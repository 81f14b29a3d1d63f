//! A small YAML writer for the fixes shown to users: block style, `name` first in a mapping (the
//! way people write containers), strings quoted only when YAML 1.1 would read them as something
//! else, multi-line strings as `|` blocks.

use serde_json::Value;

/// `value` as YAML at `indent` spaces, ending in a newline. A mapping or list writes one entry per
/// line; a scalar writes itself.
pub(crate) fn to_yaml(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, true);
    out
}

/// `key: value` at `indent` spaces.
pub(crate) fn entry(key: &str, value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_entry(&mut out, key, value, indent);
    out
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn ordered(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    const FIRST: [&str; 8] = [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "image",
        "restartPolicy",
        "requests",
        "limits",
    ];
    let mut v: Vec<(&String, &Value)> = map.iter().collect();
    v.sort_by_key(|(k, _)| FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()));
    v
}

fn write_value(out: &mut String, value: &Value, indent: usize, _top: bool) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in ordered(m) {
                write_entry(out, k, v, indent);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                write_item(out, item, indent);
            }
        }
        scalar => {
            out.push_str(&pad(indent));
            out.push_str(&inline(scalar, indent));
            out.push('\n');
        }
    }
}

fn write_entry(out: &mut String, key: &str, v: &Value, indent: usize) {
    out.push_str(&pad(indent));
    out.push_str(&scalar_str(key));
    out.push(':');
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_value(out, v, indent + 2, false);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_value(out, v, indent + 2, false);
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(v, indent + 2));
            out.push('\n');
        }
    }
}

fn write_item(out: &mut String, item: &Value, indent: usize) {
    match item {
        Value::Object(m) if !m.is_empty() => {
            let mut first = true;
            for (k, v) in ordered(m) {
                let mut s = String::new();
                write_entry(&mut s, k, v, indent + 2);
                if first {
                    // Replace the leading indentation of the first entry with `- `.
                    out.push_str(&pad(indent));
                    out.push_str("- ");
                    out.push_str(&s[indent + 2..]);
                    first = false;
                } else {
                    out.push_str(&s);
                }
            }
        }
        _ => {
            out.push_str(&pad(indent));
            out.push_str("- ");
            out.push_str(&inline(item, indent + 2));
            out.push('\n');
        }
    }
}

/// A value on the same line as its key: scalars, `{}`, `[]`, or a `|` block for multi-line text.
fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.contains('\n') => {
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            let mut block = format!("|{chomp}");
            for line in s.trim_end_matches('\n').split('\n') {
                block.push('\n');
                if !line.is_empty() {
                    block.push_str(&pad(indent));
                    block.push_str(line);
                }
            }
            block
        }
        Value::String(s) => scalar_str(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string, quoted when plain YAML would change or misread it.
pub(crate) fn scalar_str(s: &str) -> String {
    let special = matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "y"
            | "Y"
            | "n"
            | "N"
    );
    let numeric = s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || (s.len() > 1 && s.starts_with('0') && s.chars().all(|c| c.is_ascii_digit()));
    let mut chars = s.chars();
    let first = chars.next().unwrap_or(' ');
    let second = chars.next();
    let bad_start = ",[]{}#&*!|>'\"%@` ".contains(first)
        || ("-?:".contains(first) && second.is_none_or(|c| c == ' '));
    let bad_inside = s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.ends_with(' ')
        || s.chars().any(|c| c.is_control());
    if special || numeric || bad_start || bad_inside {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_name_first_and_quoting() {
        let v = json!({
            "volumeMounts": [{"readOnly": true, "name": "logs", "mountPath": "/var/log"}],
            "name": "shipper",
            "args": ["--port=5432", "yes", "8080"],
            "env": [],
            "command": ["sh", "-c", "echo a\necho b\n"],
        });
        let got = to_yaml(&v, 2);
        let want = "  name: shipper\n  args:\n    - --port=5432\n    - \"yes\"\n    - \"8080\"\n  command:\n    - sh\n    - -c\n    - |\n      echo a\n      echo b\n  env: []\n  volumeMounts:\n    - name: logs\n      mountPath: /var/log\n      readOnly: true\n";
        assert_eq!(got, want);
        assert_eq!(entry("emptyDir", &json!({}), 0), "emptyDir: {}\n");
    }
}
