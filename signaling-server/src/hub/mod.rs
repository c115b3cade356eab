//! The room server's state machine, without sockets: connections come and go, frames arrive,
//! time passes (`tick`), and each call returns the frames to send and the connections to close.
//! Time and randomness are injected, so tests drive it exactly; the SQLite file is real (in
//! memory in tests).

mod admission;
mod lesson;
#[doc(hidden)]
pub mod properties;
mod queue;
#[cfg(test)]
mod tests;

use crate::db::{DbError, ServerDb};
use crate::metrics::Metrics;
use crate::rate::AddressLimiter;
use crate::secrets::Secrets;
use admission::NewLesson;
use lesson::{Lesson, Member};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tutti_protocol::{
    ClientFrame, ClientMessage, ErrorCode, IceServer, InviteCode, LessonId, LessonInfo,
    LessonStatus, MAX_FRAME_BYTES, PROTOCOL_VERSION, PeerId, RequestId, ServerMessage, TeacherId,
    TeacherPage, UnixMs,
};

pub type ConnId = u64;

/// How long a wrong code an address was told of counts once however often it is tried again.
const RECENT_WRONG: Duration = Duration::from_secs(600);

/// The two clocks the hub needs: monotonic for deadlines, wall for timestamps on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: UnixMs,
}

impl Now {
    pub fn real() -> Self {
        Self {
            mono: Instant::now(),
            wall: UnixMs::now(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// One message to one connection. Fan-out shares the `Arc`, so it is serialised once.
    Send(ConnId, Arc<ServerMessage>),
    /// Close the connection once what was sent before has gone out.
    Close(ConnId, CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    VersionMismatch,
    HelloTimeout,
    ShuttingDown,
}

/// A participant is out of the lesson: the relay stops serving them.
fn revoke_relay(cfg: &HubConfig, peer: &PeerId, wall: UnixMs) {
    if let Some(turn) = &cfg.turn {
        turn.revoke(peer.as_str(), u64::try_from(wall.0 / 1000).unwrap_or(0));
    }
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    pub server_name: String,
    /// How long a lost participant keeps its place.
    pub grace: Duration,
    pub ice_servers: Vec<IceServer>,
    /// The relay beside the server, whose credentials each admitted participant gets.
    pub turn: Option<crate::turn::TurnIssuer>,
    pub max_participants: usize,
    pub max_waiting: usize,
    pub max_questions: usize,
    pub chat_history: usize,
    /// Wrong invite codes one address may try before it must wait...
    pub wrong_codes_burst: u32,
    /// ...and how many it gets back each minute after that.
    pub wrong_codes_per_minute: f64,
    /// New lessons and pre-questions one address may create in a burst, and per hour after
    /// that (0: no limit, for load tests).
    pub creations_burst: u32,
    pub creations_per_hour: u32,
    /// A connection that has not said hello by then is closed.
    pub hello_timeout: Duration,
    /// A lesson nobody is in (or waiting for) is forgotten from memory after this long.
    pub idle_eviction: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            server_name: format!("tutti-server/{}", env!("CARGO_PKG_VERSION")),
            grace: Duration::from_secs(60),
            ice_servers: Vec::new(),
            turn: None,
            max_participants: 16,
            max_waiting: 32,
            max_questions: 1000,
            chat_history: 200,
            wrong_codes_burst: 10,
            wrong_codes_per_minute: 1.0,
            creations_burst: 30,
            creations_per_hour: 60,
            hello_timeout: Duration::from_secs(10),
            idle_eviction: Duration::from_secs(600),
        }
    }
}

/// Why a lookup over HTTP found nothing; `retry_after_s` when the address must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

/// Why a request was refused; becomes an `error` frame echoing the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    code: ErrorCode,
    message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, message))
}

impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "storage failed");
        Refusal::new(
            ErrorCode::Storage,
            "the server could not save this; nothing was changed, try again",
        )
    }
}

