//! "Host on this computer": the room server, in-process, listening on every interface so that
//! others on the same network can join; its lessons are kept in the app's data directory, so a
//! scheduled lesson is still there after a restart.

use crate::error::{AppError, AppResult, ErrorCode};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use tutti_server::{RunningServer, ServerConfig};

pub struct LocalServer {
    running: RunningServer,
    port: u16,
}

impl LocalServer {
    pub async fn start(port: u16, data_dir: PathBuf) -> AppResult<LocalServer> {
        let cfg = ServerConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            data_dir: Some(data_dir),
            ..ServerConfig::default()
        };
        let running = tutti_server::start(cfg).await.map_err(|e| {
            AppError::new(
                ErrorCode::LocalServer,
                format!("the room server on this computer could not start: {e}"),
            )
        })?;
        let port = running.local_addr().port();
        tracing::info!(port, "room server on this computer");
        Ok(LocalServer { running, port })
    }

    /// The address this app itself uses.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Addresses to give others: this machine's address on the local network.
    pub fn share_urls(&self) -> Vec<String> {
        lan_address()
            .map(|ip| format!("ws://{ip}:{}/ws", self.port))
            .into_iter()
            .collect()
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// The address of the interface the default route leaves by. Connecting a UDP socket sends
/// nothing; it only asks the kernel which source address it would use.
fn lan_address() -> Option<IpAddr> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1: never routed anywhere real.
    sock.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let server = LocalServer::start(0, dir.path().to_owned()).await.unwrap();
        assert_ne!(server.port, 0);
        let (client, _events) = tutti_lesson::RoomClient::connect(&server.url(), "test")
            .await
            .unwrap();
        drop(client);
        for url in server.share_urls() {
            assert!(url.ends_with(&format!(":{}/ws", server.port)), "{url}");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let e = LocalServer::start(port, dir.path().to_owned())
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::LocalServer);
        assert!(e.message.contains(&port.to_string()), "{}", e.message);
    }
}
