//! Inside a lesson: the question queue, votes, the mic, chat, and WebRTC signaling.

use super::lesson::Entry;
use super::{ConnId, Hub, Now, Refusal, clean_text, lesson_in, refuse};
use std::collections::HashSet;
use tutti_protocol::{
    ChatId, ChatMessage, ErrorCode, LessonId, LessonStatus, PeerId, Question, QuestionId,
    QuestionKind, QuestionState, RequestId, Role, ServerMessage, Signal, limits,
};

impl Hub {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit_pre_question(
        &mut self,
        conn: ConnId,
        re: RequestId,
        code: &str,
        name: &str,
        text: &str,
        kind: QuestionKind,
        anonymous: bool,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let name = clean_text(name, "name", limits::NAME_CHARS, false, false)?;
        let text = question_text(text, kind)?;
        let id = self.lesson_by_code(conn, code, now)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        match lesson.info.status {
            LessonStatus::Ended => return refuse(ErrorCode::LessonEnded, "this lesson has ended"),
            LessonStatus::Live => {
                return refuse(
                    ErrorCode::LessonLive,
                    "the lesson has started: knock to join it, and ask there",
                );
            }
            LessonStatus::Scheduled => {}
        }
        self.count_creation(conn, now)?;
        let q = Question {
            id: QuestionId(0),
            lesson: id.clone(),
            kind,
            text,
            author: None,
            author_name: (!anonymous).then_some(name),
            anonymous,
            votes: 0,
            state: QuestionState::Open,
            pinned: false,
            pre_lesson: true,
            asked_at: now.wall,
            answered_at: None,
        };
        self.add_question(re, &id, q)
    }

    pub(super) fn ask_question(
        &mut self,
        conn: ConnId,
        re: RequestId,
        text: &str,
        kind: QuestionKind,
        anonymous: bool,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let (id, peer) = self.member_seat(conn)?;
        let text = question_text(text, kind)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let name = lesson.member(&peer).map(|m| m.p.name.clone());
        let q = Question {
            id: QuestionId(0),
            lesson: id.clone(),
            kind,
            text,
            author: (!anonymous).then_some(peer),
            author_name: if anonymous { None } else { name },
            anonymous,
            votes: 0,
            state: QuestionState::Open,
            pinned: false,
            pre_lesson: false,
            asked_at: now.wall,
            answered_at: None,
        };
        self.add_question(re, &id, q)
    }

    /// Saves a new question, then shows it to everyone in the lesson.
    fn add_question(
        &mut self,
        re: RequestId,
        id: &LessonId,
        q: Question,
    ) -> Result<ServerMessage, Refusal> {
        let max = self.cfg.max_questions;
        if lesson_in(&mut self.lessons, id)?.questions.len() >= max {
            return refuse(
                ErrorCode::LessonFull,
                format!("this lesson already has {max} questions"),
            );
        }
        let q = self.db.insert_question(&q)?;
        let lesson = lesson_in(&mut self.lessons, id)?;
        lesson.questions.insert(
            q.id,
            Entry {
                q: q.clone(),
                voters: HashSet::new(),
            },
        );
        let qid = q.id;
        lesson.broadcast(
            ServerMessage::QuestionUpdated { question: q },
            None,
            &mut self.out,
        );
        Ok(ServerMessage::QuestionAsked { re, question: qid })
    }

    pub(super) fn vote(
        &mut self,
        conn: ConnId,
        re: RequestId,
        question: QuestionId,
        up: bool,
    ) -> Result<ServerMessage, Refusal> {
        let (id, peer) = self.member_seat(conn)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(entry) = lesson.questions.get(&question) else {
            return refuse(
                ErrorCode::NoSuchQuestion,
                format!("no question {question} in this lesson"),
            );
        };
        if entry.voters.contains(&peer) == up {
            return Ok(ServerMessage::Ok { re }); // already so: nothing to change or tell
        }
        self.db.set_vote(question, &peer, up)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(entry) = lesson.questions.get_mut(&question) else {
            return refuse(
                ErrorCode::NoSuchQuestion,
                format!("no question {question} in this lesson"),
            );
        };
        if up {
            entry.voters.insert(peer);
        } else {
            entry.voters.remove(&peer);
        }
        entry.q.votes = u32::try_from(entry.voters.len()).unwrap_or(u32::MAX);
        let q = entry.q.clone();
        lesson.broadcast(
            ServerMessage::QuestionUpdated { question: q },
            None,
            &mut self.out,
        );
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn set_question_state(
        &mut self,
        conn: ConnId,
        re: RequestId,
        question: QuestionId,
        state: QuestionState,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "mark questions answered, dismissed or open")?;
        self.change_question(re, &id, question, |q| {
            q.state = state;
            q.answered_at = (state == QuestionState::Answered).then_some(now.wall);
        })
    }

