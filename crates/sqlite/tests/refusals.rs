//! A write SQLite refuses during a replay says which rule it broke, as data.

use ripcord_core::engine::{Engine, Violated};
use ripcord_sqlite::SqliteEngine;
use ripcord_testkit::refusals::{assert_named_column_and_check, refusals, rule_breaking_ops};
use rusqlite::Connection;

/// A refused write was one English string; a gap now says which rule it broke.
#[test]
fn a_refused_write_says_which_rule_it_broke() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL
                 REFERENCES parent (id), n INTEGER CONSTRAINT n_positive CHECK (n > 0));
             INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1, 1);",
        )
        .unwrap();
    let mut e = SqliteEngine::open(&format!("sqlite:{}", path.display())).unwrap();
    e.prepare().unwrap();
    // The four inserts; SQLite's case has never included the parent's delete.
    let refused = refusals(&mut e, &rule_breaking_ops(false));
    // SQLite names no foreign key in its error.
    assert_eq!(
        refused[0].violated,
        Violated::ForeignKey {
            constraint: None,
            table: None
        },
        "{:?}",
        refused[0]
    );
    assert_eq!(refused[0].code, "787");
    assert_eq!(
        refused[1].violated,
        Violated::KeyConflict { constraint: None },
        "{:?}",
        refused[1]
    );
    assert!(refused[1].message.contains("UNIQUE constraint failed"));
    assert_named_column_and_check(&refused);
}
