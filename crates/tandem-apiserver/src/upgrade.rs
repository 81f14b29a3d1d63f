//! Upgrading a request's connection to a stream protocol, as the API server and the kubelet
//! answer it: a WebSocket with one of the subprotocols offered (RFC 6455 §4.2.2, what kubectl
//! 1.30+ asks for), or SPDY/3.1 with a stream protocol (`X-Stream-Protocol-Version`, what
//! kubectl before asked for, and still asks for when a WebSocket is refused). hyper hands the
//! connection over once the 101 is sent.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::status::ApiError;

/// What a streaming request may upgrade to.
pub(crate) struct Offer {
    /// WebSocket subprotocols, best first.
    pub websocket: &'static [&'static str],
    /// The stream protocol served over SPDY/3.1, if any.
    pub spdy: Option<&'static str>,
}

/// An accepted upgrade.
pub(crate) enum Upgrade {
    /// The subprotocol chosen and the `Sec-WebSocket-Accept` value.
    WebSocket {
        protocol: &'static str,
        accept: String,
    },
    /// SPDY/3.1 carrying this stream protocol.
    Spdy { protocol: &'static str },
}

/// Checks that `req` asks for an upgrade `offer` has.
pub(crate) fn upgrade(req: &Request<Incoming>, offer: &Offer) -> Result<Upgrade, ApiError> {
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let wanted = header("upgrade");
    if let Some(protocol) = offer
        .spdy
        .filter(|_| wanted.eq_ignore_ascii_case("SPDY/3.1"))
    {
        let offered = header("x-stream-protocol-version");
        if !offered.split(',').map(str::trim).any(|p| p == protocol) {
            return Err(ApiError::bad_request(format!(
                "none of the offered stream protocols {offered:?} is served; tandem serves {protocol}"
            )));
        }
        return Ok(Upgrade::Spdy { protocol });
    }
    if !wanted.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::bad_request(format!(
            "tandem streams this over WebSocket ({}){}, not {wanted:?}",
            offer.websocket.join(", "),
            offer
                .spdy
                .map(|p| format!(" or SPDY/3.1 ({p})"))
                .unwrap_or_default(),
        )));
    }
    let offered = header("sec-websocket-protocol");
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    let Some(protocol) = offer
        .websocket
        .iter()
        .copied()
        .find(|p| offered.contains(p))
    else {
        return Err(ApiError::bad_request(format!(
            "none of the offered subprotocols {offered:?} is served; tandem serves {}",
            offer.websocket.join(", ")
        )));
    };
    let key = header("sec-websocket-key");
    if key.is_empty() {
        return Err(ApiError::bad_request("Sec-WebSocket-Key is missing"));
    }
    Ok(Upgrade::WebSocket {
        protocol,
        accept: tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
    })
}

impl Upgrade {
    /// The `101 Switching Protocols` answer.
    pub fn response<B>(&self, body: B) -> Response<B> {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        match self {
            Upgrade::WebSocket { protocol, accept } => {
                h.insert(
                    http::header::UPGRADE,
                    http::HeaderValue::from_static("websocket"),
                );
                if let Ok(v) = http::HeaderValue::from_str(accept) {
                    h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
                }
                h.insert(
                    http::header::SEC_WEBSOCKET_PROTOCOL,
                    http::HeaderValue::from_static(protocol),
                );
            }
            Upgrade::Spdy { protocol } => {
                h.insert(
                    http::header::UPGRADE,
                    http::HeaderValue::from_static("SPDY/3.1"),
                );
                h.insert(
                    "x-stream-protocol-version",
                    http::HeaderValue::from_static(protocol),
                );
            }
        }
        r
    }
}
