//! The connection check: before a lesson, every way from here to a room server and its relay is
//! tried, and what will work is said plainly.
//!
//! The room server over HTTP(S) (`/healthz`) and its WebSocket; STUN (our public address, and
//! whether our NAT keeps it for a second destination, as a direct connection needs); TURN over
//! UDP, TCP and TLS, each with a real allocation. Every path is tried at once, so the check takes
//! as long as its slowest path (`CheckOptions::within` at most). The relay's credentials come
//! from `GET /api/check`, good for a few minutes and for no lesson.

use futures_util::{SinkExt, StreamExt};
use rtc_stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use rtc_stun::error_code::{CODE_STALE_NONCE, CODE_UNAUTHORIZED, ErrorCodeAttribute};
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, CLASS_SUCCESS_RESPONSE, Getter, Message, Setter};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use rtc_turn::proto::lifetime::Lifetime;
use rtc_turn::proto::relayaddr::RelayedAddress;
use rtc_turn::proto::reqtrans::RequestedTransport;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tutti_protocol::IceServer;
use tutti_protocol::api::{CHECK_PATH, CheckInfo};

use crate::socket::{self, Io};
use tutti_media::tcp_turn::{IceScheme, IceUrl};

/// What to check, and for how long at most.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The room server's WebSocket (`ws://…/ws` or `wss://…/ws`).
    pub server: String,
    /// A private CA (PEM) to trust besides the system's.
    pub trust_ca_pem: Option<Vec<u8>>,
    /// Each path gives up after this.
    pub within: Duration,
}

impl CheckOptions {
    pub fn new(server: &str) -> Self {
        Self {
            server: server.trim().to_owned(),
            trust_ca_pem: None,
            within: Duration::from_secs(5),
        }
    }
}

/// One way tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathName {
    /// The room server's HTTP(S) API (`/healthz`).
    ServerHttp,
    /// The room server's WebSocket, which a lesson needs.
    ServerWs,
    /// STUN over UDP: our public address.
    Stun,
    TurnUdp,
    TurnTcp,
    TurnTls,
}

/// How a path fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathResult {
    pub path: PathName,
    pub ok: bool,
    /// One request's round trip on the path once open, ms.
    pub rtt_ms: Option<f64>,
    /// Where it went (`host:port`), when known.
    pub to: Option<String>,
    /// Why it failed, in English (the UI says the outcome in the user's language).
    pub error: Option<String>,
}

/// Whether our NAT keeps one public address for different destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NatMapping {
    /// The same for both: a direct connection can be made through it.
    Consistent,
    /// A new one per destination (a "symmetric" NAT): only the relay connects.
    Varies,
}

/// What the check found, plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// STUN works and the NAT keeps its mapping: a direct connection is likely.
    DirectLikely,
    /// A direct connection is unlikely, the relay over UDP works.
    RelayUdp,
    /// Only the relay over TCP works (UDP is blocked).
    RelayTcp,
    /// Only the relay over TLS works (nothing but TLS gets out).
    RelayTlsOnly,
    /// The room server answers, but no way for sound and picture got through.
    NoMedia,
    /// The room server answers, but did not say how media would travel (an older server).
    MediaUnknown,
    /// The room server answers and offers no relay: sound and picture must go directly (fine on
    /// one network, as with the app's own server; uncertain across the internet).
    DirectOnly,
    /// Too many checks from this network just now: the room server said nothing more.
    TooSoon,
    /// The room server cannot be reached: no lesson can start.
    ServerUnreachable,
}

impl Verdict {
    /// In English, for `tutti-peer check` and the report (the app says it in Korean too).
    pub fn say(self, extra_ms: Option<f64>) -> String {
        let more = extra_ms.map_or(String::new(), |ms| {
            format!(": expect about {} ms more each way", ms.round())
        });
        match self {
            Self::DirectLikely => "A direct connection is likely.".into(),
            Self::RelayUdp => format!("A direct connection is unlikely; the relay works{more}."),
            Self::RelayTcp => format!("UDP is blocked; only the relay over TCP works{more}."),
            Self::RelayTlsOnly => format!("Only the relay over TLS works{more}."),
            Self::NoMedia => "The room server answers, but sound and picture cannot get through \
                              this network: try another network, or ask its administrator to let \
                              UDP or TLS to the room server out."
                .into(),
            Self::MediaUnknown => "The room server answers; it did not say how sound and picture \
                                   would travel (an older server)."
                .into(),
            Self::DirectOnly => "The room server answers and offers no relay: sound and picture \
                                 must go directly, which works on one network and may not across \
                                 the internet."
                .into(),
            Self::TooSoon => {
                "Too many checks from this network just now: try again in a minute.".into()
            }
            Self::ServerUnreachable => "The room server is unreachable: check its address, the \
                                        internet connection, and whether this network blocks it."
                .into(),
        }
    }
}

