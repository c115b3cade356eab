//! `tutti-server`: the room server binary.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tutti_protocol::IceServer;
use tutti_server::tls::TlsSettings;
use tutti_server::turn::{TurnSettings, TurnTls};
use tutti_server::{HubConfig, ServerConfig};

/// Tutti's room server: lessons, invite codes, the waiting room, WebRTC signaling, the
/// question queue and chat. Serves a WebSocket at /ws, GET /healthz, GET /metrics and the API;
/// with --tls-listen, all of it over TLS too, TURN over TLS on the same port. SIGHUP reads the
/// certificates again.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address and port to listen on.
    #[arg(long, env = "TUTTI_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Directory for the server's database (lessons, codes, questions).
    #[arg(long, env = "TUTTI_DATA", default_value = "tutti-data")]
    data: PathBuf,
    /// A STUN or TURN URL handed to clients, e.g. stun:stun.example.org:3478 (repeatable).
    #[arg(long = "ice-server", env = "TUTTI_ICE_SERVERS", value_delimiter = ',')]
    ice_servers: Vec<String>,
    /// Seconds a participant who lost the connection keeps its place.
    #[arg(long, env = "TUTTI_GRACE_SECS", default_value_t = 60)]
    grace_secs: u64,
    /// New lessons and pre-questions one address may create per hour (after a burst of 30);
    /// 0 for no limit.
    #[arg(long, env = "TUTTI_CREATIONS_PER_HOUR", default_value_t = 60)]
    creations_per_hour: u32,
    /// Behind a reverse proxy: take clients' addresses from X-Forwarded-For (only if the
    /// proxy sets it; otherwise clients could pick their own address).
    #[arg(long, env = "TUTTI_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Participants a lesson holds, host included.
    #[arg(long, env = "TUTTI_MAX_PARTICIPANTS", default_value_t = 16)]
    max_participants: usize,
    /// Serve STUN and TURN on this address, UDP and TCP on the same port (e.g. 0.0.0.0:3478).
    /// Admitted participants get short-lived credentials for it in their join reply.
    #[arg(long, env = "TUTTI_TURN_LISTEN")]
    turn_listen: Option<SocketAddr>,
    /// The relay's address as peers reach it (required when --turn-listen is 0.0.0.0).
    #[arg(long, env = "TUTTI_TURN_PUBLIC_IP", requires = "turn_listen")]
    turn_public_ip: Option<std::net::IpAddr>,
    /// The secret TURN credentials are signed with (TURN REST scheme); random per start when
    /// not given, which invalidates credentials across restarts.
    #[arg(
        long,
        env = "TUTTI_TURN_SECRET",
        hide_env_values = true,
        requires = "turn_listen"
    )]
    turn_secret: Option<String>,
    /// Hours a TURN credential stays valid (a lesson's relay allocation refreshes with it).
    #[arg(long, env = "TUTTI_TURN_TTL_HOURS", default_value_t = 6)]
    turn_ttl_hours: u64,
    /// UDP ports relayed addresses are taken from, MIN-MAX.
    #[arg(long, env = "TUTTI_TURN_PORTS", default_value = "49152-65535", value_parser = parse_ports)]
    turn_ports: (u16, u16),
    /// TURN over TLS on this address too (e.g. 0.0.0.0:5349), with --turn-tls-cert and -key.
    #[arg(long, env = "TUTTI_TURN_TLS_LISTEN", requires_all = ["turn_tls_cert", "turn_tls_key", "turn_listen"])]
    turn_tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for TURN over TLS.
    #[arg(long, env = "TUTTI_TURN_TLS_CERT", requires = "turn_tls_listen")]
    turn_tls_cert: Option<PathBuf>,
    /// PEM private key for TURN over TLS.
    #[arg(long, env = "TUTTI_TURN_TLS_KEY", requires = "turn_tls_listen")]
    turn_tls_key: Option<PathBuf>,
    /// The name clients connect to for TURN over TLS (the certificate's); the public IP if unset.
    #[arg(long, env = "TUTTI_TURN_TLS_NAME", requires = "turn_tls_listen")]
    turn_tls_name: Option<String>,
    /// Serve HTTPS, wss:// and (with --turn-listen) TURN over TLS on this address too, all on
    /// one port: 0.0.0.0:443 gets through networks that let only TLS out.
    #[arg(long, env = "TUTTI_TLS_LISTEN", requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for --tls-listen (read again on SIGHUP).
    #[arg(long, env = "TUTTI_TLS_CERT", requires = "tls_listen")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-listen (read again on SIGHUP).
    #[arg(long, env = "TUTTI_TLS_KEY", requires = "tls_listen")]
    tls_key: Option<PathBuf>,
    /// The name clients reach --tls-listen by (the certificate's), for the turns: URL handed
    /// out; the listening address if unset.
    #[arg(long, env = "TUTTI_TLS_NAME", requires = "tls_listen")]
    tls_name: Option<String>,
    /// Log format.
    #[arg(long, env = "TUTTI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    // Each connection is a file descriptor; the default soft limit (often 1024) is far too low.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open files"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }

    let turn = args.turn_listen.map(|listen| TurnSettings {
        listen,
        public_ip: args.turn_public_ip,
        secret: match &args.turn_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        },
        ttl: Duration::from_secs(args.turn_ttl_hours.clamp(1, 48) * 3600),
        relay_ports: args.turn_ports,
        tls: match (
            &args.turn_tls_listen,
            &args.turn_tls_cert,
            &args.turn_tls_key,
        ) {
            (Some(listen), Some(cert), Some(key)) => Some(TurnTls {
                listen: *listen,
                cert_pem: cert.clone(),
                key_pem: key.clone(),
                name: args.turn_tls_name.clone(),
            }),
            _ => None,
        },
    });
    let tls = match (&args.tls_listen, &args.tls_cert, &args.tls_key) {
        (Some(listen), Some(cert), Some(key)) => Some(TlsSettings {
            listen: *listen,
            cert_pem: cert.clone(),
            key_pem: key.clone(),
            name: args.tls_name.clone(),
        }),
        _ => None,
    };
    let cfg = ServerConfig {
        turn,
        tls,
        listen: args.listen,
        data_dir: Some(args.data.clone()),
        trust_forwarded_for: args.trust_forwarded_for,
        hub: HubConfig {
            grace: Duration::from_secs(args.grace_secs.min(86_400)),
            creations_per_hour: args.creations_per_hour,
            max_participants: args.max_participants.max(2),
            ice_servers: args
                .ice_servers
                .iter()
                .filter(|u| !u.trim().is_empty())
                .map(|u| IceServer {
                    urls: vec![u.trim().to_owned()],
                    username: None,
                    credential: None,
                })
                .collect(),
            ..HubConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = tutti_server::start(cfg)
        .await
        .with_context(|| format!("starting with data in {}", args.data.display()))?;
    // One line on stdout for scripts and the benchmark; logs go to stderr.
    println!("tutti-server listening on http://{}", server.local_addr());
    if let Some(turn) = server.turn_addr() {
        println!("tutti-server relay on udp+tcp {turn}");
    }
    if let Some(tls) = server.turn_tls_addr() {
        println!("tutti-server relay on tls {tls}");
    }
    if let Some(tls) = server.tls_addr() {
        println!("tutti-server listening on https://{tls} (wss, turns)");
    }

    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut hangups = hangups();
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = next_hangup(&mut hangups) => {
                let errors = server.reload_tls();
                if errors.is_empty() {
                    tracing::info!("SIGHUP: certificates read again");
                }
                for e in errors {
                    tracing::error!(error = %e, "SIGHUP: a certificate could not be read; the old one stays in use");
                }
            }
        }
    }
    tracing::info!("signal received");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("use MIN-MAX, e.g. 49152-65535")?;
    let a: u16 = a.trim().parse().map_err(|_| format!("bad port {a:?}"))?;
    let b: u16 = b.trim().parse().map_err(|_| format!("bad port {b:?}"))?;
    if a == 0 || a > b {
        return Err(format!("empty range {a}-{b}"));
    }
    Ok((a, b))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup())
            .map_err(
                |e| tracing::warn!(error = %e, "no SIGHUP: certificates are read at start only"),
            )
            .ok()
    }
}

/// The next SIGHUP; never, where there are none.
async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(h) = hangups
        && h.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let () = hangups;
    std::future::pending::<()>().await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
