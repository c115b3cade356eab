//! STUN and TURN next to the room server, for peers that cannot reach each other directly
//! (symmetric and carrier-grade NATs, firewalls that only let TCP out).
//!
//! The relay is `medea-turn`, a maintained fork of the webrtc-rs project's TURN server that adds
//! the TCP transport (webrtc-rs's own `turn` server listens on UDP only, and a firewall that
//! blocks UDP is one of the cases this exists for). It runs in-process: nothing else to deploy
//! or supervise. Both transports listen on the same port.
//!
//! Credentials follow the TURN REST scheme: the username is `EXPIRY:PEER` (Unix seconds, and
//! the participant it was issued to), the password `base64(HMAC-SHA1(secret, username))`. The
//! room server hands them out only in the reply that admits a participant into a lesson, so
//! the relay serves admitted participants and, once a credential expires, nobody.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use medea_turn::{AuthHandler, ServerConfig, TurnConfig, relay::Allocator, transport};
use secrecy::SecretString;
use sha1::Sha1;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tutti_protocol::IceServer;

use crate::tls::Certificate;

/// The realm the relay announces; clients take it from the server's challenge.
const REALM: &str = "tutti";
/// How long the connection check's credentials last (a check takes 5 s at most), and its
/// allocations: they are dropped then.
pub const CHECK_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("cannot listen for STUN/TURN on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the TURN relay's public address must be given when it listens on {0}")]
    NoPublicAddress(SocketAddr),
    #[error("relay port range {0}-{1} is empty")]
    PortRange(u16, u16),
    #[error("TURN transport: {0}")]
    Transport(String),
    #[error("TURN over TLS: {0}")]
    Tls(String),
}

/// How the relay is set up.
#[derive(Clone)]
pub struct TurnSettings {
    /// UDP and TCP, same port.
    pub listen: SocketAddr,
    /// The address peers reach the relay at and relayed addresses are announced with; the
    /// listening address when that is a specific one.
    pub public_ip: Option<IpAddr>,
    /// The HMAC key credentials are signed with.
    pub secret: Vec<u8>,
    /// How long a credential is good for (allocations are refreshed with it).
    pub ttl: Duration,
    /// Ports relayed addresses are taken from.
    pub relay_ports: (u16, u16),
    /// TURN over TLS as well (`turns:`), for networks that let only TLS out.
    pub tls: Option<TurnTls>,
}

impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TurnSettings")
            .field("listen", &self.listen)
            .field("public_ip", &self.public_ip)
            .field("ttl", &self.ttl)
            .field("relay_ports", &self.relay_ports)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// TURN over TLS: a certificate, and where to listen.
#[derive(Debug, Clone)]
pub struct TurnTls {
    pub listen: SocketAddr,
    pub cert_pem: std::path::PathBuf,
    pub key_pem: std::path::PathBuf,
    /// The name clients connect to (what the certificate is for); the public IP if `None`.
    pub name: Option<String>,
}

fn turns_url(name: &str, port: u16) -> String {
    match name.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => format!("turns:[{ip}]:{port}?transport=tcp"),
        Err(_) => format!("turns:{name}:{port}?transport=tcp"),
    }
}

/// Issues per-participant credentials for the relay, and revokes them when the participant
/// leaves the lesson (or is removed, or the lesson ends); cheap to clone into the hub.
#[derive(Clone)]
pub struct TurnIssuer {
    urls: Vec<String>,
    /// A second STUN port, for the connection check (`stun:HOST:PORT`).
    stun_alt: Option<String>,
    secret: Arc<[u8]>,
    ttl: Duration,
    revocations: Arc<Revocations>,
}

/// Shared by the hub (which revokes) and the relay's auth handler (which checks).
#[derive(Default)]
struct Revocations {
    state: Mutex<RevocationState>,
    /// Usernames whose allocations the relay should drop now.
    drop_allocations: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

#[derive(Default)]
struct RevocationState {
    /// Usernames issued to each participant (a rejoin gets a fresh one).
    issued: HashMap<String, Vec<String>>,
    /// Revoked usernames, each until it would have expired anyway. Kept by username, not by
    /// participant: a participant admitted again gets a new credential, and the old ones must
    /// stay dead.
    revoked: HashMap<String, u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for TurnIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TurnIssuer")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TurnIssuer {
    /// Adds the `turns:` URL (TLS on `port`, for the certificate's `name`).
    pub fn with_tls(mut self, name: &str, port: u16) -> Self {
        self.urls.push(turns_url(name, port));
        self
    }

