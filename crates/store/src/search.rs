//! Full-text search over notes and questions, Korean and English alike.
//!
//! The FTS5 tables use the trigram tokenizer, so any run of three or more characters is found
//! wherever it stands inside a word (비브라토를 matches 비브라토). Shorter terms — many Korean
//! words have two syllables (음정, 활) — cannot use a trigram index and are matched with LIKE
//! over the same table: a scan, which a single person's notes make cheap.

use crate::{HitKind, LessonId, Result, SearchHit, Store, UnixMs};
use rusqlite::params_from_iter;

const MAX_TERMS: usize = 8;

/// The WHERE clause and its parameters for `terms` over one FTS table's column.
fn conditions(table: &str, column: &str, terms: &[String]) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut params = Vec::new();
    let long: Vec<String> = terms
        .iter()
        .filter(|t| t.chars().count() >= 3)
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    if !long.is_empty() {
        conds.push(format!("{table} MATCH ?"));
        params.push(long.join(" AND "));
    }
    for t in terms.iter().filter(|t| t.chars().count() < 3) {
        conds.push(format!("{table}.{column} LIKE ? ESCAPE '\\'"));
        let escaped = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        params.push(format!("%{escaped}%"));
    }
    (conds.join(" AND "), params)
}

/// Case-insensitive position (in chars) of `needle` in `hay`.
fn find_ci(hay: &[char], needle: &[char]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| {
        hay[i..i + needle.len()]
            .iter()
            .zip(needle)
            .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
    })
}

/// Up to 30 characters before the first match and 60 after, on one line.
fn snippet(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let at = terms
        .iter()
        .filter_map(|t| find_ci(&chars, &t.chars().collect::<Vec<_>>()))
        .min()
        .unwrap_or(0);
    let start = at.saturating_sub(30);
    let end = (at + 60).min(chars.len());
    let mut s: String = chars[start..end].iter().collect();
    if start > 0 {
        s.insert(0, '…');
    }
    if end < chars.len() {
        s.push('…');
    }
    s
}

impl Store {
    /// Notes and questions containing every word of `query`, newest first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let terms: Vec<String> = query
            .split_whitespace()
            .take(MAX_TERMS)
            .map(str::to_owned)
            .collect();
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut hits = self.search_in(
            HitKind::Note,
            "SELECT notes.id, notes.lesson_id, lessons.title, notes.body, notes.updated_at
             FROM notes_fts JOIN notes ON notes.id = notes_fts.rowid
             JOIN lessons ON lessons.id = notes.lesson_id",
            "notes_fts",
            "body",
            &terms,
        )?;
        hits.extend(self.search_in(
            HitKind::Question,
            "SELECT questions.id, questions.lesson_id, lessons.title, questions.text, questions.asked_at
             FROM questions_fts JOIN questions ON questions.id = questions_fts.rowid
             JOIN lessons ON lessons.id = questions.lesson_id",
            "questions_fts",
            "text",
            &terms,
        )?);
        hits.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        hits.truncate(limit);
        Ok(hits)
    }

    fn search_in(
        &self,
        kind: HitKind,
        select: &str,
        table: &str,
        column: &str,
        terms: &[String],
    ) -> Result<Vec<SearchHit>> {
        let (cond, params) = conditions(table, column, terms);
        let mut stmt = self.conn.prepare(&format!("{select} WHERE {cond}"))?;
        let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
            let text: String = r.get(3)?;
            Ok(SearchHit {
                kind,
                id: r.get(0)?,
                lesson: LessonId(r.get(1)?),
                lesson_title: r.get(2)?,
                snippet: snippet(&text, terms),
                at: UnixMs(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_centre_on_the_match() {
        let text = format!("{} 비브라토를 천천히 {}", "가".repeat(50), "나".repeat(80));
        let s = snippet(&text, &["비브라토".into()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("비브라토를 천천히"), "{s}");
        assert_eq!(
            snippet("Keep The BOW straight", &["bow".into()]),
            "Keep The BOW straight"
        );
    }

    #[test]
    fn conditions_escape_quotes_and_wildcards() {
        let (cond, params) = conditions("t", "c", &["say\"hi".into(), "5%".into()]);
        assert_eq!(cond, "t MATCH ? AND t.c LIKE ? ESCAPE '\\'");
        assert_eq!(
            params,
            vec!["\"say\"\"hi\"".to_string(), "%5\\%%".to_string()]
        );
    }
}
