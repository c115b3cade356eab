//! Every query of the store, on an in-memory database with a controlled clock.

use crate::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

/// 2026-11-22 09:00 UTC: 18:00 in Seoul, 13:00 in Abu Dhabi.
const T0: i64 = 1_795_338_000_000;

fn store() -> (Store, Arc<AtomicI64>) {
    let mut s = Store::open_in_memory().unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let clock = now.clone();
    s.set_clock(move || UnixMs(clock.load(SeqCst)));
    (s, now)
}

fn omar() -> NewPerson {
    NewPerson {
        name: "Omar".into(),
        instrument: Some("violin".into()),
        about: "Left-handed bow hold; loves Bach.".into(),
        time_zone: Some("Asia/Dubai".into()),
    }
}

fn lesson(s: &Store, title: &str, student: Option<PersonId>, at: i64) -> LessonId {
    s.create_lesson(&NewLesson {
        title: title.into(),
        my_role: Role::Host,
        student,
        host_tz: "Asia/Seoul".into(),
        student_tz: Some("Asia/Dubai".into()),
        scheduled_start: Some(UnixMs(at)),
        scheduled_minutes: Some(45),
        remote_id: None,
        invite_code: None,
        server_url: None,
    })
    .unwrap()
}

fn question(remote: u64, text: &str) -> QuestionRecord {
    QuestionRecord {
        remote_id: Some(remote),
        kind: QuestionKind::Text,
        text: text.into(),
        author_name: Some("Omar".into()),
        anonymous: false,
        votes: 0,
        state: QuestionState::Open,
        pinned: false,
        pre_lesson: false,
        asked_at: UnixMs(T0 + 60_000),
        answered_at: None,
    }
}

#[test]
fn migrations_are_valid_and_opening_twice_changes_nothing() {
    rusqlite_migration::Migrations::from_slice(schema::MIGRATIONS)
        .validate()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join(FILE_NAME);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
    let id = s.add_person(&omar()).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
    assert_eq!(s.person(id).unwrap().name, "Omar");
    assert_eq!(s.path(), Some(path.as_path()));
    let journal: String = s
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let fk: i64 = s
        .conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"this is a text file, not SQLite. ".repeat(200)).unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::Corrupt(_))));
}

#[test]
fn people() {
    let (s, now) = store();
    let id = s.add_person(&omar()).unwrap();
    let p = s.person(id).unwrap();
    assert_eq!(
        (p.name.as_str(), p.instrument.as_deref()),
        ("Omar", Some("violin"))
    );
    now.fetch_add(1000, SeqCst);
    s.update_person(
        id,
        &NewPerson {
            about: "Now on Mozart.".into(),
            ..omar()
        },
    )
    .unwrap();
    let p = s.person(id).unwrap();
    assert_eq!(
        (p.about.as_str(), p.updated_at.0 - p.created_at.0),
        ("Now on Mozart.", 1000)
    );
    s.add_person(&NewPerson {
        name: "layla".into(),
        ..omar()
    })
    .unwrap();
    assert_eq!(
        s.people()
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["layla", "Omar"]
    );
    assert!(matches!(
        s.add_person(&NewPerson {
            name: " ".into(),
            ..omar()
        }),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.add_person(&NewPerson {
            time_zone: Some("Abu Dhabi".into()),
            ..omar()
        }),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.person(PersonId(99)),
        Err(StoreError::NotFound {
            what: "person",
            id: 99
        })
    ));
    // Deleting a student keeps the lessons.
    let l = lesson(&s, "Scales", Some(id), T0);
    s.delete_person(id).unwrap();
    assert_eq!(s.lesson(l).unwrap().student, None);
}

