//! `tandem logs` (kubectl logs): the CRI log files the pod's supervisor writes
//! (`logs/<container>/<restartCount>.log`, rotated as the kubelet rotates them), read straight
//! from the pod's directory, so logs outlive the supervisor.
//!
//! With `-f` every chosen container's current file is read as it grows: across a rotation (the
//! file renamed under the reader: its end is read, then the new file from its start), across a
//! restart (the next instance's file, once the old one is read to its end), and waiting for a
//! container that has not started yet. A container's stream ends when it has terminated for good
//! (the pod's restart policy will not start it again) or the pod is gone; lines of several
//! containers come out in time order.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tandem_supervisor::logs::{parse_record, rfc3339_nano, segments};
use tandem_supervisor::statedir::{PodDir, Store};

use super::{choose_container, list_pods, read_pod};
use crate::cli::LogsArgs;
use crate::errors::hint;

/// How often a followed file is looked at for more.
const POLL: Duration = Duration::from_millis(100);

pub fn logs(store: &Store, a: LogsArgs) -> anyhow::Result<i32> {
    if a.follow && a.previous {
        return Err(hint(
            "only one of follow (-f) or previous (-p) is allowed",
            "drop one of them",
        ));
    }
    let selector = super::label_selector(a.selector.as_deref())?;
    let pods = match (&a.pod, &selector) {
        (Some(_), Some(_)) => {
            return Err(hint(
                "a pod name and a selector (-l) cannot be given together",
                "drop one of them",
            ))
        }
        (None, None) => {
            return Err(hint(
                "a pod name or a selector (-l) is required",
                "write `tandem logs POD` or `tandem logs -l app=web`",
            ))
        }
        (Some(target), None) => {
            let (dir, _) = super::pod_of(store, &a.namespace, target, "read the logs of")?;
            let pod = read_pod(&dir)?;
            let name = pod.metadata.name.clone().unwrap_or_default();
            vec![(name, pod, dir)]
        }
        (None, Some(selector)) => {
            let mut pods = vec![];
            for dir in list_pods(store)? {
                let Ok(pod) = read_pod(&dir) else { continue };
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                if pod.metadata.namespace.as_deref().unwrap_or("default") == a.namespace
                    && selector.matches(&labels)
                {
                    pods.push((pod.metadata.name.clone().unwrap_or_default(), pod, dir));
                }
            }
            if pods.is_empty() {
                eprintln!("No resources found in {} namespace.", a.namespace);
                return Ok(0);
            }
            pods.sort_by(|x, y| x.0.cmp(&y.0));
            pods
        }
    };
    let since = since(&a)?;
    let opts = Options {
        timestamps: a.timestamps,
        prefix: a.prefix,
        tail: a.tail.unwrap_or(if selector.is_some() { 10 } else { -1 }),
        since,
        limit_bytes: a.limit_bytes,
    };
    let mut sources = vec![];
    for (name, pod, dir) in pods {
        let containers = if a.all_containers {
            let spec = pod.spec.clone().unwrap_or_default();
            spec.init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .map(|c| c.name.clone())
                .collect()
        } else {
            let (container, note) = choose_container(&pod, a.container.as_deref())?;
            if let (Some(note), false) = (note, a.quiet) {
                eprintln!("{note}");
            }
            vec![container]
        };
        for container in containers {
            sources.push(Source {
                label: format!("[pod/{name}/{container}]"),
                pod: name.clone(),
                dir: dir.clone(),
                container,
            });
        }
    }
    let mut out = std::io::stdout().lock();
    match a.follow {
        true => follow(&sources, &opts, &mut out)?,
        false => print_all(&sources, &opts, a.previous, &mut out)?,
    }
    Ok(0)
}

