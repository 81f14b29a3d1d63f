//! `tandem timeline POD`: the pod's recorded run as a self-contained HTML page (default) or an SVG;
//! `--watch` rewrites the output file each time the pod's events or status change (inotify on the
//! pod directory, no polling) until the pod ends.

use anyhow::Context;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tandem_lint::timeline::{self, Timeline};
use tandem_supervisor::logs::now_us;
use tandem_supervisor::statedir::{write_atomic, PodDir, Store};

use super::{existing_pod, pod_name, read_pod};
use crate::cli::{TimelineArgs, TimelineFormat};
use crate::errors::hint;

/// Renders the timeline as it is now; `true` when the pod will not change any more.
fn render(dir: &PodDir, a: &TimelineArgs) -> anyhow::Result<(String, bool)> {
    let pod = read_pod(dir)?;
    let events = match std::fs::read_to_string(dir.events()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.events().display())),
    };
    let (events, skipped) = timeline::parse_events(&events);
    let t = Timeline::build(&pod, events, skipped, Some(now_us()));
    let done = timeline::finished(&pod)
        || pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Unknown");
    let out = match a.output {
        TimelineFormat::Svg => t.svg(),
        TimelineFormat::Html => t.html((a.watch && !done).then_some(1)),
    };
    Ok((out, done))
}

pub fn timeline(store: &Store, a: TimelineArgs) -> anyhow::Result<i32> {
    let dir = existing_pod(store, &a.namespace, pod_name(&a.pod))?;
    let Some(file) = a.output_file.clone() else {
        let (out, _) = render(&dir, &a)?;
        print!("{out}");
        return Ok(0);
    };
    let inotify = if a.watch {
        let ino = Inotify::init(InitFlags::IN_CLOEXEC).context("inotify_init")?;
        ino.add_watch(
            &dir.root,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_DELETE_SELF,
        )
        .with_context(|| format!("cannot watch {}", dir.root.display()))?;
        Some(ino)
    } else {
        None
    };
    loop {
        let (out, done) = render(&dir, &a)?;
        write_atomic(&file, out.as_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?;
        let Some(ino) = &inotify else { return Ok(0) };
        if done {
            eprintln!(
                "pod/{} ended; {} is final",
                pod_name(&a.pod),
                file.display()
            );
            return Ok(0);
        }
        // Block until the pod directory changes in a way that matters.
        loop {
            let events = ino.read_events().context("reading inotify events")?;
            if events
                .iter()
                .any(|e| e.mask.contains(AddWatchFlags::IN_DELETE_SELF))
            {
                return Err(hint(
                    format!("pod/{} was removed", pod_name(&a.pod)),
                    format!("{} shows it as it was last seen", file.display()),
                ));
            }
            let relevant = events.iter().any(|e| {
                e.name.as_ref().is_some_and(|n| {
                    n == "events.jsonl" || n == "pod.json" || n == "supervisor.pid"
                })
            });
            if relevant {
                break;
            }
        }
    }
}
