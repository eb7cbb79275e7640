//! PostgreSQL engine for ripcord.
//!
//! Bookkeeping objects live in a schema of their own (`ripcord` unless the plan's
//! `ripcord_schema` says otherwise), prefixed `_ripcord_`: `_ripcord_journal` (captured
//! writes, with the writer's transaction id), `_ripcord_frozen`, `_ripcord_restore`,
//! `_ripcord_replay` and `_ripcord_pending_fk` (foreign keys a restore had to add `NOT
//! VALID`, validated again on unfreeze), and the functions `_ripcord_capture()` and
//! `_ripcord_freeze()`. On business tables ripcord adds only triggers, `_ripcord_cap_T` and
//! `_ripcord_frz_T`. Nothing is created until a writing command or `ripcord install` asks.
//!
//! Table names: `t` is the table `t` in the connection's `current_schema()`; `s.t` is the
//! table `t` in schema `s`. The journal records the name as the plan writes it (the capture
//! trigger's argument).
//!
//! Origins: ripcord's own transactions set the transaction-local `ripcord.origin` setting;
//! the capture trigger reads it, and anything without it is `business`.
//!
//! Values travel as PostgreSQL's text output under a pinned session (UTC, ISO dates,
//! `postgres` intervals, shortest exact floats, hex bytea): snapshot and restore use COPY
//! text format, the journal's `to_json` images are turned back into the same text through
//! the table's current types at read time (see `read_journal`).
//!
//! Journal marks carry the snapshot (`pg_current_snapshot()`) they were taken in, and each
//! journal row its writer's transaction id, so a reader also returns entries below `high`
//! whose transaction committed after the snapshot (ARCHITECTURE.md invariant 2).

pub mod connect;
mod ddl;
mod diff;
mod engine;
mod housekeeping;
mod text;

pub use diff::PgDiff;
pub use engine::PgEngine;
#[doc(hidden)] // for the fuzz targets (fuzz/)
pub use text::{Kind, copy_line, from_text};

/// PostgreSQL as the registry and core know it. A `timestamp` without a precision keeps
/// microseconds.
pub const KIND: EngineKind = EngineKind {
    name: "postgres",
    schemes: &["postgres", "postgresql"],
    url_example: "postgres://…",
    file_urls: false,
    keyword_strings: true,
    schemas: true,
    types: TypeQuirks {
        timestamp_fraction_digits: 6,
        bool_as_int: false,
    },
};

use ripcord_core::engine::{EngineError, EngineKind, TypeQuirks};

pub(crate) fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A table name as the plan writes it, quoted: `s.t` → `"s"."t"`, `t` → `"t"`.
pub(crate) fn qn(table: &str) -> String {
    match table.split_once('.') {
        Some((s, t)) => format!("{}.{}", q(s), q(t)),
        None => q(table),
    }
}

/// (schema, table) of a plan table name; `default` when it names no schema.
pub(crate) fn split<'a>(default: &'a str, table: &'a str) -> (&'a str, &'a str) {
    table.split_once('.').unwrap_or((default, table))
}

/// The table part of a plan table name (trigger names use it: they are per table).
pub(crate) fn bare(table: &str) -> &str {
    table.split_once('.').map_or(table, |(_, t)| t)
}

pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The database's message (and detail), or the client's error when there is none.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// A cancel request (a stop); `statement_timeout` ends a statement with the same code and
/// is not one.
pub(crate) fn is_cancel(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED)
        && !e
            .as_db_error()
            .is_some_and(|d| d.message().contains("statement timeout"))
}

pub(crate) fn map_err(context: String, e: postgres::Error) -> EngineError {
    if is_cancel(&e) {
        EngineError::Cancelled
    } else {
        EngineError::sql(context, describe(&e))
    }
}

pub(crate) fn err(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> EngineError {
    let context = context.into();
    move |e| map_err(context, e)
}