/// Where a connection sits: in a lesson's waiting room, or admitted.
#[derive(Debug, Clone)]
struct Seat {
    lesson: LessonId,
    peer: PeerId,
    admitted: bool,
}

#[derive(Debug)]
struct Conn {
    addr: IpAddr,
    connected_at: Instant,
    greeted: bool,
    seat: Option<Seat>,
}

pub struct Hub {
    cfg: HubConfig,
    db: ServerDb,
    secrets: Secrets,
    metrics: Arc<Metrics>,
    conns: HashMap<ConnId, Conn>,
    /// Lessons with someone in them or waiting, and those touched since the last tick.
    lessons: HashMap<LessonId, Lesson>,
    codes: HashMap<InviteCode, LessonId>,
    wrong_codes: AddressLimiter,
    /// Wrong codes each address was told of lately: the same wrong code again (the app's
    /// preview, then the knock; a retry) counts once.
    recent_wrong: HashMap<(IpAddr, InviteCode), Instant>,
    creations: AddressLimiter,
    out: Vec<Effect>,
    /// The wall clock as of the latest input (relay credentials are dated with it).
    wall: UnixMs,
}

impl Hub {
    pub fn new(cfg: HubConfig, db: ServerDb, secrets: Secrets, metrics: Arc<Metrics>) -> Self {
        let wrong_codes =
            AddressLimiter::new(cfg.wrong_codes_burst, cfg.wrong_codes_per_minute / 60.0);
        let creations = AddressLimiter::new(
            cfg.creations_burst,
            f64::from(cfg.creations_per_hour) / 3600.0,
        );
        Self {
            cfg,
            db,
            secrets,
            metrics,
            conns: HashMap::new(),
            lessons: HashMap::new(),
            codes: HashMap::new(),
            wrong_codes,
            recent_wrong: HashMap::new(),
            creations,
            out: Vec::new(),
            wall: UnixMs(0),
        }
    }

    pub fn connect(&mut self, conn: ConnId, addr: IpAddr, now: Now) {
        self.wall = now.wall;
        self.conns.insert(
            conn,
            Conn {
                addr,
                connected_at: now.mono,
                greeted: false,
                seat: None,
            },
        );
    }

    /// The connection is gone: a participant keeps its place for the grace period, a knock is
    /// withdrawn.
    pub fn disconnect(&mut self, conn: ConnId, now: Now) -> Vec<Effect> {
        if let Some(Conn {
            seat: Some(seat), ..
        }) = self.conns.remove(&conn)
        {
            self.lose_seat(conn, &seat, now);
        }
        std::mem::take(&mut self.out)
    }

    pub fn handle(&mut self, conn: ConnId, frame: ClientFrame, now: Now) -> Vec<Effect> {
        self.wall = now.wall;
        let re = frame.req;
        let mark = self.out.len();
        let reply = match self.conns.get(&conn) {
            None => return Vec::new(),
            Some(c) if !c.greeted && !matches!(frame.msg, ClientMessage::Hello { .. }) => {
                Err(Refusal::new(ErrorCode::HelloRequired, "send hello first"))
            }
            Some(_) => self.dispatch(conn, re, frame.msg, now),
        };
        let reply = reply.unwrap_or_else(|r| {
            self.metrics.error(r.code);
            ServerMessage::Error {
                re: Some(re),
                code: r.code,
                message: r.message,
            }
        });
        // The reply goes before the events the request caused.
        self.out.insert(mark, Effect::Send(conn, Arc::new(reply)));
        std::mem::take(&mut self.out)
    }

