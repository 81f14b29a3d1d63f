//! The error vocabulary every tandem crate shares.
//!
//! Owns: [`ErrorKind`], the coarse class of a failure that the CLI maps to exit codes and hints
//! whichever crate the error came from, and [`error_chain`], how an error and its causes become
//! one line where the chain itself cannot travel (a status pipe, a JSON reply, a status message).
//!
//! Never: defines a crate's errors (each crate has its own `thiserror` types, which say their
//! kind), or depends on anything.

use std::fmt;

/// Coarse classification of an error, in the spirit of gRPC status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// What was asked for does not exist.
    NotFound,
    /// The thing being created exists already.
    AlreadyExists,
    /// The input is malformed, unsafe or does not verify.
    InvalidArgument,
    /// The request is well formed but the system is not in a state to carry it out (a missing
    /// plugin, no root).
    FailedPrecondition,
    /// A transient condition (the disk is full, the id ranges are used up); retrying later may
    /// help.
    Unavailable,
    /// An unexpected failure of the system or a corrupt store.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::FailedPrecondition => "failed precondition",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        })
    }
}

/// An error and its causes on one line, `a: b: c`. A cause whose text the line already holds
/// (an error that prints its source as part of its own message) is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let next = c.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_chain_reads_on_one_line_without_repeating_itself() {
        let e = E(
            "cannot pull x",
            Some(Box::new(E(
                "connect: refused",
                Some(Box::new(E("refused", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "cannot pull x: connect: refused");
        assert_eq!(error_chain(&E("alone", None)), "alone");
        assert_eq!(
            ErrorKind::FailedPrecondition.to_string(),
            "failed precondition"
        );
    }
}
