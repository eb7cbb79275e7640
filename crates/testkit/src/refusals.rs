//! The refusal test every engine runs: a replay batch in which each write breaks one rule
//! of `parent`/`child`, applied to learn what each engine says it broke.
//!
//! The tables (each engine's DDL): `parent (id PRIMARY KEY)` holding 1, and `child (id
//! PRIMARY KEY, parent_id NOT NULL REFERENCES parent, n CHECK (n > 0) named n_positive)`
//! holding (1, 1, 1).

use ripcord_core::engine::{ApplyOp, ApplyOutcome, Engine, Refusal, ReplayPosition, Violated};
use ripcord_core::journal::RowImage;
use ripcord_core::value::Value;

fn row(pairs: &[(&str, Value)]) -> RowImage {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn insert(pairs: &[(&str, Value)]) -> ApplyOp {
    ApplyOp::Insert {
        table: "child".into(),
        row: row(pairs),
    }
}

/// The batch, each op breaking one rule: a child of a missing parent, a key that exists,
/// a NULL parent, a negative `n`, then (with `delete_parent`) deleting a parent a child
/// refers to.
pub fn rule_breaking_ops(delete_parent: bool) -> Vec<ApplyOp> {
    let mut ops = vec![
        insert(&[("id", Value::Int(2)), ("parent_id", Value::Int(9))]),
        insert(&[("id", Value::Int(1)), ("parent_id", Value::Int(1))]),
        insert(&[("id", Value::Int(3)), ("parent_id", Value::Null)]),
        insert(&[
            ("id", Value::Int(4)),
            ("parent_id", Value::Int(1)),
            ("n", Value::Int(-1)),
        ]),
    ];
    if delete_parent {
        ops.push(ApplyOp::Delete {
            table: "parent".into(),
            key: row(&[("id", Value::Int(1))]),
        });
    }
    ops
}

/// Applies `ops` as one replay batch; every op must be refused, and the refusals are
/// returned in order.
pub fn refusals(e: &mut dyn Engine, ops: &[ApplyOp]) -> Vec<Refusal> {
    let pos = ReplayPosition {
        rollback: "rb:rules".into(),
        last_seq: 1,
    };
    e.apply(ops, &pos, &|_: &[ApplyOutcome]| String::new())
        .unwrap()
        .into_iter()
        .map(|o| match o {
            ApplyOutcome::Refused(r) => r,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// What every engine names alike: the third op broke NOT NULL on `parent_id`, the fourth
/// the check `n_positive`.
pub fn assert_named_column_and_check(refused: &[Refusal]) {
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
