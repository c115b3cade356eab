//! Markdown export of one lesson, or of all of a student's lessons: when it was in both time
//! zones, the notes, the questions with their answers, the chat.

use crate::zones::{clock, local};
use crate::{
    Lesson, LessonId, LessonStatus, MarkKind, PersonId, QuestionKind, QuestionState, Result, Store,
};
use std::fmt::Write;

impl Store {
    pub fn export_lesson_markdown(&self, id: LessonId) -> Result<String> {
        let lesson = self.lesson(id)?;
        let mut out = String::new();
        self.write_lesson(&mut out, &lesson, 1)?;
        Ok(out)
    }

    /// Every lesson with this student, oldest first.
    pub fn export_student_markdown(&self, student: PersonId) -> Result<String> {
        let person = self.person(student)?;
        let mut out = format!("# Lessons with {}\n\n", person.name);
        if let Some(instrument) = &person.instrument {
            let _ = writeln!(out, "Instrument: {instrument}\n");
        }
        if !person.about.trim().is_empty() {
            let _ = writeln!(out, "{}\n", person.about.trim());
        }
        let lessons = self.lessons_of(student)?;
        if lessons.is_empty() {
            out.push_str("No lessons yet.\n");
        }
        for lesson in lessons {
            self.write_lesson(&mut out, &lesson, 2)?;
        }
        Ok(out)
    }

    fn write_lesson(&self, out: &mut String, l: &Lesson, level: usize) -> Result<()> {
        let h = "#".repeat(level);
        let _ = writeln!(out, "{h} {}\n", l.title);
        let mut when = local(l.start(), &l.host_tz);
        if let Some(tz) = l.student_tz.as_deref().filter(|tz| *tz != l.host_tz) {
            let _ = write!(when, " · {}", local(l.start(), tz));
        }
        let _ = writeln!(out, "- When: {when}");
        if let Some(p) = l.student {
            let person = self.person(p)?;
            match &person.instrument {
                Some(i) => {
                    let _ = writeln!(out, "- Student: {} ({i})", person.name);
                }
                None => {
                    let _ = writeln!(out, "- Student: {}", person.name);
                }
            }
        }
        let status = match l.status {
            LessonStatus::Scheduled => "scheduled".to_owned(),
            LessonStatus::Live => "live".to_owned(),
            LessonStatus::Cancelled => "cancelled".to_owned(),
            LessonStatus::Ended => match (l.actual_start, l.actual_end) {
                (Some(a), Some(b)) => format!("ended after {} min", (b.0 - a.0).max(0) / 60_000),
                _ => "ended".to_owned(),
            },
        };
        let _ = writeln!(out, "- Status: {status}\n");

        let notes = self.notes(l.id)?;
        if !notes.is_empty() {
            let _ = writeln!(out, "{h}# Notes\n");
            for n in notes {
                if let Some(ms) = n.anchor_ms {
                    let s = ms.max(0) / 1000;
                    let _ = writeln!(
                        out,
                        "{h}## At {}:{:02}:{:02}\n",
                        s / 3600,
                        s / 60 % 60,
                        s % 60
                    );
                }
                let _ = writeln!(out, "{}\n", n.body.trim_end());
            }
        }

        let questions = self.questions(l.id)?;
        if !questions.is_empty() {
            let _ = writeln!(out, "{h}# Questions\n");
            for (i, q) in questions.iter().enumerate() {
                let who = match (&q.author_name, q.anonymous) {
                    (_, true) | (None, _) => "anonymous".to_owned(),
                    (Some(n), false) => n.clone(),
                };
                let mut meta = vec![who];
                if q.pre_lesson {
                    meta.push("before the lesson".into());
                }
                if q.kind == QuestionKind::Voice {
                    meta.push("voice".into());
                }
                if q.votes > 0 {
                    meta.push(format!(
                        "{} vote{}",
                        q.votes,
                        if q.votes == 1 { "" } else { "s" }
                    ));
                }
                if q.pinned {
                    meta.push("pinned".into());
                }
                meta.push(match (q.state, q.answered_at) {
                    (QuestionState::Answered, Some(t)) => {
                        format!("answered at {}", clock(t, &l.host_tz))
                    }
                    (QuestionState::Answered, None) => "answered".into(),
                    (QuestionState::Dismissed, _) => "dismissed".into(),
                    (QuestionState::Open, _) => "open".into(),
                });
                let text = if q.text.trim().is_empty() {
                    "(asked aloud)"
                } else {
                    q.text.trim()
                };
                let _ = writeln!(
                    out,
                    "{}. **{}** — {}",
                    i + 1,
                    text.replace('\n', " "),
                    meta.join(" · ")
                );
            }
            out.push('\n');
        }

        let chat = self.chat(l.id)?;
        if !chat.is_empty() {
            let _ = writeln!(out, "{h}# Chat (times in {})\n", l.host_tz);
            for m in chat {
                let _ = writeln!(
                    out,
                    "- {} {}: {}",
                    clock(m.at, &l.host_tz),
                    m.from_name,
                    m.text.replace('\n', " ")
                );
            }
            out.push('\n');
        }

        self.write_recordings(out, l, &h)?;
        Ok(())
    }

