//! `tandem-checker grpc-health-server [--port N] [--status S] [--service NAME]... [--host ADDR]`:
//! a gRPC Health Checking Protocol server (`grpc.health.v1.Health/Check`) for tests of gRPC
//! probes in real containers.
//!
//! The image has no gRPC library and this program has no dependencies, so it speaks just enough
//! HTTP/2 (prior knowledge, cleartext) itself. It never decodes HPACK: the request's headers are
//! skipped, since the only request it serves is `Check` and the service name is in the DATA
//! payload (protobuf `HealthCheckRequest { string service = 1; }`). Its own headers are HPACK
//! literals without indexing and without Huffman coding, which any decoder accepts without
//! state. The answer is `HealthCheckResponse { ServingStatus status = 1; }` with `--status`
//! (SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN or a number; default SERVING) for the service
//! "" and every `--service` name; any other service gets grpc-status 5 (NOT_FOUND), as grpc-go's
//! health server answers.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
/// Larger than any frame a health check needs; a bound on what a broken peer makes us allocate.
const MAX_FRAME: usize = 1 << 20;

struct Config {
    status: u8,
    services: Vec<String>,
}

pub fn serve(args: &[String]) -> ExitCode {
    let mut port = 9000u16;
    let mut host = "0.0.0.0".to_string();
    let mut cfg = Config {
        status: 1,
        services: vec![String::new()],
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("grpc-health-server: {flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--port" => match value.parse() {
                Ok(p) => port = p,
                Err(_) => {
                    eprintln!("grpc-health-server: bad port {value:?}");
                    return ExitCode::from(2);
                }
            },
            "--host" => host = value.clone(),
            "--service" => cfg.services.push(value.clone()),
            "--status" => match parse_status(value) {
                Some(s) => cfg.status = s,
                None => {
                    eprintln!("grpc-health-server: unknown status {value:?}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: tandem-checker grpc-health-server [--port N] [--status SERVING|NOT_SERVING] [--service NAME]... [--host ADDR]");
                return ExitCode::from(2);
            }
        }
    }
    let listener = match TcpListener::bind((host.as_str(), port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("grpc-health-server: cannot listen on {host}:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("grpc-health-server: listening on {a}"),
        Err(_) => println!("grpc-health-server: listening"),
    }
    let _ = io::stdout().flush();
    let cfg = Arc::new(cfg);
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let cfg = Arc::clone(&cfg);
        std::thread::spawn(move || {
            if let Err(e) = connection(stream, &cfg) {
                eprintln!("grpc-health-server: connection: {e}");
            }
        });
    }
    ExitCode::SUCCESS
}

fn parse_status(s: &str) -> Option<u8> {
    match s {
        "UNKNOWN" => Some(0),
        "SERVING" => Some(1),
        "NOT_SERVING" => Some(2),
        "SERVICE_UNKNOWN" => Some(3),
        n => n.parse().ok(),
    }
}

fn connection(mut s: TcpStream, cfg: &Config) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let _ = s.set_nodelay(true);
    let mut preface = [0u8; 24];
    s.read_exact(&mut preface)?;
    if &preface != PREFACE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an HTTP/2 prior-knowledge connection",
        ));
    }
    // Our SETTINGS: empty, every default stands.
    write_frame(&mut s, SETTINGS, 0, 0, &[])?;
    let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
    loop {
        let (kind, flags, stream, payload) = match read_frame(&mut s) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        match kind {
            SETTINGS if flags & ACK == 0 => write_frame(&mut s, SETTINGS, ACK, 0, &[])?,
            PING if flags & ACK == 0 => write_frame(&mut s, PING, ACK, 0, &payload)?,
            GOAWAY => return Ok(()),
            HEADERS => {
                bodies.insert(stream, Vec::new());
                if flags & END_STREAM != 0 {
                    bodies.remove(&stream);
                    respond(&mut s, stream, &[], cfg)?;
                }
            }
            DATA => {
                let data = if flags & PADDED != 0 {
                    let pad = usize::from(payload.first().copied().unwrap_or(0));
                    payload
                        .get(1..payload.len().saturating_sub(pad))
                        .unwrap_or(&[])
                } else {
                    &payload[..]
                };
                let body = bodies.entry(stream).or_default();
                body.extend_from_slice(data);
                if flags & END_STREAM != 0 {
                    let body = bodies.remove(&stream).unwrap_or_default();
                    respond(&mut s, stream, &body, cfg)?;
                }
            }
            // WINDOW_UPDATE, PRIORITY, RST_STREAM, CONTINUATION, settings ACKs: nothing to do
            // for one small answer per stream.
            _ => {}
        }
    }
}