/// Everything the check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub server: String,
    pub verdict: Verdict,
    /// What the relay adds to the one-way delay, roughly, when it is the way (ms).
    pub extra_ms: Option<f64>,
    /// Our address as the room server and STUN saw it.
    pub public_address: Option<String>,
    pub nat: Option<NatMapping>,
    pub paths: Vec<PathResult>,
}

impl CheckReport {
    pub fn path(&self, name: PathName) -> Option<&PathResult> {
        self.paths.iter().find(|p| p.path == name)
    }

    fn works(&self, name: PathName) -> bool {
        self.path(name).is_some_and(|p| p.ok)
    }

    /// A plain text report, in English, for a student to send to the teacher.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Tutti connection check: {}\n{}\n",
            self.server,
            self.verdict.say(self.extra_ms)
        );
        if let Some(a) = &self.public_address {
            out += &format!("Public address: {a}\n");
        }
        if let Some(n) = self.nat {
            out += match n {
                NatMapping::Consistent => "NAT: keeps one address (direct connections can work)\n",
                NatMapping::Varies => "NAT: a new address per destination (relay needed)\n",
            };
        }
        for p in &self.paths {
            let name = serde_json::to_value(p.path)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let rtt = p.rtt_ms.map_or(String::new(), |ms| format!(" {ms:.0} ms"));
            let to = p.to.as_deref().map_or(String::new(), |t| format!(" ({t})"));
            let why = p
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(": {e}"));
            let mark = if p.ok { "ok" } else { "FAILED" };
            out += &format!("  {name:<11} {mark}{rtt}{to}{why}\n");
        }
        out
    }
}

/// Runs the check.
pub async fn run(opts: &CheckOptions) -> CheckReport {
    let trust = opts.trust_ca_pem.as_deref();
    let (http, ws) = tokio::join!(
        bounded(opts.within, server_http(&opts.server, trust)),
        bounded(opts.within, server_ws(&opts.server, trust)),
    );
    let (http, told) = match http {
        Ok((rtt, to, told)) => (ok(PathName::ServerHttp, rtt, to), told),
        Err(e) => (failed(PathName::ServerHttp, None, e), Told::Nothing),
    };
    let (info, mut offered) = match told {
        Told::Info(info) => (Some(info), Offered::Unknown),
        Told::TooSoon => (None, Offered::TooSoon),
        Told::Nothing => (None, Offered::Unknown),
    };
    let ws = match ws {
        Ok((rtt, to)) => ok(PathName::ServerWs, rtt, to),
        Err(e) => failed(PathName::ServerWs, None, e),
    };
    let mut paths = vec![http, ws];
    let mut public_address = info.as_ref().map(|i| i.your_address.clone());
    let mut nat = None;
    if let Some(info) = &info {
        let relay = info
            .ice_servers
            .iter()
            .find(|s| s.username.is_some() && s.urls.iter().any(|u| u.starts_with("turn")));
        let stun_url = info
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .find(|u| u.starts_with("stun:"))
            .cloned();
        offered = Offered::Servers {
            any: info.ice_servers.iter().any(|s| !s.urls.is_empty()),
            relay: relay.is_some(),
        };
        let turn = |transport| relay.and_then(|r| turn_target(r, transport));
        let (stun, turn_udp, turn_tcp, turn_tls) = tokio::join!(
            bounded(
                opts.within,
                stun(stun_url.as_deref(), info.stun_alt.as_deref())
            ),
            bounded(opts.within, allocate(turn(Transport::Udp), trust)),
            bounded(opts.within, allocate(turn(Transport::Tcp), trust)),
            bounded(opts.within, allocate(turn(Transport::Tls), trust)),
        );
        paths.push(match stun {
            Ok(found) => {
                public_address = Some(found.mapped.ip().to_string());
                nat = found.nat;
                ok(PathName::Stun, found.rtt, found.to)
            }
            Err(e) => failed(PathName::Stun, stun_url.as_deref().and_then(host_port), e),
        });
        for (name, transport, result) in [
            (PathName::TurnUdp, Transport::Udp, turn_udp),
            (PathName::TurnTcp, Transport::Tcp, turn_tcp),
            (PathName::TurnTls, Transport::Tls, turn_tls),
        ] {
            let to = turn(transport).map(|t| t.host_port);
            paths.push(match result {
                Ok(rtt) => ok(name, rtt, to.unwrap_or_default()),
                Err(e) => failed(name, to, e),
            });
        }
    }
    let mut report = CheckReport {
        server: opts.server.clone(),
        verdict: Verdict::ServerUnreachable,
        extra_ms: None,
        public_address,
        nat,
        paths,
    };
    (report.verdict, report.extra_ms) = verdict(&report, offered);
    report
}