#[test]
fn lessons_move_from_upcoming_to_past() {
    let (s, now) = store();
    let p = s.add_person(&omar()).unwrap();
    let later = lesson(&s, "Later", Some(p), T0 + 86_400_000);
    let sooner = lesson(&s, "Sooner", Some(p), T0);
    s.link_remote(sooner, "l7x2k9", "K7M-4QX-9TD", "ws://127.0.0.1:8787/ws")
        .unwrap();
    assert_eq!(s.lesson_by_remote("l7x2k9").unwrap().unwrap().id, sooner);
    assert!(s.lesson_by_remote("nope").unwrap().is_none());
    let up: Vec<_> = s
        .lessons(LessonFilter::Upcoming)
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(up, [sooner, later]);

    assert_eq!(s.host_token(sooner).unwrap(), None);
    s.set_host_token(sooner, "h-secret").unwrap();
    assert_eq!(s.host_token(sooner).unwrap().as_deref(), Some("h-secret"));
    // Made again on a server that had lost it: all four change together.
    s.relink_remote(
        later,
        "l-new",
        "N3W-C0D-E42",
        "ws://rooms.example/ws",
        "h-new",
    )
    .unwrap();
    let l = s.lesson(later).unwrap();
    assert_eq!(
        (
            l.remote_id.as_deref(),
            l.invite_code.as_deref(),
            l.server_url.as_deref()
        ),
        (
            Some("l-new"),
            Some("N3W-C0D-E42"),
            Some("ws://rooms.example/ws")
        )
    );
    assert_eq!(s.host_token(later).unwrap().as_deref(), Some("h-new"));
    assert!(matches!(
        s.host_token(LessonId(77)),
        Err(StoreError::NotFound { .. })
    ));
    now.fetch_add(120_000, SeqCst);
    s.mark_started(sooner).unwrap();
    let l = s.lesson(sooner).unwrap();
    assert_eq!(
        (l.status, l.actual_start),
        (LessonStatus::Live, Some(UnixMs(T0 + 120_000)))
    );
    assert_eq!(l.invite_code.as_deref(), Some("K7M-4QX-9TD"));
    now.fetch_add(45 * 60_000, SeqCst);
    s.mark_ended(sooner).unwrap();
    let l = s.lesson(sooner).unwrap();
    assert_eq!(
        (l.status, l.invite_code.clone()),
        (LessonStatus::Ended, None),
        "the code no longer works"
    );
    assert_eq!(
        s.host_token(sooner).unwrap(),
        None,
        "nor does the host token"
    );
    assert_eq!(
        s.lessons(LessonFilter::Past)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>(),
        [sooner]
    );
    assert_eq!(
        s.lessons(LessonFilter::Upcoming)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>(),
        [later]
    );
    s.cancel_lesson(later).unwrap();
    assert_eq!(s.lessons(LessonFilter::Past).unwrap().len(), 2);
    assert_eq!(s.lessons(LessonFilter::All).unwrap().len(), 2);
    assert_eq!(
        s.lessons_of(p)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>(),
        [sooner, later]
    );
    assert!(matches!(
        s.mark_started(LessonId(77)),
        Err(StoreError::NotFound { what: "lesson", .. })
    ));
    let bad = NewLesson {
        host_tz: "KST".into(),
        ..s.lesson(later).map(|_| sample_new()).unwrap()
    };
    assert!(matches!(s.create_lesson(&bad), Err(StoreError::Invalid(_))));
}

fn sample_new() -> NewLesson {
    NewLesson {
        title: "x".into(),
        my_role: Role::Student,
        student: None,
        host_tz: "Asia/Seoul".into(),
        student_tz: None,
        scheduled_start: None,
        scheduled_minutes: None,
        remote_id: None,
        invite_code: None,
        server_url: None,
    }
}