fn read_frame(s: &mut TcpStream) -> io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head)?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let stream = u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    Ok((head[3], head[4], stream, payload))
}

fn write_frame(
    s: &mut TcpStream,
    kind: u8,
    flags: u8,
    stream: u32,
    payload: &[u8],
) -> io::Result<()> {
    let len = payload.len();
    let mut out = Vec::with_capacity(9 + len);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    s.write_all(&out)
}

/// One `Check` answer on `stream`.
fn respond(s: &mut TcpStream, stream: u32, body: &[u8], cfg: &Config) -> io::Result<()> {
    let service = match requested_service(body) {
        Some(name) => name,
        None => {
            let head = header_block(&[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", "13"),
                ("grpc-message", "malformed HealthCheckRequest"),
            ]);
            return write_frame(s, HEADERS, END_HEADERS | END_STREAM, stream, &head);
        }
    };
    if !cfg.services.contains(&service) {
        println!("grpc-health-server: check {service:?}: NOT_FOUND");
        // Trailers-only: the status travels in the only HEADERS frame.
        let head = header_block(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "5"),
            ("grpc-message", "unknown service"),
        ]);
        return write_frame(s, HEADERS, END_HEADERS | END_STREAM, stream, &head);
    }
    println!(
        "grpc-health-server: check {service:?}: status {}",
        cfg.status
    );
    let head = header_block(&[(":status", "200"), ("content-type", "application/grpc")]);
    write_frame(s, HEADERS, END_HEADERS, stream, &head)?;
    // The 5-byte message prefix (not compressed, length 2), then field 1 as a varint.
    write_frame(s, DATA, 0, stream, &[0, 0, 0, 0, 2, 0x08, cfg.status])?;
    let trailers = header_block(&[("grpc-status", "0")]);
    write_frame(s, HEADERS, END_HEADERS | END_STREAM, stream, &trailers)
}

/// The `service` of a framed `HealthCheckRequest`; `None` when the body is not one.
fn requested_service(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return Some(String::new());
    }
    let (prefix, rest) = body.split_at_checked(5)?;
    if prefix[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let mut m = rest.get(..len)?;
    let mut service = String::new();
    while !m.is_empty() {
        let key = varint(&mut m)?;
        match key & 7 {
            0 => {
                varint(&mut m)?;
            }
            2 => {
                let n = usize::try_from(varint(&mut m)?).ok()?;
                let value = m.get(..n)?;
                if key >> 3 == 1 {
                    service = String::from_utf8(value.to_vec()).ok()?;
                }
                m = &m[n..];
            }
            1 => m = m.get(8..)?,
            5 => m = m.get(4..)?,
            _ => return None,
        }
    }
    Some(service)
}

fn varint(m: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = m.split_first()?;
        *m = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// HPACK "literal header field without indexing — new name" for each field, no Huffman.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_string(&mut out, name.as_bytes());
        hpack_string(&mut out, value.as_bytes());
    }
    out
}

/// A string literal: the H bit clear and the length as an HPACK integer with a 7-bit prefix.
fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    if n < 0x7f {
        out.push(n as u8);
    } else {
        out.push(0x7f);
        n -= 0x7f;
        while n >= 0x80 {
            out.push((n % 0x80) as u8 | 0x80);
            n /= 0x80;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_read_from_the_framed_request() {
        assert_eq!(requested_service(&[]), Some(String::new()));
        assert_eq!(requested_service(&[0, 0, 0, 0, 0]), Some(String::new()));
        assert_eq!(
            requested_service(&[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']),
            Some("db".into())
        );
        assert_eq!(requested_service(&[1, 0, 0, 0, 0]), None);
        assert_eq!(
            requested_service(&[0, 0, 0, 0, 4, 0x0a, 5, b'd', b'b']),
            None
        );
    }

    #[test]
    fn header_fields_are_plain_literals() {
        assert_eq!(
            header_block(&[("grpc-status", "0")]),
            b"\x00\x0bgrpc-status\x010".to_vec()
        );
        let mut long = Vec::new();
        hpack_string(&mut long, &[b'x'; 200]);
        // 127 in the prefix, then 73 as one continuation byte.
        assert_eq!(&long[..2], &[0x7f, 73]);
        assert_eq!(long.len(), 202);
    }
}
