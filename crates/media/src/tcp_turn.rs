//! TURN over TCP for a WebRTC stack that only speaks TURN over UDP.
//!
//! Where a firewall lets nothing but TCP out, the relay is reachable only over TCP; webrtc-rs
//! 0.21 gathers relay candidates from `transport=udp` TURN servers only. A bridge closes the gap:
//! it listens on a loopback UDP port, and each local socket that talks TURN to it gets its own
//! TCP connection to the real server (RFC 5766 §2.1: over TCP, STUN messages delimit
//! themselves and ChannelData is padded to four bytes). The TURN client, its allocation and
//! its credentials are unchanged; the relayed address is the server's, as with UDP.
//! `turns:` URLs (TURN over TLS, for networks that let only TLS out) get the same bridge, with TLS
//! on the TCP connection, verified against the system's roots or those the caller gives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::link::{IceServerConfig, lock};

/// Datagrams queued towards one TCP connection before more are dropped (as UDP would).
const QUEUE: usize = 256;
/// Largest message either way: a STUN header and a 16-bit length of attributes (ChannelData,
/// 4 + 65,535 bytes padded, is smaller).
const MAX_MESSAGE: usize = 20 + 65_535;

/// A running bridge; dropping it closes its sockets.
pub struct TcpTurnBridge {
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    target: Arc<Target>,
}

impl TcpTurnBridge {
    /// Bridges to the TURN server at `host:port` over TCP, with TLS if `tls` is given. Needs a
    /// tokio runtime.
    pub fn start(
        host: &str,
        port: u16,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> std::io::Result<Self> {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std_socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let local = socket.local_addr()?;
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = Target {
            host: host.to_owned(),
            port,
            tls,
            started: std::time::Instant::now(),
            media_heard_ms: AtomicU64::new(0),
        };
        let target = Arc::new(target);
        let task = tokio::spawn(run(socket, target.clone(), conns.clone()));
        Ok(Self {
            local,
            task,
            conns,
            target,
        })
    }

    /// Whether the bridge speaks TLS to the server (`turns:`).
    pub fn is_tls(&self) -> bool {
        self.target.tls.is_some()
    }

    /// Whether relayed media (ChannelData) came through the bridge in the last `within`: the
    /// lesson's path goes this way.
    pub fn carried_media_within(&self, within: std::time::Duration) -> bool {
        let heard = self.target.media_heard_ms.load(Relaxed);
        let now = u64::try_from(self.target.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        heard > 0
            && now.saturating_sub(heard) <= u64::try_from(within.as_millis()).unwrap_or(u64::MAX)
    }

    /// Where the WebRTC stack should send its TURN traffic.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TcpTurnBridge {
    fn drop(&mut self) {
        self.task.abort();
        for t in lock(&self.conns).drain(..) {
            t.abort();
        }
    }
}

/// Where a bridge connects, and how.
struct Target {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    started: std::time::Instant,
    /// When ChannelData last came from the server, ms after `started` (0: never).
    media_heard_ms: AtomicU64,
}

async fn run(
    socket: Arc<UdpSocket>,
    server: Arc<Target>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
) {
    let mut writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "TURN bridge: receive");
                continue;
            }
        };
        let mut message = buf[..n].to_vec();
        // ChannelData over TCP is padded to a multiple of four.
        if message.first().is_some_and(|b| b >> 6 == 1) {
            message.resize(n.next_multiple_of(4), 0);
        }
        if writers.get(&from).is_none_or(|w| w.is_closed()) {
            let (tx, rx) = mpsc::channel(QUEUE);
            writers.insert(from, tx);
            let task = tokio::spawn(connection(socket.clone(), server.clone(), from, rx));
            let mut conns = lock(&conns);
            conns.retain(|t| !t.is_finished());
            conns.push(task);
        }
        if let Some(w) = writers.get(&from)
            && w.try_send(message).is_err()
        {
            tracing::debug!(%from, "TURN bridge: queue full, datagram dropped");
        }
    }
}

