//! The room server's relay on loopback: it hands out relay candidates to holders of the
//! credentials the server issued, and to nobody else.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tutti_media::tcp_turn::bridge_tcp_turn;
use tutti_media::{IceServerConfig, LinkConfig, LinkEvent, MusicConfig, PeerLink};
use tutti_server::ServerConfig;
use tutti_server::turn::{TurnIssuer, TurnSettings};

const SECRET: &[u8] = b"test-relay-secret";

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The candidates a relay-only link gathers with `server` as its only ICE server.
async fn relay_candidates(
    server: IceServerConfig,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Vec<String> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // As the lesson engine does: TURN over TCP goes through a local bridge.
    let (ice_servers, _bridges) = bridge_tcp_turn(&[server], tls);
    let cfg = LinkConfig {
        ice_servers,
        udp_addrs: vec!["127.0.0.1:0".into()],
        relay_only: true,
        ..LinkConfig::new(MusicConfig::default())
    };
    let link = PeerLink::new(&cfg, tx).await.unwrap();
    link.offer().await.unwrap();
    // Gathering may report completion before every TURN server has answered: wait for both
    // relayed candidates (over UDP and over TCP), or a few seconds.
    let mut found = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = rx.recv().await {
            if let LinkEvent::LocalCandidate { candidate, .. } = e {
                found.push(candidate);
                if found.len() >= 2 {
                    break;
                }
            }
        }
    })
    .await;
    link.close().await;
    found
}

/// The relay on loopback, its relayed addresses on `relay_ports` (and TURN over TLS if given).
fn relay(relay_ports: (u16, u16), tls: Option<tutti_server::turn::TurnTls>) -> TurnSettings {
    TurnSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        public_ip: None,
        secret: SECRET.to_vec(),
        ttl: Duration::from_secs(3600),
        relay_ports,
        tls,
    }
}