fn verdict(r: &CheckReport, offered: Offered) -> (Verdict, Option<f64>) {
    if !r.works(PathName::ServerWs) {
        return (Verdict::ServerUnreachable, None);
    }
    let relay = match offered {
        Offered::Unknown => return (Verdict::MediaUnknown, None),
        Offered::TooSoon => return (Verdict::TooSoon, None),
        Offered::Servers { any: false, .. } => return (Verdict::DirectOnly, None),
        Offered::Servers { relay, .. } => relay,
    };
    if r.works(PathName::Stun) && r.nat != Some(NatMapping::Varies) {
        return (Verdict::DirectLikely, None);
    }
    // The relay's detour: out to it and back, against a direct path, is about its round trip.
    let extra = |name| r.path(name).and_then(|p| p.rtt_ms);
    for (name, v) in [
        (PathName::TurnUdp, Verdict::RelayUdp),
        (PathName::TurnTcp, Verdict::RelayTcp),
        (PathName::TurnTls, Verdict::RelayTlsOnly),
    ] {
        if r.works(name) {
            return (v, extra(name));
        }
    }
    // Without a relay to try, a direct path may still work to a peer with an open NAT.
    if relay {
        (Verdict::NoMedia, None)
    } else {
        (Verdict::DirectOnly, None)
    }
}

fn ok(path: PathName, rtt: Duration, to: String) -> PathResult {
    PathResult {
        path,
        ok: true,
        rtt_ms: Some(rtt.as_secs_f64() * 1e3),
        to: Some(to),
        error: None,
    }
}

fn failed(path: PathName, to: Option<String>, error: String) -> PathResult {
    PathResult {
        path,
        ok: false,
        rtt_ms: None,
        to,
        error: Some(error),
    }
}

async fn bounded<T>(
    within: Duration,
    f: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(within, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", within.as_secs_f64())))
}

/// `/healthz` twice on one connection (the second is the round trip), then `/api/check`.
async fn server_http(
    server: &str,
    trust: Option<&[u8]>,
) -> Result<(Duration, String, Told), String> {
    let base = socket::http_base(server)?;
    let http = socket::http_builder(trust)?
        .build()
        .map_err(|e| e.to_string())?;
    let health = format!("{base}/healthz");
    let get = |url: String| {
        let http = http.clone();
        async move {
            let res = http.get(url).send().await.map_err(|e| say_reqwest(&e))?;
            let status = res.status();
            let body = res.bytes().await.map_err(|e| say_reqwest(&e))?;
            Ok::<_, String>((status, body))
        }
    };
    let (status, _) = get(health.clone()).await?;
    if !status.is_success() {
        return Err(format!("/healthz answered {status}"));
    }
    let began = Instant::now();
    get(health).await?;
    let rtt = began.elapsed();
    // An older server has no check API: the server is fine, the rest unknown.
    let told = match get(format!("{base}{CHECK_PATH}")).await {
        Ok((status, body)) if status.is_success() => serde_json::from_slice(&body)
            .map(Told::Info)
            .unwrap_or(Told::Nothing),
        Ok((status, _)) if status == reqwest::StatusCode::TOO_MANY_REQUESTS => Told::TooSoon,
        _ => Told::Nothing,
    };
    Ok((rtt, base, told))
}

/// What `/api/check` said.
enum Told {
    Info(CheckInfo),
    /// Too many checks from this address just now.
    TooSoon,
    /// Nothing: an older server, or a proxy that passes only the WebSocket.
    Nothing,
}

/// What the server offers for media, as the verdict weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offered {
    /// It did not say.
    Unknown,
    /// It would not say now (too many checks).
    TooSoon,
    /// STUN or TURN servers (`any`), of them a relay with credentials (`relay`).
    Servers { any: bool, relay: bool },
}