/// One local TURN client's TCP (or TLS) connection to the server.
async fn connection(
    socket: Arc<UdpSocket>,
    target: Arc<Target>,
    client: SocketAddr,
    outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let server = format!("{}:{}", target.host, target.port);
    let stream = match TcpStream::connect((target.host.as_str(), target.port)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%server, error = %e, "TURN over TCP: cannot connect");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = &target.tls else {
        return pump(stream, socket, target.clone(), client, outgoing).await;
    };
    let name = match rustls::pki_types::ServerName::try_from(target.host.clone()) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(%server, error = %e, "TURN over TLS: not a valid server name");
            return;
        }
    };
    match tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, stream)
        .await
    {
        Ok(tls) => pump(tls, socket, target.clone(), client, outgoing).await,
        Err(e) => tracing::warn!(%server, error = %e, "TURN over TLS: handshake failed"),
    }
}

/// Datagrams from `client` onto the stream, framed messages from the stream back to it.
async fn pump<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    socket: Arc<UdpSocket>,
    target: Arc<Target>,
    client: SocketAddr,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let (mut read, mut write) = tokio::io::split(stream);
    let writer = async move {
        while let Some(m) = outgoing.recv().await {
            if write.write_all(&m).await.is_err() || write.flush().await.is_err() {
                break;
            }
        }
    };
    let server = format!("{}:{}", target.host, target.port);
    let reader = async move {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            if read.read_exact(&mut buf[..4]).await.is_err() {
                break;
            }
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            let (total, deliver) = match buf[0] >> 6 {
                // STUN: a 20-byte header, then `len` bytes of attributes.
                0 => (20 + len, 20 + len),
                // ChannelData: 4 bytes of header, `len` of data, padding to four.
                1 => ((4 + len).next_multiple_of(4), 4 + len),
                _ => {
                    tracing::warn!(%server, "TURN over TCP: not a STUN or ChannelData frame");
                    break;
                }
            };
            if read.read_exact(&mut buf[4..total]).await.is_err() {
                break;
            }
            if buf[0] >> 6 == 1 {
                let now = u64::try_from(target.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                target.media_heard_ms.store(now.max(1), Relaxed);
            }
            let _ = socket.send_to(&buf[..deliver], client).await;
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}

/// TLS for `turns:` servers: the system's trusted roots, plus `extra_ca_pem` (a private CA's
/// certificate, for a self-hosted relay) when given.
pub fn client_tls(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("extra CA: {e}"))?;
            roots.add(cert).map_err(|e| format!("extra CA: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The ICE servers as the WebRTC stack should see them: every `turn:…?transport=tcp` and
/// `turns:` URL is replaced by a UDP one pointing at a bridge (returned, to be kept alive as
/// long as the links); `tls` verifies `turns:` servers (the system's roots when `None`). Other
/// URLs are kept.
pub fn bridge_tcp_turn(
    servers: &[IceServerConfig],
    tls: Option<Arc<rustls::ClientConfig>>,
) -> (Vec<IceServerConfig>, Vec<TcpTurnBridge>) {
    let mut tls = tls;
    let mut bridges = Vec::new();
    let mut bridge = |url: &String| -> Option<String> {
        let Some((host, port, secure)) = tcp_turn_target(url) else {
            return Some(url.clone());
        };
        let tls = if secure {
            if tls.is_none() {
                tls = client_tls(None)
                    .map_err(|e| tracing::warn!(error = %e, "no TLS for turns: URLs"))
                    .ok();
            }
            Some(tls.clone()?)
        } else {
            None
        };
        match TcpTurnBridge::start(&host, port, tls) {
            Ok(b) => {
                let local = b.local_addr();
                bridges.push(b);
                Some(format!("turn:{local}?transport=udp"))
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, "cannot bridge TURN over TCP");
                None
            }
        }
    };
    let servers = servers
        .iter()
        .map(|s| IceServerConfig {
            urls: s.urls.iter().filter_map(&mut bridge).collect(),
            ..s.clone()
        })
        .collect();
    (servers, bridges)
}

/// A STUN or TURN URL (RFC 7064, 7065) read into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceUrl {
    pub scheme: IceScheme,
    /// Without brackets for IPv6.
    pub host: String,
    /// The scheme's default when the URL gives none (3478; 5349 for `turns:`).
    pub port: u16,
    /// `?transport=tcp` (`turns:` is TCP whatever it says).
    pub tcp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceScheme {
    Stun,
    Turn,
    Turns,
}

impl IceUrl {
    pub fn parse(url: &str) -> Option<IceUrl> {
        let (scheme, rest) = url.split_once(':')?;
        let scheme = match scheme {
            "stun" => IceScheme::Stun,
            "turn" => IceScheme::Turn,
            "turns" => IceScheme::Turns,
            _ => return None,
        };
        let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
        let transport_tcp = query
            .split('&')
            .any(|kv| kv.eq_ignore_ascii_case("transport=tcp"));
        let default = if scheme == IceScheme::Turns {
            5349
        } else {
            3478
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']')?;
                match after.strip_prefix(':') {
                    Some(p) => (host, p.parse().ok()?),
                    None if after.is_empty() => (host, default),
                    None => return None,
                }
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, p.parse().ok()?),
                _ => (hostport, default),
            },
        };
        (!host.is_empty()).then(|| IceUrl {
            scheme,
            host: host.to_owned(),
            port,
            tcp: transport_tcp || scheme == IceScheme::Turns && query.is_empty(),
        })
    }

    /// `HOST:PORT`, IPv6 in brackets: what a socket address lookup takes.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `turn:HOST:PORT?transport=tcp` → (HOST, PORT, false); `turns:HOST:PORT[?transport=tcp]`
