//! Located problems and how they are shown to people.

use std::fmt;

/// One input text: a manifest file, or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// File path as the user gave it, or `"<stdin>"`.
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Which part of the API server's handling of an object a finding is of: its validation (the
/// API answers `422 Invalid`) or a Pod's admission (`403 Forbidden`: the object is valid, the
/// cluster will not take it as it is, as for a ServiceAccount that does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    #[default]
    Validation,
    Admission,
}

/// A problem with a manifest, located at `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole input.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Field path inside the object, e.g. `spec.containers[1].ports[0].containerPort`; `""` when the
    /// problem is not about one field.
    pub field: String,
    /// The object, e.g. `Pod/web`; `""` when not known (a YAML syntax error).
    pub object: String,
    pub message: String,
    pub hint: Option<String>,
    pub stage: Stage,
}

impl Diagnostic {
    /// rustc-style rendering with the offending source line and a caret under the value:
    ///
    /// ```text
    /// error: containerPort must be between 1 and 65535, got 70000
    ///   --> pod.yaml:12:24
    ///    |
    /// 12 |         - containerPort: 70000
    ///    |                          ^^^^^
    ///    = field: spec.containers[1].ports[0].containerPort (Pod/web)
    ///    = hint: ...
    /// ```
    pub fn render(&self, sources: &[Source]) -> String {
        let mut out = format!("{}: {}\n", self.severity, self.message);
        let source_line = sources
            .iter()
            .find(|s| s.name == self.file)
            .and_then(|s| s.text.lines().nth(self.line.checked_sub(1)?));
        let width = self.line.max(1).to_string().len();
        let pad = " ".repeat(width);
        if self.line > 0 {
            out.push_str(&format!(
                "{pad}--> {}:{}:{}\n",
                self.file, self.line, self.column
            ));
        } else {
            out.push_str(&format!("{pad}--> {}\n", self.file));
        }
        if let Some(text) = source_line {
            let text = text.trim_end_matches('\r');
            let col = self.column.max(1) - 1;
            // A long line is shown as a window around the column, a long value by its start.
            let chars: Vec<char> = text.chars().collect();
            let start = col.saturating_sub(SOURCE_CONTEXT);
            let end = chars.len().min(col + SOURCE_WINDOW);
            let window: String = if start > 0 || end < chars.len() {
                let mut w: String = chars[start.min(end)..end].iter().collect();
                if start > 0 {
                    w.insert(0, '…');
                }
                if end < chars.len() {
                    w.push('…');
                }
                w
            } else {
                text.to_string()
            };
            let (text, col) = (window.as_str(), col - start + usize::from(start > 0));
            let caret_len = caret_width(text, col).min(SOURCE_WINDOW);
            let lead: String = text
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!("{:>width$} | {text}\n", self.line));
            out.push_str(&format!("{pad} | {lead}{}\n", "^".repeat(caret_len)));
        }
        match (self.field.is_empty(), self.object.is_empty()) {
            (false, false) => out.push_str(&format!(
                "{pad} = field: {} ({})\n",
                self.field, self.object
            )),
            (false, true) => out.push_str(&format!("{pad} = field: {}\n", self.field)),
            (true, false) => out.push_str(&format!("{pad} = object: {}\n", self.object)),
            (true, true) => {}
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{pad} = hint: {hint}\n"));
        }
        out
    }

    /// One line: `file:line:col: error: message [field in Pod/web]`.
    pub fn brief(&self) -> String {
        let mut s = format!(
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        );
        match (self.field.is_empty(), self.object.is_empty()) {
            (false, false) => s.push_str(&format!(" [{} in {}]", self.field, self.object)),
            (false, true) => s.push_str(&format!(" [{}]", self.field)),
            (true, false) => s.push_str(&format!(" [{}]", self.object)),
            (true, true) => {}
        }
        s
    }
}

/// The most characters of a diagnostic's message, hint, field or object kept: a 10 MB name quoted
/// in every diagnostic about it would otherwise print hundreds of megabytes.
const MAX_DIAGNOSTIC_TEXT: usize = 1000;

/// `s`, or its first [`MAX_DIAGNOSTIC_TEXT`] characters and how long it was: what every
/// diagnostic's texts go through, here and in the linter.
pub fn bounded(s: String) -> String {
    match s.char_indices().nth(MAX_DIAGNOSTIC_TEXT) {
        None => s,
        Some((cut, _)) => format!("{}… ({} bytes in all)", &s[..cut], s.len()),
    }
}

/// Characters shown before the column of a long source line.
const SOURCE_CONTEXT: usize = 60;
/// Characters shown from the column on.
const SOURCE_WINDOW: usize = 200;

