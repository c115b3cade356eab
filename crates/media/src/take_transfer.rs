//! A take's lossless track travels to the host: [`TakeSender`] decides what to offer and from
//! where to send (sans-IO: what the other side says and the time in, what to do out), and
//! [`TakeInbox`] keeps what arrives, in a part file until it is whole and its hash is the one
//! offered. The wire is [`tutti_protocol::take`]; the channel that carries it is
//! [`crate::take_channel`].
//!
//! Resumable by construction: the receiver's part file is what it has, on disk, so a cut, a
//! rebuilt link or a restart of either app costs only what was in flight.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tutti_protocol::take::{Chunk, FromReceiver, FromSender};

/// Data in one binary message (a data channel message is read whole up to 16 KiB, with the
/// chunk's header).
pub const CHUNK_DATA: usize = 16_000;
/// An offer not answered in this long goes again (a message sent before the other side's end
/// of the channel was bound is lost; so is one sent as the link went down).
const OFFER_AGAIN: Duration = Duration::from_secs(2);
/// A take sent whole and not confirmed in this long is offered again: the receiver then says
/// what it has (all of it: it confirms; less: from there).
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);
/// A take that arrives whole but with another hash is asked for again this many times.
const DAMAGED_AT_MOST: u32 = 2;

/// A take's track to send.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeToSend {
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub start_s: f64,
    pub seconds: f64,
}

impl TakeToSend {
    /// The track in `path`, `name`'s part, hashed (its id is its hash's first 32 digits: the
    /// same take offered again is the same take).
    pub fn of_file(path: &Path, name: &str, start_s: f64, seconds: f64) -> io::Result<Self> {
        let (bytes, sha256) = hash_file(path)?;
        Ok(Self {
            id: sha256[..32].to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            bytes,
            sha256,
            start_s,
            seconds,
        })
    }

    fn offer(&self) -> FromSender {
        FromSender::Offer {
            id: self.id.clone(),
            name: self.name.clone(),
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            start_s: self.start_s,
            seconds: self.seconds,
        }
    }
}

/// A file's length and SHA-256 (lowercase hex), read a block at a time.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let n = hash_into(File::open(path)?, &mut hasher)?;
    Ok((n, hex(&hasher.finalize())))
}

/// Feeds what `input` holds to `hasher`, a block at a time; how many bytes it held.
fn hash_into(mut input: impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = input.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the sender is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum SenderEffect {
    /// Send this control message.
    Send(FromSender),
    /// Send the take's bytes from `from` to its end, a chunk at a time (replacing any stream
    /// under way).
    Stream { take: TakeToSend, from: u64 },
    /// Stop streaming (the channel went down).
    StopStreaming,
    /// The receiver has the take, whole and verified.
    Delivered(TakeToSend),
    /// The receiver cannot keep it (`reason`, its words).
    Refused { take: TakeToSend, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Nothing offered (the channel is down, or nothing to send).
    Idle,
    /// Offered at this instant, no answer yet.
    Offered(Instant),
    /// Streaming, or streamed and waiting to hear it was kept, since this instant.
    Sending(Instant),
}

/// The sending side: takes queued, one offered at a time, in order.
pub struct TakeSender {
    queue: VecDeque<TakeToSend>,
    open: bool,
    phase: Phase,
}

impl Default for TakeSender {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            open: false,
            phase: Phase::Idle,
        }
    }
}

impl TakeSender {
    /// Takes still to deliver, the one under way first.
    pub fn pending(&self) -> impl Iterator<Item = &TakeToSend> {
        self.queue.iter()
    }

    /// A take to send once those before it are delivered.
    pub fn queue(&mut self, now: Instant, take: TakeToSend) -> Vec<SenderEffect> {
        if self.queue.iter().any(|t| t.id == take.id) {
            return Vec::new();
        }
        self.queue.push_back(take);
        self.offer_next(now)
    }

    /// The channel is open (again): the take under way is offered again, and the receiver
    /// says from where.
    pub fn opened(&mut self, now: Instant) -> Vec<SenderEffect> {
        self.open = true;
        self.phase = Phase::Idle;
        self.offer_next(now)
    }

    /// The channel went down.
    pub fn closed(&mut self) -> Vec<SenderEffect> {
        self.open = false;
        let streaming = matches!(self.phase, Phase::Sending(_));
        self.phase = Phase::Idle;
        if streaming {
            vec![SenderEffect::StopStreaming]
        } else {
            Vec::new()
        }
    }