    /// Closes connections that never said hello, expires participants past their grace period,
    /// forgets lessons idle for long enough, updates gauges.
    pub fn tick(&mut self, now: Now) -> Vec<Effect> {
        self.wall = now.wall;
        let hello_timeout = self.cfg.hello_timeout;
        let silent: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.greeted && now.mono.saturating_duration_since(c.connected_at) >= hello_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in silent {
            self.conns.remove(&conn);
            self.out
                .push(Effect::Close(conn, CloseReason::HelloTimeout));
        }
        for lesson in self.lessons.values_mut() {
            for peer in lesson.expire_absent(now.mono, &mut self.out) {
                revoke_relay(&self.cfg, &peer, self.wall);
                if let Err(e) = self.db.delete_members(&lesson.info.id, Some(&peer)) {
                    tracing::warn!(error = %e, "an expired member is still stored");
                }
            }
        }
        let evict_after = self.cfg.idle_eviction;
        let idle: Vec<LessonId> = self
            .lessons
            .iter_mut()
            .filter_map(|(id, l)| {
                if !l.is_idle() {
                    l.idle_since = None;
                    return None;
                }
                let since = *l.idle_since.get_or_insert(now.mono);
                (now.mono.saturating_duration_since(since) >= evict_after).then(|| id.clone())
            })
            .collect();
        for id in idle {
            if let Some(l) = self.lessons.remove(&id) {
                self.codes.remove(&l.info.code);
            }
        }
        self.wrong_codes.prune(now.mono);
        self.recent_wrong
            .retain(|_, at| now.mono.saturating_duration_since(*at) < RECENT_WRONG);
        self.creations.prune(now.mono);
        let m = &self.metrics;
        let count = |f: fn(&Lesson) -> usize| {
            i64::try_from(self.lessons.values().map(f).sum::<usize>()).unwrap_or(i64::MAX)
        };
        m.lessons_loaded.store(count(|_| 1), Relaxed);
        m.lessons_live
            .store(count(|l| usize::from(l.is_live())), Relaxed);
        m.participants.store(count(|l| l.members.len()), Relaxed);
        m.waiting.store(count(|l| l.waiting.len()), Relaxed);
        std::mem::take(&mut self.out)
    }

    /// Tells every connection the server is going and closes it.
    pub fn shutdown(&mut self, reason: &str) -> Vec<Effect> {
        let msg = Arc::new(ServerMessage::ServerClosing {
            reason: reason.to_owned(),
        });
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        conns.sort_unstable();
        for conn in conns {
            self.out.push(Effect::Send(conn, msg.clone()));
            self.out
                .push(Effect::Close(conn, CloseReason::ShuttingDown));
        }
        self.conns.clear();
        std::mem::take(&mut self.out)
    }

    /// `GET /api/lessons/{code}`: the lesson behind a code, whatever its status, for someone
    /// at `addr` who is not connected. Wrong codes count as wrong knocks do.
    pub fn lookup(&mut self, addr: IpAddr, code: &str, now: Now) -> Result<LessonInfo, Lookup> {
        self.wall = now.wall;
        let found = self
            .lesson_by_code_from(Some(addr), code, now)
            .and_then(|id| Ok(lesson_in(&mut self.lessons, &id)?.info.clone()));
        found.map_err(|r| {
            self.metrics.error(r.code);
            // Refused for the address's wrong codes: how long it waits (a refusal uses none).
            let retry_after_s = (r.code == ErrorCode::RateLimited)
                .then(|| self.wrong_codes.check(addr, now.mono).err())
                .flatten()
                .map(crate::rate::whole_secs);
            Lookup {
                code: r.code,
                message: r.message,
                retry_after_s,
            }
        })
    }

