//! Opening a socket as the stream options ask: JSON or MessagePack
//! frames (`Sec-WebSocket-Protocol: bookstrack.msgpack`), compressed or not
//! (permessage-deflate, `inflate.rs`), and reading a server message in
//! whichever encoding the server chose (docs/PROTOCOL.md §23).

use crate::inflate::{Inflating, OFFER};
use bookstrack_protocol::mux::MSGPACK_SUBPROTOCOL;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How the server's messages are encoded on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// Text frames of JSON, as every client gets unless it asks.
    #[default]
    Json,
    /// Binary frames of MessagePack: the same envelope, smaller and
    /// quicker to decode.
    MsgPack,
}

/// The largest message the SDK takes, inflated or not (tungstenite's own
/// default).
const MAX_MESSAGE: usize = 64 << 20;

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<Inflating<TcpStream>>;

/// Connects to `url` (`ws://…`), offering what was asked for.
pub(crate) async fn open(url: &str, encoding: Encoding, compress: bool) -> Result<Socket, WsError> {
    let mut req = url.into_client_request()?;
    if compress {
        req.headers_mut().insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            OFFER.parse().expect("valid"),
        );
    }
    if encoding == Encoding::MsgPack {
        req.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            MSGPACK_SUBPROTOCOL.parse().expect("valid"),
        );
    }
    let uri = req.uri().clone();
    if uri.scheme_str() != Some("ws") {
        return Err(WsError::Url(
            tokio_tungstenite::tungstenite::error::UrlError::UnsupportedUrlScheme,
        ));
    }
    let host = uri.host().unwrap_or("localhost").trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async(req, Inflating::new(tcp, MAX_MESSAGE)).await?;
    Ok(ws)
}

/// Closes with 1000 and `reason`, without waiting for the server's answer
/// (at most a second for the close frame to go out).
pub(crate) async fn close(ws: Option<Socket>, reason: &str) {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    if let Some(mut ws) = ws {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: reason.to_string().into(),
        };
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(1), ws.close(Some(frame))).await;
    }
}

/// A server message decoded: JSON text or MessagePack binary; `None` for
/// frames that carry no message (ping, pong, close).
pub(crate) fn decode<T: DeserializeOwned>(m: &Message) -> Option<Result<T, String>> {
    match m {
        Message::Text(t) => Some(serde_json::from_str(t.as_str()).map_err(|e| e.to_string())),
        Message::Binary(b) => Some(rmp_serde::from_slice(b).map_err(|e| e.to_string())),
        _ => None,
    }
}