    /// The stream of the take under way reached its end at `now`.
    pub fn streamed(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Sending(_)) {
            self.phase = Phase::Sending(now);
        }
    }

    pub fn on_message(&mut self, now: Instant, m: FromReceiver) -> Vec<SenderEffect> {
        let Some(head) = self.queue.front() else {
            return Vec::new();
        };
        match m {
            FromReceiver::Want { id, from } if id == head.id && from <= head.bytes => {
                self.phase = Phase::Sending(now);
                vec![SenderEffect::Stream {
                    take: head.clone(),
                    from,
                }]
            }
            FromReceiver::Kept { id } if id == head.id => {
                let take = self.queue.pop_front().expect("a head");
                self.phase = Phase::Idle;
                let mut out = vec![SenderEffect::Delivered(take)];
                out.extend(self.offer_next(now));
                out
            }
            FromReceiver::Refused { id, reason } if id == head.id => {
                let take = self.queue.pop_front().expect("a head");
                self.phase = Phase::Idle;
                let mut out = vec![
                    SenderEffect::StopStreaming,
                    SenderEffect::Refused { take, reason },
                ];
                out.extend(self.offer_next(now));
                out
            }
            // About another take, or from an earlier offer: nothing to do.
            _ => Vec::new(),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle => None,
            Phase::Offered(at) => Some(at + OFFER_AGAIN),
            Phase::Sending(at) => Some(at + CONFIRM_WITHIN),
        }
    }

    /// An offer unanswered, or a take streamed and not confirmed: offered again.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<SenderEffect> {
        if self.poll_timeout().is_some_and(|t| now >= t) {
            let mut out = Vec::new();
            if matches!(self.phase, Phase::Sending(_)) {
                out.push(SenderEffect::StopStreaming);
            }
            self.phase = Phase::Idle;
            out.extend(self.offer_next(now));
            return out;
        }
        Vec::new()
    }

    fn offer_next(&mut self, now: Instant) -> Vec<SenderEffect> {
        if !self.open || self.phase != Phase::Idle {
            return Vec::new();
        }
        let Some(head) = self.queue.front() else {
            return Vec::new();
        };
        self.phase = Phase::Offered(now);
        vec![SenderEffect::Send(head.offer())]
    }
}

/// A take that arrived whole and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedTake {
    pub id: String,
    /// Whose part.
    pub name: String,
    pub path: PathBuf,
    pub start_s: f64,
    pub seconds: f64,
}

struct Incoming {
    name: String,
    bytes: u64,
    sha256: String,
    start_s: f64,
    seconds: f64,
    part: PathBuf,
    file: File,
    have: u64,
    /// The hash of the `have` bytes held, fed as they arrive (the whole take is not read
    /// again to check it).
    hasher: Sha256,
    damaged: u32,
}

/// The receiving side: takes offered, kept in `dir`.
pub struct TakeInbox {
    dir: PathBuf,
    incoming: HashMap<String, Incoming>,
}

/// What the inbox answers, and a take it now holds whole.
pub type InboxOutcome = (Option<FromReceiver>, Option<ReceivedTake>);

