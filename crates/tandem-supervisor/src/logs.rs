//! Container logs in the CRI format the kubelet writes: one record per line,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks a partial line
//! (longer than the 16 KiB buffer, or cut off at exit) and `F` a full one.

use std::path::Path;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
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

/// Formats one record (without the trailing newline of the file).
pub fn format_record(line: &LogLine) -> String {
    format!(
        "{} {} {} {}",
        rfc3339_nano(line.time_us),
        line.stream,
        if line.partial { "P" } else { "F" },
        line.text
    )
}

/// Parses one record of a CRI log file.
pub fn parse_record(s: &str) -> Option<(String, String, bool, String)> {
    let mut it = s.splitn(4, ' ');
    let time = it.next()?.to_string();
    let stream = it.next()?.to_string();
    let tag = it.next()?;
    let text = it.next().unwrap_or("").to_string();
    Some((time, stream, tag == "P", text))
}

/// Copies one stream of a container into its log file, record by record, and publishes each
/// record to attached clients. Returns when the stream closes (the container exited).
pub async fn pump<R: AsyncRead + Unpin>(
    mut src: R,
    file: &Path,
    container: String,
    stream: &'static str,
    tx: broadcast::Sender<LogLine>,
) -> std::io::Result<()> {
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .await?;
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    let emit = |bytes: &[u8], partial: bool, out_buf: &mut Vec<u8>| {
        let line = LogLine {
            container: container.clone(),
            stream: stream.to_string(),
            partial,
            time_us: now_us(),
            text: String::from_utf8_lossy(bytes).into_owned(),
        };
        out_buf.extend_from_slice(format_record(&line).as_bytes());
        out_buf.push(b'\n');
        let _ = tx.send(line);
    };
    loop {
        let n = src.read(&mut buf).await?;
        let mut out_buf = Vec::new();
        if n == 0 {
            if !pending.is_empty() {
                emit(&pending, true, &mut out_buf);
                out.write_all(&out_buf).await?;
            }
            return out.flush().await;
        }
        pending.extend_from_slice(&buf[..n]);
        // A line ends a record; a line longer than MAX_RECORD is cut into partial records first.
        loop {
            match pending.iter().take(MAX_RECORD).position(|b| *b == b'\n') {
                Some(pos) => {
                    emit(&pending[..pos], false, &mut out_buf);
                    pending.drain(..=pos);
                }
                None if pending.len() >= MAX_RECORD => {
                    emit(&pending[..MAX_RECORD], true, &mut out_buf);
                    pending.drain(..MAX_RECORD);
                }
                None => break,
            }
        }
        out.write_all(&out_buf).await?;
    }
}

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

    #[tokio::test(flavor = "current_thread")]
    async fn lines_are_split_into_full_and_partial_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("0.log");
        let (tx, mut rx) = broadcast::channel(16);
        let long = "x".repeat(MAX_RECORD + 10);
        let input = format!("hello\n{long}\ntail-without-newline");
        pump(input.as_bytes(), &file, "app".into(), "stdout", tx)
            .await
            .expect("pump");
        let text = std::fs::read_to_string(&file).expect("read");
        let recs: Vec<_> = text.lines().filter_map(parse_record).collect();
        assert_eq!(recs.len(), 4);
        assert_eq!(
            (recs[0].1.as_str(), recs[0].2, recs[0].3.as_str()),
            ("stdout", false, "hello")
        );
        assert!(recs[1].2 && recs[1].3.len() == MAX_RECORD);
        assert!(!recs[2].2 && recs[2].3 == "x".repeat(10));
        assert!(recs[3].2 && recs[3].3 == "tail-without-newline");
        assert_eq!(rx.recv().await.expect("published").text, "hello");
    }
}
