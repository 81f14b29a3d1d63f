//! Removes the iptables rules tagged with a container id.
//!
//! The bridge plugin's DEL finds the addresses whose masquerading it must undo inside the pod's
//! network namespace; when that namespace died with a crashed supervisor, DEL cannot, and the
//! rules would stay. The plugins tag their rules with a comment naming the container id, so the
//! rules that still name an id after its DEL are removed here, with the per-container chains they
//! jump to.

use std::process::{Command, Stdio};

const TABLES: &[&str] = &["nat", "filter"];

fn iptables(tool: &str, args: &[String]) -> Option<String> {
    let out = Command::new(tool)
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes every rule whose text mentions `container_id`, then the `CNI-` chains those rules
/// jumped to. Does nothing for ids shorter than 8 characters (too likely to match by accident)
/// or where iptables is not installed.
pub(crate) fn remove_rules_of(container_id: &str) {
    if container_id.len() < 8 {
        return;
    }
    for tool in ["iptables", "ip6tables"] {
        for table in TABLES {
            let t = table.to_string();
            let Some(listing) = iptables(tool, &["-t".into(), t.clone(), "-S".into()]) else {
                continue;
            };
            let mut chains = vec![];
            for line in listing.lines().filter(|l| l.contains(container_id)) {
                let words = split_words(line);
                let [flag, chain, rest @ ..] = words.as_slice() else {
                    continue;
                };
                if flag != "-A" {
                    continue;
                }
                if let Some(target) = rest
                    .iter()
                    .position(|w| w == "-j")
                    .and_then(|i| rest.get(i + 1))
                    .filter(|t| t.starts_with("CNI-"))
                {
                    chains.push(target.clone());
                }
                let mut args = vec!["-t".into(), t.clone(), "-D".into(), chain.clone()];
                args.extend(rest.iter().cloned());
                let _ = iptables(tool, &args);
            }
            for chain in chains {
                let _ = iptables(tool, &["-t".into(), t.clone(), "-F".into(), chain.clone()]);
                let _ = iptables(tool, &["-t".into(), t.clone(), "-X".into(), chain]);
            }
        }
    }
}

/// Splits a line of `iptables -S` into words: double quotes group, a backslash escapes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = vec![];
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for ch in line.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
            continue;
        }
        match ch {
            '\\' => {
                escaped = true;
                any = true;
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_listing_lines_split_like_a_shell() {
        let line = r#"-A POSTROUTING -s 10.87.0.5/32 -m comment --comment "name: \"tandem\" id: \"abc\"" -j CNI-1234"#;
        assert_eq!(
            split_words(line),
            [
                "-A",
                "POSTROUTING",
                "-s",
                "10.87.0.5/32",
                "-m",
                "comment",
                "--comment",
                r#"name: "tandem" id: "abc""#,
                "-j",
                "CNI-1234"
            ]
        );
        assert_eq!(
            split_words(r#"-A X -m comment --comment """#),
            ["-A", "X", "-m", "comment", "--comment", ""]
        );
    }
}
