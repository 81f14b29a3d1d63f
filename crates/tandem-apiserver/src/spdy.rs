//! SPDY/3.1 framing, the part of it the kubelet's streams use: kubectl's `port-forward` speaks it
//! (inside a WebSocket from 1.31, over the upgraded connection itself before), one SPDY session
//! carrying a pair of streams per forwarded connection.
//!
//! A frame is a control frame (SYN_STREAM opens a stream with headers, SYN_REPLY accepts it,
//! RST_STREAM ends it at once, PING asks for an echo, GOAWAY ends the session; SETTINGS,
//! HEADERS and WINDOW_UPDATE carry nothing these streams need) or a data frame (a stream's
//! bytes, the FIN flag closing the sender's half). Header blocks are one zlib stream per
//! direction for the session's life, primed with the protocol's dictionary.
//! Specification: <https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/>.
//! No Rust library keeps SPDY (HTTP/2 replaced it everywhere but here), so the framing is
//! written here; zlib is flate2's.

use std::sync::Arc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::sync::{mpsc, Mutex};

const VERSION: u16 = 3;
const CONTROL: u8 = 0x80;
const FLAG_FIN: u8 = 0x01;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;

/// A frame's header: 8 bytes.
const HEADER: usize = 8;

/// RST_STREAM's status for a stream refused (one this side cannot serve).
pub(crate) const REFUSED_STREAM: u32 = 3;

/// A frame as this side reads or writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    SynStream {
        stream: u32,
        fin: bool,
        /// Names in lower case, as SPDY sends them.
        headers: Vec<(String, String)>,
    },
    SynReply {
        stream: u32,
        fin: bool,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// SETTINGS, HEADERS, WINDOW_UPDATE or a control frame of a type unknown here.
    Ignored,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SpdyError {
    #[error("a SPDY frame of version {0}, not 3")]
    Version(u16),
    #[error("a malformed SPDY {0} frame")]
    Malformed(&'static str),
    #[error("a SPDY header block that does not inflate: {0}")]
    Inflate(String),
}

/// The dictionary header blocks are compressed with (SPDY/3 §2.6.10.1): each of these words
/// with its length before it as 4 bytes, then the common values after.
fn dictionary() -> Vec<u8> {
    const WORDS: [&str; 65] = [
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const VALUES: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, ",
        "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    );
    let mut out = Vec::with_capacity(1423);
    for w in WORDS {
        out.extend_from_slice(&(w.len() as u32).to_be_bytes());
        out.extend_from_slice(w.as_bytes());
    }
    out.extend_from_slice(VALUES.as_bytes());
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Reads frames from the bytes of a session as they arrive.
pub(crate) struct Decoder {
    buffered: Vec<u8>,
    inflate: Decompress,
    dictionary: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            buffered: Vec::new(),
            inflate: Decompress::new(true),
            dictionary: dictionary(),
        }
    }

    /// Takes the next bytes of the session.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffered.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next(&mut self) -> Result<Option<Frame>, SpdyError> {
        let b = &self.buffered;
        if b.len() < HEADER {
            return Ok(None);
        }
        let flags = b[4];
        let length = (u32_at(b, 4).unwrap_or(0) & 0x00ff_ffff) as usize;
        if b.len() < HEADER + length {
            return Ok(None);
        }
        let payload: Vec<u8> = self.buffered.drain(..HEADER + length).collect();
        let (head, body) = payload.split_at(HEADER);
        let fin = flags & FLAG_FIN != 0;
        if head[0] & CONTROL == 0 {
            let stream = u32_at(head, 0).unwrap_or(0) & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                stream,
                fin,
                data: body.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let stream = u32_at(body, 0).map(|s| s & 0x7fff_ffff);
        let frame = match u16::from_be_bytes([head[2], head[3]]) {
            SYN_STREAM => {
                // Stream id, associated stream id, priority and slot, then the header block.
                let stream = stream.ok_or(SpdyError::Malformed("SYN_STREAM"))?;
                let block = body.get(10..).ok_or(SpdyError::Malformed("SYN_STREAM"))?;
                let headers = self.headers(block)?;
                Frame::SynStream {
                    stream,
                    fin,
                    headers,
                }
            }
            SYN_REPLY => Frame::SynReply {
                stream: stream.ok_or(SpdyError::Malformed("SYN_REPLY"))?,
                fin,
            },
            RST_STREAM => Frame::RstStream {
                stream: stream.ok_or(SpdyError::Malformed("RST_STREAM"))?,
                status: u32_at(body, 4).ok_or(SpdyError::Malformed("RST_STREAM"))?,
            },
            PING => Frame::Ping {
                id: u32_at(body, 0).ok_or(SpdyError::Malformed("PING"))?,
            },
            GOAWAY => Frame::GoAway,
            _ => Frame::Ignored,
        };
        Ok(Some(frame))
    }

    /// A header block: inflated with the session's stream, then its count of pairs, each name
    /// and value with its length before it.
    fn headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let mut plain = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            plain.reserve(256);
            let (in_before, out_before) = (self.inflate.total_in(), plain.len());
            let result = self
                .inflate
                .decompress_vec(input, &mut plain, FlushDecompress::Sync);
            input = &input[(self.inflate.total_in() - in_before) as usize..];
            let progressed = self.inflate.total_in() != in_before || plain.len() != out_before;
            match result {
                // The session's first block asks for the dictionary, then goes on.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| SpdyError::Inflate(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(SpdyError::Inflate(e.to_string())),
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
            }
            if input.is_empty() && plain.len() < plain.capacity() {
                break;
            }
            if !progressed {
                return Err(SpdyError::Inflate("it stopped short".into()));
            }
        }
        let malformed = || SpdyError::Malformed("header block");
        let count = u32_at(&plain, 0).ok_or_else(malformed)? as usize;
        let mut at = 4;
        let mut text = || -> Result<String, SpdyError> {
            let len = u32_at(&plain, at).ok_or_else(malformed)? as usize;
            let bytes = plain.get(at + 4..at + 4 + len).ok_or_else(malformed)?;
            at += 4 + len;
            Ok(String::from_utf8_lossy(bytes).into_owned())
        };
        // Each pair takes at least 8 bytes: a count beyond that is a lie, not an allocation.
        let mut headers = Vec::with_capacity(count.min(plain.len() / 8));
        for _ in 0..count {
            let name = text()?;
            headers.push((name, text()?));
        }
        Ok(headers)
    }
}

