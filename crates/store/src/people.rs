//! A teacher's students.

use crate::{
    NewPerson, Person, PersonId, Result, Store, StoreError, UnixMs, non_empty, validate_zone,
};
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str = "id, name, instrument, about, time_zone, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Person> {
    Ok(Person {
        id: PersonId(r.get(0)?),
        name: r.get(1)?,
        instrument: r.get(2)?,
        about: r.get(3)?,
        time_zone: r.get(4)?,
        created_at: UnixMs(r.get(5)?),
        updated_at: UnixMs(r.get(6)?),
    })
}

fn checked(p: &NewPerson) -> Result<String> {
    if let Some(tz) = &p.time_zone {
        validate_zone(tz)?;
    }
    crate::check_text(&p.about, "note about the student", 100_000)?;
    non_empty(&p.name, "name")
}

impl Store {
    pub fn add_person(&self, p: &NewPerson) -> Result<PersonId> {
        let name = checked(p)?;
        let now = self.now().0;
        self.conn.execute(
            "INSERT INTO people (name, instrument, about, time_zone, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![name, p.instrument, p.about, p.time_zone, now],
        )?;
        Ok(PersonId(self.conn.last_insert_rowid()))
    }

    pub fn update_person(&self, id: PersonId, p: &NewPerson) -> Result<()> {
        let name = checked(p)?;
        let n = self.conn.execute(
            "UPDATE people SET name = ?2, instrument = ?3, about = ?4, time_zone = ?5,
                               updated_at = ?6 WHERE id = ?1",
            params![id.0, name, p.instrument, p.about, p.time_zone, self.now().0],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "person",
                id: id.0,
            });
        }
        Ok(())
    }

    pub fn person(&self, id: PersonId) -> Result<Person> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM people WHERE id = ?1"),
                [id.0],
                from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "person",
                id: id.0,
            })
    }

    /// Everyone, by name.
    pub fn people(&self) -> Result<Vec<Person>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM people ORDER BY name COLLATE NOCASE, id"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a person; their lessons stay, without a student.
    pub fn delete_person(&self, id: PersonId) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM people WHERE id = ?1", [id.0])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "person",
                id: id.0,
            });
        }
        Ok(())
    }
}