/// Every source's records so far (`previous`: of the instance before the latest), one
/// container after another.
fn print_all(
    sources: &[Source],
    opts: &Options,
    previous: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for source in sources {
        let pod = read_pod(&source.dir)?;
        let Some(instance) = source.instance(&pod, previous)? else {
            continue;
        };
        let mut printer = Printer::new(source, opts);
        let records = backlog(
            &source.dir.log_file(&source.container, instance),
            None,
            opts,
        )?;
        for r in records {
            printer.print(&r, out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One container's log as the API's `pods/log` serves it: checked first (a container that has
/// not started cannot be read unless followed), then written by the returned stream.
pub(crate) fn container_log(
    dir: PodDir,
    pod: &Pod,
    container: String,
    options: &tandem_apiserver::LogOptions,
) -> anyhow::Result<tandem_apiserver::LogStream> {
    let since = match (&options.since_time, options.since_seconds) {
        (Some(t), _) => {
            let ts: k8s_openapi::jiff::Timestamp = t
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid sinceTime {t:?}: {e}"))?;
            Some(rfc3339_nano(ts.as_microsecond()))
        }
        (None, Some(s)) => Some(rfc3339_nano(
            tandem_supervisor::logs::now_us() - s.max(0) * 1_000_000,
        )),
        (None, None) => None,
    };
    let opts = Options {
        timestamps: options.timestamps,
        prefix: false,
        tail: options.tail_lines.unwrap_or(-1),
        since,
        limit_bytes: options.limit_bytes,
    };
    let source = Source {
        label: String::new(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        dir,
        container,
    };
    if !options.follow {
        source.instance(pod, options.previous)?;
    }
    let (follows, previous) = (options.follow, options.previous);
    Ok(Box::new(move |out: &mut dyn Write| {
        let sources = [source];
        match follows {
            true => follow(&sources, &opts, out),
            false => print_all(&sources, &opts, previous, out),
        }
        .map_err(std::io::Error::other)
    }))
}

/// `--since` and `--since-time` as the timestamp a record must reach, in the files' own form
/// (RFC 3339 with nanoseconds, which sorts as text).
fn since(a: &LogsArgs) -> anyhow::Result<Option<String>> {
    if let Some(d) = &a.since {
        let d = tandem_api::duration::parse_go(d).map_err(|e| hint(e, "write e.g. --since 5m"))?;
        let now = tandem_supervisor::logs::now_us();
        return Ok(Some(rfc3339_nano(now - d.as_micros() as i64)));
    }
    if let Some(t) = &a.since_time {
        let ts: k8s_openapi::jiff::Timestamp = t.parse().map_err(|e| {
            hint(
                format!("invalid --since-time {t:?}: {e}"),
                "write an RFC 3339 time, e.g. 2026-12-05T10:00:00Z",
            )
        })?;
        return Ok(Some(rfc3339_nano(ts.as_microsecond())));
    }
    Ok(None)
}

struct Options {
    timestamps: bool,
    prefix: bool,
    /// Lines per container from the end; negative: all.
    tail: i64,
    since: Option<String>,
    limit_bytes: Option<u64>,
}

/// One container's logs to print.
struct Source {
    pod: String,
    dir: PodDir,
    container: String,
    label: String,
}

/// One record of a log file, owned.
struct Record {
    time: Vec<u8>,
    partial: bool,
    content: Vec<u8>,
}

fn records_of(bytes: &[u8], out: &mut Vec<Record>) {
    for r in bytes.split(|b| *b == b'\n').filter_map(parse_record) {
        out.push(Record {
            time: r.time.to_vec(),
            partial: r.partial,
            content: r.content.to_vec(),
        });
    }
}

impl Source {
    fn status<'p>(&self, pod: &'p Pod) -> Option<&'p ContainerStatus> {
        pod.status.as_ref().and_then(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
                .find(|c| c.name == self.container)
        })
    }

    /// The instances with a log file, by number.
    fn on_disk(&self) -> Vec<u32> {
        let mut all: Vec<u32> = std::fs::read_dir(self.dir.logs(&self.container))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".log"))
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .collect();
        all.sort_unstable();
        all
    }

    /// The latest instance with a log file: the status's restart count (the files are named by
    /// it), or the newest file when the status is behind.
    fn latest(&self, pod: &Pod) -> Option<u32> {
        let restarts = self.status(pod).map(|c| c.restart_count.max(0) as u32);
        let on_disk = self.on_disk().last().copied();
        match (restarts, on_disk) {
            (Some(r), Some(d)) => Some(r.max(d)),
            (r, d) => r.or(d),
        }
        .filter(|n| !segments(&self.dir.log_file(&self.container, *n)).is_empty())
    }

    /// The instance to print: the latest, or the one before it; `None` (after kubectl's error
    /// for a container that has not started) when there is none.
    fn instance(&self, pod: &Pod, previous: bool) -> anyhow::Result<Option<u32>> {
        let latest = self.latest(pod);
        if previous {
            return match latest.and_then(|n| n.checked_sub(1)) {
                Some(n) => Ok(Some(n)),
                None => Err(hint(
                    format!(
                        "previous terminated container \"{}\" in pod \"{}\" not found",
                        self.container, self.pod
                    ),
                    "the container has not restarted",
                )),
            };
        }
        if latest.is_some() {
            return Ok(latest);
        }
        let reason = self
            .status(pod)
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
            .unwrap_or_else(|| "ContainerCreating".into());
        Err(hint(
            format!(
                "container \"{}\" in pod \"{}\" is waiting to start: {reason}",
                self.container, self.pod
            ),
            format!(
                "`tandem logs {} -c {} -f` waits for it",
                self.pod, self.container
            ),
        ))
    }

    /// Whether the container has terminated for good, or the pod is gone: nothing more will be
    /// written for it.
    fn ended(&self) -> bool {
        let Ok(pod) = read_pod(&self.dir) else {
            return true;
        };
        let status = pod.status.clone().unwrap_or_default();
        if matches!(
            status.phase.as_deref(),
            Some("Succeeded" | "Failed" | "Unknown")
        ) {
            return true;
        }
        let Some(terminated) = self
            .status(&pod)
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.terminated.as_ref())
        else {
            return false;
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let sidecar = spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == self.container && c.restart_policy.as_deref() == Some("Always"));
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == self.container);
        let policy = spec.restart_policy.as_deref().unwrap_or("Always");
        let failed = terminated.exit_code != 0;
        let restarts = if sidecar {
            true
        } else if init {
            failed && policy != "Never"
        } else {
            policy == "Always" || (policy == "OnFailure" && failed)
        };
        !restarts
    }
}

