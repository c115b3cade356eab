//! A network impairment stage in user space (this kernel has no netem): a UDP proxy that drops,
//! delays and so reorders packets with a seeded random generator.
//!
//! Every real media address A (ours or the other side's) gets a proxy socket S_A, and the ICE
//! candidates exchanged are rewritten to point at the proxy sockets. A packet arriving at S_A
//! from B is forwarded to A from S_B — so each side sees the other at the address it was told,
//! and every packet, connectivity checks included, crosses the impaired path.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

use crate::link::lock;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpairmentConfig {
    /// Probability of dropping a packet, 0–1.
    pub loss: f64,
    /// Added one-way delay.
    pub delay: Duration,
    /// The delay varies uniformly by up to this much either way (reordering packets).
    pub jitter: Duration,
    pub seed: u64,
    /// Impair only RTP and RTCP, not the connection's set-up (STUN, DTLS): for measuring what
    /// loss does to media. (A handshake through heavy loss is its own question; webrtc 0.21's
    /// DTLS has been seen to give up after 8 unanswered retransmissions at 25 % loss.)
    pub media_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImpairError {
    #[error("impairment {0:?}: use loss=PCT,delay=MS,jitter=MS[,media-only]")]
    Spec(String),
    #[error("impairment proxy: {0}")]
    Io(#[from] std::io::Error),
}

impl ImpairmentConfig {
    /// Parses `loss=3,delay=20,jitter=10` (percent, ms, ms) and optionally `media-only`;
    /// missing parts are zero.
    pub fn parse(spec: &str) -> Result<Self, ImpairError> {
        let mut cfg = Self {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 7,
            media_only: false,
        };
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            if part.trim() == "media-only" {
                cfg.media_only = true;
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| ImpairError::Spec(spec.into()))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| ImpairError::Spec(spec.into()))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(ImpairError::Spec(spec.into()));
            }
            match k.trim() {
                "loss" => cfg.loss = (v / 100.0).min(1.0),
                "delay" => cfg.delay = Duration::from_secs_f64(v / 1000.0),
                "jitter" => cfg.jitter = Duration::from_secs_f64(v / 1000.0),
                "seed" => cfg.seed = v as u64,
                _ => return Err(ImpairError::Spec(spec.into())),
            }
        }
        Ok(cfg)
    }

    /// This packet's fate: `None` dropped, else how long it is held.
    fn fate(&self, rng: &mut StdRng) -> Option<Duration> {
        if self.loss > 0.0 && rng.random::<f64>() < self.loss {
            return None;
        }
        let j = self.jitter.as_secs_f64();
        let d = self.delay.as_secs_f64()
            + if j > 0.0 {
                rng.random_range(-j..=j)
            } else {
                0.0
            };
        Some(Duration::from_secs_f64(d.max(0.0)))
    }
}

/// Rewrites an ICE candidate (the `candidate:...` attribute value); `None` drops it.
#[derive(Clone)]
pub struct CandidateRewrite(pub Arc<RewriteFn>);

/// Takes a candidate attribute, returns its replacement (or `None` to drop it).
pub type RewriteFn = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for CandidateRewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CandidateRewrite")
    }
}

impl CandidateRewrite {
    pub fn apply(&self, candidate: &str) -> Option<String> {
        (self.0)(candidate)
    }

    /// Applies the rewrite to every `a=candidate:` line of an SDP; drops the refused ones.
    pub fn apply_sdp(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive("\r\n") {
            match line.trim_end().strip_prefix("a=") {
                Some(attr) if attr.starts_with("candidate:") => {
                    if let Some(new) = self.apply(attr) {
                        out.push_str("a=");
                        out.push_str(&new);
                        out.push_str("\r\n");
                    }
                }
                _ => out.push_str(line),
            }
        }
        out
    }
}