    /// Adds the `turns:` URL before the others: a client tries it with the rest, and lists
    /// read by people (the connection check) show first what gets through the most networks.
    pub fn with_tls_first(mut self, name: &str, port: u16) -> Self {
        self.urls.insert(0, turns_url(name, port));
        self
    }

    pub fn new(public: SocketAddr, secret: &[u8], ttl: Duration) -> Self {
        let host = match public.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        let port = public.port();
        Self {
            urls: vec![
                format!("stun:{host}:{port}"),
                format!("turn:{host}:{port}?transport=udp"),
                format!("turn:{host}:{port}?transport=tcp"),
            ],
            stun_alt: None,
            secret: secret.into(),
            ttl,
            revocations: Arc::default(),
        }
    }

    /// `peer` has left: its credentials stop working and its relay allocations are dropped.
    pub fn revoke(&self, peer: &str, now_unix: u64) {
        let usernames = {
            let mut st = lock(&self.revocations.state);
            st.revoked.retain(|_, until| *until >= now_unix);
            let usernames = st.issued.remove(peer).unwrap_or_default();
            for u in &usernames {
                let until = expiry_of(u).unwrap_or(now_unix + self.ttl.as_secs());
                st.revoked.insert(u.clone(), until);
            }
            usernames
        };
        if let Some(tx) = &self.revocations.drop_allocations {
            for u in usernames {
                let _ = tx.send(u);
            }
        }
    }

    /// Whether the relay refuses `username` because its participant has left.
    pub fn is_revoked(&self, username: &str) -> bool {
        lock(&self.revocations.state).revoked.contains_key(username)
    }

    /// Credentials for one connection check, under a name of their own (returned), good for
    /// `CHECK_TTL`. The caller revokes that name once `CHECK_TTL` has passed, which drops any
    /// allocation made with them: a check is not a relay for anyone who asks.
    pub fn for_check(&self, now_unix: u64) -> (String, IceServer) {
        let name = format!("check-{:016x}", rand::random::<u64>());
        let server = self.issue(&name, now_unix, CHECK_TTL);
        (name, server)
    }

    /// The relay's second STUN address, if it has one.
    pub fn stun_alt(&self) -> Option<&str> {
        self.stun_alt.as_deref()
    }

    /// The STUN and TURN entry for participant `peer`, valid from `now_unix` (seconds) for the
    /// issuer's time to live.
    pub fn ice_server(&self, peer: &str, now_unix: u64) -> IceServer {
        self.issue(peer, now_unix, self.ttl)
    }

    fn issue(&self, peer: &str, now_unix: u64, ttl: Duration) -> IceServer {
        let username = format!("{}:{peer}", now_unix + ttl.as_secs());
        let credential = password(&self.secret, &username);
        {
            let mut st = lock(&self.revocations.state);
            // Issued again within the same second: the same string, a new grant.
            st.revoked.remove(&username);
            st.issued
                .entry(peer.to_owned())
                .or_default()
                .push(username.clone());
        }
        IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        }
    }
}

