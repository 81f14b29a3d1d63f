//! The subreaper, with real processes (no root needed): an adopted grandchild is waited for and
//! signalled through its pidfd once its parent exits, and the sweep reaps strangers without
//! taking the exit of a child this process spawned itself. Each test makes its process a
//! subreaper, so each runs in a process of its own (cargo-nextest).

use std::time::{Duration, Instant};

use tandem_runtime::reaper::{become_subreaper, spawn_sweeper, Adopted, Exit};
use tokio::io::AsyncBufReadExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `sh -c SCRIPT`, whose first line of output is the pid of a process it leaves behind, and
/// returns that pid once the shell has exited (and been reaped).
async fn orphan_of(script: &str) -> i32 {
    let mut sh = tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let out = sh.stdout.take().expect("stdout");
    let line = tokio::io::BufReader::new(out)
        .lines()
        .next_line()
        .await
        .expect("a line")
        .expect("the pid");
    let pid: i32 = line.trim().parse().expect("a pid");
    let status = sh.wait().await.expect("the shell's exit");
    assert!(status.success(), "{status:?}");
    pid
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn an_adopted_grandchild_is_this_process_child_once_its_parent_exits_and_is_waited_by_pidfd() {
    become_subreaper().expect("prctl");
    runtime().block_on(async {
        // The grandchild is adopted while its parent may still run, as a shim's container is.
        let mut sh = tokio::process::Command::new("sh")
            .args(["-c", "sh -c 'sleep 0.3; exit 7' & echo $!"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let out = sh.stdout.take().expect("stdout");
        let pid: i32 = tokio::io::BufReader::new(out)
            .lines()
            .next_line()
            .await
            .expect("a line")
            .expect("the pid")
            .trim()
            .parse()
            .expect("a pid");
        let adopted = Adopted::new(pid).expect("pidfd_open");
        assert!(sh.wait().await.expect("wait").success());
        assert_eq!(
            parent_of(pid),
            Some(std::process::id() as i32),
            "the grandchild was not handed to this subreaper"
        );
        let exit = tokio::time::timeout(Duration::from_secs(10), adopted.wait())
            .await
            .expect("the exit within 10 s")
            .expect("waitid");
        assert_eq!(
            exit,
            Exit {
                exit_code: 7,
                signal: None
            }
        );
        assert!(!exists(pid), "the grandchild was not reaped");
    });
}

#[test]
fn an_adopted_process_is_signalled_through_its_pidfd() {
    become_subreaper().expect("prctl");
    runtime().block_on(async {
        let pid = orphan_of("sleep 60 & echo $!").await;
        // Adopted after the shell exited: the orphan is already this process's child.
        let adopted = Adopted::new(pid).expect("pidfd_open");
        adopted.signal(15).expect("pidfd_send_signal");
        let exit = tokio::time::timeout(Duration::from_secs(10), adopted.wait())
            .await
            .expect("the exit within 10 s")
            .expect("waitid");
        assert_eq!(
            exit,
            Exit {
                exit_code: 143,
                signal: Some(15)
            }
        );
        // Gone and reaped: signalling it again is not an error.
        adopted
            .signal(15)
            .expect("a reaped process is not an error");
    });
}

#[test]
fn the_sweep_reaps_strangers_and_never_an_exit_an_owner_waits_for() {
    become_subreaper().expect("prctl");
    runtime().block_on(async {
        spawn_sweeper().expect("the sweeper");
        // A child of this process's own, left unreaped in front of the strangers (the oldest
        // child is the first the kernel lists), as a dead pause process is left until its
        // sandbox is replaced.
        let mut own = tokio::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("sh");
        let own_pid = own.id().expect("a pid") as i32;
        // A stranger: an orphan in a session of its own, as every container process is, that
        // exits once it is this process's child.
        let stranger = orphan_of("setsid sleep 0.5 & echo $!").await;
        assert_eq!(parent_of(stranger), Some(std::process::id() as i32));
        let deadline = Instant::now() + Duration::from_secs(10);
        while exists(stranger) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!exists(stranger), "the stranger {stranger} was not reaped");
        // The own child stayed for its owner, whose wait still gets its exit status.
        assert!(
            exists(own_pid),
            "the sweep reaped a child of this process's own"
        );
        let status = own.wait().await.expect("the owner's wait");
        assert_eq!(status.code(), Some(3));
    });
}

/// A shim that says its container started and dies before its parent reads that (killed, or
/// just quick while the parent is busy) has handed over a running container: its death is not
/// taken for a failed creation, and nothing it left is killed. The stand-in shim's container
/// holds the status pipe for half a second, as a container's init holds it until it execs. Several rounds, since
/// which of the two the parent sees first (the line or the death) was left to chance.
#[test]
fn a_shim_that_dies_right_after_saying_started_hands_its_container_over() {
    use tandem_runtime::shim::Shim;
    become_subreaper().expect("prctl");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = dir.path().join("shim");
    // `tandem __shim BUNDLE STATUS_FD GO_FD`: $3 is the status pipe's descriptor (above 9, which
    // bash can redirect to and dash cannot).
    std::fs::write(
        &exe,
        "#!/bin/bash\n(sleep 0.5; eval \"exec sleep 60 $3>&-\") &\nprintf '{\"started\":{\"pid\":%d}}\\n' $! >&\"$3\"\nkill -9 $$\n",
    )
    .expect("the stand-in shim");
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    runtime().block_on(async {
        for round in 0..5 {
            let shim = Shim::spawn(&exe, dir.path(), None, None).expect("spawn");
            // The shim has written and died before its parent looks.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let container = shim
                .take_over()
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
            let pid = container.pid();
            assert!(exists(pid), "round {round}: the container was killed");
            assert_eq!(parent_of(pid), Some(std::process::id() as i32));
            container.signal(9).expect("pidfd_send_signal");
            let exit = tokio::time::timeout(Duration::from_secs(10), container.exited())
                .await
                .expect("the exit within 10 s");
            assert_eq!(exit.exit.signal, Some(9), "round {round}: {exit:?}");
        }
    });
}
