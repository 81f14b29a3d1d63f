//! The HTTP side of answers: bodies whole or streamed, JSON and `Status` responses, `Warning`
//! headers, request bodies read within the API server's size limit, and times as the API
//! writes them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::status::{ApiError, Reason};

/// A response body: whole, or streamed from a channel (watches, followed logs).
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }
}

pub(crate) fn respond(code: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(code: u16, value: &Value) -> Response<Body> {
    respond(
        code,
        "application/json",
        Body::Full(Some(Bytes::from(value.to_string()))),
    )
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.reason.code(), &e.status())
}

pub(crate) fn json_response_ok(v: Value) -> Response<Body> {
    json_response(200, &v)
}

/// Adds a `Warning` header as the API server sends one (RFC 7234 warn-code 299).
pub(crate) fn warn(response: &mut Response<Body>, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect();
    if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{clean}\"")) {
        response.headers_mut().append(http::header::WARNING, v);
    }
}

/// The largest request body read (the API server's limit is 3 MiB for objects).
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    limited.collect().await.map(|c| c.to_bytes()).map_err(|e| {
        ApiError::new(
            Reason::BadRequest,
            format!("cannot read the request body: {e}"),
        )
    })
}

pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub(crate) fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The request's `Content-Type`, or `default` when it gives none.
pub(crate) fn content_type(req: &Request<Incoming>, default: &str) -> String {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(default)
        .to_string()
}
