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
