//! PostgreSQL engine for ripcord.
//!
//! Bookkeeping tables live in the connection's current schema, prefixed `_ripcord_`:
//! `_ripcord_journal` (captured writes, with the writer's transaction id), `_ripcord_frozen`,
//! `_ripcord_restore`, `_ripcord_replay` and `_ripcord_pending_fk` (foreign keys a restore
//! had to add `NOT VALID`, validated again on unfreeze).
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
    types: TypeQuirks {
        timestamp_fraction_digits: 6,
        bool_as_int: false,
    },
};

use ripcord_core::engine::{EngineError, EngineKind, TypeQuirks};

pub(crate) fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
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

pub(crate) fn is_cancel(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED)
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