#[test]
fn notes_autosave_with_coalesced_history() {
    let (mut s, now) = store();
    let l = lesson(&s, "Scales", None, T0);
    let n = s.add_note(l, "G major, two octaves", Some(90_000)).unwrap();
    now.fetch_add(5_000, SeqCst);
    s.save_note(n, "G major, two octaves.").unwrap();
    now.fetch_add(5_000, SeqCst);
    s.save_note(n, "G major, two octaves. Slow bows.").unwrap();
    // Typing for ten seconds leaves one revision, holding the latest text.
    let h = s.note_history(n).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].body, "G major, two octaves. Slow bows.");
    now.fetch_add(COALESCE_MS_FOR_TESTS, SeqCst);
    s.save_note(n, "G major, three octaves.").unwrap();
    let h = s.note_history(n).unwrap();
    assert_eq!(
        h.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(),
        [
            "G major, three octaves.",
            "G major, two octaves. Slow bows."
        ]
    );
    // Saving the same text is not a change.
    s.save_note(n, "G major, three octaves.").unwrap();
    assert_eq!(s.note_history(n).unwrap().len(), 2);
    let note = s.note(n).unwrap();
    assert_eq!(
        (note.updated_at.0 - note.created_at.0),
        10_000 + COALESCE_MS_FOR_TESTS
    );

    // Anchored notes come in lesson order, then the others.
    let free = s.add_note(l, "Homework: Kreutzer 2", None).unwrap();
    let early = s.add_note(l, "Tuning", Some(10_000)).unwrap();
    assert_eq!(
        s.notes(l).unwrap().iter().map(|n| n.id).collect::<Vec<_>>(),
        [early, n, free]
    );
    s.set_note_anchor(free, Some(5_000)).unwrap();
    assert_eq!(s.notes(l).unwrap()[0].id, free);

    s.delete_note(n).unwrap();
    assert!(matches!(
        s.note_history(n),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.save_note(n, "x"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.add_note(LessonId(404), "x", None),
        Err(StoreError::NotFound { what: "lesson", .. })
    ));
}

const COALESCE_MS_FOR_TESTS: i64 = crate::notes::COALESCE_MS;