fn say_reqwest(e: &reqwest::Error) -> String {
    // reqwest's own text hides the cause ("error sending request"): say the innermost one.
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The WebSocket opened, then a ping's round trip.
async fn server_ws(server: &str, trust: Option<&[u8]>) -> Result<(Duration, String), String> {
    let mut ws = socket::open(server, trust).await?;
    let began = Instant::now();
    ws.send(WsMessage::Ping(b"check".to_vec().into()))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(msg) = ws.next().await {
        if let WsMessage::Pong(_) = msg.map_err(|e| e.to_string())? {
            let rtt = began.elapsed();
            let _ = ws.close(None).await;
            return Ok((rtt, server.to_owned()));
        }
    }
    Err("the connection closed".into())
}

struct StunFound {
    rtt: Duration,
    to: String,
    mapped: SocketAddr,
    nat: Option<NatMapping>,
}

/// A Binding request to `url`, and one to `alt` from the same socket.
async fn stun(url: Option<&str>, alt: Option<&str>) -> Result<StunFound, String> {
    let url = url.ok_or("the room server offers no STUN")?;
    let to = host_port(url).ok_or_else(|| format!("not a STUN address: {url}"))?;
    let server = resolve(&to).await?;
    let socket = UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    .map_err(|e| e.to_string())?;
    let (response, rtt) = ask_udp(&socket, server, &binding()?).await?;
    let mapped = mapped_address(&response)?;
    let mut nat = None;
    let alt = match alt.and_then(host_port) {
        Some(alt) => resolve(&alt).await.ok(),
        None => None,
    };
    // No answer from the second port says nothing about the NAT.
    if let Some(alt) = alt
        && let Ok((second, _)) = ask_udp(&socket, alt, &binding()?).await
    {
        nat = mapped_address(&second).ok().map(|seen| {
            if seen == mapped {
                NatMapping::Consistent
            } else {
                NatMapping::Varies
            }
        });
    }
    Ok(StunFound {
        rtt,
        to,
        mapped,
        nat,
    })
}

fn binding() -> Result<Message, String> {
    let mut m = Message::new();
    m.build(&[
        Box::new(rtc_stun::message::TransactionId::new()),
        Box::new(BINDING_REQUEST),
    ])
    .map_err(|e| e.to_string())?;
    Ok(m)
}

fn mapped_address(m: &Message) -> Result<SocketAddr, String> {
    let mut xor = XorMappedAddress::default();
    xor.get_from(m)
        .map_err(|e| format!("no mapped address: {e}"))?;
    Ok(SocketAddr::new(xor.ip, xor.port))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// A TURN server to try, and its credentials.
#[derive(Debug, Clone)]
struct TurnTarget {
    /// `HOST:PORT`, IPv6 in brackets.
    host_port: String,
    host: String,
    transport: Transport,
    username: String,
    password: String,
}

/// The first URL of `server` that is TURN over `transport`.
fn turn_target(server: &IceServer, transport: Transport) -> Option<TurnTarget> {
    let url = server
        .urls
        .iter()
        .filter_map(|u| IceUrl::parse(u))
        .find(|u| match (u.scheme, transport) {
            (IceScheme::Turn, Transport::Udp) => !u.tcp,
            (IceScheme::Turn, Transport::Tcp) => u.tcp,
            (IceScheme::Turns, Transport::Tls) => true,
            _ => false,
        })?;
    Some(TurnTarget {
        host_port: url.host_port(),
        host: url.host,
        transport,
        username: server.username.clone()?,
        password: server.credential.clone()?,
    })
}

/// `stun:HOST:PORT?…` → `HOST:PORT` (the scheme's default port when none is given).
fn host_port(url: &str) -> Option<String> {
    IceUrl::parse(url).map(|u| u.host_port())
}

async fn resolve(host_port: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| format!("{host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host_port}: no address"))
}

/// A TURN allocation made and released: the relay works this way. The round trip is the
/// first request's, after the connection (and TLS) is up.
async fn allocate(target: Option<TurnTarget>, trust: Option<&[u8]>) -> Result<Duration, String> {
    let t = target.ok_or("the room server offers no relay this way")?;
    let addr = resolve(&t.host_port).await?;
    let mut carrier = match t.transport {
        Transport::Udp => {
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            Carrier::Udp(
                UdpSocket::bind(local).await.map_err(|e| e.to_string())?,
                addr,
            )
        }
        Transport::Tcp | Transport::Tls => {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            if t.transport == Transport::Tls {
                let name = rustls::pki_types::ServerName::try_from(t.host.clone())
                    .map_err(|e| format!("{}: {e}", t.host))?;
                let tls = tutti_media::tcp_turn::client_tls(trust)?;
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                Carrier::Stream(Box::new(stream))
            } else {
                Carrier::Stream(Box::new(tcp))
            }
        }
    };
    // The first request is unauthenticated; the server's 401 gives the realm and nonce.
    let first = allocate_request(None)?;
    let (challenge, rtt) = carrier.ask(&first).await?;
    let mut answer = challenge;
    let mut auth = None;
    // The first answer is a challenge (401), a stale nonce (438) may follow once.
    for _ in 0..3 {
        if answer.typ.class == CLASS_SUCCESS_RESPONSE {
            let mut relayed = RelayedAddress::default();
            relayed
                .get_from(&answer)
                .map_err(|e| format!("no relayed address: {e}"))?;
            // Released at once: the check is not a lesson.
            if let Ok(release) = refresh_zero(auth.as_ref()) {
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), carrier.ask(&release)).await;
            }
            return Ok(rtt);
        }
        let mut code = ErrorCodeAttribute::default();
        code.get_from(&answer)
            .map_err(|e| format!("an unreadable answer: {e}"))?;
        let retry =
            code.code == CODE_UNAUTHORIZED && auth.is_none() || code.code == CODE_STALE_NONCE;
        if !retry {
            return Err(if code.code == CODE_UNAUTHORIZED {
                format!("the relay refused the credentials: {code}")
            } else {
                format!("refused: {code}")
            });
        }
        let realm = text(&answer, ATTR_REALM)?;
        let nonce = text(&answer, ATTR_NONCE)?;
        let signed = Auth::new(&t, &realm, &nonce)?;
        let request = allocate_request(Some(&signed))?;
        auth = Some(signed);
        answer = carrier.ask(&request).await?.0;
    }
    Err("the relay kept asking for a new nonce".into())
}

