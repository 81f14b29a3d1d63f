//! How the CLI reports failure: `error:`, each cause as `caused by:`, then a `hint:` when there is
//! something to do about it.

use std::fmt;

/// An error with advice for the user; wraps the cause chain.
#[derive(Debug)]
pub struct Hint {
    pub message: String,
    pub hint: String,
    pub code: u8,
    pub cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// The API server's reason when kubectl shows this error as the server's
    /// (`Error from server (NotFound): …`), so scripts written for kubectl match it.
    pub server_reason: Option<&'static str>,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hint {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

pub fn hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hint {
        message: message.into(),
        hint: hint.into(),
        code: 1,
        cause: None,
        server_reason: None,
    })
}

/// kubectl's `Error from server (NotFound): pods "NAME" not found`, with advice.
pub fn not_found(kind: &str, name: &str, hint: impl Into<String>) -> anyhow::Error {
    server_error("NotFound", format!("{kind} \"{name}\" not found"), hint)
}

/// An error kubectl shows as the API server's, `Error from server (REASON): MESSAGE`.
pub fn server_error(
    reason: &'static str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(Hint {
        message: message.into(),
        hint: hint.into(),
        code: 1,
        cause: None,
        server_reason: Some(reason),
    })
}

/// Like [`hint`], with the error that caused it (shown as `caused by:`).
pub fn hint_caused(
    cause: impl std::error::Error + Send + Sync + 'static,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(Hint {
        message: message.into(),
        hint: hint.into(),
        code: 1,
        cause: Some(Box::new(cause)),
        server_reason: None,
    })
}

/// An error already printed in full (diagnostics); only the exit status is left to give.
#[derive(Debug)]
pub struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reported")
    }
}

impl std::error::Error for Reported {}

pub fn report(e: &anyhow::Error) {
    if e.downcast_ref::<Reported>().is_some() {
        return;
    }
    match e
        .chain()
        .next()
        .and_then(|c| c.downcast_ref::<Hint>())
        .and_then(|h| h.server_reason)
    {
        Some(reason) => eprintln!("Error from server ({reason}): {e}"),
        None => eprintln!("error: {e}"),
    }
    for cause in e.chain().skip(1) {
        eprintln!("caused by: {cause}");
    }
    if let Some(h) = e.chain().find_map(|c| c.downcast_ref::<Hint>()) {
        if !h.hint.is_empty() {
            eprintln!("hint: {}", h.hint);
        }
    } else if let Some(h) = io_hint(e) {
        eprintln!("hint: {h}");
    }
}

/// Advice for the filesystem errors anyone can meet (a full disk above all), found anywhere in
/// the chain: as an `io::Error`, or as text when it crossed a process boundary (the supervisor
/// reports its errors as one line).
fn io_hint(e: &anyhow::Error) -> Option<&'static str> {
    let raw = e
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    let text = e
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let full = raw == Some(nix::libc::ENOSPC)
        || raw == Some(nix::libc::EDQUOT)
        || text.contains("No space left on device")
        || text.contains("Disk quota exceeded");
    if full {
        return Some(
            "the filesystem is full: free space on it (`df -h` shows which), or give tandem a larger one with --root DIR",
        );
    }
    if raw == Some(nix::libc::EACCES) || raw == Some(nix::libc::EPERM) {
        return Some("tandem needs root for its store and containers: run it as root, or give it a --root DIR it may write");
    }
    None
}

pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<Hint>())
        .map_or(1, |h| h.code)
}