/// `base64(HMAC-SHA1(secret, username))`, as coturn's `use-auth-secret` computes it.
pub fn password(secret: &[u8], username: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The expiry (Unix seconds) an `EXPIRY:PEER` username carries: digits only, as issued
/// (`u64::from_str` also takes a leading `+`, so `+EXPIRY:PEER` was accepted as another
/// spelling of a name never issued; found by the `turn` fuzz target).
fn expiry_of(username: &str) -> Option<u64> {
    let (expiry, peer) = username.split_once(':')?;
    let digits = !expiry.is_empty() && expiry.bytes().all(|b| b.is_ascii_digit());
    (digits && !peer.is_empty()).then_some(())?;
    expiry.parse().ok()
}

/// Whether `username` (as `EXPIRY:PEER`) is still good at `now_unix`; its password if so.
pub fn check(secret: &[u8], username: &str, now_unix: u64) -> Option<String> {
    (expiry_of(username)? >= now_unix).then(|| password(secret, username))
}

/// The relay's credentials against any input (the `turn` fuzz target and the proptest below):
/// `check` never panics, accepts exactly `EXPIRY:PEER` names not yet expired and then gives
/// their password; what the issuer hands `peer` works until it expires or `peer` leaves, and
/// `other` leaving does not touch it.
#[doc(hidden)]
pub fn credential_property(
    secret: &[u8],
    username: &str,
    peer: &str,
    other: &str,
    now_unix: u32,
) -> Result<(), String> {
    let now = u64::from(now_unix);
    // Read here independently of `expiry_of`: digits, a colon, a peer.
    let good = username.split_once(':').is_some_and(|(expiry, peer)| {
        !peer.is_empty()
            && !expiry.is_empty()
            && expiry.bytes().all(|b| b.is_ascii_digit())
            && expiry.parse::<u64>().is_ok_and(|e| e >= now)
    });
    match check(secret, username, now) {
        Some(p) if good && p == password(secret, username) => {}
        None if !good => {}
        got => return Err(format!("{username:?} at {now}: {got:?}")),
    }
    if peer.is_empty() {
        return Ok(()); // peer ids are never empty; `EXPIRY:` names no one and is refused
    }
    let issuer = TurnIssuer::new(
        ([192, 0, 2, 1], 3478).into(),
        secret,
        Duration::from_secs(600),
    );
    let server = issuer.ice_server(peer, now);
    let (Some(user), Some(pass)) = (server.username, server.credential) else {
        return Err(format!("no credential for {peer:?}"));
    };
    if check(secret, &user, now + 600).as_ref() != Some(&pass)
        || check(secret, &user, now + 601).is_some()
    {
        return Err(format!("{user:?} is not good for exactly its time to live"));
    }
    if other != peer {
        issuer.revoke(other, now);
        if issuer.is_revoked(&user) {
            return Err(format!("{other:?} leaving revoked {peer:?}'s {user:?}"));
        }
    }
    issuer.revoke(peer, now);
    if !issuer.is_revoked(&user) {
        return Err(format!("{peer:?} left and {user:?} still works"));
    }
    Ok(())
}

struct RestAuth {
    issuer: TurnIssuer,
}

impl AuthHandler for RestAuth {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        src: SocketAddr,
    ) -> Result<SecretString, medea_turn::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if self.issuer.is_revoked(username) {
            tracing::info!(%src, username, "TURN: refused a revoked credential");
            return Err(medea_turn::Error::NoSuchUser);
        }
        match check(&self.issuer.secret, username, now) {
            Some(pass) => Ok(SecretString::from(pass)),
            None => {
                tracing::info!(%src, username, "TURN: refused an unknown or expired credential");
                Err(medea_turn::Error::NoSuchUser)
            }
        }
    }
}

/// The running relay; it stops with the runtime it was started on.
pub struct RunningTurn {
    _server: Arc<medea_turn::Server>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    /// The certificate of TURN's own TLS port, if it has one.
    pub certificate: Option<Arc<Certificate>>,
    pub issuer: TurnIssuer,
    public_ip: IpAddr,
    tls_task: Option<tokio::task::JoinHandle<()>>,
    dropper: tokio::task::JoinHandle<()>,
}

impl RunningTurn {
    /// The relay's TCP listener as this process reaches it (loopback where it listens on all
    /// addresses), for TLS terminated here.
    pub fn tcp_reachable(&self) -> SocketAddr {
        Self::reachable(self.tcp_addr)
    }

    fn reachable(mut addr: SocketAddr) -> SocketAddr {
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            });
        }
        addr
    }

    /// The address peers reach the relay at.
    pub fn public_ip(&self) -> IpAddr {
        self.public_ip
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        if let Some(t) = &self.tls_task {
            t.abort();
        }
        self.dropper.abort();
    }
}

/// Terminates TLS and hands each connection's bytes to the relay's own TCP listener. The relay
/// then sees the connection as coming from here, which changes nothing for relaying (each
/// connection is its own 5-tuple); only its STUN answers name this address instead of the
/// client's, and a client behind a TLS-only firewall has no use for those.
async fn terminate_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    relay_tcp: SocketAddr,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin on the error.
                tracing::warn!(error = %e, "TURN over TLS: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            let mut tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%from, error = %e, "TURN over TLS: handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let Ok(mut inner) = tokio::net::TcpStream::connect(relay_tcp).await else {
                return;
            };
            let _ = inner.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
        });
    }
}