/// A room server on loopback with its relay (and TURN over TLS if given).
async fn room_server_with_relay(
    relay_ports: (u16, u16),
    tls: Option<tutti_server::turn::TurnTls>,
) -> tutti_server::RunningServer {
    tutti_server::start(ServerConfig {
        turn: Some(relay(relay_ports, tls)),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_issued_credentials_only() {
    let _turn = tutti_e2e::one_at_a_time().await;
    let server = room_server_with_relay((40_000, 40_999), None).await;
    let relay = server.turn_addr().unwrap();
    let issued = |secret: &[u8], at: u64| {
        let s = TurnIssuer::new(relay, secret, Duration::from_secs(3600)).ice_server("p1", at);
        IceServerConfig {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        }
    };

    let good = relay_candidates(issued(SECRET, now_unix()), None).await;
    eprintln!("issued credentials: {good:?}");
    // Over UDP and over TCP (through the bridge): a relayed address on the server's port range.
    assert!(
        good.iter().filter(|c| c.contains("typ relay")).count() >= 2,
        "{good:?}"
    );
    assert!(
        good.iter().all(|c| c.contains("typ relay")),
        "relay only: {good:?}"
    );

    let forged = relay_candidates(issued(b"guessed-secret", now_unix()), None).await;
    assert!(
        forged.is_empty(),
        "a forged credential is refused: {forged:?}"
    );

    let expired = relay_candidates(issued(SECRET, now_unix() - 7200), None).await;
    assert!(
        expired.is_empty(),
        "an expired credential is refused: {expired:?}"
    );

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_is_reached_over_tls_by_those_who_trust_its_certificate() {
    let _turn = tutti_e2e::one_at_a_time().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("tutti-turn-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_pem, key_pem) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let tls = tutti_server::turn::TurnTls {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: cert_pem.clone(),
        key_pem,
        name: Some("localhost".into()),
    };
    let server = room_server_with_relay((41_000, 41_999), Some(tls)).await;
    let tls_port = server.turn_tls_addr().unwrap().port();
    let issued = TurnIssuer::new(
        server.turn_addr().unwrap(),
        SECRET,
        Duration::from_secs(3600),
    )
    .with_tls("localhost", tls_port)
    .ice_server("p1", now_unix());
    // Only the TLS way in.
    let only_tls = IceServerConfig {
        urls: issued
            .urls
            .iter()
            .filter(|u| u.starts_with("turns:"))
            .cloned()
            .collect(),
        username: issued.username,
        credential: issued.credential,
    };
    assert_eq!(
        only_tls.urls,
        vec![format!("turns:localhost:{tls_port}?transport=tcp")]
    );

    let trusting = tutti_media::tcp_turn::client_tls(Some(cert.cert.pem().as_bytes())).unwrap();
    let got = relay_candidates(only_tls.clone(), Some(trusting)).await;
    eprintln!("over TLS: {got:?}");
    assert!(got.iter().any(|c| c.contains("typ relay")), "{got:?}");

    let stranger = tutti_media::tcp_turn::client_tls(None).unwrap();
    let refused = relay_candidates(only_tls, Some(stranger)).await;
    assert!(
        refused.is_empty(),
        "a certificate nobody vouches for is not trusted: {refused:?}"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A self-signed certificate for `localhost`, written to `dir`; returns its PEM.
fn certificate_for_localhost(dir: &std::path::Path) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    made.cert.pem()
}

/// A room server on loopback with its relay and TLS on one port (the certificate and key in
/// `dir`), trusting `X-Forwarded-For` where it may if `forwarded`.
async fn room_server_with_tls(
    dir: &std::path::Path,
    relay_ports: (u16, u16),
    forwarded: bool,
) -> tutti_server::RunningServer {
    tutti_server::start(ServerConfig {
        turn: Some(relay(relay_ports, None)),
        tls: Some(tutti_server::tls::TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
            name: Some("localhost".into()),
        }),
        trust_forwarded_for: forwarded,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// `GET path` over TLS to `port` on loopback, trusting `ca_pem`: the status line, or the error.
async fn https_get(port: u16, path: &str, ca_pem: &str) -> Result<String, String> {
    https_request(port, path, ca_pem, "").await
}

/// As `https_get`, with `headers` (each ending in CRLF) added to the request.
async fn https_request(
    port: u16,
    path: &str,
    ca_pem: &str,
    headers: &str,
) -> Result<String, String> {
    let tls = tutti_lesson::socket::tls_config(Some(ca_pem.as_bytes()))?;
    https_with(tls, port, path, headers).await
}

/// The request over TLS made with `tls`.
async fn https_with(
    tls: std::sync::Arc<rustls::ClientConfig>,
    port: u16,
    path: &str,
    headers: &str,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer).await;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_wss_and_the_relay_share_one_tls_port_and_a_renewed_certificate_is_taken() {
    let _turn = tutti_e2e::one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let first = certificate_for_localhost(dir.path());
    let server = room_server_with_tls(dir.path(), (42_000, 42_999), false).await;
    let port = server.tls_addr().unwrap().port();

    // HTTPS.
    let status = https_get(port, "/healthz", &first).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");

    // wss://, with the lesson client as the app and tutti-peer use it.
    let url = format!("wss://localhost:{port}/ws");
    let connected =
        tutti_lesson::RoomClient::connect_trusting(&url, "test", Some(first.as_bytes())).await;
    assert!(connected.is_ok(), "{:?}", connected.err());
    let stranger = tutti_lesson::RoomClient::connect(&url, "test").await;
    assert!(
        stranger.is_err(),
        "a certificate nobody vouches for is not trusted"
    );

    // TURN over TLS on the same port.
    let issued = TurnIssuer::new(
        server.turn_addr().unwrap(),
        SECRET,
        Duration::from_secs(3600),
    )
    .with_tls_first("localhost", port)
    .ice_server("p1", now_unix());
    let only_tls = IceServerConfig {
        urls: vec![issued.urls[0].clone()],
        username: issued.username,
        credential: issued.credential,
    };
    assert_eq!(
        only_tls.urls,
        vec![format!("turns:localhost:{port}?transport=tcp")]
    );
    let trusting = tutti_media::tcp_turn::client_tls(Some(first.as_bytes())).unwrap();
    let got = relay_candidates(only_tls, Some(trusting)).await;
    eprintln!("relay over the shared TLS port: {got:?}");
    assert!(got.iter().any(|c| c.contains("typ relay")), "{got:?}");

    // A renewed certificate (SIGHUP in tutti-server) is taken by new connections.
    let second = certificate_for_localhost(dir.path());
    assert!(server.reload_tls().is_empty());
    assert_eq!(
        https_get(port, "/healthz", &second).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    assert!(
        https_get(port, "/healthz", &first).await.is_err(),
        "the old certificate is no longer presented"
    );
    // One that cannot be read leaves the renewed one in use.
    std::fs::write(dir.path().join("cert.pem"), "garbage").unwrap();
    assert_eq!(server.reload_tls().len(), 1);
    assert_eq!(
        https_get(port, "/healthz", &second).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tutti_server_reads_its_certificate_again_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = certificate_for_localhost(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let server = tutti_e2e::netns::Proc::local(
        tutti_e2e::netns::bin("tutti-server"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let line = server.line(
        "tutti-server listening on https://",
        Duration::from_secs(20),
    );
    let port: u16 = line
        .split_whitespace()
        .next()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_eq!(
        https_get(port, "/healthz", &first).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    let second = certificate_for_localhost(dir.path());
    let pid = server.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    // The signal is handled on the server's own time: ask until the new certificate shows.
    let mut renewed = Err(String::new());
    for _ in 0..50 {
        renewed = https_get(port, "/healthz", &second).await;
        if renewed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(renewed.unwrap(), "HTTP/1.1 200 OK");
    assert!(https_get(port, "/healthz", &first).await.is_err());
}

/// A STUN Binding request over TLS to `port`, offering `alpn`: the answer's message type.
async fn stun_over_tls(port: u16, ca_pem: &str, alpn: &[&[u8]]) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = (*tutti_media::tcp_turn::client_tls(Some(ca_pem.as_bytes()))?).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    // Binding request: type 0x0001, no attributes, the magic cookie, a transaction id.
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(b"tutti-check!");
    s.write_all(&request).await.map_err(|e| e.to_string())?;
    let mut header = [0u8; 20];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut header))
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
    assert_eq!(
        &header[8..20],
        b"tutti-check!",
        "the answer is to our request"
    );
    Ok(u16::from_be_bytes([header[0], header[1]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_tls_port_alpn_tells_turn_from_http_and_forwarded_addresses_are_not_believed() {
    let _turn = tutti_e2e::one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = certificate_for_localhost(dir.path());
    let server = room_server_with_tls(dir.path(), (43_000, 43_999), true).await;
    let port = server.tls_addr().unwrap().port();
    // TURN by ALPN (RFC 7443), and by its first byte when no protocol was offered: the relay
    // answers the Binding request (0x0101: success).
    assert_eq!(stun_over_tls(port, &ca, &[b"stun.turn"]).await, Ok(0x0101));
    assert_eq!(stun_over_tls(port, &ca, &[]).await, Ok(0x0101));
    // HTTP with no ALPN at all.
    let mut bare = (*tutti_media::tcp_turn::client_tls(Some(ca.as_bytes())).unwrap()).clone();
    bare.alpn_protocols.clear();
    assert_eq!(
        https_with(std::sync::Arc::new(bare), port, "/healthz", "")
            .await
            .unwrap(),
        "HTTP/1.1 200 OK"
    );

    // On the TLS port clients come straight: a forged X-Forwarded-For does not make each check
    // another address (ten in a burst, then refused).
    let mut statuses = Vec::new();
    for n in 1..=11 {
        let forged = format!("X-Forwarded-For: 198.51.100.{n}\r\n");
        statuses.push(
            https_request(port, "/api/check", &ca, &forged)
                .await
                .unwrap(),
        );
    }
    assert!(
        statuses[..10].iter().all(|s| s == "HTTP/1.1 200 OK"),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], "HTTP/1.1 429 Too Many Requests");
    server.shutdown().await;
}