fn text(m: &Message, attr: rtc_stun::attributes::AttrType) -> Result<String, String> {
    TextAttribute::get_from_as(m, attr)
        .map(|t| t.text)
        .map_err(|e| format!("the relay's challenge lacks {attr}: {e}"))
}

/// Long-term credentials for one nonce.
struct Auth {
    username: TextAttribute,
    realm: TextAttribute,
    nonce: TextAttribute,
    key: Vec<u8>,
}

impl Auth {
    fn new(t: &TurnTarget, realm: &str, nonce: &str) -> Result<Self, String> {
        let provider = rtc_crypto::default_provider().map_err(|e| e.to_string())?;
        let key = MessageIntegrity::long_term_integrity_key(
            t.username.clone(),
            realm.to_owned(),
            t.password.clone(),
            provider.crypto(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            username: TextAttribute::new(ATTR_USERNAME, t.username.clone()),
            realm: TextAttribute::new(ATTR_REALM, realm.to_owned()),
            nonce: TextAttribute::new(ATTR_NONCE, nonce.to_owned()),
            key,
        })
    }

    /// Adds the credentials and the message's integrity (last: it covers what comes before).
    fn sign(&self, m: &mut Message) -> Result<(), String> {
        let provider = rtc_crypto::default_provider().map_err(|e| e.to_string())?;
        for attr in [&self.username, &self.realm, &self.nonce] {
            attr.add_to(m).map_err(|e| e.to_string())?;
        }
        MessageIntegrity::new_raw_integrity_with_provider(self.key.clone(), provider.crypto())
            .add_to(m)
            .map_err(|e| e.to_string())
    }
}