    /// `GET /api/teachers/{id}`: a teacher's page.
    pub fn teacher(&mut self, id: &str) -> Result<TeacherPage, Lookup> {
        let refused = |code: ErrorCode, message: &str| Lookup {
            code,
            message: message.into(),
            retry_after_s: None,
        };
        if !TeacherId::is_valid(id) {
            return Err(refused(
                ErrorCode::InvalidInput,
                "a teacher's id is 32 lowercase hex digits",
            ));
        }
        match self.db.teacher(&TeacherId(id.to_owned())) {
            Ok(Some(page)) => Ok(page),
            Ok(None) => Err(refused(
                ErrorCode::NoSuchTeacher,
                "no teacher's page has this id",
            )),
            Err(e) => {
                tracing::error!(error = %e, "reading a teacher's page");
                Err(refused(
                    ErrorCode::Storage,
                    "the server could not read it; try again",
                ))
            }
        }
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    fn dispatch(
        &mut self,
        conn: ConnId,
        re: RequestId,
        msg: ClientMessage,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        use ClientMessage as M;
        match msg {
            M::Hello { protocol, client } => self.hello(conn, re, protocol, &client),
            M::CreateLesson {
                title,
                host_name,
                scheduled_for,
                time_zone,
                teacher_key,
                teacher,
            } => self.create_lesson(
                conn,
                re,
                NewLesson {
                    title: &title,
                    host_name: &host_name,
                    scheduled_for,
                    time_zone,
                    teacher_key: teacher_key.as_deref(),
                    teacher,
                },
                now,
            ),
            M::StartLesson { lesson, host_token } => {
                self.start_lesson(conn, re, &lesson, &host_token, now)
            }
            M::CancelLesson { lesson, host_token } => {
                self.cancel_lesson(re, &lesson, &host_token, now)
            }
            M::Preview { code } => self.preview(conn, re, &code, now),
            M::SubmitPreQuestion {
                code,
                name,
                text,
                kind,
                anonymous,
            } => self.submit_pre_question(conn, re, &code, &name, &text, kind, anonymous, now),
            M::Knock { code, name, role } => self.knock(conn, re, &code, &name, role, now),
            M::Admit { peer } => self.admit(conn, re, &peer),
            M::Deny { peer } => self.deny(conn, re, &peer, now),
            M::Rejoin {
                lesson,
                peer,
                token,
            } => self.rejoin(conn, re, &lesson, &peer, &token, now),
            M::Leave => self.leave(conn, re),
            M::Remove { peer } => self.remove(conn, re, &peer),
            M::EndLesson => self.end_lesson(conn, re, now),
            M::Signal { to, signal } => self.signal(conn, re, &to, signal),
            M::AskQuestion {
                text,
                kind,
                anonymous,
            } => self.ask_question(conn, re, &text, kind, anonymous, now),
            M::Vote { question, up } => self.vote(conn, re, question, up),
            M::SetQuestionState { question, state } => {
                self.set_question_state(conn, re, question, state, now)
            }
            M::PinQuestion { question, pinned } => self.pin_question(conn, re, question, pinned),
            M::SetMic { peer, allowed } => self.set_mic(conn, re, &peer, allowed),
            M::Chat { text } => self.chat(conn, re, &text, now),
            M::SetRecording { on } => self.set_recording(conn, re, on),
        }
    }

    fn hello(
        &mut self,
        conn: ConnId,
        re: RequestId,
        protocol: u32,
        client: &str,
    ) -> Result<ServerMessage, Refusal> {
        if protocol != PROTOCOL_VERSION {
            self.out
                .push(Effect::Close(conn, CloseReason::VersionMismatch));
            return refuse(
                ErrorCode::VersionMismatch,
                format!(
                    "this server speaks protocol {PROTOCOL_VERSION}, the client {protocol}: update the app"
                ),
            );
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.greeted = true;
        }
        tracing::debug!(conn, client = %client.chars().take(64).collect::<String>(), "hello");
        Ok(ServerMessage::Welcome {
            re,
            protocol: PROTOCOL_VERSION,
            server: self.cfg.server_name.clone(),
            max_frame_bytes: MAX_FRAME_BYTES,
        })
    }

    fn send(&mut self, conn: ConnId, msg: ServerMessage) {
        self.out.push(Effect::Send(conn, Arc::new(msg)));
    }

    fn seat(&self, conn: ConnId) -> Option<&Seat> {
        self.conns.get(&conn).and_then(|c| c.seat.as_ref())
    }

    fn set_seat(&mut self, conn: ConnId, seat: Option<Seat>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.seat = seat;
        }
    }

