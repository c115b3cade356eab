//! One lesson in memory: who is in it, who is waiting, its queue and its recent chat.

use super::{ConnId, Effect, HubConfig};
use crate::db::{StoredLesson, StoredMember, StoredQuestion};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tutti_protocol::{
    ChatMessage, Joined, Knock, LeaveReason, LessonInfo, LessonStatus, Participant, PeerId,
    Question, QuestionId, RequestId, ResumeToken, Role, ServerMessage,
};

#[derive(Debug)]
pub(super) struct Member {
    pub p: Participant,
    /// None while the connection is lost.
    pub conn: Option<ConnId>,
    /// Empty for a member restored after a restart until it rejoins (only the hash was kept).
    pub token: ResumeToken,
    pub token_sha256: String,
    /// Set while away: when the place is given up.
    pub away_until: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Waiting {
    pub knock: Knock,
    pub conn: ConnId,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub q: Question,
    pub voters: HashSet<PeerId>,
}

#[derive(Debug)]
pub(super) struct Lesson {
    pub info: LessonInfo,
    pub host_token_sha256: String,
    pub members: Vec<Member>,
    pub waiting: Vec<Waiting>,
    pub questions: BTreeMap<QuestionId, Entry>,
    pub chat: VecDeque<ChatMessage>,
    pub next_chat: u64,
    /// Since when nobody has been in or waiting; the lesson leaves memory after a while.
    pub idle_since: Option<Instant>,
}

impl Member {
    pub fn stored(&self) -> StoredMember {
        StoredMember {
            peer: self.p.peer.clone(),
            name: self.p.name.clone(),
            role: self.p.role,
            mic: self.p.mic,
            token_sha256: self.token_sha256.clone(),
        }
    }

    /// One the server knew before it restarted: away, its place kept until `until`.
    pub fn restored(m: StoredMember, until: Instant) -> Self {
        Self {
            p: Participant {
                peer: m.peer,
                name: m.name,
                role: m.role,
                mic: m.mic,
                connected: false,
                recording: false,
            },
            conn: None,
            token: ResumeToken(String::new()),
            token_sha256: m.token_sha256,
            away_until: Some(until),
        }
    }
}

impl Lesson {
    pub fn new(stored: StoredLesson, questions: Vec<StoredQuestion>) -> Self {
        Self {
            info: stored.info,
            host_token_sha256: stored.host_token_sha256,
            members: Vec::new(),
            waiting: Vec::new(),
            questions: questions
                .into_iter()
                .map(|sq| {
                    (
                        sq.question.id,
                        Entry {
                            q: sq.question,
                            voters: sq.voters.into_iter().collect(),
                        },
                    )
                })
                .collect(),
            chat: VecDeque::new(),
            next_chat: 1,
            idle_since: None,
        }
    }

    pub fn is_live(&self) -> bool {
        self.info.status == LessonStatus::Live
    }

    pub fn is_idle(&self) -> bool {
        self.members.is_empty() && self.waiting.is_empty()
    }

    pub fn member(&self, peer: &PeerId) -> Option<&Member> {
        self.members.iter().find(|m| &m.p.peer == peer)
    }

    pub fn member_mut(&mut self, peer: &PeerId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &m.p.peer == peer)
    }

    pub fn host(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.p.role == Role::Host)
    }

    pub fn host_conn(&self) -> Option<ConnId> {
        self.host().and_then(|m| m.conn)
    }

    /// Whether a new peer id would collide with anyone here.
    pub fn peer_taken(&self, peer: &PeerId) -> bool {
        self.member(peer).is_some() || self.waiting.iter().any(|w| &w.knock.peer == peer)
    }

    pub fn remove_member(&mut self, peer: &PeerId) -> Option<Member> {
        let i = self.members.iter().position(|m| &m.p.peer == peer)?;
        Some(self.members.remove(i))
    }

    pub fn remove_knock(&mut self, peer: &PeerId) -> Option<Waiting> {
        let i = self.waiting.iter().position(|w| &w.knock.peer == peer)?;
        Some(self.waiting.remove(i))
    }

    /// Sends one message to every connected member (but `except`), serialised once.
    pub fn broadcast(&self, msg: ServerMessage, except: Option<&PeerId>, out: &mut Vec<Effect>) {
        let msg = Arc::new(msg);
        for m in &self.members {
            if let Some(conn) = m.conn
                && Some(&m.p.peer) != except
            {
                out.push(Effect::Send(conn, msg.clone()));
            }
        }
    }

    /// Sends one message to everyone in the waiting room.
    pub fn tell_waiting(&self, msg: ServerMessage, out: &mut Vec<Effect>) {
        let msg = Arc::new(msg);
        for w in &self.waiting {
            out.push(Effect::Send(w.conn, msg.clone()));
        }
    }

    pub fn withdraw_knock(&mut self, peer: &PeerId, out: &mut Vec<Effect>) {
        if self.remove_knock(peer).is_some()
            && let Some(host) = self.host_conn()
        {
            out.push(Effect::Send(
                host,
                Arc::new(ServerMessage::KnockWithdrawn { peer: peer.clone() }),
            ));
        }
    }

    /// Members whose grace period is over leave for good; returns who.
    pub fn expire_absent(&mut self, now: Instant, out: &mut Vec<Effect>) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .members
            .iter()
            .filter(|m| m.away_until.is_some_and(|t| t <= now))
            .map(|m| m.p.peer.clone())
            .collect();
        for peer in expired.iter().cloned() {
            self.remove_member(&peer);
            tracing::info!(lesson = %self.info.id, %peer, "participant timed out");
            self.broadcast(
                ServerMessage::ParticipantLeft {
                    peer,
                    reason: LeaveReason::TimedOut,
                },
                None,
                out,
            );
        }
        expired
    }

    /// What `peer` needs on entering: everything, the waiting room only for the host.
    pub fn snapshot(
        &self,
        re: Option<RequestId>,
        peer: &PeerId,
        cfg: &HubConfig,
    ) -> Option<Joined> {
        let me = self.member(peer)?;
        let waiting = if me.p.role == Role::Host {
            self.waiting.iter().map(|w| w.knock.clone()).collect()
        } else {
            Vec::new()
        };
        Some(Joined {
            re,
            lesson: self.info.clone(),
            you: me.p.clone(),
            resume_token: me.token.clone(),
            participants: self.members.iter().map(|m| m.p.clone()).collect(),
            waiting,
            questions: self.questions.values().map(|e| e.q.clone()).collect(),
            your_votes: self
                .questions
                .values()
                .filter(|e| e.voters.contains(peer))
                .map(|e| e.q.id)
                .collect(),
            chat: self.chat.iter().cloned().collect(),
            ice_servers: cfg.ice_servers.clone(),
            grace_secs: cfg.grace.as_secs(),
        })
    }
}