/// Writes frames, compressing header blocks with the session's stream.
pub(crate) struct Encoder {
    deflate: Compress,
}

impl Encoder {
    pub fn new() -> Encoder {
        let mut deflate = Compress::new(Compression::default(), true);
        // A fresh compressor takes a dictionary before its first byte; nothing can fail here.
        let _ = deflate.set_dictionary(&dictionary());
        Encoder { deflate }
    }

    /// The frame's bytes (SYN_STREAM is not written by a server).
    pub fn encode(&mut self, frame: &Frame) -> Vec<u8> {
        let control = |kind: u16, flags: u8, body: &[u8]| -> Vec<u8> {
            let mut out = Vec::with_capacity(HEADER + body.len());
            out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&(u32::from(flags) << 24 | body.len() as u32).to_be_bytes());
            out.extend_from_slice(body);
            out
        };
        let fin = |f: bool| if f { FLAG_FIN } else { 0 };
        match frame {
            Frame::SynReply { stream, fin: f } => {
                let mut body = stream.to_be_bytes().to_vec();
                // No headers: a count of zero pairs.
                body.extend(self.compress(&0u32.to_be_bytes()));
                control(SYN_REPLY, fin(*f), &body)
            }
            Frame::RstStream { stream, status } => {
                let mut body = stream.to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &body)
            }
            Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway => control(GOAWAY, 0, &[0; 8]),
            Frame::Data {
                stream,
                fin: f,
                data,
            } => {
                let mut out = Vec::with_capacity(HEADER + data.len());
                out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
                out.extend_from_slice(
                    &(u32::from(fin(*f)) << 24 | data.len() as u32).to_be_bytes(),
                );
                out.extend_from_slice(data);
                out
            }
            Frame::SynStream { .. } | Frame::Ignored => vec![],
        }
    }

    /// `plain` through the session's zlib stream, flushed so the reader has all of it.
    fn compress(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input = plain;
        loop {
            out.reserve(64);
            let before = self.deflate.total_in();
            let _ = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            // Done when all went in and the flush left room to spare.
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// A session's sending side, shared by everything that sends on it: frames are encoded (header
/// blocks continue one zlib stream) in the order they are sent.
#[derive(Clone)]
pub(crate) struct Writer(Arc<Mutex<(Encoder, mpsc::Sender<Vec<u8>>)>>);

impl Writer {
    /// Writes into `outgoing`, the bytes for the client.
    pub fn new(outgoing: mpsc::Sender<Vec<u8>>) -> Writer {
        Writer(Arc::new(Mutex::new((Encoder::new(), outgoing))))
    }

    /// Sends a frame; false once the client has gone.
    pub async fn send(&self, frame: Frame) -> bool {
        let mut guard = self.0.lock().await;
        let bytes = guard.0.encode(&frame);
        guard.1.send(bytes).await.is_ok()
    }

    /// Ends this side of a stream.
    pub async fn fin(&self, stream: u32) -> bool {
        self.send(Frame::Data {
            stream,
            fin: true,
            data: vec![],
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's SYN_STREAM, its header block compressed as a client's own stream would.
    fn syn_stream(client: &mut Compress, stream: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            for s in [n, v] {
                plain.extend_from_slice(&(s.len() as u32).to_be_bytes());
                plain.extend_from_slice(s.as_bytes());
            }
        }
        let mut block = Vec::with_capacity(plain.len() + 128);
        client
            .compress_vec(&plain, &mut block, FlushCompress::Sync)
            .expect("compress");
        let mut body = stream.to_be_bytes().to_vec();
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        body.extend(block);
        let mut out = vec![0x80, 3, 0, 1];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn the_dictionary_is_the_protocols() {
        // SPDY/3's dictionary: 1,423 bytes, whose Adler-32 is the DICTID of every session.
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        let mut c = Compress::new(Compression::default(), true);
        assert_eq!(c.set_dictionary(&d).expect("dictionary"), 0xe3c6_a7c2);
    }

    #[test]
    fn frames_are_read_as_they_arrive_and_written_as_a_client_reads_them() {
        let mut client = Compress::new(Compression::default(), true);
        client.set_dictionary(&dictionary()).expect("dictionary");
        let first = syn_stream(
            &mut client,
            1,
            &[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ],
        );
        // The second block continues the same zlib stream (no dictionary asked again).
        let second = syn_stream(
            &mut client,
            3,
            &[("streamtype", "data"), ("port", "8080"), ("requestid", "0")],
        );
        let mut d = Decoder::new();
        // Byte by byte: nothing until a frame is whole.
        let mut frames = vec![];
        for b in first.iter().chain(&second) {
            d.feed(&[*b]);
            while let Some(f) = d.next().expect("frame") {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[1],
            Frame::SynStream {
                stream: 3,
                fin: false,
                headers: vec![
                    ("streamtype".into(), "data".into()),
                    ("port".into(), "8080".into()),
                    ("requestid".into(), "0".into()),
                ],
            }
        );
        d.feed(&[0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i']);
        d.feed(&[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
        d.feed(&[0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 9]);
        assert_eq!(
            d.next(),
            Ok(Some(Frame::Data {
                stream: 3,
                fin: true,
                data: b"hi".to_vec()
            }))
        );
        assert_eq!(d.next(), Ok(Some(Frame::Ping { id: 7 })));
        assert_eq!(d.next(), Ok(Some(Frame::Ignored)));
        assert_eq!(d.next(), Ok(None));
        d.feed(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
        assert_eq!(d.next(), Err(SpdyError::Version(2)));

        // A reply's header block inflates on the client's side to zero pairs, twice over.
        let mut e = Encoder::new();
        let mut client_inflate = Decompress::new(true);
        for stream in [1u32, 3] {
            let reply = e.encode(&Frame::SynReply { stream, fin: false });
            assert_eq!(&reply[..4], &[0x80, 3, 0, 2]);
            assert_eq!(u32_at(&reply, 8), Some(stream));
            let mut plain = Vec::with_capacity(64);
            let mut block = &reply[12..];
            while !block.is_empty() {
                let before = client_inflate.total_in();
                if let Err(err) =
                    client_inflate.decompress_vec(block, &mut plain, FlushDecompress::Sync)
                {
                    assert!(err.needs_dictionary().is_some(), "{err}");
                    client_inflate
                        .set_dictionary(&dictionary())
                        .expect("dictionary");
                }
                block = &block[(client_inflate.total_in() - before) as usize..];
            }
            assert_eq!(plain, 0u32.to_be_bytes());
        }
        assert_eq!(
            e.encode(&Frame::Data {
                stream: 3,
                fin: true,
                data: b"ok".to_vec()
            }),
            [0, 0, 0, 3, 1, 0, 0, 2, b'o', b'k']
        );
    }

    #[test]
    fn a_header_block_that_lies_is_refused_not_believed() {
        let mut d = Decoder::new();
        // A SYN_STREAM whose block is not zlib.
        d.feed(&[
            0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4,
        ]);
        assert!(matches!(d.next(), Err(SpdyError::Inflate(_))));
    }
}