    fn require_unseated(&self, conn: ConnId) -> Result<(), Refusal> {
        match self.seat(conn) {
            Some(_) => refuse(
                ErrorCode::AlreadyInLesson,
                "this connection is already in a lesson or its waiting room; leave first",
            ),
            None => Ok(()),
        }
    }

    /// The admitted participant behind this connection.
    fn member_seat(&self, conn: ConnId) -> Result<(LessonId, PeerId), Refusal> {
        match self.seat(conn) {
            Some(s) if s.admitted => Ok((s.lesson.clone(), s.peer.clone())),
            Some(_) => refuse(ErrorCode::NotInLesson, "you are still in the waiting room"),
            None => refuse(ErrorCode::NotInLesson, "you are not in a lesson"),
        }
    }

    /// Like `member_seat`, and the participant must be the host.
    fn host_seat(&self, conn: ConnId, action: &str) -> Result<(LessonId, PeerId), Refusal> {
        let (lesson, peer) = self.member_seat(conn)?;
        let is_host = self
            .lessons
            .get(&lesson)
            .and_then(|l| l.member(&peer))
            .is_some_and(|m| m.p.role == tutti_protocol::Role::Host);
        if !is_host {
            return refuse(ErrorCode::NotHost, format!("only the host may {action}"));
        }
        Ok((lesson, peer))
    }

    /// Finds a lesson by what someone typed as its code, loading it if needed. Unknown codes
    /// count against the address, and an address that guessed too much is refused outright.
    fn lesson_by_code(&mut self, conn: ConnId, raw: &str, now: Now) -> Result<LessonId, Refusal> {
        let addr = self.conns.get(&conn).map(|c| c.addr);
        self.lesson_by_code_from(addr, raw, now)
    }

    fn lesson_by_code_from(
        &mut self,
        addr: Option<IpAddr>,
        raw: &str,
        now: Now,
    ) -> Result<LessonId, Refusal> {
        let code = InviteCode::parse(raw)
            .map_err(|e| Refusal::new(ErrorCode::InvalidCode, e.to_string()))?;
        if let Some(addr) = addr
            && let Err(wait) = self.wrong_codes.check(addr, now.mono)
        {
            return refuse(
                ErrorCode::RateLimited,
                format!(
                    "too many wrong codes from your address; try again in {} s",
                    crate::rate::whole_secs(wait)
                ),
            );
        }
        if let Some(id) = self.codes.get(&code) {
            return Ok(id.clone());
        }
        match self.db.lesson_by_code(&code)? {
            Some(stored) => {
                let id = stored.info.id.clone();
                self.load_lesson(&id, now)?;
                Ok(id)
            }
            None => {
                if let Some(addr) = addr {
                    let key = (crate::rate::limit_key(addr), code.clone());
                    if self.recent_wrong.insert(key, now.mono).is_none() {
                        self.wrong_codes.fail(addr, now.mono);
                    }
                }
                refuse(
                    ErrorCode::UnknownCode,
                    format!("no lesson has the code {code}"),
                )
            }
        }
    }

    /// Counts a new lesson or pre-question against the address; refuses when it made too many.
    fn count_creation(&mut self, conn: ConnId, now: Now) -> Result<(), Refusal> {
        if self.cfg.creations_per_hour == 0 {
            return Ok(());
        }
        let Some(addr) = self.conns.get(&conn).map(|c| c.addr) else {
            return Ok(());
        };
        if let Err(wait) = self.creations.check(addr, now.mono) {
            return refuse(
                ErrorCode::RateLimited,
                format!(
                    "too many new lessons or questions from your address; try again in {} min",
                    wait.as_secs().div_ceil(60).max(1)
                ),
            );
        }
        self.creations.fail(addr, now.mono);
        Ok(())
    }

