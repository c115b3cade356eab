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
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tutti_protocol::IceServer;

/// The realm the relay announces; clients take it from the server's challenge.
const REALM: &str = "tutti";

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
}

/// How the relay is set up.
#[derive(Debug, Clone)]
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
}

/// Issues per-participant credentials for the relay; cheap to clone into the hub.
#[derive(Clone)]
pub struct TurnIssuer {
    urls: Vec<String>,
    secret: Arc<[u8]>,
    ttl: Duration,
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
            secret: secret.into(),
            ttl,
        }
    }

    /// The STUN and TURN entry for participant `peer`, valid from `now_unix` (seconds) for the
    /// issuer's time to live.
    pub fn ice_server(&self, peer: &str, now_unix: u64) -> IceServer {
        let username = format!("{}:{peer}", now_unix + self.ttl.as_secs());
        let credential = password(&self.secret, &username);
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

/// Whether `username` (as `EXPIRY:PEER`) is still good at `now_unix`; its password if so.
pub fn check(secret: &[u8], username: &str, now_unix: u64) -> Option<String> {
    let (expiry, peer) = username.split_once(':')?;
    let expiry: u64 = expiry.parse().ok()?;
    (expiry >= now_unix && !peer.is_empty()).then(|| password(secret, username))
}

struct RestAuth {
    secret: Arc<[u8]>,
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
        match check(&self.secret, username, now) {
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
    _server: medea_turn::Server,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub issuer: TurnIssuer,
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
    let secret: Arc<[u8]> = settings.secret.as_slice().into();
    let server = medea_turn::Server::new(ServerConfig {
        connections: vec![Arc::new(udp), Arc::new(tcp)],
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
                secret: secret.clone(),
            }),
            channel_bind_lifetime: Duration::from_secs(600),
            alloc_close_notify: None,
        }),
    });
    let public = SocketAddr::new(public_ip, udp_addr.port());
    tracing::info!(%udp_addr, %public, "STUN/TURN relay listening on UDP and TCP");
    Ok(RunningTurn {
        _server: server,
        udp_addr,
        tcp_addr,
        issuer: TurnIssuer::new(public, &secret, settings.ttl),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_match_the_turn_rest_scheme() {
        // Computed independently (Python's hmac module), as coturn's use-auth-secret does.
        let p = password(b"secret", "1700000000:p1");
        assert_eq!(p, "0eBzZq6Gbz8vtWCnJTCAn+awJQI=");
        assert_ne!(p, password(b"other", "1700000000:p1"));
        assert_ne!(p, password(b"secret", "1700000001:p1"));
    }

    #[test]
    fn credentials_expire_and_bad_usernames_are_refused() {
        let issuer = TurnIssuer::new(
            "10.9.0.2:3478".parse().unwrap(),
            b"s3cret",
            Duration::from_secs(3600),
        );
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
