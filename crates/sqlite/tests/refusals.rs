//! A write SQLite refuses during a replay says which rule it broke, as data.

use ripcord_core::engine::{ApplyOp, ApplyOutcome, Engine, Refusal, ReplayPosition, Violated};
use ripcord_core::journal::RowImage;
use ripcord_core::value::Value;
use ripcord_sqlite::SqliteEngine;
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
    let row = |pairs: &[(&str, Value)]| -> RowImage {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let insert = |pairs: &[(&str, Value)]| ApplyOp::Insert {
        table: "child".into(),
        row: row(pairs),
    };
    let ops = vec![
        insert(&[("id", Value::Int(2)), ("parent_id", Value::Int(9))]),
        insert(&[("id", Value::Int(1)), ("parent_id", Value::Int(1))]),
        insert(&[("id", Value::Int(3)), ("parent_id", Value::Null)]),
        insert(&[
            ("id", Value::Int(4)),
            ("parent_id", Value::Int(1)),
            ("n", Value::Int(-1)),
        ]),
    ];
    let pos = ReplayPosition {
        rollback: "rb:rules".into(),
        last_seq: 1,
    };
    let out = e.apply(&ops, &pos, &|_| String::new()).unwrap();
    let refused: Vec<&Refusal> = out
        .iter()
        .map(|o| match o {
            ApplyOutcome::Refused(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
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
    assert_eq!(
        refused[2].violated,
        Violated::NotNull {
            column: Some("parent_id".into())
        },
        "{:?}",
        refused[2]
    );
    assert_eq!(
        refused[3].violated,
        Violated::Check {
            constraint: Some("n_positive".into())
        },
        "{:?}",
        refused[3]
    );
}
