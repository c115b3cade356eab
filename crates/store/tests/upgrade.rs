//! A database from the first schema version opens, upgrades, and keeps everything.
#![allow(clippy::unwrap_used)] // test code

use tutti_store::*;

#[test]
fn a_version_1_database_upgrades_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("fixtures/v1.sql")).unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert!(s.schema_version().unwrap() > 1);
    s.integrity_check().unwrap();

    let l = s.lesson_by_remote("lold0000000001").unwrap().unwrap();
    assert_eq!(
        (l.title.as_str(), l.status),
        ("첫 비대면 레슨", LessonStatus::Ended)
    );
    assert_eq!(s.person(PersonId(1)).unwrap().name, "Omar");
    assert_eq!(s.questions(l.id).unwrap()[0].state, QuestionState::Answered);
    assert_eq!(s.chat(l.id).unwrap()[0].text, "Hello from Abu Dhabi");

    // What version 1 held is searchable after the upgrade (the index was built from it).
    let hits = s.search("엄지를", 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(s.search("비브라토", 10).unwrap()[0].kind, HitKind::Question);
    // And the new features work on old rows.
    let note = NoteId(hits[0].id);
    s.save_note(note, "활 잡는 법, 다시.").unwrap();
    assert_eq!(s.note_history(note).unwrap().len(), 1);
    assert!(
        s.export_lesson_markdown(l.id)
            .unwrap()
            .contains("Hello from Abu Dhabi")
    );
}
