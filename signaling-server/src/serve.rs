//! The server on the network: a TCP listener for plain HTTP (`/healthz`, `/metrics`, the API)
//! and `/ws` upgraded to a WebSocket that speaks the protocol, and optionally a TLS listener
//! (`tls`) for the same over HTTPS and `wss://`, with TURN over TLS on the same port. Each
//! connection is a task that decodes frames (so malformed input never reaches the hub) and
//! forwards typed messages.

use crate::db::{DbError, ServerDb};
use crate::hub::{CloseReason, ConnId, Hub, HubConfig};
use crate::hub_thread::{self, HubInput, Outbound, OutboxReceiver};
use crate::metrics::Metrics;
use crate::rate::{AddressLimiter, TokenBucket};
use crate::secrets::Secrets;
use crate::tls::{self, Carried, Certificate, Rewound, TlsError, TlsSettings};
use crate::turn::{self, RunningTurn, TurnError, TurnSettings};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use tutti_protocol::api::{ApiError, CHECK_PATH, CheckInfo, TEACHERS_API, decode_path_segment};
use tutti_protocol::{
    ClientFrame, ErrorCode, InviteCode, MAX_FRAME_BYTES, RequestId, ServerMessage,
};

/// The WebSocket layer closes a connection (1009) on messages above this; between
/// `MAX_FRAME_BYTES` and this, the frame is refused with an error frame and the connection goes on.
const HARD_MESSAGE_LIMIT: usize = 1024 * 1024;
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_FOR: Duration = Duration::from_secs(45);
/// Per connection: bursts of 200 messages (trickle ICE, a pasted chat), 50 a second sustained.
const MSG_BURST: u32 = 200;
const MSG_PER_SEC: f64 = 50.0;
/// Refused frames in a row after which a connection is closed (1008): it is not a client.
const MAX_REFUSED_IN_A_ROW: u32 = 500;
/// A frame the client does not take within this is a client that stopped reading.
const SEND_DEADLINE: Duration = Duration::from_secs(10);
const HEADER_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where the server's SQLite file lives; `None` keeps everything in memory (tests).
    pub data_dir: Option<PathBuf>,
    pub hub: HubConfig,
    /// Behind a reverse proxy: take the client's address from the last `X-Forwarded-For`
    /// entry (the one the proxy added), so per-address limits apply to clients, not the proxy.
    pub trust_forwarded_for: bool,
    /// Bytes queued for one connection before it counts as a slow consumer.
    pub outbox_bytes: usize,
    /// STUN and TURN beside the room server; admitted participants get credentials for it.
    pub turn: Option<TurnSettings>,
    /// HTTPS, `wss://` and (with `turn`) TURN over TLS, all on one port.
    pub tls: Option<TlsSettings>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            hub: HubConfig::default(),
            trust_forwarded_for: false,
            outbox_bytes: 4 * 1024 * 1024,
            turn: None,
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot start the hub thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Turn(#[from] TurnError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// What the HTTP handlers and connection tasks share.
struct Shared {
    hub: mpsc::Sender<HubInput>,
    metrics: Arc<Metrics>,
    next_conn: AtomicU64,
    ws_config: WebSocketConfig,
    live_conns: AtomicUsize,
    conns_gone: Notify,
    hub_alive: Arc<AtomicBool>,
    trust_forwarded_for: bool,
    outbox_bytes: usize,
    /// Set at shutdown: plain HTTP connections kept alive finish their request and close.
    closing: tokio::sync::watch::Sender<bool>,
    /// API requests per address, before any reach the hub: a flood must not crowd out the
    /// WebSocket's messages and the hub's housekeeping.
    api_limit: std::sync::Mutex<AddressLimiter>,
    /// The relay's TCP listener, for TURN over TLS arriving on the TLS port.
    relay_tcp: Option<SocketAddr>,
    /// What the connection check is told: the relay's issuer, and the other ICE servers.
    relay: Option<turn::TurnIssuer>,
    ice_servers: Vec<tutti_protocol::IceServer>,
    /// Connection checks per address: each hands out short-lived relay credentials.
    check_limit: std::sync::Mutex<AddressLimiter>,
}

/// API requests an address may make in a burst, and per second after that.
const API_BURST: u32 = 60;
const API_PER_SEC: f64 = 5.0;
/// Connection checks an address may make in a burst, and per second after that (one a minute).
const CHECK_BURST: u32 = 10;
const CHECK_PER_SEC: f64 = 1.0 / 60.0;

pub struct RunningServer {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    /// Every certificate in use (the TLS port's, TURN's own TLS port's), for `reload_tls`.
    certificates: Vec<Arc<Certificate>>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    turn: Option<RunningTurn>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the STUN/TURN relay listens (UDP and TCP), if it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().map(|t| t.udp_addr)
    }

    /// Where TURN over TLS listens on a port of its own, if it does.
    pub fn turn_tls_addr(&self) -> Option<SocketAddr> {
        self.turn.as_ref().and_then(|t| t.tls_addr)
    }

    /// Where HTTPS, `wss://` and TURN over TLS listen, if the server speaks TLS itself.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Reads every certificate again (SIGHUP): new connections get the renewed ones. Those
    /// that cannot be read are kept as they were, and their errors returned.
    pub fn reload_tls(&self) -> Vec<TlsError> {
        self.certificates
            .iter()
            .filter_map(|c| c.reload().err())
            .collect()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops accepting, tells every client the server is closing, waits (up to 5 s) for the
    /// connections to finish, and closes the database.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds and starts serving in the background.
pub async fn start(cfg: ServerConfig) -> Result<RunningServer, ServeError> {
    let db = match &cfg.data_dir {
        Some(dir) => ServerDb::open_dir(dir)?,
        None => ServerDb::open_in_memory()?,
    };
    let listener = bind(cfg.listen).map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let turn = match &cfg.turn {
        Some(settings) => Some(turn::start(settings).await?),
        None => None,
    };
    let mut certificates: Vec<Arc<Certificate>> =
        turn.iter().filter_map(|t| t.certificate.clone()).collect();
    let tls = match &cfg.tls {
        Some(settings) => {
            let certificate = Arc::new(Certificate::load(&settings.cert_pem, &settings.key_pem)?);
            let acceptor = certificate.acceptor(&[tls::ALPN_HTTP, tls::ALPN_TURN])?;
            certificates.push(certificate);
            let listener = bind(settings.listen).map_err(|source| ServeError::Bind {
                addr: settings.listen,
                source,
            })?;
            let addr = listener.local_addr().map_err(|source| ServeError::Bind {
                addr: settings.listen,
                source,
            })?;
            tracing::info!(%addr, "listening for HTTPS, wss:// and TURN over TLS");
            Some((listener, acceptor, addr))
        }
        None => None,
    };
    let mut hub_cfg = cfg.hub;
    if let Some(t) = &turn {
        let mut issuer = t.issuer.clone();
        if let (Some((_, _, addr)), Some(settings)) = (&tls, &cfg.tls) {
            // Listed before TURN's own TLS port: 443 is what gets through the strictest networks.
            let name = match &settings.name {
                Some(name) => name.clone(),
                None if !addr.ip().is_unspecified() => addr.ip().to_string(),
                None => t.public_ip().to_string(),
            };
            issuer = issuer.with_tls_first(&name, addr.port());
        }
        hub_cfg.turn = Some(issuer);
    }
    let (hub_turn, hub_ice) = (hub_cfg.turn.clone(), hub_cfg.ice_servers.clone());
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(hub_cfg, db, Secrets::from_os(), metrics.clone());
    let (hub_tx, hub_rx) = mpsc::channel(4096);
    let hub_alive = Arc::new(AtomicBool::new(false));
    let hub_thread = hub_thread::spawn(hub, metrics.clone(), hub_rx, hub_alive.clone())
        .map_err(ServeError::Thread)?;
    let shared = Arc::new(Shared {
        hub: hub_tx,
        metrics: metrics.clone(),
        next_conn: AtomicU64::new(1),
        ws_config: WebSocketConfig::default()
            .max_message_size(Some(HARD_MESSAGE_LIMIT))
            .max_frame_size(Some(HARD_MESSAGE_LIMIT))
            // Small buffers: thousands of idle connections should cost little memory.
            .read_buffer_size(4096)
            .write_buffer_size(0),
        live_conns: AtomicUsize::new(0),
        conns_gone: Notify::new(),
        hub_alive,
        trust_forwarded_for: cfg.trust_forwarded_for,
        outbox_bytes: cfg.outbox_bytes,
        closing: tokio::sync::watch::Sender::new(false),
        api_limit: std::sync::Mutex::new(AddressLimiter::new(API_BURST, API_PER_SEC)),
        relay_tcp: turn.as_ref().map(RunningTurn::tcp_reachable),
        relay: hub_turn,
        ice_servers: hub_ice,
        check_limit: std::sync::Mutex::new(AddressLimiter::new(CHECK_BURST, CHECK_PER_SEC)),
    });
    let (stop_tx, stop_rx) = oneshot::channel();
    let tls_addr = tls.as_ref().map(|(_, _, addr)| *addr);
    let tls = tls.map(|(listener, acceptor, _)| (listener, acceptor));
    let task = tokio::spawn(accept_loop(listener, tls, shared, stop_rx, hub_thread));
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        tls_addr,
        certificates,
        metrics,
        stop: Some(stop_tx),
        task,
        turn,
    })
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep backlog: a classroom reconnecting after a network blip arrives all at once.
    socket.listen(4096)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
    hub_thread: std::thread::JoinHandle<()>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                // Never wait on a busy hub here: that would stop accepting. A missed tick is
                // made up by the next one.
                let _ = shared.hub.try_send(HubInput::Tick);
                for limiter in [&shared.api_limit, &shared.check_limit] {
                    limiter
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .prune(Instant::now());
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_http(stream, Peer::plain(peer), shared.clone()));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            accepted = accept_tls(tls.as_ref()) => match accepted {
                Ok((stream, peer, acceptor)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_tls(stream, peer, acceptor, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed (TLS)");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    drop(tls);
    tracing::info!("shutting down");
    shared.closing.send_replace(true);
    let (done_tx, done_rx) = oneshot::channel();
    let sent = shared
        .hub
        .send(HubInput::Shutdown {
            reason: "the server is shutting down".into(),
            done: done_tx,
        })
        .await;
    if sent.is_ok() {
        let _ = done_rx.await;
    }
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let gone = shared.conns_gone.notified();
            if shared.live_conns.load(Relaxed) == 0 {
                break;
            }
            gone.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = shared.live_conns.load(Relaxed),
            "connections still open after 5 s"
        );
    }
    // The hub thread has returned after Shutdown; joining drops the database cleanly.
    let _ = tokio::task::spawn_blocking(move || hub_thread.join()).await;
}

/// The next connection on the TLS port; never, when there is none.
async fn accept_tls(
    tls: Option<&(TcpListener, tokio_rustls::TlsAcceptor)>,
) -> std::io::Result<(TcpStream, SocketAddr, tokio_rustls::TlsAcceptor)> {
    match tls {
        Some((listener, acceptor)) => {
            let (stream, peer) = listener.accept().await?;
            Ok((stream, peer, acceptor.clone()))
        }
        None => std::future::pending().await,
    }
}

/// A connection on the TLS port: the handshake, then HTTP (and WebSockets) or TURN, by ALPN or
/// by the first byte.
async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    let mut tls = match tokio::time::timeout(HEADER_DEADLINE, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let agreed = tls.get_ref().1.alpn_protocol().and_then(Carried::by_alpn);
    let (carried, front) = match agreed {
        Some(carried) => (carried, Vec::new()),
        None => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(HEADER_DEADLINE, tls.read(&mut first)).await {
                Ok(Ok(1)) => (Carried::by_first_byte(first[0]), first.to_vec()),
                _ => return,
            }
        }
    };
    match (carried, shared.relay_tcp) {
        (Carried::Http, _) => {
            serve_http(Rewound::new(front, tls), Peer::direct(peer), shared).await;
        }
        (Carried::Turn, Some(relay)) => relay_turn(tls, &front, relay, &shared).await,
        (Carried::Turn, None) => tracing::debug!(%peer, "TURN over TLS, but no relay runs here"),
    }
}

