//! A bounded fuzz run of the whole manifest path: parse, validate, default, plan, and render
//! the diagnostics, on mutations of the fixture corpus and the examples. Nothing may panic.
//!
//! The mutations come from a seeded generator, so a failure names the seed and iteration that
//! reproduce it. `TANDEM_FUZZ_ITERATIONS` runs longer (CI runs the default, a few seconds;
//! docs/reliability.md gives the longer run's figures). Every input that ever panicked stays in
//! `REGRESSIONS` below.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::opts;
use tandem_api::{load, Source};

/// Inputs that once made the loader panic, kept so they never do again.
const REGRESSIONS: &[&str] = &[];

/// Values that sit on the API server's bounds or past a machine type's, and YAML that stresses
/// the parser: anchors, aliases, tags, flow collections, odd scalars.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e400",
    ".nan",
    "0x10",
    "1Ei",
    "999999Ei",
    "-0.0",
    "1m",
    "null",
    "~",
    "true",
    "\"\"",
    "''",
    "[]",
    "{}",
    "&a x",
    "*a",
    "<<: *a",
    "!!binary",
    "!!str 5",
    "? x",
    "- ",
    ": ",
    "|",
    ">-",
    "\t",
    "#",
    "\u{0}",
    "\u{feff}",
    "\u{2028}",
    "---",
    "...",
    "%YAML 1.2",
    "$(VAR)",
    "$$(VAR)",
    "..",
    "/",
    "\\",
    "\"\\u0000\"",
    "é",
    "🙂",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = vec![];
    for dir in [
        root.join("tests/fixtures/good"),
        root.join("tests/fixtures/bad"),
        root.join("../../examples"),
    ] {
        for e in std::fs::read_dir(&dir)
            .expect("a corpus directory")
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                texts.push(std::fs::read_to_string(&p).expect("a corpus file"));
            }
        }
    }
    assert!(texts.len() >= 10, "the corpus is missing");
    texts
}

/// One mutation of `text`: a token put in, a line's value replaced, a range dropped or doubled,
/// a line from another file spliced in, bytes flipped, or the text cut short.
fn mutate(rng: &mut Rng, text: &str, corpus: &[String]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, t.bytes());
            }
            1 => {
                // Replace the value after a `key: ` on some line with a token.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                let i = rng.below(lines.len());
                let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                if let Some((k, _)) = lines.get(i).and_then(|l| l.split_once(": ")) {
                    out[i] = format!("{k}: {}", TOKENS[rng.below(TOKENS.len())]);
                }
                bytes = out.join("\n").into_bytes();
            }
            2 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(256)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let lines: Vec<&str> = other.lines().collect();
                let line = lines[rng.below(lines.len())];
                bytes.splice(at..at, format!("{line}\n").into_bytes());
            }
            5 => {
                for _ in 0..=rng.below(4) {
                    if !bytes.is_empty() {
                        let i = rng.below(bytes.len());
                        bytes[i] ^= 1 << rng.below(8);
                    }
                }
            }
            _ => bytes.truncate(at),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Loads `text` as `pod.yaml` and renders whatever it says; `Err` with the panic message if
/// anything panics.
fn survives(text: &str) -> Result<(), String> {
    let sources = vec![Source::new("pod.yaml", text)];
    catch_unwind(AssertUnwindSafe(|| match load(&sources, &opts()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                let _ = w.render(&sources);
            }
        }
        Err(d) => {
            let _ = d.render(&sources);
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn regressions_do_not_panic() {
    for (i, text) in REGRESSIONS.iter().enumerate() {
        assert_eq!(survives(text), Ok(()), "regression {i}: {text:?}");
    }
}

#[test]
fn mutated_manifests_never_panic_the_loader() {
    let iterations: usize = std::env::var("TANDEM_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("TANDEM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7a6e_6465_6d00_0001);
    let corpus = corpus();
    let mut rng = Rng(seed);
    // The loader reports its own panics to stderr; a panic here is collected, not printed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = vec![];
    for i in 0..iterations {
        let base = &corpus[rng.below(corpus.len())];
        let text = mutate(&mut rng, base, &corpus);
        if let Err(message) = survives(&text) {
            failures.push(format!(
                "seed {seed} iteration {i}: {message}\n--- input ---\n{text}"
            ));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