/// The address in a candidate, if it is a UDP one: fields 5 and 6 of
/// `candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ...`.
fn candidate_addr(candidate: &str) -> Option<(SocketAddr, usize, usize)> {
    let fields: Vec<&str> = candidate.split(' ').collect();
    if fields.len() < 8 || !fields[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let addr: SocketAddr = format!("{}:{}", fields[4], fields[5]).parse().ok()?;
    Some((addr, 4, 5))
}

#[derive(Debug, Default)]
pub struct ImpairStats {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

struct Inner {
    cfg: ImpairmentConfig,
    rng: Mutex<StdRng>,
    /// Real address → the proxy socket standing for it.
    proxies: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
    stats: ImpairStats,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Everything is dropped, both ways (a network gone).
    cut: std::sync::atomic::AtomicBool,
}

/// A running impairment proxy; dropping it stops it.
pub struct ImpairedPath {
    inner: Arc<Inner>,
}

impl ImpairedPath {
    pub async fn start(cfg: ImpairmentConfig) -> Result<Self, ImpairError> {
        Ok(Self {
            inner: Arc::new(Inner {
                rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
                cfg,
                proxies: Mutex::new(HashMap::new()),
                stats: ImpairStats::default(),
                tasks: Mutex::new(Vec::new()),
                cut: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    pub fn stats(&self) -> &ImpairStats {
        &self.inner.stats
    }

    /// Cuts the path (every packet dropped, both ways, handshakes too) or restores it.
    pub fn set_cut(&self, cut: bool) {
        self.inner.cut.store(cut, Relaxed);
    }

    /// The rewrite for candidates going either way: every UDP candidate is replaced by its
    /// proxy socket's address; others (TCP) are dropped so nothing bypasses the stage.
    pub fn rewriter(&self) -> CandidateRewrite {
        let inner = self.inner.clone();
        CandidateRewrite(Arc::new(move |candidate: &str| {
            let (real, a, p) = candidate_addr(candidate)?;
            let proxy = proxy_for(&inner, real).ok()?;
            let local = proxy.local_addr().ok()?;
            let mut fields: Vec<String> = candidate.split(' ').map(str::to_owned).collect();
            fields[a] = local.ip().to_string();
            fields[p] = local.port().to_string();
            Some(fields.join(" "))
        }))
    }
}

impl Drop for ImpairedPath {
    fn drop(&mut self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
    }
}

/// The proxy socket standing for `real`, made (with its forwarding task) on first use.
fn proxy_for(inner: &Arc<Inner>, real: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
    if let Some(s) = lock(&inner.proxies).get(&real) {
        return Ok(s.clone());
    }
    let bind: SocketAddr = if real.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .map_err(std::io::Error::other)?;
    let std_socket = std::net::UdpSocket::bind(bind)?;
    std_socket.set_nonblocking(true)?;
    let socket = Arc::new(UdpSocket::from_std(std_socket)?);
    lock(&inner.proxies).insert(real, socket.clone());
    let task = tokio::spawn(forward(inner.clone(), socket.clone(), real));
    lock(&inner.tasks).push(task);
    Ok(socket)
}

/// Packets reaching the proxy for `real` go to `real`, from the proxy of whoever sent them.
async fn forward(inner: Arc<Inner>, socket: Arc<UdpSocket>, real: SocketAddr) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(via) = proxy_for(&inner, from) else {
            continue;
        };
        // RFC 7983: RTP and RTCP start with a byte in 128..=191; STUN and DTLS do not.
        let spared = inner.cfg.media_only && !buf.first().is_some_and(|b| (128..=191).contains(b));
        let fate = if inner.cut.load(Relaxed) {
            None
        } else if spared {
            Some(Duration::ZERO)
        } else {
            inner.cfg.fate(&mut lock(&inner.rng))
        };
        let Some(hold) = fate else {
            inner.stats.dropped.fetch_add(1, Relaxed);
            continue;
        };
        inner.stats.forwarded.fetch_add(1, Relaxed);
        let packet = buf[..n].to_vec();
        if hold.is_zero() {
            let _ = via.send_to(&packet, real).await;
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                let _ = via.send_to(&packet, real).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let c = ImpairmentConfig::parse("loss=3,delay=20,jitter=10").unwrap();
        assert_eq!(
            (c.loss, c.delay, c.jitter),
            (0.03, Duration::from_millis(20), Duration::from_millis(10))
        );
        assert!(ImpairmentConfig::parse("loss=x").is_err());
        assert!(ImpairmentConfig::parse("bandwidth=1").is_err());
        assert!(ImpairmentConfig::parse("loss=-1").is_err());
        assert!(
            ImpairmentConfig::parse("loss=5,media-only")
                .unwrap()
                .media_only
        );
        assert!(!ImpairmentConfig::parse("loss=5").unwrap().media_only);
    }

    #[test]
    fn loss_and_delay_follow_the_seeded_generator() {
        let c = ImpairmentConfig::parse("loss=10,delay=20,jitter=10").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let fates: Vec<Option<Duration>> = (0..10_000).map(|_| c.fate(&mut rng)).collect();
        let dropped = fates.iter().filter(|f| f.is_none()).count();
        assert!((800..1200).contains(&dropped), "{dropped}");
        assert!(
            fates
                .iter()
                .flatten()
                .all(|d| *d >= Duration::from_millis(10) && *d <= Duration::from_millis(30))
        );
        let mut again = StdRng::seed_from_u64(1);
        assert_eq!(
            fates[..50],
            (0..50).map(|_| c.fate(&mut again)).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn candidates_and_sdp_are_rewritten() {
        let rw = CandidateRewrite(Arc::new(|c: &str| {
            candidate_addr(c).map(|_| c.replace("127.0.0.1 5000", "127.0.0.1 6000"))
        }));
        let c = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host";
        assert_eq!(
            rw.apply(c).unwrap(),
            "candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host"
        );
        assert!(
            rw.apply("candidate:2 1 tcp 1 127.0.0.1 5000 typ host tcptype passive")
                .is_none()
        );
        let sdp =
            format!("v=0\r\na={c}\r\na=candidate:2 1 tcp 1 127.0.0.1 9 typ host\r\nm=audio\r\n");
        assert_eq!(
            rw.apply_sdp(&sdp),
            "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host\r\nm=audio\r\n"
        );
    }

    #[tokio::test]
    async fn packets_cross_the_proxy_both_ways() {
        let path = ImpairedPath::start(ImpairmentConfig::parse("delay=5").unwrap())
            .await
            .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rw = path.rewriter();
        let to_b = candidate_addr(
            &rw.apply(&format!(
                "candidate:1 1 udp 1 127.0.0.1 {} typ host",
                b.local_addr().unwrap().port()
            ))
            .unwrap(),
        )
        .unwrap()
        .0;
        let to_a = candidate_addr(
            &rw.apply(&format!(
                "candidate:1 1 udp 1 127.0.0.1 {} typ host",
                a.local_addr().unwrap().port()
            ))
            .unwrap(),
        )
        .unwrap()
        .0;
        a.send_to(b"ping", to_b).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), b.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"ping");
        // B sees A at A's proxy address, the one A's candidate was rewritten to.
        assert_eq!(from, to_a);
        b.send_to(b"pong", from).await.unwrap();
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), a.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], to_b));
        assert_eq!(path.stats().forwarded.load(Relaxed), 2);
    }
}