/// → (HOST, PORT, true); `None` for anything else (UDP TURN, STUN).
fn tcp_turn_target(url: &str) -> Option<(String, u16, bool)> {
    let u = IceUrl::parse(url)?;
    let secure = match u.scheme {
        IceScheme::Turns => true,
        IceScheme::Turn => false,
        IceScheme::Stun => return None,
    };
    u.tcp.then_some((u.host, u.port, secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tcp_turn_urls_are_bridged() {
        assert_eq!(
            tcp_turn_target("turn:10.9.0.2:3478?transport=tcp"),
            Some(("10.9.0.2".into(), 3478, false))
        );
        assert_eq!(
            tcp_turn_target("turn:relay.example.org?transport=tcp"),
            Some(("relay.example.org".into(), 3478, false))
        );
        assert_eq!(
            tcp_turn_target("turn:[::1]:5000?transport=tcp"),
            Some(("::1".into(), 5000, false))
        );
        assert_eq!(
            tcp_turn_target("turns:relay.example.org:443?transport=tcp"),
            Some(("relay.example.org".into(), 443, true))
        );
        assert_eq!(
            tcp_turn_target("turns:relay.example.org"),
            Some(("relay.example.org".into(), 5349, true))
        );
        assert_eq!(tcp_turn_target("turn:10.9.0.2:3478?transport=udp"), None);
        assert_eq!(tcp_turn_target("turn:10.9.0.2:3478"), None);
        assert_eq!(tcp_turn_target("stun:10.9.0.2:3478"), None);
        assert_eq!(tcp_turn_target("turn::x?transport=tcp"), None);
    }

    /// A TCP "server" that echoes frames back: STUN and padded ChannelData arrive over UDP as
    /// the exact datagrams that were sent, however TCP splits them.
    #[tokio::test]
    async fn datagrams_cross_tcp_framed_and_come_back_whole() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                lock(&seen2).extend_from_slice(&buf[..n]);
                // Echo one byte at a time: the bridge must reassemble.
                for b in &buf[..n] {
                    s.write_all(&[*b]).await.unwrap();
                }
            }
        });
        let bridge = TcpTurnBridge::start("127.0.0.1", port, None).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut stun = vec![0x00, 0x01, 0x00, 0x04];
        stun.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        stun.extend_from_slice(&[7; 12]);
        stun.extend_from_slice(&[1, 2, 3, 4]);
        let chan = vec![0x40, 0x00, 0x00, 0x05, 9, 9, 9, 9, 9];
        client.send_to(&stun, bridge.local_addr()).await.unwrap();
        client.send_to(&chan, bridge.local_addr()).await.unwrap();
        let mut buf = [0u8; 256];
        let recv = async |buf: &mut [u8]| {
            tokio::time::timeout(std::time::Duration::from_secs(5), client.recv(buf))
                .await
                .expect("a reply through the bridge")
                .unwrap()
        };
        let n = recv(&mut buf).await;
        assert_eq!(&buf[..n], &stun[..]);
        let n = recv(&mut buf).await;
        assert_eq!(&buf[..n], &chan[..], "ChannelData without its padding");
        let on_wire = lock(&seen).clone();
        assert_eq!(
            on_wire.len(),
            stun.len() + 12,
            "ChannelData padded to 12 on TCP"
        );
    }
}
