//! Load benchmark for the room server (a benchmark, not a test: it prints figures).
//!
//! Starts the real `tutti-server` binary, opens N clients on loopback in rooms of 4 (a host and
//! three students who knock and are admitted), then has one student per room ask questions at
//! random moments of a window, and measures how long each question takes to reach every member.
//!
//! `cargo bench -p signaling-server --bench load -- --clients 1000 [--room-size 4]
//!  [--questions 3] [--window-secs 10]`; the last line printed is one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is right

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tutti_protocol::*;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
const WAIT: Duration = Duration::from_secs(60);

struct Args {
    clients: usize,
    room_size: usize,
    questions: usize,
    window: Duration,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        room_size: 4,
        questions: 3,
        window: Duration::from_secs(10),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .expect("flag needs a value")
                .parse::<u64>()
                .expect("a number")
        };
        match flag.as_str() {
            "--clients" => a.clients = value() as usize,
            "--room-size" => a.room_size = (value() as usize).max(2),
            "--questions" => a.questions = value() as usize,
            "--window-secs" => a.window = Duration::from_secs(value()),
            "--bench" => {} // added by cargo bench
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct Server {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tutti-server"))
            // The benchmark creates thousands of lessons from one address.
            .args([
                "--listen",
                "127.0.0.1:0",
                "--creations-per-hour",
                "0",
                "--data",
            ])
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tutti-server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap()
            .parse()
            .expect(&line);
        Server {
            child,
            addr,
            _data: data,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Conn {
    ws: Ws,
    req: u64,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        let mut c = Conn { ws, req: 0 };
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: "tutti-load".into(),
        };
        let r = c.request(hello).await;
        assert!(matches!(r, ServerMessage::Welcome { .. }), "{r:?}");
        c
    }

    async fn send(&mut self, msg: ClientMessage) -> RequestId {
        self.req += 1;
        let frame = ClientFrame::new(self.req, msg);
        self.ws
            .send(Message::text(frame.to_json()))
            .await
            .expect("send");
        frame.req
    }

    async fn next(&mut self) -> ServerMessage {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server silent for 60 s")
            {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    async fn request(&mut self, msg: ClientMessage) -> ServerMessage {
        let req = self.send(msg).await;
        loop {
            let m = self.next().await;
            if m.re() == Some(req) {
                assert!(!matches!(m, ServerMessage::Error { .. }), "{m:?}");
                return m;
            }
        }
    }

    async fn until(&mut self, want: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let m = self.next().await;
            if want(&m) {
                return m;
            }
        }
    }
}

struct Room {
    members: Vec<Conn>,
}

#[derive(Default)]
struct Timings {
    connect: Vec<f64>,
    join: Vec<f64>,
}

/// A host opens a lesson and admits `size - 1` students, one after the other.
async fn open_room(addr: SocketAddr, size: usize, i: usize, timings: &Mutex<Timings>) -> Room {
    let mut host = Conn::open(addr).await;
    let ServerMessage::LessonCreated {
        lesson, host_token, ..
    } = host
        .request(ClientMessage::CreateLesson {
            title: format!("room {i}"),
            host_name: "host".into(),
            scheduled_for: None,
            time_zone: None,
            teacher_key: None,
            teacher: None,
        })
        .await
    else {
        panic!()
    };
    host.request(ClientMessage::StartLesson {
        lesson: lesson.id,
        host_token,
    })
    .await;
    let code = lesson.code.to_string();
    let mut members = vec![host];
    for s in 1..size {
        let t_connect = Instant::now();
        let mut student = Conn::open(addr).await;
        let connected = t_connect.elapsed();
        let t_knock = Instant::now();
        let ServerMessage::Waiting { you, .. } = student
            .request(ClientMessage::Knock {
                code: code.clone(),
                name: format!("student {s}"),
                role: JoinRole::Student,
            })
            .await
        else {
            panic!()
        };
        let host = &mut members[0];
        host.until(|m| matches!(m, ServerMessage::Knocking { .. }))
            .await;
        host.request(ClientMessage::Admit { peer: you }).await;
        student
            .until(|m| matches!(m, ServerMessage::Joined(_)))
            .await;
        let joined = t_knock.elapsed();
        let mut t = timings.lock().await;
        t.connect.push(connected.as_secs_f64() * 1e3);
        t.join.push(joined.as_secs_f64() * 1e3);
        drop(t);
        members.push(student);
    }
    Room { members }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Reads a member's events until it has seen `expect` bench questions; returns their latencies.
async fn drain(
    mut rx: SplitStream<Ws>,
    expect: usize,
    sent: Arc<Vec<AtomicU64>>,
    t0: Instant,
) -> (Vec<f64>, SplitStream<Ws>) {
    let mut lat = Vec::with_capacity(expect);
    while lat.len() < expect {
        let msg = tokio::time::timeout(WAIT, rx.next())
            .await
            .expect("fan-out stalled for 60 s");
        let Some(Ok(Message::Text(t))) = msg else {
            continue;
        };
        let now = t0.elapsed().as_nanos() as u64;
        if let Ok(ServerMessage::QuestionUpdated { question }) = serde_json::from_str(t.as_str())
            && let Some(id) = question.text.strip_prefix("bench ")
        {
            let sent_at = sent[id.parse::<usize>().unwrap()].load(Relaxed);
            lat.push((now.saturating_sub(sent_at)) as f64 / 1e6);
        }
    }
    (lat, rx)
}

async fn ask(
    mut tx: SplitSink<Ws, Message>,
    ids: Vec<usize>,
    window: Duration,
    seed: u64,
    sent: Arc<Vec<AtomicU64>>,
    t0: Instant,
) -> SplitSink<Ws, Message> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut at: Vec<Duration> = ids
        .iter()
        .map(|_| window.mul_f64(rng.random::<f64>()))
        .collect();
    at.sort();
    let start = Instant::now();
    for (n, (id, when)) in ids.into_iter().zip(at).enumerate() {
        tokio::time::sleep_until((start + when).into()).await;
        let frame = ClientFrame::new(
            1_000_000 + n as u64,
            ClientMessage::AskQuestion {
                text: format!("bench {id}"),
                kind: QuestionKind::Text,
                anonymous: false,
            },
        );
        sent[id].store(t0.elapsed().as_nanos() as u64, Relaxed);
        tx.send(Message::text(frame.to_json())).await.expect("send");
    }
    tx
}

#[tokio::main]
async fn main() {
    let a = args();
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    // Per process: the clients here, the server its own side in its process.
    let needed = a.clients as u64 + 100;
    assert!(
        limit >= needed,
        "open-file limit {limit} is below the {needed} this run needs"
    );
    let rooms = a.clients / a.room_size;
    let clients = rooms * a.room_size;

    let server = Server::start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib();
    println!(
        "tutti-server at {}, {rooms} rooms of {}, {clients} clients",
        server.addr, a.room_size
    );

    // Phase 1: open rooms, a bounded number at a time.
    let setup = Instant::now();
    let timings = Arc::new(Mutex::new(Timings::default()));
    let gate = Arc::new(Semaphore::new(64));
    let mut handles = Vec::with_capacity(rooms);
    for i in 0..rooms {
        let (gate, timings, addr, size) = (gate.clone(), timings.clone(), server.addr, a.room_size);
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            open_room(addr, size, i, &timings).await
        }));
    }
    let mut all_rooms = Vec::with_capacity(rooms);
    for h in handles {
        all_rooms.push(h.await.expect("room setup"));
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    let kib_per_conn = rss_after.saturating_sub(rss_before) as f64 / clients as f64;
    println!(
        "set up in {setup_secs:.1} s; server RSS {} MiB ({kib_per_conn:.1} KiB per connection)",
        rss_after / 1024
    );

    // Phase 2: question fan-out. The second member of each room asks; every member must see it.
    let t0 = Instant::now();
    let total_q = rooms * a.questions;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total_q).map(|_| AtomicU64::new(0)).collect());
    let mut readers = Vec::new();
    let mut askers = Vec::new();
    for (r, room) in all_rooms.into_iter().enumerate() {
        let ids: Vec<usize> = (0..a.questions).map(|k| r * a.questions + k).collect();
        for (m, conn) in room.members.into_iter().enumerate() {
            let (tx, rx) = conn.ws.split();
            readers.push(tokio::spawn(drain(rx, a.questions, sent.clone(), t0)));
            if m == 1 {
                askers.push(tokio::spawn(ask(
                    tx,
                    ids.clone(),
                    a.window,
                    r as u64,
                    sent.clone(),
                    t0,
                )));
            } else {
                askers.push(tokio::spawn(async move { tx }));
            }
        }
    }
    let mut fanout = Vec::with_capacity(total_q * a.room_size);
    let mut keep = Vec::new();
    for h in readers {
        let (lat, rx) = h.await.expect("reader");
        fanout.extend(lat);
        keep.push(rx);
    }
    for h in askers {
        let _ = h.await;
    }

    let t = Arc::try_unwrap(timings).ok().unwrap().into_inner();
    let (connect, join, fanout) = (sorted(t.connect), sorted(t.join), sorted(fanout));
    println!(
        "connect+hello ms: p50 {:.2} p95 {:.2} p99 {:.2}",
        pct(&connect, 50.0),
        pct(&connect, 95.0),
        pct(&connect, 99.0)
    );
    println!(
        "knock→joined ms (host admits at once): p50 {:.2} p95 {:.2} p99 {:.2}",
        pct(&join, 50.0),
        pct(&join, 95.0),
        pct(&join, 99.0)
    );
    println!(
        "question fan-out ms ({} deliveries): p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
        fanout.len(),
        pct(&fanout, 50.0),
        pct(&fanout, 95.0),
        pct(&fanout, 99.0),
        fanout.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "{{\"bench\":\"signaling_load\",\"clients\":{clients},\"rooms\":{rooms},\"setup_secs\":{setup_secs:.2},\
\"join_p50_ms\":{:.2},\"join_p95_ms\":{:.2},\"join_p99_ms\":{:.2},\
\"fanout_p50_ms\":{:.2},\"fanout_p95_ms\":{:.2},\"fanout_p99_ms\":{:.2},\"fanout_deliveries\":{},\
\"server_rss_mib\":{:.1},\"kib_per_conn\":{kib_per_conn:.1}}}",
        pct(&join, 50.0),
        pct(&join, 95.0),
        pct(&join, 99.0),
        pct(&fanout, 50.0),
        pct(&fanout, 95.0),
        pct(&fanout, 99.0),
        fanout.len(),
        rss_after as f64 / 1024.0
    );
    drop(keep);
}