    /// Makes sure a lesson is in memory, loading it by id.
    /// Brings a lesson into memory from the database; members a restart left behind come
    /// back away, their places kept for the grace period from `now`.
    fn load_lesson(&mut self, id: &LessonId, now: Now) -> Result<(), Refusal> {
        if self.lessons.contains_key(id) {
            return Ok(());
        }
        let Some(stored) = self.db.lesson_by_id(id)? else {
            return refuse(
                ErrorCode::NoSuchLesson,
                format!("no lesson has the id {id}"),
            );
        };
        let questions = self.db.questions(id)?;
        let live = stored.info.status == LessonStatus::Live;
        let mut lesson = Lesson::new(stored, questions);
        if live {
            let until = now.mono.checked_add(self.cfg.grace).unwrap_or(now.mono);
            lesson.members = self
                .db
                .members(id)?
                .into_iter()
                .map(|m| Member::restored(m, until))
                .collect();
            if !lesson.members.is_empty() {
                tracing::info!(lesson = %id, members = lesson.members.len(), "kept places restored");
            }
        }
        self.codes.insert(lesson.info.code.clone(), id.clone());
        self.lessons.insert(id.clone(), lesson);
        Ok(())
    }

    /// A connection's seat is gone (closed or replaced): a knock is withdrawn, a member is kept
    /// as away for the grace period.
    fn lose_seat(&mut self, conn: ConnId, seat: &Seat, now: Now) {
        let grace = self.cfg.grace;
        let Some(lesson) = self.lessons.get_mut(&seat.lesson) else {
            return;
        };
        if !seat.admitted {
            lesson.withdraw_knock(&seat.peer, &mut self.out);
            return;
        }
        if let Some(m) = lesson.member_mut(&seat.peer)
            && m.conn == Some(conn)
        {
            m.conn = None;
            m.p.connected = false;
            m.away_until = Some(now.mono.checked_add(grace).unwrap_or(now.mono));
            let was_host = m.p.role == tutti_protocol::Role::Host;
            let update = ServerMessage::ParticipantUpdated {
                participant: m.p.clone(),
            };
            lesson.broadcast(update, Some(&seat.peer), &mut self.out);
            if was_host {
                lesson.tell_waiting(
                    ServerMessage::HostPresence { present: false },
                    &mut self.out,
                );
            }
        }
    }
}

/// A loaded lesson, borrowing only the map (so `self.out` stays free for events).
fn lesson_in<'a>(
    lessons: &'a mut HashMap<LessonId, Lesson>,
    id: &LessonId,
) -> Result<&'a mut Lesson, Refusal> {
    lessons
        .get_mut(id)
        .ok_or_else(|| Refusal::new(ErrorCode::NoSuchLesson, "no such lesson"))
}

/// Trims and checks user text: not empty (unless allowed), not too long in characters, no
/// control characters (newlines only where `multiline`).
fn clean_text(
    text: &str,
    what: &str,
    max_chars: usize,
    allow_empty: bool,
    multiline: bool,
) -> Result<String, Refusal> {
    let t = text.trim();
    if t.is_empty() && !allow_empty {
        return refuse(ErrorCode::InvalidInput, format!("the {what} is empty"));
    }
    if t.chars().count() > max_chars {
        return refuse(
            ErrorCode::InvalidInput,
            format!("the {what} is longer than {max_chars} characters"),
        );
    }
    if t.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return refuse(
            ErrorCode::InvalidInput,
            format!("the {what} contains control characters"),
        );
    }
    // A name or title with bidirectional overrides can pass itself off as someone else's.
    if !multiline
        && t.chars()
            .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return refuse(
            ErrorCode::InvalidInput,
            format!("the {what} contains direction-override characters"),
        );
    }
    Ok(t.to_owned())
}