/// TURN over TLS: the decrypted bytes go to the relay's own TCP listener (see
/// `turn::terminate_tls`), until either side closes or the server shuts down.
async fn relay_turn<S>(mut tls: S, front: &[u8], relay: SocketAddr, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut inner) = TcpStream::connect(relay).await else {
        return;
    };
    let _ = inner.set_nodelay(true);
    if inner.write_all(front).await.is_err() {
        return;
    }
    let mut closing = shared.closing.subscribe();
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut tls, &mut inner) => {}
        () = async { drop(closing.wait_for(|c| *c).await) } => {}
    }
}

/// Who is on the other end of an HTTP connection.
#[derive(Debug, Clone, Copy)]
struct Peer {
    addr: SocketAddr,
    /// Whether `X-Forwarded-For` may name the client: only on the plain port, where a proxy
    /// (and `--trust-forwarded-for`) puts it; on the TLS port clients come straight, and could
    /// name any address to dodge the per-address limits.
    may_forward: bool,
}

impl Peer {
    fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            may_forward: true,
        }
    }

    fn direct(addr: SocketAddr) -> Self {
        Self {
            addr,
            may_forward: false,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

async fn serve_http<S>(stream: S, peer: Peer, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut closing = shared.closing.subscribe();
    let service = service_fn(move |req| route(req, peer, shared.clone()));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    // An upgraded connection has left this future (it is a WebSocket task of its own); one kept
    // alive for more HTTP requests must not outlive the server.
    let served = tokio::select! {
        served = conn.as_mut() => served,
        // The guard `wait_for` returns must not be held across the await below.
        () = async { drop(closing.wait_for(|c| *c).await) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn plain(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

async fn route(
    req: Request<Incoming>,
    peer: Peer,
    shared: Arc<Shared>,
) -> Result<HttpResponse, Infallible> {
    if req.method() == Method::GET
        && let Some(page) = crate::web::serve(req.uri().path())
    {
        return Ok(page);
    }
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") if shared.hub_alive.load(Relaxed) => {
            plain(StatusCode::OK, "ok\n")
        }
        (&Method::GET, "/healthz") => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server's logic has stopped; restart it\n",
        ),
        (&Method::GET, "/metrics") => {
            let mut res = plain(StatusCode::OK, shared.metrics.render());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        }
        (&Method::GET, "/ws") => upgrade(req, peer, shared),
        (&Method::GET, CHECK_PATH) => check(client_addr(&req, peer, &shared), &shared),
        (&Method::GET, path) if path.starts_with(TEACHERS_API) => {
            let client = client_addr(&req, peer, &shared);
            teacher(&path[TEACHERS_API.len()..], client, &shared).await
        }
        (&Method::GET, path) if path.starts_with(LESSONS_API) => {
            let client = client_addr(&req, peer, &shared);
            let segment = &path[LESSONS_API.len()..];
            lookup(segment, client, &shared).await
        }
        (_, "/healthz" | "/metrics" | "/ws") => plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n"),
        (_, path) if path == CHECK_PATH || path.starts_with(TEACHERS_API) => {
            let mut res = api_error(ErrorCode::InvalidMessage, "only GET".into());
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res
        }
        (_, path) if path.starts_with(LESSONS_API) => {
            let mut res = api_error(ErrorCode::InvalidMessage, "only GET".into());
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: the room server serves /join/{code}, /watch/{code}, /ws, /healthz, /metrics, /api/lessons/{code}, /api/teachers/{id} and /api/check\n",
        ),
    };
    Ok(res)
}

const LESSONS_API: &str = "/api/lessons/";

fn client_addr(req: &Request<Incoming>, peer: Peer, shared: &Shared) -> IpAddr {
    if shared.trust_forwarded_for && peer.may_forward {
        forwarded_for(req).unwrap_or(peer.addr.ip())
    } else {
        peer.addr.ip()
    }
}

fn json(status: StatusCode, body: String) -> HttpResponse {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn api_error(code: ErrorCode, message: String) -> HttpResponse {
    let status = match code {
        ErrorCode::InvalidCode | ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::UnknownCode | ErrorCode::NoSuchLesson | ErrorCode::NoSuchTeacher => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::to_string(&ApiError { code, message }).unwrap_or_default();
    json(status, body)
}

/// `GET /api/lessons/{code}`, answered by the hub thread.
/// Counts an API request from `addr`; the refusal when it is over the limit.
fn over_api_limit(addr: IpAddr, shared: &Shared) -> Option<HttpResponse> {
    let mut limit = shared.api_limit.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match limit.check(addr, now) {
        Err(wait) => Some(rate_limited(wait)),
        Ok(()) => {
            limit.fail(addr, now);
            None
        }
    }
}

fn rate_limited(wait: Duration) -> HttpResponse {
    let mut res = api_error(
        ErrorCode::RateLimited,
        "too many requests from your address; slow down".into(),
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::rate::whole_secs(wait)),
    );
    res
}

/// `GET /api/teachers/{id}`: a teacher's page.
async fn teacher(id: &str, addr: IpAddr, shared: &Shared) -> HttpResponse {
    if let Some(refused) = over_api_limit(addr, shared) {
        return refused;
    }
    let (reply, answer) = oneshot::channel();
    let id = id.to_owned();
    let _ = shared.hub.send(HubInput::Teacher { id, reply }).await;
    match answer.await {
        Ok(Ok(page)) => json(
            StatusCode::OK,
            serde_json::to_string(&page).unwrap_or_default(),
        ),
        Ok(Err(refused)) => api_error(refused.code, refused.message),
        Err(_) => api_error(
            ErrorCode::Storage,
            "the server's logic has stopped; try again later".into(),
        ),
    }
}

/// `GET /api/check`: the relay with credentials for a few minutes, the other ICE servers, and
/// the client's address, for the connection check.
fn check(addr: IpAddr, shared: &Shared) -> HttpResponse {
    let now = Instant::now();
    for limiter in [&shared.api_limit, &shared.check_limit] {
        let mut limit = limiter.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(wait) = limit.check(addr, now) {
            return rate_limited(wait);
        }
        limit.fail(addr, now);
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut ice_servers = shared.ice_servers.clone();
    if let Some(relay) = &shared.relay {
        let (name, server) = relay.for_check(unix);
        ice_servers.insert(0, server);
        // Once the credentials have expired, whatever was allocated with them goes too.
        let relay = relay.clone();
        tokio::spawn(async move {
            tokio::time::sleep(turn::CHECK_TTL).await;
            relay.revoke(&name, unix + turn::CHECK_TTL.as_secs());
        });
    }
    let info = CheckInfo {
        your_address: addr.to_string(),
        ice_servers,
        stun_alt: shared
            .relay
            .as_ref()
            .and_then(|r| r.stun_alt().map(str::to_owned)),
    };
    json(
        StatusCode::OK,
        serde_json::to_string(&info).unwrap_or_default(),
    )
}

async fn lookup(segment: &str, addr: IpAddr, shared: &Shared) -> HttpResponse {
    if let Some(refused) = over_api_limit(addr, shared) {
        return refused;
    }
    let Some(code) = decode_path_segment(segment) else {
        return api_error(
            ErrorCode::InvalidCode,
            "the code in the address is not valid percent-encoded UTF-8".into(),
        );
    };
    // Not the shape of a code: said here, without the hub.
    if let Err(e) = InviteCode::parse(&code) {
        return api_error(ErrorCode::InvalidCode, e.to_string());
    }
    let (reply, answer) = oneshot::channel();
    // A hub that has stopped drops `reply` with the input: the answer is then an error.
    let _ = shared
        .hub
        .send(HubInput::Lookup { addr, code, reply })
        .await;
    match answer.await {
        Ok(Ok(info)) => json(
            StatusCode::OK,
            serde_json::to_string(&info).unwrap_or_default(),
        ),
        Ok(Err(refused)) => {
            let retry = refused.retry_after_s;
            let mut res = api_error(refused.code, refused.message);
            if let Some(s) = retry
                && refused.code == ErrorCode::RateLimited
            {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            res
        }
        _ => api_error(
            ErrorCode::Storage,
            "the server's logic has stopped; try again later".into(),
        ),
    }
}

fn header_has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// RFC 6455 handshake on hyper's side; the socket is handed to tungstenite once upgraded.
fn upgrade(mut req: Request<Incoming>, peer: Peer, shared: Arc<Shared>) -> HttpResponse {
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let (Some(key), true, true, true) = (
        key,
        version_ok,
        header_has_token(&req, header::CONNECTION, "upgrade"),
        header_has_token(&req, header::UPGRADE, "websocket"),
    ) else {
        let mut res = plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket (version 13) only\n",
        );
        res.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return res;
    };
    let accept = derive_accept_key(key.as_bytes());
    let client = client_addr(&req, peer, &shared);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let conn: ConnId = shared.next_conn.fetch_add(1, Relaxed);
    let span = tracing::debug_span!("conn", conn, %peer);
    let task = async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(shared.ws_config),
                )
                .await;
                run_connection(ws, conn, client, shared).await;
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    };
    tokio::spawn(task.instrument(span));
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

/// Counts a live connection task, for the shutdown drain.
struct LiveConn<'a>(&'a Shared);

impl Drop for LiveConn<'_> {
    fn drop(&mut self) {
        self.0.metrics.connections_open.fetch_sub(1, Relaxed);
        if self.0.live_conns.fetch_sub(1, Relaxed) == 1 {
            self.0.conns_gone.notify_waiters();
        }
    }
}

/// The last entry of `X-Forwarded-For`: the address our own proxy saw.
fn forwarded_for(req: &Request<Incoming>) -> Option<IpAddr> {
    let all = req.headers().get_all("x-forwarded-for");
    let last = all.iter().filter_map(|v| v.to_str().ok()).next_back()?;
    last.rsplit(',').next()?.trim().parse().ok()
}

async fn run_connection<S>(ws: WebSocketStream<S>, conn: ConnId, addr: IpAddr, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    shared.live_conns.fetch_add(1, Relaxed);
    shared.metrics.connections_open.fetch_add(1, Relaxed);
    shared.metrics.connections_total.fetch_add(1, Relaxed);
    let _live = LiveConn(&shared);

    let (outbox, mut inbox) = hub_thread::outbox(shared.outbox_bytes);
    let connect = HubInput::Connect { conn, addr, outbox };
    if shared.hub.send(connect).await.is_err() {
        return; // shutting down
    }
    let (mut sink, mut stream) = ws.split();
    let mut bucket = TokenBucket::new(MSG_BURST, MSG_PER_SEC, Instant::now());
    let mut refused_in_a_row = 0u32;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_heard = Instant::now();
    tracing::debug!("connected");

    // Every write has a deadline: a client that stops reading must not hold this task forever.
    macro_rules! send_or_break {
        ($msg:expr) => {
            match tokio::time::timeout(SEND_DEADLINE, sink.send($msg)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    tracing::debug!("client stopped reading");
                    break;
                }
            }
        };
    }

    loop {
        tokio::select! {
            incoming = stream.next() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::debug!(error = %e, "message too large");
                        flush_replies(&mut sink, &mut inbox).await;
                        close_gracefully(&mut sink, &mut stream, CloseCode::Size, "message too large").await;
                        break;
                    }
                    // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection, 1007.
                    Some(Err(WsError::Utf8(e))) => {
                        tracing::debug!(error = %e, "a text frame that is not UTF-8");
                        flush_replies(&mut sink, &mut inbox).await;
                        close_gracefully(&mut sink, &mut stream, CloseCode::Invalid, "text is not UTF-8").await;
                        break;
                    }
                    _ => break,
                };
                last_heard = Instant::now();
                let data = match msg {
                    Message::Text(text) => Some(Ok(text)),
                    Message::Binary(_) => Some(Err(())),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                };
                let Some(data) = data else { continue };
                shared.metrics.messages_in.fetch_add(1, Relaxed);
                // Every data frame pays first, before any work is done on it.
                let refusal = if !bucket.try_take(Instant::now()) {
                    Some((None, ErrorCode::RateLimited, format!("too many messages; slow down (at most {MSG_PER_SEC} a second)")))
                } else {
                    match data {
                        Ok(text) => match read_frame(text.as_str()) {
                            Ok(frame) => {
                                refused_in_a_row = 0;
                                if shared.hub.send(HubInput::Frame { conn, frame }).await.is_err() {
                                    break;
                                }
                                None
                            }
                            Err(e) => Some(e),
                        },
                        Err(()) => Some((None, ErrorCode::BinaryFrame, "binary frames are not used; send JSON text".to_owned())),
                    }
                };
                if let Some((re, code, message)) = refusal {
                    shared.metrics.error(code);
                    refused_in_a_row += 1;
                    if refused_in_a_row >= MAX_REFUSED_IN_A_ROW {
                        tracing::info!("closing a connection that sends only refused frames");
                        flush_replies(&mut sink, &mut inbox).await;
                        close_gracefully(&mut sink, &mut stream, CloseCode::Policy, "too many refused frames").await;
                        break;
                    }
                    let err = ServerMessage::error(re, code, message).to_json();
                    send_or_break!(Message::text(err));
                    shared.metrics.messages_out.fetch_add(1, Relaxed);
                }
            }
            out = inbox.rx.recv() => match out {
                Some(Outbound::Text(text)) => {
                    let len = text.len();
                    send_or_break!(Message::Text(text));
                    inbox.sent(len);
                    shared.metrics.messages_out.fetch_add(1, Relaxed);
                }
                Some(Outbound::Close(reason)) => {
                    let (code, why) = match reason {
                        CloseReason::VersionMismatch => (CloseCode::Policy, "protocol version mismatch"),
                        CloseReason::HelloTimeout => (CloseCode::Policy, "no hello"),
                        CloseReason::ShuttingDown => (CloseCode::Away, "server shutting down"),
                    };
                    close_gracefully(&mut sink, &mut stream, code, why).await;
                    break;
                }
                None => {
                    // The hub let go of us: we did not keep up with our messages.
                    close_gracefully(&mut sink, &mut stream, CloseCode::Again, "too slow reading messages").await;
                    break;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    tracing::debug!("silent for too long");
                    break;
                }
                send_or_break!(Message::Ping(Bytes::new()));
            }
        }
    }
    drop::<OutboxReceiver>(inbox);
    let _ = shared.hub.send(HubInput::Disconnect { conn }).await;
    tracing::debug!("disconnected");
}

