//! The room server's WebSocket, over TCP (`ws://`) or TLS (`wss://`).
//!
//! TLS is rustls with the system's trusted roots (or `SSL_CERT_FILE`, as OpenSSL reads it), the
//! same trust as for TURN over TLS, so a room server on port 443 with a certificate the machine
//! trusts is reached as any website is.

use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A byte stream the WebSocket runs over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Socket = WebSocketStream<Box<dyn Io>>;

/// TLS for the room server, trusting `extra_ca_pem` (a self-hosted server's CA) besides the
/// system's roots. The system's alone are loaded once (reading them takes a few ms).
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    fn for_http(base: Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
        let mut config = (*base).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
    if extra_ca_pem.is_some() {
        return tutti_media::tcp_turn::client_tls(extra_ca_pem).map(for_http);
    }
    static SYSTEM: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| tutti_media::tcp_turn::client_tls(None).map(for_http))
        .clone()
}

/// The HTTP(S) base of a room server given by its WebSocket address: `wss://host/ws` →
/// `https://host`.
pub fn http_base(server: &str) -> Result<String, String> {
    let server = server.trim();
    let (scheme, rest) = if let Some(rest) = server.strip_prefix("ws://") {
        ("http", rest)
    } else if let Some(rest) = server.strip_prefix("wss://") {
        ("https", rest)
    } else {
        return Err("the address must start with ws:// or wss://".into());
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/ws").unwrap_or(rest);
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!("{server:?} is not a room server address"));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// An HTTP client (to finish building) trusting what the room server's WebSocket and the relay
/// trust.
pub fn http_builder(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, String> {
    // reqwest takes the process's crypto provider; ring is the workspace's. Installing twice is
    // refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls_config(extra_ca_pem)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .user_agent(concat!("tutti/", env!("CARGO_PKG_VERSION"))))
}

/// Opens the WebSocket at `url`; the error says what failed, for a person.
pub async fn open(url: &str, extra_ca_pem: Option<&[u8]>) -> Result<Socket, String> {
    let request = url
        .into_client_request()
        .map_err(|e| format!("not a room server address: {e}"))?;
    let uri = request.uri();
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err("the address must start with ws:// or wss://".into()),
    };
    let host = uri
        .host()
        .ok_or("the address has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if secure {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config(extra_ca_pem)?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}