/// An instance's records so far, oldest first: its rotated files, then the current one, read
/// through `current` when given (a descriptor of it just opened, so a rotation after it was
/// opened is not read twice, left after the last whole record); `--since` and `--tail` applied.
fn backlog(path: &Path, current: Option<&mut File>, opts: &Options) -> anyhow::Result<Vec<Record>> {
    let current_ino = current
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.ino());
    let mut records = vec![];
    for seg in segments(path) {
        if seg == path || std::fs::metadata(&seg).ok().map(|m| m.ino()) == current_ino {
            continue;
        }
        match std::fs::read(&seg) {
            // Rotated away while this was reading: its lines are in the files after it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => records_of(
                &other.with_context(|| format!("cannot read {}", seg.display()))?,
                &mut records,
            ),
        }
    }
    let mut bytes = vec![];
    match &current {
        Some(f) => {
            let mut f: &File = f;
            f.read_to_end(&mut bytes)?;
        }
        None => match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => bytes = other.with_context(|| format!("cannot read {}", path.display()))?,
        },
    }
    // A record still being written (no newline yet) is left for the next read.
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if let Some(f) = current {
        f.seek(std::io::SeekFrom::Start(whole as u64))?;
    }
    records_of(&bytes[..whole], &mut records);
    if let Some(since) = &opts.since {
        records.retain(|r| r.time.as_slice() >= since.as_bytes());
    }
    if opts.tail >= 0 {
        // Lines, not records: a long line is partial records ending in a full one.
        let mut lines = 0;
        let mut keep = records.len();
        for (i, r) in records.iter().enumerate().rev() {
            if !r.partial {
                if lines == opts.tail {
                    break;
                }
                lines += 1;
            }
            keep = i;
        }
        records.drain(..keep);
    }
    Ok(records)
}

/// Writes one container's records as kubectl shows them.
struct Printer<'a> {
    label: &'a str,
    opts: &'a Options,
    left: Option<u64>,
    line_start: bool,
}

impl<'a> Printer<'a> {
    fn new(source: &'a Source, opts: &'a Options) -> Self {
        Printer {
            label: &source.label,
            opts,
            left: opts.limit_bytes,
            line_start: true,
        }
    }

    fn print(&mut self, r: &Record, out: &mut dyn Write) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(r.content.len() + 64);
        if self.opts.prefix && self.line_start {
            bytes.extend_from_slice(self.label.as_bytes());
            bytes.push(b' ');
        }
        if self.opts.timestamps {
            bytes.extend_from_slice(&r.time);
            bytes.push(b' ');
        }
        bytes.extend_from_slice(&r.content);
        if !r.partial {
            bytes.push(b'\n');
        }
        self.line_start = !r.partial;
        if let Some(left) = &mut self.left {
            let n = (*left).min(bytes.len() as u64);
            bytes.truncate(n as usize);
            *left -= n;
        }
        out.write_all(&bytes)
    }
}

/// A followed container: the instance and file being read.
struct Followed<'a> {
    source: &'a Source,
    printer: Printer<'a>,
    instance: Option<u32>,
    file: Option<File>,
    pending: Vec<u8>,
    done: bool,
}