#[test]
fn questions_are_mirrored_by_server_id_and_chat_kept_once() {
    let (s, _) = store();
    let l = lesson(&s, "Scales", None, T0);
    s.mirror_question(l, &question(12, "How fast should vibrato be?"))
        .unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            votes: 3,
            state: QuestionState::Answered,
            answered_at: Some(UnixMs(T0 + 600_000)),
            pinned: true,
            ..question(12, "How fast should vibrato be?")
        },
    )
    .unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            remote_id: None,
            ..question(0, "offline question")
        },
    )
    .unwrap();
    let qs = s.questions(l).unwrap();
    assert_eq!(qs.len(), 2);
    assert_eq!(
        (qs[0].votes, qs[0].state, qs[0].pinned),
        (3, QuestionState::Answered, true)
    );

    let proto = tutti_protocol::Question {
        id: tutti_protocol::QuestionId(13),
        lesson: "l1".into(),
        kind: QuestionKind::Voice,
        text: String::new(),
        author: None,
        author_name: None,
        anonymous: true,
        votes: 1,
        state: QuestionState::Open,
        pinned: false,
        pre_lesson: true,
        asked_at: UnixMs(T0),
        answered_at: None,
    };
    s.mirror_question(l, &QuestionRecord::from(&proto)).unwrap();
    assert_eq!(s.questions(l).unwrap()[0].kind, QuestionKind::Voice);

    let hi = ChatRecord {
        remote_id: Some(1),
        from_name: "Omar".into(),
        text: "안녕하세요".into(),
        at: UnixMs(T0),
    };
    s.add_chat(l, &hi).unwrap();
    s.add_chat(l, &hi).unwrap();
    s.add_chat(
        l,
        &ChatRecord {
            remote_id: Some(2),
            text: "bye".into(),
            at: UnixMs(T0 + 1),
            ..hi.clone()
        },
    )
    .unwrap();
    assert_eq!(
        s.chat(l)
            .unwrap()
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["안녕하세요", "bye"]
    );

    let r = s
        .add_recording(l, "/home/t/rec/scales.wav", 125_000, "both")
        .unwrap();
    let recs = s.recordings(l).unwrap();
    assert_eq!(
        (recs[0].id, recs[0].duration_ms, recs[0].who.as_str()),
        (r, 125_000, "both")
    );
    assert!(matches!(
        s.add_recording(l, " ", 1, "x"),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn search_finds_korean_and_english_words() {
    let (mut s, now) = store();
    let l1 = lesson(&s, "Vibrato", None, T0);
    let l2 = lesson(&s, "Bowing", None, T0);
    s.add_note(
        l1,
        "비브라토를 천천히 연습하세요. Use a metronome at 60.",
        None,
    )
    .unwrap();
    now.fetch_add(1000, SeqCst);
    let bow = s
        .add_note(
            l2,
            "활을 곧게: keep the BOW straight near the tip.\n음정 확인.",
            None,
        )
        .unwrap();
    s.mirror_question(l2, &question(1, "바이올린연습은 하루에 몇 시간?"))
        .unwrap();

    let find = |s: &Store, q: &str| {
        s.search(q, 10)
            .unwrap()
            .into_iter()
            .map(|h| (h.kind, h.lesson))
            .collect::<Vec<_>>()
    };
    // A Korean word with its particle attached, searched without it.
    assert_eq!(find(&s, "비브라토"), [(HitKind::Note, l1)]);
    // Inside a compound, by the trigram index and (two syllables) by a scan; newest first.
    assert_eq!(find(&s, "올린연습"), [(HitKind::Question, l2)]);
    assert_eq!(
        find(&s, "연습"),
        [(HitKind::Question, l2), (HitKind::Note, l1)]
    );
    // Two-syllable words (below the trigram size).
    assert_eq!(find(&s, "음정"), [(HitKind::Note, l2)]);
    assert_eq!(find(&s, "활"), [(HitKind::Note, l2)]);
    // English, any case, several words.
    assert_eq!(find(&s, "bow straight"), [(HitKind::Note, l2)]);
    assert_eq!(find(&s, "METRONOME"), [(HitKind::Note, l1)]);
    assert!(find(&s, "metronome 활").is_empty(), "every word must match");
    assert!(find(&s, "cello").is_empty());
    assert!(find(&s, "   ").is_empty());
    // Hostile input is just text.
    assert!(find(&s, "\"bow\" OR * NEAR( -").is_empty());
    assert!(find(&s, "%").is_empty());
    let hit = &s.search("straight", 10).unwrap()[0];
    assert_eq!(hit.lesson_title, "Bowing");
    assert!(
        hit.snippet.contains("keep the BOW straight"),
        "{}",
        hit.snippet
    );

    // The index follows edits and deletions.
    s.save_note(bow, "Intonation only.").unwrap();
    assert!(find(&s, "straight").is_empty());
    assert_eq!(find(&s, "intonation"), [(HitKind::Note, l2)]);
    s.delete_note(bow).unwrap();
    assert!(find(&s, "intonation").is_empty());
}

#[test]
fn a_lesson_exports_to_markdown_with_both_time_zones() {
    let (mut s, now) = store();
    let p = s.add_person(&omar()).unwrap();
    let l = lesson(&s, "Bach partita — bowing", Some(p), T0);
    s.mark_started(l).unwrap();
    s.add_note(l, "Keep the bow straight.", Some(750_000))
        .unwrap();
    s.add_note(l, "Homework: **Kreutzer 2**", None).unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            pre_lesson: true,
            votes: 2,
            state: QuestionState::Answered,
            answered_at: Some(UnixMs(T0 + 1_200_000)),
            ..question(1, "How do I practise vibrato?")
        },
    )
    .unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            kind: QuestionKind::Voice,
            text: String::new(),
            anonymous: true,
            author_name: None,
            ..question(2, "")
        },
    )
    .unwrap();
    s.add_chat(
        l,
        &ChatRecord {
            remote_id: Some(1),
            from_name: "Omar".into(),
            text: "감사합니다!".into(),
            at: UnixMs(T0 + 120_000),
        },
    )
    .unwrap();
    now.fetch_add(45 * 60_000, SeqCst);
    s.mark_ended(l).unwrap();

    let md = s.export_lesson_markdown(l).unwrap();
    for want in [
        "# Bach partita — bowing\n",
        "- When: 2026-11-22 18:00 (Asia/Seoul) · 2026-11-22 13:00 (Asia/Dubai)",
        "- Student: Omar (violin)",
        "- Status: ended after 45 min",
        "## Notes",
        "### At 0:12:30\n\nKeep the bow straight.",
        "Homework: **Kreutzer 2**",
        "1. **How do I practise vibrato?** — Omar · before the lesson · 2 votes · answered at 18:20",
        "2. **(asked aloud)** — anonymous · voice · open",
        "## Chat (times in Asia/Seoul)",
        "- 18:02 Omar: 감사합니다!",
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }

    lesson(&s, "Next week", Some(p), T0 + 7 * 86_400_000);
    let all = s.export_student_markdown(p).unwrap();
    assert!(all.starts_with("# Lessons with Omar\n"), "{all}");
    let first = all.find("## Bach partita").unwrap();
    let second = all.find("## Next week").unwrap();
    assert!(first < second, "oldest first");
    assert!(all.contains("### Notes"), "{all}");
}