fn allocate_request(auth: Option<&Auth>) -> Result<Message, String> {
    let mut m = Message::new();
    m.build(&[
        Box::new(rtc_stun::message::TransactionId::new()),
        Box::new(rtc_turn::proto::allocate_request()),
        Box::new(RequestedTransport {
            protocol: rtc_turn::proto::PROTO_UDP,
        }),
    ])
    .map_err(|e| e.to_string())?;
    if let Some(auth) = auth {
        auth.sign(&mut m)?;
    }
    Ok(m)
}

fn refresh_zero(auth: Option<&Auth>) -> Result<Message, String> {
    let mut m = Message::new();
    m.build(&[
        Box::new(rtc_stun::message::TransactionId::new()),
        Box::new(rtc_turn::proto::refresh_request()),
        Box::new(Lifetime(Duration::ZERO)),
    ])
    .map_err(|e| e.to_string())?;
    if let Some(auth) = auth {
        auth.sign(&mut m)?;
    }
    Ok(m)
}

/// How STUN messages travel: datagrams (sent again when unanswered), or a stream where they
/// delimit themselves.
enum Carrier {
    Udp(UdpSocket, SocketAddr),
    Stream(Box<dyn Io>),
}

impl Carrier {
    /// Sends `request` and waits for the answer with its transaction id; returns it and the
    /// time from the (last) sending.
    async fn ask(&mut self, request: &Message) -> Result<(Message, Duration), String> {
        match self {
            Self::Udp(socket, to) => ask_udp(socket, *to, request).await,
            Self::Stream(stream) => {
                let sent = Instant::now();
                stream
                    .write_all(&request.raw)
                    .await
                    .map_err(|e| e.to_string())?;
                loop {
                    let mut header = [0u8; 20];
                    stream
                        .read_exact(&mut header)
                        .await
                        .map_err(|e| format!("the relay closed the connection: {e}"))?;
                    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
                    let mut raw = header.to_vec();
                    raw.resize(20 + len, 0);
                    stream
                        .read_exact(&mut raw[20..])
                        .await
                        .map_err(|e| format!("the relay closed the connection: {e}"))?;
                    if let Some(m) = answer_to(request, &raw) {
                        return Ok((m, sent.elapsed()));
                    }
                }
            }
        }
    }
}

/// A request over UDP, sent again when unanswered (RFC 5389 §7.2.1, shortened: 0.5, 1, 2 s).
async fn ask_udp(
    socket: &UdpSocket,
    to: SocketAddr,
    request: &Message,
) -> Result<(Message, Duration), String> {
    let mut buf = vec![0u8; 1500];
    for wait in [500, 1000, 2000].map(Duration::from_millis) {
        let sent = Instant::now();
        socket
            .send_to(&request.raw, to)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = sent + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(got) = tokio::time::timeout(left, socket.recv_from(&mut buf)).await else {
                break;
            };
            let (n, from) = got.map_err(|e| e.to_string())?;
            if from != to {
                continue;
            }
            if let Some(m) = answer_to(request, &buf[..n]) {
                return Ok((m, sent.elapsed()));
            }
        }
    }
    Err("no answer (UDP blocked?)".into())
}