impl Followed<'_> {
    fn path(&self) -> Option<std::path::PathBuf> {
        self.instance
            .map(|n| self.source.dir.log_file(&self.source.container, n))
    }

    /// Opens the latest instance's file and reads what it holds so far (`--since` and `--tail`
    /// apply to what was there before following began).
    fn start(&mut self, opts: &Options) -> anyhow::Result<Vec<Record>> {
        let Ok(pod) = read_pod(&self.source.dir) else {
            return Ok(vec![]);
        };
        let Some(n) = self.source.latest(&pod) else {
            return Ok(vec![]);
        };
        self.open(n, opts)
    }

    /// Opens instance `n`'s file and reads what it holds so far.
    fn open(&mut self, n: u32, opts: &Options) -> anyhow::Result<Vec<Record>> {
        self.instance = Some(n);
        let path = self.source.dir.log_file(&self.source.container, n);
        let mut file = File::open(&path).ok();
        let records = backlog(&path, file.as_mut(), opts)?;
        self.file = file;
        Ok(records)
    }

    /// The records written since the last call; at the end of a file, moves on to the file that
    /// replaced it or to the next instance, or finds the stream has ended.
    fn poll(&mut self, opts: &Options) -> anyhow::Result<Vec<Record>> {
        let mut records = vec![];
        if self.instance.is_none() {
            let ended = self.source.ended();
            // A container that starts while followed is shown whole, from its first instance
            // (it may have restarted since).
            if let Some(first) = self.source.on_disk().first().copied() {
                let all = Options {
                    tail: -1,
                    since: None,
                    ..*opts
                };
                records = self.open(first, &all)?;
            }
            if self.instance.is_none() {
                self.done = ended;
                return Ok(records);
            }
        }
        loop {
            if let Some(f) = &mut self.file {
                let mut bytes = vec![];
                f.read_to_end(&mut bytes)?;
                self.pending.extend_from_slice(&bytes);
                if let Some(i) = self.pending.iter().rposition(|b| *b == b'\n') {
                    let whole: Vec<u8> = self.pending.drain(..=i).collect();
                    records_of(&whole, &mut records);
                }
            }
            let Some(path) = self.path() else {
                return Ok(records);
            };
            // Rotated: the name now holds a new file; this one has been read to its end.
            let open_ino = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map(|m| m.ino());
            let path_ino = std::fs::metadata(&path).ok().map(|m| m.ino());
            if path_ino.is_some() && path_ino != open_ino {
                // Files rotated out since this one, before the one now under the name: the
                // rotated names sort in time order, and the oldest are removed first.
                let rotated: Vec<_> = segments(&path)
                    .into_iter()
                    .filter(|seg| *seg != path)
                    .collect();
                let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| m.ino());
                let after = rotated
                    .iter()
                    .position(|seg| inode(seg) == open_ino)
                    .map_or(0, |i| i + 1);
                for seg in &rotated[after..] {
                    if let Ok(bytes) = std::fs::read(seg) {
                        records_of(&bytes, &mut records);
                    }
                }
                self.file = File::open(&path).ok();
                self.pending.clear();
                continue;
            }
            // Restarted: the next instance's file, from its start.
            let next = self.instance.map(|n| n + 1);
            if let Some(n) = next.filter(|n| {
                self.source
                    .dir
                    .log_file(&self.source.container, *n)
                    .exists()
            }) {
                self.instance = Some(n);
                self.file = File::open(self.source.dir.log_file(&self.source.container, n)).ok();
                self.pending.clear();
                continue;
            }
            if self.source.ended() {
                // Whatever came between the last read and the check.
                if let Some(f) = &mut self.file {
                    let mut bytes = vec![];
                    f.read_to_end(&mut bytes)?;
                    self.pending.extend_from_slice(&bytes);
                    let whole = std::mem::take(&mut self.pending);
                    records_of(&whole, &mut records);
                }
                self.done = true;
            }
            return Ok(records);
        }
    }
}

/// Follows every source until each has ended; the output is flushed after every look, so a
/// reader that has gone is noticed while the logs are quiet.
fn follow(sources: &[Source], opts: &Options, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut followed: Vec<Followed<'_>> = sources
        .iter()
        .map(|source| Followed {
            source,
            printer: Printer::new(source, opts),
            instance: None,
            file: None,
            pending: vec![],
            done: false,
        })
        .collect();
    let mut first = true;
    loop {
        let mut batch: Vec<(usize, Record)> = vec![];
        for (i, f) in followed.iter_mut().enumerate().filter(|(_, f)| !f.done) {
            let records = if first { f.start(opts)? } else { f.poll(opts)? };
            batch.extend(records.into_iter().map(|r| (i, r)));
        }
        first = false;
        // Several containers' lines in time order (stable: each container's order is kept).
        batch.sort_by(|a, b| a.1.time.cmp(&b.1.time));
        for (i, r) in &batch {
            followed[*i].printer.print(r, out)?;
        }
        out.flush()?;
        if followed.iter().all(|f| f.done) {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}