#[test]
fn a_full_disk_is_a_typed_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join(FILE_NAME)).unwrap();
    let l = lesson(&s, "Scales", None, T0);
    let kept = s.add_note(l, "saved before the disk filled", None).unwrap();
    let pages: i64 = s
        .conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    s.limit_pages_for_tests(Some(pages as u64)).unwrap();
    let big = "x".repeat(50_000);
    let err = (0..100)
        .find_map(|_| s.add_note(l, &big, None).err())
        .expect("the disk fills");
    assert!(matches!(err, StoreError::DiskFull), "{err:?}");
    assert!(err.to_string().contains("not saved"));
    assert!(matches!(s.save_note(kept, &big), Err(StoreError::DiskFull)));
    assert_eq!(s.note(kept).unwrap().body, "saved before the disk filled");
    s.integrity_check().unwrap();
    // Space again: writing works.
    s.limit_pages_for_tests(None).unwrap();
    s.save_note(kept, "more room now").unwrap();
    assert_eq!(s.note(kept).unwrap().body, "more room now");
}

#[test]
fn a_read_only_store_is_a_typed_error_and_loses_nothing() {
    let (mut s, _) = store();
    let l = lesson(&s, "Scales", None, T0);
    let n = s.add_note(l, "kept", None).unwrap();
    s.set_read_only_for_tests(true).unwrap();
    assert!(matches!(s.save_note(n, "lost?"), Err(StoreError::ReadOnly)));
    assert!(matches!(s.add_person(&omar()), Err(StoreError::ReadOnly)));
    assert_eq!(s.note(n).unwrap().body, "kept");
}

/// A take's files and the marks that fall in it, placed on its timeline; the export lists
/// both with their times, and the marks outside any take at the clock.
#[test]
fn takes_carry_their_files_and_the_marks_made_during_them() {
    let (s, now) = store();
    let l = lesson(&s, "Bach partita", None, T0);
    now.store(T0 + 5_000, SeqCst);
    s.add_mark(l, "before").unwrap();
    let take = s
        .add_take(l, "/rec/lesson-1-1", UnixMs(T0 + 10_000))
        .unwrap();
    assert_eq!(s.take_in(l, "/rec/lesson-1-1").unwrap(), Some(take));
    assert_eq!(s.take_in(l, "/rec/other").unwrap(), None);
    now.store(T0 + 12_500, SeqCst);
    s.add_mark(l, "").unwrap();
    now.store(T0 + 14_000, SeqCst);
    s.mark_note_lines(l, "Bow a").unwrap();
    now.store(T0 + 20_000, SeqCst);
    // Typed on: the line keeps the time it was begun.
    s.mark_note_lines(l, "Bow arm: elbow lower\n").unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            asked_at: UnixMs(T0 + 30_000),
            ..question(1, "How do I keep the bow straight?")
        },
    )
    .unwrap();
    s.mirror_question(
        l,
        &QuestionRecord {
            pre_lesson: true,
            asked_at: UnixMs(T0 + 11_000),
            ..question(2, "Sent before")
        },
    )
    .unwrap();
    now.store(T0 + 70_000, SeqCst);
    s.add_mark(l, "after").unwrap();
    s.add_take_file(take, "/rec/lesson-1-1/Omar.wav", 3_000, 40_000, "Omar")
        .unwrap();
    s.add_take_file(take, "/rec/lesson-1-1/mix.opus", 0, 45_000, "")
        .unwrap();
    // A take with no files (its recording failed at once) is not shown.
    s.add_take(l, "/rec/lesson-1-2", UnixMs(T0 + 60_000))
        .unwrap();

    let takes = s.takes(l).unwrap();
    assert_eq!(takes.len(), 1);
    let t = &takes[0];
    assert_eq!((t.duration_ms, t.files.len()), (45_000, 2));
    assert_eq!(t.files[0].start_ms, 3_000);
    let marks: Vec<(i64, MarkKind, &str)> = t
        .marks
        .iter()
        .map(|m| (m.at_ms, m.kind, m.text.as_str()))
        .collect();
    assert_eq!(
        marks,
        [
            (2_500, MarkKind::Mark, ""),
            (4_000, MarkKind::Note, "Bow arm: elbow lower"),
            (
                20_000,
                MarkKind::Question(QuestionKind::Text),
                "How do I keep the bow straight?"
            ),
        ]
    );
    // Files listed alone (a take a student sent) belong to no take.
    s.add_recording(l, "/rec/received/Omar-1.wav", 9_000, "Omar")
        .unwrap();
    assert_eq!(s.takes(l).unwrap()[0].files.len(), 2);
    let alone = s.recordings(l).unwrap()[2].clone();
    assert_eq!(alone.take, None);
    assert_eq!(s.recording(alone.id).unwrap(), alone);
    assert!(matches!(
        s.recording(RecordingId(999)),
        Err(StoreError::NotFound { .. })
    ));

    let md = s.export_lesson_markdown(l).unwrap();
    assert!(md.contains("## Take 1: 18:00, 0:45"), "{md}");
    assert!(md.contains("- `take-1/Omar.wav`: Omar, from 0:03"), "{md}");
    assert!(
        md.contains("- `take-1/mix.opus`: everyone (the mix)"),
        "{md}"
    );
    assert!(md.contains("- **0:02** ★ mark"), "{md}");
    assert!(md.contains("- **0:04** note: Bow arm: elbow lower"), "{md}");
    assert!(
        md.contains("- **0:20** question: How do I keep the bow straight?"),
        "{md}"
    );
    assert!(md.contains("## Marks (times in Asia/Seoul)"), "{md}");
    assert!(md.contains("- **18:00** ★ before"), "{md}");
    assert!(md.contains("- **18:01** ★ after"), "{md}");
    assert!(!md.contains("Sent before\n- **"), "{md}");
}