fn answer_to(request: &Message, raw: &[u8]) -> Option<Message> {
    let mut m = Message::new();
    m.raw = raw.to_vec();
    m.decode().ok()?;
    (m.transaction_id == request.transaction_id).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_can_run_on_any_thread() {
        fn send<T: Send>(_: &T) {}
        let opts = CheckOptions::new("ws://127.0.0.1:9/ws");
        send(&run(&opts));
    }

    #[test]
    fn urls_give_the_address_to_try() {
        assert_eq!(
            host_port("stun:10.9.0.2:3478").as_deref(),
            Some("10.9.0.2:3478")
        );
        assert_eq!(
            host_port("turns:relay.example.org?transport=tcp").as_deref(),
            Some("relay.example.org:5349")
        );
        assert_eq!(host_port("stun:[::1]:3479").as_deref(), Some("[::1]:3479"));
        assert_eq!(host_port("stun:[::1]").as_deref(), Some("[::1]:3478"));
        assert_eq!(host_port("stun:"), None);
        let relay = IceServer {
            urls: vec![
                "turns:tutti.example.org:443?transport=tcp".into(),
                "stun:10.9.0.2:3478".into(),
                "turn:10.9.0.2:3478?transport=udp".into(),
                "turn:10.9.0.2:3478?transport=tcp".into(),
            ],
            username: Some("u".into()),
            credential: Some("p".into()),
        };
        let tls = turn_target(&relay, Transport::Tls).unwrap();
        assert_eq!(
            (tls.host.as_str(), tls.host_port.as_str()),
            ("tutti.example.org", "tutti.example.org:443")
        );
        let udp = turn_target(&relay, Transport::Udp).unwrap();
        assert_eq!(
            (udp.host.as_str(), udp.host_port.as_str()),
            ("10.9.0.2", "10.9.0.2:3478")
        );
        assert_eq!(
            turn_target(&relay, Transport::Tcp).unwrap().host_port,
            "10.9.0.2:3478"
        );
        let anonymous = IceServer {
            username: None,
            ..relay
        };
        assert!(turn_target(&anonymous, Transport::Udp).is_none());
    }

    fn report(paths: &[(PathName, bool, f64)], nat: Option<NatMapping>) -> CheckReport {
        CheckReport {
            server: "ws://x/ws".into(),
            verdict: Verdict::ServerUnreachable,
            extra_ms: None,
            public_address: None,
            nat,
            paths: paths
                .iter()
                .map(|&(path, ok, rtt)| PathResult {
                    path,
                    ok,
                    rtt_ms: ok.then_some(rtt),
                    to: None,
                    error: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_verdict_names_the_best_way_that_works() {
        use PathName::*;
        let all = [
            (ServerHttp, true, 1.0),
            (ServerWs, true, 1.0),
            (Stun, true, 10.0),
            (TurnUdp, true, 11.0),
            (TurnTcp, true, 12.0),
            (TurnTls, true, 13.0),
        ];
        let with = |off: &[PathName], nat| {
            let paths: Vec<_> = all
                .iter()
                .map(|&(p, ok, rtt)| (p, ok && !off.contains(&p), rtt))
                .collect();
            verdict(
                &report(&paths, nat),
                Offered::Servers {
                    any: true,
                    relay: true,
                },
            )
        };
        assert_eq!(
            with(&[], Some(NatMapping::Consistent)).0,
            Verdict::DirectLikely
        );
        assert_eq!(with(&[], None).0, Verdict::DirectLikely);
        assert_eq!(
            with(&[], Some(NatMapping::Varies)),
            (Verdict::RelayUdp, Some(11.0))
        );
        assert_eq!(
            with(&[Stun, TurnUdp], None),
            (Verdict::RelayTcp, Some(12.0))
        );
        assert_eq!(
            with(&[Stun, TurnUdp, TurnTcp], None),
            (Verdict::RelayTlsOnly, Some(13.0))
        );
        assert_eq!(
            with(&[Stun, TurnUdp, TurnTcp, TurnTls], None).0,
            Verdict::NoMedia
        );
        assert_eq!(with(&[ServerWs], None).0, Verdict::ServerUnreachable);
        // Without the API (an older server, or a proxy passing only /ws): nothing to say.
        assert_eq!(
            verdict(&report(&all, None), Offered::Unknown).0,
            Verdict::MediaUnknown
        );
        // Refused for too many checks: said so, not taken for an older server.
        assert_eq!(
            verdict(&report(&all[..2], None), Offered::TooSoon).0,
            Verdict::TooSoon
        );
        // A server with no STUN or relay (the app's own): direct only, not "no way through".
        let servers = |any, relay| Offered::Servers { any, relay };
        assert_eq!(
            verdict(&report(&all[..2], None), servers(false, false)).0,
            Verdict::DirectOnly
        );
        // STUN alone, behind a NAT that varies: direct may still work to an open peer.
        let stun_only: Vec<_> = all[..3].to_vec();
        assert_eq!(
            verdict(
                &report(&stun_only, Some(NatMapping::Varies)),
                servers(true, false)
            )
            .0,
            Verdict::DirectOnly
        );
        assert!(
            Verdict::RelayTlsOnly
                .say(Some(41.6))
                .contains("about 42 ms more")
        );
    }
}