pub async fn start(settings: &TurnSettings) -> Result<RunningTurn, TurnError> {
    let listen_err = |source| TurnError::Listen {
        addr: settings.listen,
        source,
    };
    let udp = tokio::net::UdpSocket::bind(settings.listen)
        .await
        .map_err(listen_err)?;
    let udp_addr = udp.local_addr().map_err(listen_err)?;
    // TCP on the port UDP got (when the port was 0, the one picked for UDP).
    let tcp = tokio::net::TcpListener::bind(udp_addr)
        .await
        .map_err(listen_err)?;
    let tcp_addr = tcp.local_addr().map_err(listen_err)?;
    let public_ip = match settings.public_ip {
        Some(ip) => ip,
        None if !udp_addr.ip().is_unspecified() => udp_addr.ip(),
        None => return Err(TurnError::NoPublicAddress(udp_addr)),
    };
    let (min_port, max_port) = settings.relay_ports;
    if min_port == 0 || min_port > max_port {
        return Err(TurnError::PortRange(min_port, max_port));
    }
    let tcp = transport::TcpServer::new(tcp).map_err(|e| TurnError::Transport(e.to_string()))?;
    // STUN on the next port too, so the connection check can see whether a client's NAT keeps
    // one public address for two destinations. Optional: the port may be taken.
    let alt_addr = SocketAddr::new(udp_addr.ip(), udp_addr.port().wrapping_add(1));
    let udp_alt = match udp_addr.port().checked_add(1) {
        Some(_) => tokio::net::UdpSocket::bind(alt_addr)
            .await
            .map_err(|e| tracing::info!(%alt_addr, error = %e, "no second STUN port"))
            .ok(),
        None => None,
    };
    let public = SocketAddr::new(public_ip, udp_addr.port());
    let (drop_tx, mut drop_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stun_alt = udp_alt.as_ref().map(|_| {
        let host = match public_ip {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        format!("stun:{host}:{}", alt_addr.port())
    });
    let mut issuer = TurnIssuer {
        revocations: Arc::new(Revocations {
            drop_allocations: Some(drop_tx),
            ..Revocations::default()
        }),
        stun_alt,
        ..TurnIssuer::new(public, &settings.secret, settings.ttl)
    };
    let mut connections: Vec<Arc<dyn transport::Transport + Send + Sync>> =
        vec![Arc::new(udp), Arc::new(tcp)];
    if let Some(alt) = udp_alt {
        connections.push(Arc::new(alt));
    }
    let server = medea_turn::Server::new(ServerConfig {
        connections,
        turn: Some(TurnConfig {
            relay_addr_generator: Allocator {
                relay_address: public_ip,
                min_port,
                max_port,
                max_retries: 10,
                // Relayed sockets bind where the listener does.
                address: udp_addr.ip().to_string(),
            },
            realm: REALM.to_owned(),
            auth_handler: Arc::new(RestAuth {
                issuer: issuer.clone(),
            }),
            channel_bind_lifetime: Duration::from_secs(600),
            alloc_close_notify: None,
        }),
    });
    tracing::info!(%udp_addr, %public, "STUN/TURN relay listening on UDP and TCP");
    let server = Arc::new(server);
    let dropper = {
        let server = server.clone();
        tokio::spawn(async move {
            while let Some(username) = drop_rx.recv().await {
                if server
                    .delete_allocations_by_username(username.clone())
                    .await
                    .is_ok()
                {
                    tracing::info!(
                        username,
                        "TURN: allocations of a departed participant dropped"
                    );
                }
            }
        })
    };
    let (mut tls_addr, mut tls_task, mut certificate) = (None, None, None);
    let relay_tcp = RunningTurn::reachable(tcp_addr);
    if let Some(tls) = &settings.tls {
        let cert = Arc::new(
            Certificate::load(&tls.cert_pem, &tls.key_pem)
                .map_err(|e| TurnError::Tls(e.to_string()))?,
        );
        let acceptor = cert
            .acceptor(&[])
            .map_err(|e| TurnError::Tls(e.to_string()))?;
        certificate = Some(cert);
        let listener = tokio::net::TcpListener::bind(tls.listen)
            .await
            .map_err(|source| TurnError::Listen {
                addr: tls.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| TurnError::Listen {
            addr: tls.listen,
            source,
        })?;
        tls_task = Some(tokio::spawn(terminate_tls(listener, acceptor, relay_tcp)));
        let name = tls.name.clone().unwrap_or_else(|| public_ip.to_string());
        issuer = issuer.with_tls(&name, addr.port());
        tracing::info!(%addr, %name, "TURN over TLS listening");
        tls_addr = Some(addr);
    }
    Ok(RunningTurn {
        _server: server,
        udp_addr,
        tcp_addr,
        tls_addr,
        certificate,
        issuer,
        public_ip,
        tls_task,
        dropper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_spelled_as_issued_are_accepted() {
        assert!(check(b"s", "1700000000:p1", 1_600_000_000).is_some());
        for name in [
            "+1700000000:p1",
            " 1700000000:p1",
            "1700000000:",
            ":p1",
            "17e8:p1",
        ] {
            assert_eq!(check(b"s", name, 0), None, "{name:?}");
        }
    }

    #[test]
    fn passwords_match_the_turn_rest_scheme() {
        // Computed independently (Python's hmac module), as coturn's use-auth-secret does.
        let p = password(b"secret", "1700000000:p1");
        assert_eq!(p, "0eBzZq6Gbz8vtWCnJTCAn+awJQI=");
        assert_ne!(p, password(b"other", "1700000000:p1"));
        assert_ne!(p, password(b"secret", "1700000001:p1"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        #[test]
        fn credentials_are_checked_exactly_and_revoked_per_participant(
            secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            username in "([0-9]{1,12}|\\PC{0,6}):?\\PC{0,12}",
            peer in "\\PC{0,12}",
            other in "[a-z:]{0,4}",
            now in proptest::prelude::any::<u32>(),
        ) {
            let r = credential_property(&secret, &username, &peer, &other, now);
            proptest::prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
    }

    /// A relay's issuer, as the tests below share it.
    fn issuer() -> TurnIssuer {
        TurnIssuer::new(
            "10.9.0.2:3478".parse().unwrap(),
            b"s3cret",
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn a_departed_participant_s_credentials_are_revoked_until_issued_again() {
        let issuer = issuer();
        let a = issuer.ice_server("pa", 1_000).username.unwrap();
        let b = issuer.ice_server("pb", 1_000).username.unwrap();
        issuer.revoke("pa", 1_100);
        assert!(issuer.is_revoked(&a));
        assert!(!issuer.is_revoked(&b), "only the one who left");
        let again = issuer.ice_server("pa", 1_200).username.unwrap();
        assert!(
            !issuer.is_revoked(&again),
            "admitted again: a fresh credential works"
        );
        assert!(issuer.is_revoked(&a), "and the old one stays dead");
    }

    #[test]
    fn each_check_gets_a_short_lived_name_of_its_own_that_can_be_revoked() {
        let issuer = issuer();
        let (a, first) = issuer.for_check(1_000);
        let (b, _) = issuer.for_check(1_000);
        assert_ne!(a, b, "no two checks share credentials");
        let user = first.username.unwrap();
        assert_eq!(expiry_of(&user), Some(1_000 + CHECK_TTL.as_secs()));
        assert!(!issuer.is_revoked(&user));
        issuer.revoke(&a, 1_000 + CHECK_TTL.as_secs());
        assert!(issuer.is_revoked(&user), "revoked, its allocations dropped");
    }

    #[test]
    fn credentials_expire_and_bad_usernames_are_refused() {
        let issuer = issuer();
        let ice = issuer.ice_server("pabc", 1_000);
        let user = ice.username.clone().unwrap();
        assert_eq!(user, "4600:pabc");
        assert_eq!(
            check(b"s3cret", &user, 4_600).as_deref(),
            ice.credential.as_deref()
        );
        assert_eq!(check(b"s3cret", &user, 4_601), None, "expired");
        assert_ne!(
            check(b"wrong", &user, 1_000).as_deref(),
            ice.credential.as_deref(),
            "another server's secret gives another password"
        );
        for bad in ["", "pabc", "x:pabc", "4600:", ":", "-1:p"] {
            assert_eq!(check(b"s3cret", bad, 0), None, "{bad:?}");
        }
        assert!(ice.urls.iter().any(|u| u.ends_with("transport=tcp")));
        assert!(ice.urls.contains(&"stun:10.9.0.2:3478".to_owned()));
    }
}
