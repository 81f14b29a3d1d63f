//! Fault injection for tests: with `TANDEM_FAULT=POINT[,POINT…]` in its environment, a process
//! that reaches one of the named points kills itself with SIGKILL there, exactly as a `kill -9`
//! landing at that moment would (or, at a panic point, panics there, as a bug would). The environment passes from the CLI to the supervisor and on to
//! its helpers, so a test sets it on the `tandem run` it starts.
//!
//! Each point is a place where a process dying has left something behind before; the tests that
//! name them prove that it no longer does. Nothing here runs unless the variable is set.

/// The environment variable that names the points.
pub const ENV: &str = "TANDEM_FAULT";

/// A named place where a test may have the process die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// In `tandem __shim`, once libcontainer has created the container (its init waits, forked
    /// but not yet started) and before the shim starts it.
    ShimAfterCreate,
    /// In `tandem __shim`, once the container has started and the shim has reported its pid.
    ShimAfterStart,
    /// In the supervisor, in the task that waits for a container instance it has just started:
    /// a panic inside one of the supervisor's tasks.
    SupervisorPanic,
    /// In `tandem run`, once a pod's files are written but before its directory is renamed to
    /// the pod's name.
    RunBeforeClaim,
    /// In `tandem run`, once the pod's directory has its name but before its supervisor starts.
    RunAfterClaim,
    /// In the supervisor's teardown, once the network is detached and before the sandbox, the
    /// cgroups and the mounts go.
    SupervisorMidTeardown,
}

impl FaultPoint {
    pub const ALL: [FaultPoint; 6] = [
        FaultPoint::ShimAfterCreate,
        FaultPoint::ShimAfterStart,
        FaultPoint::SupervisorPanic,
        FaultPoint::RunBeforeClaim,
        FaultPoint::RunAfterClaim,
        FaultPoint::SupervisorMidTeardown,
    ];

    /// The point's name in [`ENV`].
    pub const fn name(self) -> &'static str {
        match self {
            FaultPoint::ShimAfterCreate => "shim-after-create",
            FaultPoint::ShimAfterStart => "shim-after-start",
            FaultPoint::SupervisorPanic => "supervisor-panic",
            FaultPoint::RunBeforeClaim => "run-before-claim",
            FaultPoint::RunAfterClaim => "run-after-claim",
            FaultPoint::SupervisorMidTeardown => "supervisor-mid-teardown",
        }
    }

    /// Whether `spec` (the value of [`ENV`]) names this point.
    pub fn named_in(self, spec: &str) -> bool {
        spec.split(',').any(|p| p.trim() == self.name())
    }
}

/// Dies here with SIGKILL (or panics, at [`FaultPoint::SupervisorPanic`]) if [`ENV`] names
/// `point`.
pub fn reached(point: FaultPoint) {
    if !std::env::var(ENV).is_ok_and(|spec| point.named_in(&spec)) {
        return;
    }
    if point == FaultPoint::SupervisorPanic {
        panic!("fault point {} reached", point.name());
    }
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_in_a_comma_separated_list() {
        for p in FaultPoint::ALL {
            assert!(p.named_in(p.name()));
            assert!(p.named_in(&format!("other, {}", p.name())));
            assert!(!p.named_in(""));
            assert!(!p.named_in(&format!("{}-not", p.name())));
        }
        assert_ne!(
            FaultPoint::ShimAfterCreate.name(),
            FaultPoint::ShimAfterStart.name()
        );
    }
}
