//! Container logs in the CRI format the kubelet writes: one record per line,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks a partial line
//! (longer than the 16 KiB buffer, or cut off at exit) and `F` a full one. The content is the
//! container's bytes as written; files rotate as the kubelet rotates them ([`LogFile`]).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tandem_api::plan::ContainerLogPolicy;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::broadcast;

/// Longest content of one record, as CRI runtimes cut lines.
pub const MAX_RECORD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub container: String,
    pub stream: String,
    pub partial: bool,
    pub time_us: i64,
    pub text: String,
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds and a `Z`, as CRI logs and kubectl use.
pub fn rfc3339_nano(time_us: i64) -> String {
    let ts = Timestamp::from_microsecond(time_us).unwrap_or(Timestamp::UNIX_EPOCH);
    let secs = ts.as_second();
    let nanos = (time_us.rem_euclid(1_000_000)) * 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends one record, newline included, to `out`. The content is written as the container
/// wrote it, bytes and all, as CRI runtimes store it; only a reader may decide how to show it.
pub fn format_record(time_us: i64, stream: &str, partial: bool, content: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(rfc3339_nano(time_us).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// One record of a CRI log file, as [`parse_record`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a [u8],
    pub stream: &'a [u8],
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one record (one line of the file, without its newline).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut it = line.splitn(4, |b| *b == b' ');
    let time = it.next()?;
    let stream = it.next()?;
    let tag = it.next()?;
    Some(Record {
        time,
        stream,
        partial: tag == b"P",
        content: it.next().unwrap_or_default(),
    })
}

/// One container instance's log file, `<restartCount>.log`, rotated as the kubelet rotates it:
/// once it has grown past the policy's size it is renamed `<restartCount>.log.<UTC time>` and a
/// new one is started, and only the newest `max_files` files (the current one included) are
/// kept. [`segments`] lists them in order for readers.
pub struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    policy: ContainerLogPolicy,
}

impl LogFile {
    pub fn open(path: &Path, policy: ContainerLogPolicy) -> std::io::Result<LogFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            policy,
        })
    }

    /// Appends whole records, then rotates if the file has passed its size.
    pub fn append(&mut self, records: &[u8]) -> std::io::Result<()> {
        self.file.write_all(records)?;
        self.size += records.len() as u64;
        if self.size > self.policy.max_size {
            self.rotate()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        // Named by the time of the rotation, to the microsecond so that names sort in order;
        // a name already taken (a clock step back) gets a counter.
        let stamp = rotation_stamp(now_us());
        let mut rotated = suffixed(&self.path, &stamp);
        let mut n = 0;
        while rotated.exists() {
            n += 1;
            rotated = suffixed(&self.path, &format!("{stamp}-{n}"));
        }
        std::fs::rename(&self.path, &rotated)?;
        *self = LogFile::open(&self.path, self.policy)?;
        let old = segments(&self.path);
        // `old` ends with the new current file; the rotated ones before it are oldest first.
        let keep = self.policy.max_files.max(2) as usize;
        for stale in old.iter().take(old.len().saturating_sub(keep)) {
            let _ = std::fs::remove_file(stale);
        }
        Ok(())
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// `20261205-012201.123456`: UTC, sorting as it runs.
fn rotation_stamp(time_us: i64) -> String {
    let t = rfc3339_nano(time_us);
    // 2026-12-05T01:22:01.123456789Z
    format!(
        "{}{}{}-{}{}{}.{}",
        &t[0..4],
        &t[5..7],
        &t[8..10],
        &t[11..13],
        &t[14..16],
        &t[17..19],
        &t[20..26]
    )
}

/// The files of one instance's log, oldest first: the rotated ones, then the current one (if
/// it exists).
pub fn segments(current: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return vec![];
    };
    let mut prefix = name.to_owned();
    prefix.push(".");
    let prefix = prefix.to_string_lossy().into_owned();
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    rotated.sort();
    if current.exists() {
        rotated.push(current.to_path_buf());
    }
    rotated
}

/// Copies one stream of a container into its log file, record by record, and publishes each
/// record to the foreground CLI's followers; each read as it came goes to `tee` (attached
/// clients, `crate::attach`). Returns when the stream closes (the container exited).
///
/// A record that cannot be written (a full disk) is dropped with one warning, and the stream is
/// still read to its end: a container must never block on, or die of, its own log.
pub async fn pump<R: AsyncRead + Unpin>(
    mut src: R,
    log: Rc<RefCell<LogFile>>,
    container: String,
    stream: &'static str,
    tx: broadcast::Sender<LogLine>,
    tee: impl Fn(&[u8]),
) {
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut warned = false;
    let mut flush = |out: &mut Vec<u8>| {
        if let Err(e) = log.borrow_mut().append(out) {
            if !warned {
                eprintln!("warning: container {container}: log records dropped: {e}");
                warned = true;
            }
        }
        out.clear();
    };
    let emit = |bytes: &[u8], partial: bool, out: &mut Vec<u8>| {
        let time_us = now_us();
        format_record(time_us, stream, partial, bytes, out);
        let _ = tx.send(LogLine {
            container: container.clone(),
            stream: stream.to_string(),
            partial,
            time_us,
            text: String::from_utf8_lossy(bytes).into_owned(),
        });
    };
    loop {
        let n = src.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            if !pending.is_empty() {
                emit(&pending, true, &mut out);
            }
            flush(&mut out);
            return;
        }
        tee(&buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        // A line ends a record; a line longer than MAX_RECORD is cut into partial records.
        loop {
            match pending.iter().take(MAX_RECORD).position(|b| *b == b'\n') {
                Some(pos) => {
                    emit(&pending[..pos], false, &mut out);
                    pending.drain(..=pos);
                }
                None if pending.len() >= MAX_RECORD => {
                    emit(&pending[..MAX_RECORD], true, &mut out);
                    pending.drain(..MAX_RECORD);
                }
                None => break,
            }
            // Short lines make many records of one read: written in batches, a file passes
            // its size by one batch at most before it rotates.
            if out.len() >= FLUSH_AT {
                flush(&mut out);
            }
        }
        if !out.is_empty() {
            flush(&mut out);
        }
    }
}

/// The most record bytes gathered before they are written (see [`pump`]).
pub const FLUSH_AT: usize = 32 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_nanoseconds() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nano(1_764_072_000_123_456),
            "2025-11-25T12:00:00.123456000Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    fn records(text: &[u8]) -> Vec<(String, bool, Vec<u8>)> {
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(parse_record)
            .map(|r| {
                (
                    String::from_utf8_lossy(r.stream).into_owned(),
                    r.partial,
                    r.content.to_vec(),
                )
            })
            .collect()
    }

    async fn pump_all(input: &[u8], file: &Path, policy: ContainerLogPolicy) {
        let (tx, _rx) = broadcast::channel(16);
        let log = Rc::new(RefCell::new(LogFile::open(file, policy).expect("open")));
        pump(input, log, "app".into(), "stdout", tx, |_| {}).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lines_are_split_into_full_and_partial_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("0.log");
        let (tx, mut rx) = broadcast::channel(16);
        let long = "x".repeat(MAX_RECORD + 10);
        let input = format!("hello\n{long}\ntail-without-newline");
        let log = Rc::new(RefCell::new(
            LogFile::open(&file, ContainerLogPolicy::default()).expect("open"),
        ));
        pump(input.as_bytes(), log, "app".into(), "stdout", tx, |_| {}).await;
        let recs = records(&std::fs::read(&file).expect("read"));
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0], ("stdout".into(), false, b"hello".to_vec()));
        assert!(recs[1].1 && recs[1].2.len() == MAX_RECORD);
        assert!(!recs[2].1 && recs[2].2 == b"x".repeat(10));
        assert!(recs[3].1 && recs[3].2 == b"tail-without-newline");
        assert_eq!(rx.recv().await.expect("published").text, "hello");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn binary_output_is_stored_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("0.log");
        let bytes: Vec<u8> = (0u8..=255).filter(|b| *b != b'\n').collect();
        let mut input = bytes.clone();
        input.push(b'\n');
        pump_all(&input, &file, ContainerLogPolicy::default()).await;
        assert_eq!(records(&std::fs::read(&file).expect("read"))[0].2, bytes);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn files_rotate_past_their_size_and_only_the_newest_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("0.log");
        let policy = ContainerLogPolicy {
            max_size: 64 << 10,
            max_files: 3,
        };
        // 2,000 numbered lines of about 100 bytes: some 300 KiB, four or five rotations.
        let input: String = (0..2000)
            .map(|i| format!("{i:05} {}\n", "y".repeat(90)))
            .collect();
        pump_all(input.as_bytes(), &file, policy).await;
        let files = segments(&file);
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files.last(), Some(&file));
        for f in &files[..2] {
            let len = std::fs::metadata(f).expect("rotated file").len();
            // Rotation follows the write that passed the size: one read's records at most.
            assert!(
                len > policy.max_size && len < policy.max_size + (16 << 10),
                "{len}"
            );
        }
        // Read in order, the kept files are the newest lines without a gap, ending at the last.
        let numbers: Vec<u32> = files
            .iter()
            .flat_map(|f| records(&std::fs::read(f).expect("read")))
            .map(|(_, _, c)| String::from_utf8_lossy(&c[..5]).parse().expect("number"))
            .collect();
        assert_eq!(numbers.last(), Some(&1999));
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "a gap in the kept lines"
        );
        assert!(numbers[0] > 0, "the oldest lines were dropped");
    }

    #[test]
    fn rotation_stamps_sort_in_time_order() {
        assert_eq!(
            rotation_stamp(1_764_072_000_123_456),
            "20251125-120000.123456"
        );
        assert!(rotation_stamp(1_000_000) < rotation_stamp(2_000_000));
    }
}
