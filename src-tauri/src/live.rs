//! What the lesson screen shows, computed from the lesson's events: a reducer with no store,
//! locks or clock, so that the screen's state can be tested event by event. The session owns
//! one and carries out what it asks the store to keep.

use crate::error::{AppError, ErrorCode};
use crate::view::{
    ChatView, KnockView, LessonView, LinkStatus, MetronomeView, ParticipantView, QuestionView,
};
use std::collections::{HashMap, HashSet};
use tutti_lesson::LessonEvent;
use tutti_media::LinkState;
use tutti_protocol::{ChatMessage, PeerId, Question, QuestionId};
use tutti_store::{ChatRecord, NoteId, QuestionRecord};

/// The view and what it is computed from.
pub struct Live {
    pub view: LessonView,
    me: PeerId,
    questions: Vec<Question>,
    votes: HashSet<QuestionId>,
    /// The lesson's note in the store, once there is one.
    pub note: Option<NoteId>,
    links: HashMap<String, LinkState>,
    hearing: HashSet<String>,
}

/// What an event asks the local store to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    Question(QuestionRecord),
    Chat(ChatRecord),
}

impl Live {
    /// `view` as the lesson was entered (its questions are recomputed from `questions`).
    pub fn new(
        view: LessonView,
        me: PeerId,
        questions: Vec<Question>,
        votes: impl IntoIterator<Item = QuestionId>,
        note: Option<NoteId>,
    ) -> Self {
        let mut live = Self {
            view,
            me,
            questions,
            votes: votes.into_iter().collect(),
            note,
            links: HashMap::new(),
            hearing: HashSet::new(),
        };
        live.refresh_questions();
        live
    }

    /// The chat line as we show it.
    pub fn chat_view(&self, m: &ChatMessage) -> ChatView {
        ChatView {
            from: m.from_name.clone(),
            text: m.text.clone(),
            at_ms: m.at.0,
            mine: m.from == self.me,
        }
    }

    /// Our vote, shown at once (the server's count follows as a question update).
    pub fn vote(&mut self, question: QuestionId, up: bool) {
        if up {
            self.votes.insert(question);
        } else {
            self.votes.remove(&question);
        }
        self.refresh_questions();
    }

    /// The store could not keep something: the lesson goes on, and the screen says so.
    pub fn not_kept(&mut self, e: AppError) {
        tracing::warn!(error = %e.message, "not saved");
        self.view.problems.push(e);
    }

    /// Applies one of the lesson's events; what it returns is for the store.
    pub fn apply(&mut self, event: LessonEvent) -> Option<Keep> {
        let mut keep = None;
        match event {
            LessonEvent::Knocking(k) => {
                let k = KnockView::from(&k);
                self.view.waiting.retain(|w| w.peer != k.peer);
                self.view.waiting.push(k);
            }
            LessonEvent::KnockWithdrawn(peer) => self.view.waiting.retain(|w| w.peer != peer.0),
            LessonEvent::Participant(p) => {
                self.view.waiting.retain(|w| w.peer != p.peer.0);
                let v = ParticipantView::from_wire(&p);
                if p.peer == self.me {
                    self.view.you = v;
                } else {
                    match self.view.others.iter_mut().find(|o| o.peer == v.peer) {
                        Some(o) => *o = v,
                        None => self.view.others.push(v),
                    }
                }
            }
            LessonEvent::Left(peer) => {
                self.view.others.retain(|o| o.peer != peer.0);
                self.links.remove(&peer.0);
                self.hearing.remove(&peer.0);
            }
            LessonEvent::Link { peer, state } => {
                // Heard until the link goes (one away from the room server keeps its link, and
                // its sound); a new link says `Hearing` again.
                if matches!(state, LinkState::Failed | LinkState::Closed) {
                    self.hearing.remove(&peer.0);
                }
                self.links.insert(peer.0, state);
            }
            LessonEvent::Hearing(peer) => {
                self.hearing.insert(peer.0);
            }
            LessonEvent::Question(q) => {
                keep = Some(Keep::Question(QuestionRecord::from(&q)));
                match self.questions.iter_mut().find(|x| x.id == q.id) {
                    Some(old) => *old = q,
                    None => self.questions.push(q),
                }
                self.refresh_questions();
            }
            LessonEvent::Chat(m) => {
                keep = Some(Keep::Chat(ChatRecord::from(&m)));
                let line = self.chat_view(&m);
                self.view.chat.push(line);
            }
            LessonEvent::RoomServer { reachable } => {
                self.view
                    .problems
                    .retain(|p| p.code != ErrorCode::Reconnecting);
                if !reachable {
                    self.view.problems.push(AppError::new(
                        ErrorCode::Reconnecting,
                        "the room server cannot be reached; reconnecting (the sound goes on)",
                    ));
                }
            }
            LessonEvent::Metronome(plan) => {
                self.view.metronome = plan.as_ref().map(MetronomeView::from);
            }
            LessonEvent::TakeNotDelivered { path, reason } => {
                self.view.problems.push(AppError::new(
                    ErrorCode::TakeNotDelivered,
                    format!(
                        "your recording ({}) could not be sent to the teacher: {reason}; it is kept here",
                        path.display()
                    ),
                ));
            }
            LessonEvent::TakeDelivered(path) => {
                tracing::info!(path = %path.display(), "our take is with the teacher");
            }
            // Listed by the session, with the lesson's recordings.
            LessonEvent::TakeReceived { .. } | LessonEvent::Over(_) => {}
        }
        self.refresh_links();
        keep
    }