impl TakeInbox {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            incoming: HashMap::new(),
        }
    }

    /// An offer: where to send from (what the part file holds), or that it is here already.
    pub fn offer(&mut self, m: FromSender) -> FromReceiver {
        let FromSender::Offer {
            id,
            name,
            bytes,
            sha256,
            start_s,
            seconds,
        } = m;
        // The id names files: ours are hex; anything else is not a take of ours.
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return FromReceiver::Refused {
                id,
                reason: "not a take's id".into(),
            };
        }
        let fin = self.final_path(&id, &name);
        if hash_file(&fin).is_ok_and(|(n, h)| n == bytes && h == sha256) {
            return FromReceiver::Kept { id };
        }
        let part = self.dir.join(format!(".{id}.part"));
        let opened = std::fs::create_dir_all(&self.dir).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(false)
                .open(&part)
        });
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => return refused(id, e),
        };
        // More than the take: not a part of this one; begun again.
        if file.metadata().is_ok_and(|m| m.len() > bytes)
            && let Err(e) = file.set_len(0)
        {
            return refused(id, e);
        }
        // What a cut left is hashed once, and the file stands at its end for what follows.
        let mut hasher = Sha256::new();
        let have = match hash_into(&mut file, &mut hasher) {
            Ok(n) => n,
            Err(e) => return refused(id, e),
        };
        self.incoming.insert(
            id.clone(),
            Incoming {
                name,
                bytes,
                sha256,
                start_s,
                seconds,
                part,
                file,
                have,
                hasher,
                damaged: 0,
            },
        );
        if have == bytes {
            // Whole already (the confirmation was lost): checked as if it had just arrived.
            return match self.finish(&id) {
                (Some(m), _) => m,
                (None, _) => FromReceiver::Want { id, from: have },
            };
        }
        FromReceiver::Want { id, from: have }
    }

    /// A binary message: written if it is the next part of a take offered.
    pub fn chunk(&mut self, c: Chunk<'_>) -> InboxOutcome {
        let Some(inc) = self.incoming.get_mut(c.id) else {
            return (None, None);
        };
        // Not where the file stands: from a stream before the last offer. Skipped; the
        // stream asked for comes after it.
        if c.at != inc.have || inc.have + c.data.len() as u64 > inc.bytes {
            return (None, None);
        }
        if let Err(e) = inc.file.write_all(c.data) {
            let id = c.id.to_owned();
            let part = inc.part.clone();
            self.incoming.remove(&id);
            let _ = std::fs::remove_file(part);
            return (Some(refused(id, e)), None);
        }
        inc.hasher.update(c.data);
        inc.have += c.data.len() as u64;
        if inc.have == inc.bytes {
            return self.finish(c.id);
        }
        (None, None)
    }

    /// The take whole: kept if its hash is the one offered, else asked for again.
    fn finish(&mut self, id: &str) -> InboxOutcome {
        let Some(inc) = self.incoming.get_mut(id) else {
            return (None, None);
        };
        let checked = inc
            .file
            .sync_all()
            .map(|()| hex(&inc.hasher.finalize_reset()));
        let id = id.to_owned();
        match checked {
            Ok(h) if inc.have == inc.bytes && h == inc.sha256 => {
                let inc = self.incoming.remove(&id).expect("incoming");
                let fin = self.final_path(&id, &inc.name);
                if let Err(e) = std::fs::rename(&inc.part, &fin) {
                    return (Some(refused(id, e)), None);
                }
                let got = ReceivedTake {
                    id: id.clone(),
                    name: inc.name,
                    path: fin,
                    start_s: inc.start_s,
                    seconds: inc.seconds,
                };
                (Some(FromReceiver::Kept { id }), Some(got))
            }
            Ok(_) if inc.damaged < DAMAGED_AT_MOST => {
                tracing::warn!(take = %id, "a take arrived damaged; asked for again");
                inc.damaged += 1;
                inc.have = 0;
                let reset = inc
                    .file
                    .set_len(0)
                    .and_then(|()| inc.file.seek(SeekFrom::Start(0)).map(|_| ()));
                match reset {
                    Ok(()) => (Some(FromReceiver::Want { id, from: 0 }), None),
                    Err(e) => (Some(refused(id, e)), None),
                }
            }
            Ok(_) => {
                let part = inc.part.clone();
                self.incoming.remove(&id);
                let _ = std::fs::remove_file(part);
                (
                    Some(FromReceiver::Refused {
                        id,
                        reason: "the take arrived damaged, again and again".into(),
                    }),
                    None,
                )
            }
            Err(e) => (Some(refused(id, e)), None),
        }
    }

    /// `name`'s take `id`, when whole: `name-id8.wav` (the name made safe for a file name).
    fn final_path(&self, id: &str, name: &str) -> PathBuf {
        let base = crate::recording::file_stem(name);
        self.dir
            .join(format!("{base}-{}.wav", &id[..id.len().min(8)]))
    }
}

fn refused(id: String, e: io::Error) -> FromReceiver {
    let reason = if crate::recording::is_disk_full(&e) {
        "the disk is full".to_owned()
    } else {
        format!("the take could not be written: {e}")
    };
    FromReceiver::Refused { id, reason }
}

/// Reads chunk after chunk of a take from `from` (the channel's task sends them).
pub struct TakeReader {
    file: File,
    id: String,
    at: u64,
    end: u64,
    buf: Vec<u8>,
}