/// How many characters the value starting at `col` (0-based) spans on its line.
fn caret_width(line: &str, col: usize) -> usize {
    let chars: Vec<char> = line.chars().collect();
    let Some(&first) = chars.get(col) else {
        return 1;
    };
    let rest = &chars[col..];
    let width = match first {
        '"' => {
            let mut i = 1;
            while i < rest.len() {
                match rest[i] {
                    '\\' => i += 2,
                    '"' => return i + 1,
                    _ => i += 1,
                }
            }
            rest.len()
        }
        '\'' => {
            let mut i = 1;
            while i < rest.len() {
                if rest[i] == '\'' {
                    if rest.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            rest.len()
        }
        '{' | '[' | '|' | '>' | '&' | '*' | '-' => 1,
        _ => {
            let in_flow = chars[..col].iter().any(|c| *c == '{' || *c == '[');
            let mut end = rest.len();
            for i in 0..rest.len() {
                let c = rest[i];
                let next = rest.get(i + 1).copied();
                if c == ':' && next.is_none_or(|n| n == ' ' || n == '\t') {
                    end = i;
                    break;
                }
                if (c == ' ' || c == '\t') && next == Some('#') {
                    end = i;
                    break;
                }
                if in_flow && (c == ',' || c == '}' || c == ']') {
                    end = i;
                    break;
                }
            }
            rest[..end]
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map_or(1, |p| p + 1)
        }
    };
    width.max(1)
}

/// Every problem found; the `Err` of [`crate::load`]. Errors come first (in source order), then
/// warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// All diagnostics rendered with [`Diagnostic::render`], separated by blank lines.
    pub fn render(&self, sources: &[Source]) -> String {
        self.0
            .iter()
            .map(|d| d.render(sources))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        match errors {
            0 => write!(f, "no errors")?,
            1 => write!(f, "1 error in the manifests")?,
            n => write!(f, "{n} errors in the manifests")?,
        }
        for d in &self.0 {
            write!(f, "\n{}", d.brief())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, column: usize) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: "pod.yaml".into(),
            line,
            column,
            field: "spec.containers[0].ports[0].containerPort".into(),
            object: "Pod/web".into(),
            message: "containerPort must be between 1 and 65535, got 70000".into(),
            hint: Some("pick a port in range".into()),
            stage: Stage::Validation,
        }
    }

    #[test]
    fn render_is_rustc_style() {
        let text = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\nk: 11\n    - containerPort: 70000 # x\n";
        let sources = [Source::new("pod.yaml", text)];
        let got = diag(12, 22).render(&sources);
        let want = "error: containerPort must be between 1 and 65535, got 70000\n  --> pod.yaml:12:22\n   |\n12 |     - containerPort: 70000 # x\n   |                      ^^^^^\n   = field: spec.containers[0].ports[0].containerPort (Pod/web)\n   = hint: pick a port in range\n";
        assert_eq!(got, want);
    }

    #[test]
    fn caret_covers_quoted_values_keys_and_flow_items() {
        assert_eq!(caret_width(r#"  image: "ngi\"nx"  "#, 9), 9);
        assert_eq!(caret_width("  contianers:", 2), 10);
        assert_eq!(caret_width("  labels: {app: web, x: y}", 16), 3);
        assert_eq!(caret_width("  image: nginx:1.25", 9), 10);
        assert_eq!(caret_width("x", 5), 1);
        // A quoted value ends at its closing quote (an escaped or doubled one does not end it),
        // even with more text after it on the line.
        assert_eq!(caret_width(r#"  image: "a\"b" and more"#, 9), 6);
        assert_eq!(caret_width("  image: 'it''s' and more", 9), 7);
        assert_eq!(caret_width(r#"  image: "unclosed"#, 9), 9);
        // A collection or a block scalar's indicator is marked by itself.
        assert_eq!(caret_width("  ports: [80, 443]", 9), 1);
        assert_eq!(caret_width("  script: |", 10), 1);
    }

    #[test]
    fn display_lists_every_diagnostic_briefly() {
        let d = Diagnostics(vec![diag(3, 4), diag(5, 6)]);
        let s = d.to_string();
        assert!(s.starts_with("2 errors in the manifests\n"));
        assert!(s.contains("pod.yaml:5:6: error: containerPort must be"));
        assert!(s.contains("[spec.containers[0].ports[0].containerPort in Pod/web]"));
    }

    /// A long line is shown as a window: 60 characters before the column and 200 from it, each
    /// cut end marked with `…`, the caret under the value where the window puts it.
    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let render_line = |line: &str, column: usize| {
            let sources = [Source::new("pod.yaml", line)];
            let out = diag(1, column).render(&sources);
            let lines: Vec<String> = out.lines().map(str::to_string).collect();
            (lines[3].clone(), lines[4].clone())
        };
        let line = format!("{}VALUE # {}", "x".repeat(100), "y".repeat(300));
        let (shown, caret) = render_line(&line, 101);
        assert_eq!(
            shown,
            format!("1 | …{}VALUE # {}…", "x".repeat(60), "y".repeat(192))
        );
        assert_eq!(caret, format!("  | {}^^^^^", " ".repeat(61)));
        // At the start of the line nothing is cut before it.
        let line = format!("VALUE # {}", "y".repeat(300));
        let (shown, caret) = render_line(&line, 1);
        assert_eq!(shown, format!("1 | VALUE # {}…", "y".repeat(192)));
        assert_eq!(caret, "  | ^^^^^");
        // A line that fits is shown whole.
        let (shown, _) = render_line("short: VALUE", 8);
        assert_eq!(shown, "1 | short: VALUE");
    }
}