    fn refresh_questions(&mut self) {
        let mut qs: Vec<QuestionView> = self
            .questions
            .iter()
            .map(|q| QuestionView::from_wire(q, self.votes.contains(&q.id)))
            .collect();
        qs.sort_by_key(|q| std::cmp::Reverse(q.asked_ms));
        self.view.questions = qs;
    }

    fn refresh_links(&mut self) {
        for p in &mut self.view.others {
            p.link = self.links.get(&p.peer).copied().map(LinkStatus::from);
            p.hearing = self.hearing.contains(&p.peer);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::view::CameraStatus;
    use tutti_protocol::{
        ChatId, JoinRole, Knock, LessonId, Participant, QuestionKind, QuestionState, Role, UnixMs,
    };

    fn person(peer: &str, name: &str, role: Role) -> Participant {
        Participant {
            peer: PeerId::from(peer),
            name: name.into(),
            role,
            mic: role != Role::Observer,
            connected: true,
            recording: false,
        }
    }

    pub(crate) fn live() -> Live {
        let you = person("p-host", "김선생", Role::Host);
        let view = LessonView {
            local_id: 1,
            title: "Scales".into(),
            code: "ABC-DEF-GHJ".into(),
            host_name: "김선생".into(),
            host: true,
            you: ParticipantView::from_wire(&you),
            others: Vec::new(),
            waiting: Vec::new(),
            questions: Vec::new(),
            chat: Vec::new(),
            note: String::new(),
            muted: false,
            camera: CameraStatus::On,
            problems: Vec::new(),
            share_urls: Vec::new(),
            server_url: "ws://127.0.0.1:8787/ws".into(),
            teacher: None,
            metronome: None,
            metronome_volume: 1.0,
            mix: Vec::new(),
            recording: None,
            marks: 0,
        };
        Live::new(view, you.peer, Vec::new(), [], None)
    }

    fn question(id: u64, at: i64) -> Question {
        Question {
            id: QuestionId(id),
            lesson: LessonId::from("l-1"),
            kind: QuestionKind::Text,
            text: format!("question {id}"),
            author: None,
            author_name: None,
            anonymous: true,
            votes: 0,
            state: QuestionState::Open,
            pinned: false,
            pre_lesson: false,
            asked_at: UnixMs(at),
            answered_at: None,
        }
    }

    /// A take that cannot reach the teacher is said, in the user's terms, with where it is
    /// kept; one that does is not a problem.
    #[test]
    fn a_take_not_delivered_is_shown_with_where_it_is_kept() {
        let mut l = live();
        l.apply(LessonEvent::TakeDelivered("/r/Omar.wav".into()));
        assert!(l.view.problems.is_empty());
        l.apply(LessonEvent::TakeNotDelivered {
            path: "/r/Omar.wav".into(),
            reason: "the disk is full".into(),
        });
        let p = &l.view.problems[0];
        assert_eq!(p.code, ErrorCode::TakeNotDelivered);
        assert!(
            p.message.contains("/r/Omar.wav") && p.message.contains("the disk is full"),
            "{}",
            p.message
        );
    }

    #[test]
    fn the_metronome_is_shown_while_the_host_runs_it() {
        let mut l = live();
        let plan = tutti_protocol::MetronomePlan {
            bpm: 72.0,
            accents: tutti_protocol::MetronomePlan::accents_for(3),
            count_in_bars: 1,
            start_ns: 9,
        };
        l.apply(LessonEvent::Metronome(Some(plan)));
        assert_eq!(
            l.view.metronome,
            Some(MetronomeView {
                bpm: 72.0,
                beats: 3,
                count_in_bars: 1
            })
        );
        l.apply(LessonEvent::Metronome(None));
        assert_eq!(l.view.metronome, None);
    }

    #[test]
    fn a_knock_waits_until_its_participant_is_in() {
        let mut l = live();
        let knock = Knock {
            peer: PeerId::from("p-omar"),
            name: "Omar".into(),
            role: JoinRole::Student,
            at: UnixMs(5),
        };
        assert_eq!(l.apply(LessonEvent::Knocking(knock.clone())), None);
        l.apply(LessonEvent::Knocking(knock));
        assert_eq!(l.view.waiting.len(), 1, "a second knock replaces the first");
        l.apply(LessonEvent::Participant(person(
            "p-omar",
            "Omar",
            Role::Student,
        )));
        assert!(l.view.waiting.is_empty());
        assert_eq!(l.view.others.len(), 1);
        assert_eq!(l.view.others[0].link, None);
    }

    /// Who records is shown, ourselves included, and stops being shown when they stop.
    #[test]
    fn who_records_the_lesson_is_shown() {
        let mut l = live();
        let mut omar = person("p-omar", "Omar", Role::Student);
        l.apply(LessonEvent::Participant(omar.clone()));
        assert!(!l.view.others[0].recording);
        omar.recording = true;
        l.apply(LessonEvent::Participant(omar.clone()));
        assert!(l.view.others[0].recording);
        let mut me = person("p-host", "김선생", Role::Host);
        me.recording = true;
        l.apply(LessonEvent::Participant(me));
        assert!(l.view.you.recording);
        omar.recording = false;
        l.apply(LessonEvent::Participant(omar));
        assert!(!l.view.others[0].recording);
    }

    #[test]
    fn a_link_s_state_and_sound_are_shown_until_it_fails() {
        let mut l = live();
        l.apply(LessonEvent::Participant(person(
            "p-omar",
            "Omar",
            Role::Student,
        )));
        let omar = PeerId::from("p-omar");
        l.apply(LessonEvent::Link {
            peer: omar.clone(),
            state: LinkState::Connected,
        });
        l.apply(LessonEvent::Hearing(omar.clone()));
        assert_eq!(l.view.others[0].link, Some(LinkStatus::Connected));
        assert!(l.view.others[0].hearing);
        // Away from the room server, still heard: the link is peer to peer.
        let mut away = person("p-omar", "Omar", Role::Student);
        away.connected = false;
        l.apply(LessonEvent::Participant(away));
        assert!(l.view.others[0].hearing && !l.view.others[0].connected);
        l.apply(LessonEvent::Link {
            peer: omar.clone(),
            state: LinkState::Failed,
        });
        assert_eq!(l.view.others[0].link, Some(LinkStatus::Failed));
        assert!(!l.view.others[0].hearing);
        l.apply(LessonEvent::Left(omar));
        assert!(l.view.others.is_empty());
    }

    #[test]
    fn an_unreachable_room_server_is_one_problem_gone_on_return() {
        let mut l = live();
        l.apply(LessonEvent::RoomServer { reachable: false });
        l.apply(LessonEvent::RoomServer { reachable: false });
        let reconnecting = |l: &Live| {
            l.view
                .problems
                .iter()
                .filter(|p| p.code == ErrorCode::Reconnecting)
                .count()
        };
        assert_eq!(reconnecting(&l), 1);
        l.apply(LessonEvent::RoomServer { reachable: true });
        assert_eq!(reconnecting(&l), 0);
    }

    #[test]
    fn questions_are_kept_newest_first_with_our_votes() {
        let mut l = live();
        let kept = l.apply(LessonEvent::Question(question(1, 10)));
        assert!(matches!(kept, Some(Keep::Question(ref q)) if q.remote_id == Some(1)));
        l.apply(LessonEvent::Question(question(2, 20)));
        l.vote(QuestionId(1), true);
        let mut again = question(1, 10);
        again.votes = 3;
        l.apply(LessonEvent::Question(again));
        let ids: Vec<i64> = l.view.questions.iter().map(|q| q.id).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(
            (l.view.questions[1].votes, l.view.questions[1].voted),
            (3, true)
        );
    }

    #[test]
    fn chat_is_kept_and_ours_is_marked() {
        let mut l = live();
        let m = ChatMessage {
            id: ChatId(4),
            from: PeerId::from("p-host"),
            from_name: "김선생".into(),
            text: "안녕하세요".into(),
            at: UnixMs(7),
        };
        assert!(matches!(l.apply(LessonEvent::Chat(m)), Some(Keep::Chat(_))));
        assert!(l.view.chat[0].mine);
    }
}
