//! TLS on one port for everything a client needs: HTTPS, `wss://` and TURN over TLS.
//!
//! A network that lets nothing out but TLS to port 443 (some schools, hotels and national
//! networks) then carries both a lesson's signalling and its media. After the handshake a
//! connection is told apart by ALPN (`stun.turn`, RFC 7443, or `http/1.1`) or, where the client
//! offered none, by its first byte: a STUN message starts with two zero bits, an HTTP request
//! with a letter.
//!
//! The certificate is read again on SIGHUP, so a renewed one is taken without a restart; one
//! that cannot be read leaves the old in use.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// ALPN for HTTP/1.1 (HTTPS and `wss://`).
pub const ALPN_HTTP: &[u8] = b"http/1.1";
/// ALPN for TURN over TLS (RFC 7443).
pub const ALPN_TURN: &[u8] = b"stun.turn";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {}: {reason}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS: {0}")]
    Config(String),
}

/// Where the server speaks TLS, and with what certificate.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    /// PEM: the certificate chain, the server's first.
    pub cert_pem: PathBuf,
    /// PEM: its private key.
    pub key_pem: PathBuf,
    /// The name clients reach the server by (the certificate's), for the `turns:` URL handed
    /// out; the listening address when `None`.
    pub name: Option<String>,
}

/// A certificate and key read from files, which can be read again while in use.
#[derive(Debug)]
pub struct Certificate {
    cert_pem: PathBuf,
    key_pem: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    pub fn load(cert_pem: &Path, key_pem: &Path) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(&provider, cert_pem, key_pem)?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// Reads the files again; on an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read_pair(&self.provider, &self.cert_pem, &self.key_pem)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The certificate now in use (the server's own, first of its chain; never empty).
    pub fn in_use(&self) -> Option<CertificateDer<'static>> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.cert.first().cloned()
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_pem
    }

    /// A TLS acceptor presenting this certificate (as it is at each handshake), offering
    /// `alpn` in order of preference.
    pub fn acceptor(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn read_pair(
    provider: &CryptoProvider,
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<CertifiedKey, TlsError> {
    let bad = |what, path: &Path, reason: &dyn std::fmt::Display| TlsError::File {
        what,
        path: path.to_owned(),
        reason: reason.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| bad("certificate", cert_pem, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", cert_pem, &e))?;
    if certs.is_empty() {
        return Err(bad("certificate", cert_pem, &"no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| bad("private key", key_pem, &e))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| bad("private key", key_pem, &e))?;
    let pair = CertifiedKey::new(certs, signing);
    pair.keys_match()
        .map_err(|e| bad("certificate and key", cert_pem, &e))?;
    Ok(pair)
}

/// What a TLS connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    Http,
    Turn,
}

impl Carried {
    /// From the protocol the client and server agreed on, if they agreed on one.
    pub fn by_alpn(alpn: &[u8]) -> Option<Self> {
        match alpn {
            ALPN_TURN => Some(Self::Turn),
            ALPN_HTTP => Some(Self::Http),
            _ => None,
        }
    }

    /// From the first byte the client sent: a TURN connection opens with a STUN request (RFC
    /// 5389 §6: two zero bits first), an HTTP request with a method's capital letter. (ChannelData,
    /// `01…`, comes only after an allocation, never first.)
    pub fn by_first_byte(first: u8) -> Self {
        if first < 0x80 && !first.is_ascii_alphabetic() {
            Self::Turn
        } else {
            Self::Http
        }
    }
}

/// A stream with bytes already read from it put back in front.
pub struct Rewound<S> {
    front: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewound<S> {
    pub fn new(front: Vec<u8>, inner: S) -> Self {
        Self {
            front,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.front.len() {
            let n = (self.front.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.front[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key, made.cert.pem())
    }

    #[test]
    fn a_stun_request_is_told_from_http_by_its_first_byte() {
        // Every STUN message type starts 0x00–0x3f (Binding 0x0001, Allocate 0x0003).
        for b in [0x00, 0x01, 0x3f] {
            assert_eq!(Carried::by_first_byte(b), Carried::Turn, "{b:#x}");
        }
        for method in ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"] {
            assert_eq!(
                Carried::by_first_byte(method.as_bytes()[0]),
                Carried::Http,
                "{method}"
            );
        }
        assert_eq!(Carried::by_alpn(b"stun.turn"), Some(Carried::Turn));
        assert_eq!(Carried::by_alpn(b"http/1.1"), Some(Carried::Http));
        assert_eq!(Carried::by_alpn(b"h2"), None);
    }

    #[test]
    fn a_renewed_certificate_is_taken_and_a_broken_one_leaves_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = self_signed(dir.path(), "first.example");
        let c = Certificate::load(&cert, &key).unwrap();
        let first = c.in_use();

        self_signed(dir.path(), "second.example");
        c.reload().unwrap();
        let second = c.in_use();
        assert_ne!(first, second, "the new certificate is in use");

        std::fs::write(&key, "not a key").unwrap();
        let err = c.reload().unwrap_err();
        assert!(err.to_string().contains("private key"), "{err}");
        assert_eq!(c.in_use(), second, "a broken file leaves the one in use");

        // A key that is not the certificate's is refused too.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key, _) = self_signed(other.path(), "third.example");
        std::fs::copy(&other_key, &key).unwrap();
        let err = c.reload().unwrap_err();
        assert!(err.to_string().contains("certificate and key"), "{err}");
        assert_eq!(c.in_use(), second);

        let missing = Certificate::load(&dir.path().join("nope.pem"), &key).unwrap_err();
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
    }

    #[tokio::test]
    async fn bytes_read_to_tell_the_protocol_are_read_again() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b"ET / HTTP/1.1").await.unwrap();
        drop(a);
        let mut s = Rewound::new(b"G".to_vec(), b);
        let mut all = String::new();
        s.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1");
    }
}
