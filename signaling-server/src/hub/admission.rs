//! Lessons and who is in them: create, start, preview, knock, admit, deny, rejoin, leave,
//! remove, end.

use super::lesson::{Lesson, Member, Waiting};
use super::{ConnId, Effect, Hub, Now, Refusal, Seat, clean_text, lesson_in, refuse};
use crate::db::{DbError, StoredLesson};
use crate::secrets::hash_token;
use std::sync::Arc;
use tutti_protocol::{
    ErrorCode, HostToken, JoinRole, Joined, Knock, LeaveReason, LessonId, LessonInfo, LessonStatus,
    Participant, PeerId, RequestId, ResumeToken, Role, ServerMessage, TeacherId, TeacherPage,
    UnixMs, limits,
};

impl Hub {
    pub(super) fn create_lesson(
        &mut self,
        conn: ConnId,
        re: RequestId,
        new: NewLesson<'_>,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let NewLesson {
            title,
            host_name,
            scheduled_for,
            time_zone,
            teacher_key,
            teacher,
        } = new;
        let title = clean_text(title, "title", limits::TITLE_CHARS, false, false)?;
        let host_name = clean_text(host_name, "name", limits::NAME_CHARS, false, false)?;
        if let Some(zone) = &time_zone
            && !tutti_protocol::api::is_zone_name(zone)
        {
            return refuse(
                ErrorCode::InvalidInput,
                "the time zone is not an IANA name such as Asia/Seoul",
            );
        }
        let teacher_id = match (teacher_key, &teacher) {
            (None, None) => None,
            (None, Some(_)) => {
                return refuse(ErrorCode::InvalidInput, "a teacher's page needs its key");
            }
            (Some(key), page) => {
                if key.chars().count() < 16
                    || key.len() > limits::TEACHER_KEY_CHARS
                    || !key.bytes().all(|b| b.is_ascii_graphic())
                {
                    return refuse(
                        ErrorCode::InvalidInput,
                        "a teacher's key is 16–128 printable ASCII characters",
                    );
                }
                if let Some(why) = page.as_ref().and_then(TeacherPage::problem) {
                    return refuse(
                        ErrorCode::InvalidInput,
                        format!("the teacher's page: {why}"),
                    );
                }
                Some(teacher_id(key))
            }
        };
        self.count_creation(conn, now)?;
        // Published with the lesson: the page as the teacher's app has it now. A key without a
        // page names the one published before, if any.
        let teacher_id = match (teacher_id, teacher) {
            (Some(id), Some(page)) => {
                self.db.put_teacher(&id, &page, now.wall)?;
                Some(id)
            }
            (Some(id), None) => self.db.teacher(&id)?.map(|_| id),
            (None, _) => None,
        };
        let host_token = self.secrets.host_token();
        // A code collision is a one-in-2^44 event per existing lesson; retry a few times.
        for _ in 0..8 {
            let lesson = StoredLesson {
                info: LessonInfo {
                    id: self.secrets.lesson_id(),
                    code: self.secrets.invite_code(),
                    title: title.clone(),
                    host_name: host_name.clone(),
                    status: LessonStatus::Scheduled,
                    scheduled_for,
                    time_zone: time_zone.clone(),
                    created_at: now.wall,
                    started_at: None,
                    ended_at: None,
                    teacher: teacher_id.clone(),
                },
                host_token_sha256: hash_token(host_token.as_str()),
            };
            match self.db.insert_lesson(&lesson) {
                Ok(()) => {
                    tracing::info!(lesson = %lesson.info.id, scheduled = scheduled_for.is_some(), "lesson created");
                    return Ok(ServerMessage::LessonCreated {
                        re,
                        lesson: lesson.info,
                        host_token,
                    });
                }
                Err(DbError::CodeTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        refuse(
            ErrorCode::Storage,
            "could not find a free invite code; try again",
        )
    }

    pub(super) fn start_lesson(
        &mut self,
        conn: ConnId,
        re: RequestId,
        id: &LessonId,
        token: &HostToken,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        // The host's own connection may start again (idempotent); anyone else's seat must be free.
        let same_host_seat = self.seat(conn).is_some_and(|s| {
            &s.lesson == id
                && s.admitted
                && self
                    .lessons
                    .get(id)
                    .and_then(|l| l.host())
                    .is_some_and(|h| h.p.peer == s.peer)
        });
        if !same_host_seat {
            self.require_unseated(conn)?;
        }
        self.load_lesson(id, now)?;
        let lesson = lesson_in(&mut self.lessons, id)?;
        require_host_token(lesson, token)?;
        match lesson.info.status {
            LessonStatus::Ended => return refuse(ErrorCode::LessonEnded, "this lesson has ended"),
            LessonStatus::Scheduled => {
                let mut info = lesson.info.clone();
                info.status = LessonStatus::Live;
                info.started_at = Some(now.wall);
                self.db.update_lesson_status(&info)?;
                let lesson = lesson_in(&mut self.lessons, id)?;
                lesson.info = info.clone();
                let started = Arc::new(ServerMessage::LessonStarted { lesson: info });
                for w in &lesson.waiting {
                    self.out.push(Effect::Send(w.conn, started.clone()));
                }
                tracing::info!(lesson = %id, "lesson started");
            }
            LessonStatus::Live => {}
        }
        let host_peer = match self
            .lessons
            .get(id)
            .and_then(|l| l.host())
            .map(|m| m.p.peer.clone())
        {
            Some(peer) => {
                self.take_over(conn, id, &peer);
                // A host restored after a restart has no resume token until given a new one.
                let token = self.secrets.resume_token();
                let lesson = lesson_in(&mut self.lessons, id)?;
                if let Some(m) = lesson.member_mut(&peer)
                    && m.token.as_str().is_empty()
                {
                    m.token_sha256 = hash_token(token.as_str());
                    m.token = token;
                    self.db.save_member(id, &m.stored())?;
                }
                peer
            }
            None => {
                let peer = self.fresh_peer(id);
                let token = self.secrets.resume_token();
                let lesson = lesson_in(&mut self.lessons, id)?;
                let p = Participant {
                    peer: peer.clone(),
                    name: lesson.info.host_name.clone(),
                    role: Role::Host,
                    mic: true,
                    connected: true,
                    recording: false,
                };
                let member = Member {
                    p: p.clone(),
                    conn: Some(conn),
                    token_sha256: hash_token(token.as_str()),
                    token,
                    away_until: None,
                };
                self.db.save_member(id, &member.stored())?;
                lesson.members.push(member);
                lesson.broadcast(
                    ServerMessage::ParticipantUpdated { participant: p },
                    Some(&peer),
                    &mut self.out,
                );
                lesson.tell_waiting(ServerMessage::HostPresence { present: true }, &mut self.out);
                peer
            }
        };
        self.set_seat(
            conn,
            Some(Seat {
                lesson: id.clone(),
                peer: host_peer.clone(),
                admitted: true,
            }),
        );
        self.joined(Some(re), id, &host_peer)
    }

    pub(super) fn preview(
        &mut self,
        conn: ConnId,
        re: RequestId,
        code: &str,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let id = self.lesson_by_code(conn, code, now)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        if lesson.info.status == LessonStatus::Ended {
            return refuse(ErrorCode::LessonEnded, "this lesson has ended");
        }
        // Once the lesson is live, its queue is for those inside.
        let questions = if lesson.info.status == LessonStatus::Scheduled {
            lesson.questions.values().map(|e| e.q.clone()).collect()
        } else {
            Vec::new()
        };
        Ok(ServerMessage::LessonPreview {
            re,
            lesson: lesson.info.clone(),
            questions,
        })
    }

    pub(super) fn knock(
        &mut self,
        conn: ConnId,
        re: RequestId,
        code: &str,
        name: &str,
        role: JoinRole,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        self.require_unseated(conn)?;
        let name = clean_text(name, "name", limits::NAME_CHARS, false, false)?;
        let id = self.lesson_by_code(conn, code, now)?;
        let (max_p, max_w) = (self.cfg.max_participants, self.cfg.max_waiting);
        let lesson = lesson_in(&mut self.lessons, &id)?;
        if lesson.info.status == LessonStatus::Ended {
            return refuse(
                ErrorCode::LessonEnded,
                "this lesson has ended; ask the teacher for a new code",
            );
        }
        if lesson.members.len() >= max_p || lesson.waiting.len() >= max_w {
            return refuse(ErrorCode::LessonFull, "this lesson is full");
        }
        let peer = self.fresh_peer(&id);
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let knock = Knock {
            peer: peer.clone(),
            name,
            role,
            at: now.wall,
        };
        lesson.waiting.push(Waiting {
            knock: knock.clone(),
            conn,
        });
        let host = lesson.host_conn();
        let info = lesson.info.clone();
        if let Some(host) = host {
            self.send(host, ServerMessage::Knocking { knock });
        }
        self.set_seat(
            conn,
            Some(Seat {
                lesson: id,
                peer: peer.clone(),
                admitted: false,
            }),
        );
        Ok(ServerMessage::Waiting {
            re,
            lesson: info,
            you: peer,
            host_present: host.is_some(),
        })
    }

    pub(super) fn admit(
        &mut self,
        conn: ConnId,
        re: RequestId,
        peer: &PeerId,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "admit")?;
        let max_p = self.cfg.max_participants;
        let token = self.secrets.resume_token();
        let lesson = lesson_in(&mut self.lessons, &id)?;
        if !lesson.waiting.iter().any(|w| &w.knock.peer == peer) {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{peer} is not in the waiting room"),
            );
        }
        if lesson.members.len() >= max_p {
            return refuse(ErrorCode::LessonFull, "this lesson is full");
        }
        let Some(w) = lesson.remove_knock(peer) else {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{peer} is not in the waiting room"),
            );
        };
        let role = Role::from(w.knock.role);
        let p = Participant {
            peer: peer.clone(),
            name: w.knock.name.clone(),
            role,
            // Students play; observers listen until the host hands them the mic.
            mic: role == Role::Student,
            connected: true,
            recording: false,
        };
        let member = Member {
            p: p.clone(),
            conn: Some(w.conn),
            token_sha256: hash_token(token.as_str()),
            token,
            away_until: None,
        };
        if let Err(e) = self.db.save_member(&id, &member.stored()) {
            // Back where it was: the knock waits, the host is told why.
            lesson.waiting.push(w);
            return Err(e.into());
        }
        lesson.members.push(member);
        lesson.broadcast(
            ServerMessage::ParticipantUpdated { participant: p },
            Some(peer),
            &mut self.out,
        );
        if let Some(seat) = self.conns.get_mut(&w.conn).and_then(|c| c.seat.as_mut()) {
            seat.admitted = true;
        }
        let joined = self.joined(None, &id, peer)?;
        self.send(w.conn, joined);
        tracing::info!(lesson = %id, %peer, ?role, "admitted");
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn deny(
        &mut self,
        conn: ConnId,
        re: RequestId,
        peer: &PeerId,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "deny")?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(w) = lesson.remove_knock(peer) else {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{peer} is not in the waiting room"),
            );
        };
        // Knocking again and again after a no is like guessing codes.
        if let Some(addr) = self.conns.get(&w.conn).map(|c| c.addr) {
            self.wrong_codes.fail(addr, now.mono);
        }
        self.set_seat(w.conn, None);
        self.send(w.conn, ServerMessage::Denied { lesson: id });
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn rejoin(
        &mut self,
        conn: ConnId,
        re: RequestId,
        id: &LessonId,
        peer: &PeerId,
        token: &ResumeToken,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let same_seat = self
            .seat(conn)
            .is_some_and(|s| &s.lesson == id && &s.peer == peer && s.admitted);
        if !same_seat {
            self.require_unseated(conn)?;
        }
        self.load_lesson(id, now)?;
        let lesson = lesson_in(&mut self.lessons, id)?;
        if lesson.info.status == LessonStatus::Ended {
            return refuse(ErrorCode::LessonEnded, "this lesson has ended");
        }
        let hashed = hash_token(token.as_str());
        match lesson.member_mut(peer) {
            Some(m) if m.token_sha256 == hashed => m.token = token.clone(),
            _ => {
                return refuse(
                    ErrorCode::SessionExpired,
                    "this session has expired; knock again with the invite code",
                );
            }
        }
        self.take_over(conn, id, peer);
        self.set_seat(
            conn,
            Some(Seat {
                lesson: id.clone(),
                peer: peer.clone(),
                admitted: true,
            }),
        );
        tracing::info!(lesson = %id, %peer, "rejoined");
        self.joined(Some(re), id, peer)
    }

    pub(super) fn leave(&mut self, conn: ConnId, re: RequestId) -> Result<ServerMessage, Refusal> {
        let Some(seat) = self.seat(conn).cloned() else {
            return refuse(ErrorCode::NotInLesson, "you are not in a lesson");
        };
        self.set_seat(conn, None);
        let lesson = lesson_in(&mut self.lessons, &seat.lesson)?;
        if seat.admitted {
            let gone = lesson.remove_member(&seat.peer);
            if let Err(e) = self.db.delete_members(&seat.lesson, Some(&seat.peer)) {
                tracing::warn!(error = %e, "a member who left is still stored");
            }
            super::revoke_relay(&self.cfg, &seat.peer, self.wall);
            if gone.is_some_and(|m| m.p.role == Role::Host) {
                lesson.tell_waiting(
                    ServerMessage::HostPresence { present: false },
                    &mut self.out,
                );
            }
            lesson.broadcast(
                ServerMessage::ParticipantLeft {
                    peer: seat.peer,
                    reason: LeaveReason::Left,
                },
                None,
                &mut self.out,
            );
        } else {
            lesson.withdraw_knock(&seat.peer, &mut self.out);
        }
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn remove(
        &mut self,
        conn: ConnId,
        re: RequestId,
        peer: &PeerId,
    ) -> Result<ServerMessage, Refusal> {
        let (id, me) = self.host_seat(conn, "remove a participant")?;
        if &me == peer {
            return refuse(
                ErrorCode::InvalidInput,
                "the host cannot remove itself; end the lesson instead",
            );
        }
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(gone) = lesson.remove_member(peer) else {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{peer} is not in this lesson"),
            );
        };
        if let Err(e) = self.db.delete_members(&id, Some(peer)) {
            tracing::warn!(error = %e, "a removed member is still stored");
        }
        super::revoke_relay(&self.cfg, peer, self.wall);
        lesson.broadcast(
            ServerMessage::ParticipantLeft {
                peer: peer.clone(),
                reason: LeaveReason::Removed,
            },
            None,
            &mut self.out,
        );
        if let Some(c) = gone.conn {
            self.set_seat(c, None);
            self.send(c, ServerMessage::Removed { lesson: id });
        }
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn end_lesson(
        &mut self,
        conn: ConnId,
        re: RequestId,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "end the lesson")?;
        self.close_lesson(&id, now)?;
        Ok(ServerMessage::Ok { re })
    }

    /// The host, with its token and from any connection, calls a lesson off (or ends it).
    pub(super) fn cancel_lesson(
        &mut self,
        re: RequestId,
        id: &LessonId,
        token: &HostToken,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        self.load_lesson(id, now)?;
        let lesson = lesson_in(&mut self.lessons, id)?;
        require_host_token(lesson, token)?;
        if lesson.info.status == LessonStatus::Ended {
            return Ok(ServerMessage::Ok { re });
        }
        self.close_lesson(id, now)?;
        tracing::info!(lesson = %id, "lesson cancelled");
        Ok(ServerMessage::Ok { re })
    }

    /// Ends a lesson in memory and in the database; everyone in it or waiting is told.
    fn close_lesson(&mut self, id: &LessonId, now: Now) -> Result<(), Refusal> {
        let lesson = lesson_in(&mut self.lessons, id)?;
        let mut info = lesson.info.clone();
        info.status = LessonStatus::Ended;
        info.ended_at = Some(now.wall);
        self.db.update_lesson_status(&info)?;
        if let Err(e) = self.db.delete_members(id, None) {
            tracing::warn!(error = %e, "the ended lesson's members are still stored");
        }
        let Some(lesson) = self.lessons.remove(id) else {
            return refuse(ErrorCode::NoSuchLesson, "no such lesson");
        };
        self.codes.remove(&lesson.info.code);
        let ended = Arc::new(ServerMessage::LessonEnded { lesson: id.clone() });
        let conns = lesson
            .members
            .iter()
            .filter_map(|m| m.conn)
            .chain(lesson.waiting.iter().map(|w| w.conn));
        for m in &lesson.members {
            super::revoke_relay(&self.cfg, &m.p.peer, self.wall);
        }
        for c in conns {
            self.out.push(Effect::Send(c, ended.clone()));
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.seat = None;
            }
        }
        tracing::info!(lesson = %id, "lesson ended");
        Ok(())
    }

    /// Binds `peer`'s place to `conn`; an older connection holding it is told and unseated.
    fn take_over(&mut self, conn: ConnId, id: &LessonId, peer: &PeerId) {
        let Some(lesson) = self.lessons.get_mut(id) else {
            return;
        };
        let Some(m) = lesson.member_mut(peer) else {
            return;
        };
        let old = m.conn.replace(conn);
        let was_away = !m.p.connected;
        let is_host = m.p.role == Role::Host;
        m.p.connected = true;
        m.away_until = None;
        let p = m.p.clone();
        if was_away {
            lesson.broadcast(
                ServerMessage::ParticipantUpdated {
                    participant: p.clone(),
                },
                Some(peer),
                &mut self.out,
            );
        }
        if was_away && is_host {
            lesson.tell_waiting(ServerMessage::HostPresence { present: true }, &mut self.out);
        }
        if let Some(old) = old.filter(|&old| old != conn) {
            // The others still had media with the old session: tell them it went and came
            // back, so they connect to the new one.
            if !was_away {
                let mut gone = p.clone();
                gone.connected = false;
                lesson.broadcast(
                    ServerMessage::ParticipantUpdated { participant: gone },
                    Some(peer),
                    &mut self.out,
                );
                lesson.broadcast(
                    ServerMessage::ParticipantUpdated { participant: p },
                    Some(peer),
                    &mut self.out,
                );
            }
            self.set_seat(old, None);
            self.send(old, ServerMessage::SessionReplaced { lesson: id.clone() });
        }
    }

    fn fresh_peer(&mut self, id: &LessonId) -> PeerId {
        loop {
            let peer = self.secrets.peer_id();
            if !self.lessons.get(id).is_some_and(|l| l.peer_taken(&peer)) {
                return peer;
            }
        }
    }

    pub(super) fn joined(
        &self,
        re: Option<RequestId>,
        id: &LessonId,
        peer: &PeerId,
    ) -> Result<ServerMessage, Refusal> {
        let snapshot: Option<Joined> = self
            .lessons
            .get(id)
            .and_then(|l: &Lesson| l.snapshot(re, peer, &self.cfg));
        snapshot
            .map(|mut j| {
                if let Some(turn) = &self.cfg.turn {
                    let now = u64::try_from(self.wall.0 / 1000).unwrap_or(0);
                    j.ice_servers.push(turn.ice_server(peer.as_str(), now));
                }
                ServerMessage::Joined(Box::new(j))
            })
            .ok_or_else(|| {
                Refusal::new(
                    ErrorCode::NoSuchPeer,
                    format!("{peer} is not in this lesson"),
                )
            })
    }
}

/// The host token opens this lesson (compared by hash: the server keeps no token).
fn require_host_token(lesson: &Lesson, token: &HostToken) -> Result<(), Refusal> {
    if lesson.host_token_sha256 != hash_token(token.as_str()) {
        return refuse(
            ErrorCode::BadHostToken,
            "this host token does not open the lesson",
        );
    }
    Ok(())
}

/// A lesson as `create_lesson` asks for it.
pub(super) struct NewLesson<'a> {
    pub title: &'a str,
    pub host_name: &'a str,
    pub scheduled_for: Option<UnixMs>,
    pub time_zone: Option<String>,
    pub teacher_key: Option<&'a str>,
    pub teacher: Option<TeacherPage>,
}

/// Where a key's page is kept: the first 16 bytes of its SHA-256, in hex (128 bits: no key
/// but the teacher's finds it). The key itself is
/// never stored, so the id cannot be turned back into it.
pub(super) fn teacher_id(key: &str) -> TeacherId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    TeacherId(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}