/// Before we close a connection ourselves: the replies to what it sent before, which the hub
/// may still be answering, go out first (every request gets exactly one reply). Bounded: until
/// the hub has been quiet for a moment, or a second at most.
async fn flush_replies<S>(
    sink: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    inbox: &mut OutboxReceiver,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let quiet = tokio::time::Instant::now() + Duration::from_millis(100);
        match tokio::time::timeout_at(quiet.min(deadline), inbox.rx.recv()).await {
            Ok(Some(Outbound::Text(text))) => {
                let len = text.len();
                let sent =
                    tokio::time::timeout(SEND_DEADLINE, sink.send(Message::Text(text))).await;
                inbox.sent(len);
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The closing handshake: our Close, then whatever the client still sends is read and dropped
/// until its Close arrives (bounded). Closing the socket with unread data in it would make the
/// kernel reset the connection, and the client would never see our reason.
async fn close_gracefully<S>(
    sink: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    stream: &mut futures_util::stream::SplitStream<WebSocketStream<S>>,
    code: CloseCode,
    reason: &'static str,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if tokio::time::timeout(SEND_DEADLINE, sink.send(Message::Close(Some(frame))))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
}

type Refused = (Option<RequestId>, ErrorCode, String);

/// Size limit and decoding; the rate limit has been paid before.
fn read_frame(text: &str) -> Result<ClientFrame, Refused> {
    if text.len() > MAX_FRAME_BYTES {
        return Err((
            None,
            ErrorCode::FrameTooLarge,
            format!(
                "a frame may have {MAX_FRAME_BYTES} bytes, this one has {}",
                text.len()
            ),
        ));
    }
    ClientFrame::decode(text).map_err(|e| (e.re, e.code, e.message))
}