    /// Each take: its files (as the app's export lays them out, `take-N/…`) and its marks at
    /// their times into it; then the marks that fell in no take, at the host's clock.
    fn write_recordings(&self, out: &mut String, l: &Lesson, h: &str) -> Result<()> {
        let takes = self.takes(l.id)?;
        if !takes.is_empty() {
            let _ = writeln!(out, "{h}# Recordings (times into each)\n");
        }
        for (i, t) in takes.iter().enumerate() {
            let _ = writeln!(
                out,
                "{h}## Take {}: {}, {}\n",
                i + 1,
                clock(t.started_at, &l.host_tz),
                span(t.duration_ms)
            );
            for f in &t.files {
                let name = file_name(&f.path);
                let who = if f.who.is_empty() {
                    "everyone (the mix)".to_owned()
                } else if f.start_ms >= 1000 {
                    format!("{}, from {}", f.who, span(f.start_ms))
                } else {
                    f.who.clone()
                };
                let _ = writeln!(out, "- `{}/{name}`: {who}", take_folder(i));
            }
            if !t.marks.is_empty() {
                out.push('\n');
            }
            for m in &t.marks {
                let _ = writeln!(
                    out,
                    "- **{}** {}",
                    span(m.at_ms),
                    mark_line(m.kind, &m.text)
                );
            }
            out.push('\n');
        }
        let outside: Vec<_> = self
            .marks(l.id)?
            .into_iter()
            .filter(|m| !matches!(m.kind, MarkKind::Question(_)))
            .filter(|m| {
                !takes
                    .iter()
                    .any(|t| (t.started_at.0..=t.started_at.0 + t.duration_ms).contains(&m.at.0))
            })
            .collect();
        if !outside.is_empty() {
            let _ = writeln!(out, "{h}# Marks (times in {})\n", l.host_tz);
            for m in outside {
                let _ = writeln!(
                    out,
                    "- **{}** {}",
                    clock(m.at, &l.host_tz),
                    mark_line(m.kind, &m.text)
                );
            }
            out.push('\n');
        }
        Ok(())
    }
}

/// The folder the app's export puts take `i` (from 0) in.
pub fn take_folder(i: usize) -> String {
    format!("take-{}", i + 1)
}

fn file_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

fn mark_line(kind: MarkKind, text: &str) -> String {
    let text = text.replace('\n', " ");
    match kind {
        MarkKind::Mark if text.is_empty() => "★ mark".to_owned(),
        MarkKind::Mark => format!("★ {text}"),
        MarkKind::Note => format!("note: {text}"),
        MarkKind::Question(QuestionKind::Voice) if text.is_empty() => {
            "question (asked aloud)".to_owned()
        }
        MarkKind::Question(_) => format!("question: {text}"),
    }
}

/// `m:ss`, or `h:mm:ss` from an hour.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