#[test]
fn marks_are_checked() {
    let (s, _) = store();
    assert!(matches!(
        s.add_mark(LessonId(99), "x"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.add_take_file(TakeId(99), "/a.wav", 0, 1, "x"),
        Err(StoreError::NotFound { .. })
    ));
    let l = lesson(&s, "L", None, T0);
    s.add_mark(l, &"가".repeat(MAX_MARK_CHARS + 10)).unwrap();
    assert_eq!(s.marks(l).unwrap()[0].text.chars().count(), MAX_MARK_CHARS);
}

/// A student's takes wait for their teacher, across lessons, until delivered.
#[test]
fn takes_on_their_way_wait_for_their_teacher() {
    let (s, now) = store();
    let take = |path: &str, teacher: &str| OutgoingTake {
        path: path.into(),
        teacher: teacher.into(),
        name: "Omar".into(),
        start_ms: 3_700,
        duration_ms: 32_000,
    };
    s.queue_outgoing(&take("/rec/b/Omar.wav", "김선생"))
        .unwrap();
    now.fetch_add(1000, SeqCst);
    s.queue_outgoing(&take("/rec/a/Omar.wav", "김선생"))
        .unwrap();
    s.queue_outgoing(&take("/rec/c/Omar.wav", "Ms Lee"))
        .unwrap();
    // Queued again (the app restarted mid-send): still one.
    s.queue_outgoing(&take("/rec/b/Omar.wav", "김선생"))
        .unwrap();
    let to_kim = s.outgoing_to("김선생").unwrap();
    assert_eq!(
        to_kim.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(),
        ["/rec/b/Omar.wav", "/rec/a/Omar.wav"]
    );
    assert_eq!(to_kim[0], take("/rec/b/Omar.wav", "김선생"));
    s.outgoing_delivered("/rec/b/Omar.wav").unwrap();
    assert_eq!(s.outgoing_to("김선생").unwrap().len(), 1);
    assert_eq!(s.outgoing_to("Ms Lee").unwrap().len(), 1);
    assert!(s.outgoing_to("nobody").unwrap().is_empty());
    assert!(matches!(
        s.queue_outgoing(&take(" ", "김선생")),
        Err(StoreError::Invalid(_))
    ));
}
