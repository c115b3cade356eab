//! Crash safety: a process writing notes and questions is killed with SIGKILL; the database
//! reopens, passes SQLite's integrity check, and holds every write that had returned.
#![allow(clippy::unwrap_used)] // test code

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tutti_store::*;

const CHILD_ENV: &str = "TUTTI_STORE_CRASH_CHILD";

/// The writer. A no-op in a normal test run; the crash test runs this binary again with
/// `CHILD_ENV` set, and then it writes until it is killed.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut s = Store::open(path.as_ref()).unwrap();
    let lesson = s
        .create_lesson(&NewLesson {
            title: "crash".into(),
            my_role: Role::Host,
            student: None,
            host_tz: "Asia/Seoul".into(),
            student_tz: None,
            scheduled_start: None,
            scheduled_minutes: None,
            remote_id: None,
            invite_code: None,
            server_url: None,
        })
        .unwrap();
    for i in 0u64.. {
        let body = format!("note {i}: {}", "활을 곧게 ".repeat((i % 200) as usize));
        let note = s.add_note(lesson, &body, Some(i as i64)).unwrap();
        s.save_note(note, &format!("{body} (edited)")).unwrap();
        s.mirror_question(
            lesson,
            &QuestionRecord {
                remote_id: Some(i),
                kind: QuestionKind::Text,
                text: format!("question {i}"),
                author_name: None,
                anonymous: true,
                votes: 0,
                state: QuestionState::Open,
                pinned: false,
                pre_lesson: false,
                asked_at: UnixMs(i as i64),
                answered_at: None,
            },
        )
        .unwrap();
        // Only now have all three writes returned.
        println!("ACK {} {i} {}", lesson.0, note.0);
    }
}

#[test]
fn a_killed_writer_loses_no_returned_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks: Vec<(i64, u64, i64)> = Vec::new();
    let parse = |line: &str, acks: &mut Vec<(i64, u64, i64)>| {
        let mut f = line.strip_prefix("ACK ")?.split(' ');
        let ack = (
            f.next()?.parse().ok()?,
            f.next()?.parse().ok()?,
            f.next()?.parse().ok()?,
        );
        acks.push(ack);
        Some(())
    };
    let start = Instant::now();
    while acks.len() < 150 || start.elapsed() < Duration::from_millis(300) {
        let line = lines
            .next()
            .expect("the writer stopped on its own")
            .unwrap();
        parse(&line, &mut acks);
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the writer is too slow"
        );
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no flush, mid-transaction
    // Acknowledgements already in the pipe were printed before the kill: they count too.
    for line in lines.map_while(Result::ok) {
        parse(&line, &mut acks);
    }
    child.wait().unwrap();

    let s = Store::open(&path).unwrap();
    s.integrity_check().unwrap();
    let (lesson, last, _) = *acks.last().unwrap();
    let notes = s.notes(LessonId(lesson)).unwrap();
    let questions = s.questions(LessonId(lesson)).unwrap();
    for &(_, i, note) in &acks {
        let n = notes
            .iter()
            .find(|n| n.id == NoteId(note))
            .unwrap_or_else(|| panic!("note {i} lost"));
        assert!(
            n.body.ends_with("(edited)"),
            "the edit of note {i} was lost"
        );
        assert!(
            questions.iter().any(|q| q.remote_id == Some(i)),
            "question {i} lost"
        );
    }
    // A write may have been committed after its acknowledgement could be printed; never fewer.
    assert!(
        notes.len() as u64 > last,
        "{} notes, {} acknowledged",
        notes.len(),
        last + 1
    );
}