impl TakeReader {
    pub fn open(take: &TakeToSend, from: u64) -> io::Result<Self> {
        let mut file = File::open(&take.path)?;
        file.seek(SeekFrom::Start(from))?;
        Ok(Self {
            file,
            id: take.id.clone(),
            at: from,
            end: take.bytes,
            buf: vec![0u8; CHUNK_DATA],
        })
    }

    /// The next chunk, encoded; none at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.at >= self.end {
            return Ok(None);
        }
        let want = CHUNK_DATA.min((self.end - self.at) as usize);
        self.file.read_exact(&mut self.buf[..want])?;
        let encoded = Chunk {
            id: &self.id,
            at: self.at,
            data: &self.buf[..want],
        }
        .encode();
        self.at += want as u64;
        Ok(Some(encoded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tutti-take-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn take_of(d: &Path, n: usize) -> TakeToSend {
        let path = d.join("mine.wav");
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, data).unwrap();
        TakeToSend::of_file(&path, "Omar", 1.5, 60.0).unwrap()
    }

    /// Feeds every chunk of `take` from `from` into `inbox`, but those `drop` says: the
    /// last answer and what it made whole.
    fn deliver(
        inbox: &mut TakeInbox,
        take: &TakeToSend,
        from: u64,
        stop_after: Option<usize>,
    ) -> InboxOutcome {
        let mut r = TakeReader::open(take, from).unwrap();
        let mut last = (None, None);
        let mut k = 0;
        while let Some(bytes) = r.next_chunk().unwrap() {
            if stop_after.is_some_and(|s| k >= s) {
                break;
            }
            let out = inbox.chunk(Chunk::decode(&bytes).unwrap());
            if out.0.is_some() {
                last = out;
            }
            k += 1;
        }
        last
    }

    /// A take cut off half-way is taken up where it stopped, by a new inbox (the host's app
    /// restarted) as by the same one, and kept once whole, verified.
    #[test]
    fn a_take_cut_half_way_resumes_where_it_stopped_and_is_verified() {
        let d = dir("resume");
        let take = take_of(&d, 100_000);
        let inbox_dir = d.join("inbox");
        let mut inbox = TakeInbox::new(&inbox_dir);
        let FromReceiver::Want { from: 0, .. } = inbox.offer(take.offer()) else {
            panic!("a new take is wanted from its start")
        };
        assert_eq!(deliver(&mut inbox, &take, 0, Some(3)), (None, None));
        drop(inbox);
        let mut inbox = TakeInbox::new(&inbox_dir);
        let from = match inbox.offer(take.offer()) {
            FromReceiver::Want { from, .. } => from,
            other => panic!("{other:?}"),
        };
        assert_eq!(from, 3 * CHUNK_DATA as u64);
        let (answer, got) = deliver(&mut inbox, &take, from, None);
        assert_eq!(
            answer,
            Some(FromReceiver::Kept {
                id: take.id.clone()
            })
        );
        let got = got.expect("the take, whole");
        assert_eq!(got.name, "Omar");
        assert_eq!((got.start_s, got.seconds), (1.5, 60.0));
        assert_eq!(
            std::fs::read(&got.path).unwrap(),
            std::fs::read(&take.path).unwrap()
        );
        assert!(!inbox_dir.join(format!(".{}.part", take.id)).exists());
        // Offered again (the confirmation was lost): it is here.
        assert_eq!(
            inbox.offer(take.offer()),
            FromReceiver::Kept {
                id: take.id.clone()
            }
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Bytes that arrive other than sent are found by the hash: the take is asked for again
    /// from its start, and after that again, refused (never kept damaged).
    #[test]
    fn a_damaged_take_is_asked_for_again_and_never_kept() {
        let d = dir("damaged");
        let take = take_of(&d, 40_000);
        let mut inbox = TakeInbox::new(&d.join("inbox"));
        inbox.offer(take.offer());
        let damage = |inbox: &mut TakeInbox| {
            let mut r = TakeReader::open(&take, 0).unwrap();
            let mut last = (None, None);
            while let Some(mut bytes) = r.next_chunk().unwrap() {
                let n = bytes.len();
                bytes[n - 1] ^= 1;
                last = inbox.chunk(Chunk::decode(&bytes).unwrap());
            }
            last
        };
        let want_again = FromReceiver::Want {
            id: take.id.clone(),
            from: 0,
        };
        assert_eq!(damage(&mut inbox), (Some(want_again.clone()), None));
        assert_eq!(damage(&mut inbox), (Some(want_again), None));
        let (answer, got) = damage(&mut inbox);
        assert!(
            matches!(answer, Some(FromReceiver::Refused { .. })),
            "{answer:?}"
        );
        assert_eq!(got, None);
        assert_eq!(std::fs::read_dir(d.join("inbox")).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Chunks out of place (from a stream before the last offer) and of takes not offered are
    /// skipped; an id that is not ours is refused before it names a file.
    #[test]
    fn chunks_out_of_place_are_skipped_and_foreign_ids_refused() {
        let d = dir("skip");
        let take = take_of(&d, 50_000);
        let mut inbox = TakeInbox::new(&d.join("inbox"));
        let c = |at: u64| {
            Chunk {
                id: &take.id,
                at,
                data: &[1, 2, 3],
            }
            .encode()
        };
        assert_eq!(inbox.chunk(Chunk::decode(&c(0)).unwrap()), (None, None));
        inbox.offer(take.offer());
        assert_eq!(
            inbox.chunk(Chunk::decode(&c(16_000)).unwrap()),
            (None, None)
        );
        let (answer, got) = deliver(&mut inbox, &take, 0, None);
        assert!(got.is_some(), "{answer:?}");
        let mut bad = take.offer();
        let FromSender::Offer { id, .. } = &mut bad;
        *id = "../../etc".into();
        assert!(matches!(inbox.offer(bad), FromReceiver::Refused { .. }));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The sender, at exact times: one take offered at a time, in order; offered again when
    /// unanswered, or when sent and not confirmed; streamed from where the receiver says;
    /// stopped when the channel goes down and offered again when it is back.
    #[test]
    fn the_sender_offers_one_take_at_a_time_and_again_until_it_is_kept() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let take = |id: &str| TakeToSend {
            id: id.into(),
            name: "Omar".into(),
            path: PathBuf::from("/x"),
            bytes: 1_000,
            sha256: "00".into(),
            start_s: 0.0,
            seconds: 1.0,
        };
        let mut s = TakeSender::default();
        assert_eq!(s.queue(at(0), take("a")), vec![], "the channel is not open");
        assert_eq!(
            s.opened(at(10)),
            vec![SenderEffect::Send(take("a").offer())]
        );
        assert_eq!(s.queue(at(20), take("b")), vec![]);
        assert_eq!(s.queue(at(20), take("a")), vec![], "queued once");
        // Unanswered: again 2 s on.
        assert_eq!(s.poll_timeout(), Some(at(2_010)));
        assert_eq!(s.handle_timeout(at(2_000)), vec![]);
        assert_eq!(
            s.handle_timeout(at(2_010)),
            vec![SenderEffect::Send(take("a").offer())]
        );
        let want = |id: &str, from| FromReceiver::Want {
            id: id.into(),
            from,
        };
        assert_eq!(
            s.on_message(at(2_100), want("b", 0)),
            vec![],
            "not b's turn"
        );
        assert_eq!(
            s.on_message(at(2_100), want("a", 400)),
            vec![SenderEffect::Stream {
                take: take("a"),
                from: 400
            }]
        );
        assert_eq!(s.closed(), vec![SenderEffect::StopStreaming]);
        assert_eq!(
            s.opened(at(5_000)),
            vec![SenderEffect::Send(take("a").offer())]
        );
        s.on_message(at(5_100), want("a", 700));
        s.streamed(at(5_200));
        // Streamed and not confirmed in 10 s: offered again.
        assert_eq!(s.poll_timeout(), Some(at(15_200)));
        assert_eq!(
            s.handle_timeout(at(15_200)),
            vec![
                SenderEffect::StopStreaming,
                SenderEffect::Send(take("a").offer())
            ]
        );
        assert_eq!(
            s.on_message(at(15_300), FromReceiver::Kept { id: "a".into() }),
            vec![
                SenderEffect::Delivered(take("a")),
                SenderEffect::Send(take("b").offer())
            ]
        );
        assert_eq!(
            s.on_message(
                at(15_400),
                FromReceiver::Refused {
                    id: "b".into(),
                    reason: "the disk is full".into()
                }
            ),
            vec![
                SenderEffect::StopStreaming,
                SenderEffect::Refused {
                    take: take("b"),
                    reason: "the disk is full".into()
                }
            ]
        );
        assert_eq!(s.pending().count(), 0);
        assert_eq!(s.poll_timeout(), None);
    }
}