    pub(super) fn pin_question(
        &mut self,
        conn: ConnId,
        re: RequestId,
        question: QuestionId,
        pinned: bool,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "pin questions")?;
        self.change_question(re, &id, question, |q| q.pinned = pinned)
    }

    /// Applies a host's change to a question: saved first, then shown to everyone.
    fn change_question(
        &mut self,
        re: RequestId,
        id: &LessonId,
        question: QuestionId,
        change: impl FnOnce(&mut Question),
    ) -> Result<ServerMessage, Refusal> {
        let lesson = lesson_in(&mut self.lessons, id)?;
        let Some(entry) = lesson.questions.get(&question) else {
            return refuse(
                ErrorCode::NoSuchQuestion,
                format!("no question {question} in this lesson"),
            );
        };
        let mut q = entry.q.clone();
        change(&mut q);
        if q == entry.q {
            return Ok(ServerMessage::Ok { re });
        }
        self.db.update_question(&q)?;
        let lesson = lesson_in(&mut self.lessons, id)?;
        if let Some(entry) = lesson.questions.get_mut(&question) {
            entry.q = q.clone();
        }
        lesson.broadcast(
            ServerMessage::QuestionUpdated { question: q },
            None,
            &mut self.out,
        );
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn set_mic(
        &mut self,
        conn: ConnId,
        re: RequestId,
        peer: &PeerId,
        allowed: bool,
    ) -> Result<ServerMessage, Refusal> {
        let (id, _) = self.host_seat(conn, "grant or revoke the mic")?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(m) = lesson.member_mut(peer) else {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{peer} is not in this lesson"),
            );
        };
        if m.p.role == Role::Host {
            return refuse(
                ErrorCode::InvalidInput,
                "the host's mic cannot be revoked; mute it in the app",
            );
        }
        if m.p.mic == allowed {
            return Ok(ServerMessage::Ok { re });
        }
        m.p.mic = allowed;
        if let Err(e) = self.db.save_member(&id, &m.stored()) {
            m.p.mic = !allowed;
            return Err(e.into());
        }
        let p = m.p.clone();
        lesson.broadcast(
            ServerMessage::ParticipantUpdated { participant: p },
            None,
            &mut self.out,
        );
        Ok(ServerMessage::Ok { re })
    }

    /// A member records the lesson (or stopped): everyone is told (not kept across a server
    /// restart: the recorder says it again when it rejoins).
    pub(super) fn set_recording(
        &mut self,
        conn: ConnId,
        re: RequestId,
        on: bool,
    ) -> Result<ServerMessage, Refusal> {
        let (id, peer) = self.member_seat(conn)?;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let Some(m) = lesson.member_mut(&peer) else {
            return refuse(ErrorCode::NotInLesson, "you are not in this lesson");
        };
        if m.p.recording != on {
            m.p.recording = on;
            let p = m.p.clone();
            lesson.broadcast(
                ServerMessage::ParticipantUpdated { participant: p },
                None,
                &mut self.out,
            );
        }
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn chat(
        &mut self,
        conn: ConnId,
        re: RequestId,
        text: &str,
        now: Now,
    ) -> Result<ServerMessage, Refusal> {
        let (id, peer) = self.member_seat(conn)?;
        let text = clean_text(text, "message", limits::CHAT_CHARS, false, true)?;
        let history = self.cfg.chat_history;
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let from_name = lesson
            .member(&peer)
            .map(|m| m.p.name.clone())
            .unwrap_or_default();
        let message = ChatMessage {
            id: ChatId(lesson.next_chat),
            from: peer,
            from_name,
            text,
            at: now.wall,
        };
        lesson.next_chat += 1;
        lesson.chat.push_back(message.clone());
        while lesson.chat.len() > history {
            lesson.chat.pop_front();
        }
        lesson.broadcast(ServerMessage::ChatPosted { message }, None, &mut self.out);
        Ok(ServerMessage::Ok { re })
    }

    pub(super) fn signal(
        &mut self,
        conn: ConnId,
        re: RequestId,
        to: &PeerId,
        signal: Signal,
    ) -> Result<ServerMessage, Refusal> {
        let (id, from) = self.member_seat(conn)?;
        let sdp_len = match &signal {
            Signal::Offer { sdp } | Signal::Answer { sdp } | Signal::Restart { sdp } => sdp.len(),
            Signal::Candidate { candidate, .. } => candidate.len(),
            Signal::EndOfCandidates | Signal::Ready => 0,
        };
        if let Signal::Offer { sdp } | Signal::Answer { sdp } | Signal::Restart { sdp } = &signal
            && sdp.trim().is_empty()
        {
            return refuse(ErrorCode::InvalidInput, "the SDP is empty");
        }
        if sdp_len > limits::SDP_BYTES {
            return refuse(
                ErrorCode::InvalidInput,
                format!("SDP is larger than {} bytes", limits::SDP_BYTES),
            );
        }
        if to == &from {
            return refuse(ErrorCode::NoSuchPeer, "cannot signal yourself");
        }
        let lesson = lesson_in(&mut self.lessons, &id)?;
        let target = match lesson.member(to) {
            None => return refuse(ErrorCode::NoSuchPeer, format!("{to} is not in this lesson")),
            Some(m) => m.conn,
        };
        let Some(target) = target else {
            return refuse(
                ErrorCode::NoSuchPeer,
                format!("{to} has lost its connection; wait for it to rejoin"),
            );
        };
        self.send(target, ServerMessage::Signal { from, signal });
        Ok(ServerMessage::Ok { re })
    }
}

fn question_text(text: &str, kind: QuestionKind) -> Result<String, Refusal> {
    // A voice question is a raised hand: the words may come aloud.
    clean_text(
        text,
        "question",
        limits::QUESTION_CHARS,
        kind == QuestionKind::Voice,
        true,
    )
}
