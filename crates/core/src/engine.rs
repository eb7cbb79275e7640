//! The engine interface every database implements. Engine quirks stay behind this trait and
//! the engine's [`EngineKind`]; core never tells engines apart by name.

use crate::journal::{JournalEntry, JournalMark, Origin, RowImage};
use crate::schema::TableSchema;
use crate::value::{Row, Value};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{engine}: cannot connect to {url}: {reason}")]
    Connect {
        engine: &'static str,
        url: String,
        reason: String,
    },
    #[error("table {0} does not exist")]
    NoSuchTable(String),
    #[error("table {0} has no primary key; ripcord addresses rows by key to replay writes")]
    NoPrimaryKey(String),
    #[error("statement was cancelled")]
    Cancelled,
    /// A read that needs ripcord's bookkeeping objects, where there are none: read-only
    /// commands never create them (ARCHITECTURE.md invariant 12).
    #[error("ripcord is not installed in this database (run `ripcord install`)")]
    NotInstalled,
    #[error("{context}: {reason}")]
    Sql { context: String, reason: String },
}

impl EngineError {
    pub fn sql(context: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        EngineError::Sql {
            context: context.into(),
            reason: reason.to_string(),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// Receives a consistent snapshot, table by table, rows in primary-key order.
pub trait SnapshotSink {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<(), crate::Error>;
    fn row(&mut self, row: Row) -> Result<(), crate::Error>;
    fn end_table(&mut self) -> Result<(), crate::Error>;
    /// A row as the engine read it, before it is turned into values: an engine that reads
    /// text may offer it first, so a sink that only needs to know whether the row is one it
    /// expects skips building the row. `Ok(true)`: taken, `row` is not called for it;
    /// `Ok(false)`: the engine builds the row and calls `row`.
    fn raw_row(&mut self, _raw: &dyn RawRow) -> Result<bool, crate::Error> {
        Ok(false)
    }
}

/// See [`SnapshotSink::raw_row`].
pub trait RawRow {
    /// True only when the row, read into values, would be exactly `row.get(order[0])`,
    /// `row.get(order[1])`, … (one position per table column, in column order; each the
    /// same variant and content, `Value::Null` for NULL). A position the caller does not
    /// know (`None`) or out of range is no match. False says nothing: the caller must read
    /// the row.
    fn is(&self, row: &crate::replay::ExpectedRow, order: &[usize]) -> bool;
}

/// One write of a replay, already mapped into the target table's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyOp {
    Insert {
        table: String,
        row: RowImage,
    },
    /// Sets only `set` (the columns the business changed) on the row with `key`.
    Update {
        table: String,
        key: RowImage,
        set: RowImage,
    },
    Delete {
        table: String,
        key: RowImage,
    },
}

impl ApplyOp {
    pub fn table(&self) -> &str {
        match self {
            ApplyOp::Insert { table, .. }
            | ApplyOp::Update { table, .. }
            | ApplyOp::Delete { table, .. } => table,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ApplyOutcome {
    Applied,
    /// An update found no row to change, or a delete found nothing to delete.
    NoRow,
    /// The engine refused the write (a constraint, a type).
    Refused(Refusal),
}

/// Why a database refused a write: what the engine could tell of it, with the database's
/// own code and message kept verbatim as data (the edge words the rest).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub violated: Violated,
    /// The database's error code (SQLSTATE, MariaDB error number, SQLite extended result
    /// code); empty when the write was refused before it reached the database.
    pub code: String,
    /// The database's message, verbatim.
    pub message: String,
}

impl Refusal {
    pub fn new(violated: Violated, code: impl Into<String>, message: impl Into<String>) -> Self {
        Refusal {
            violated,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The rule a refused write broke, as far as the engine can tell. Names are `None` where
/// the database does not give them (SQLite names no foreign key).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Violated {
    /// A foreign key: `table` is the other side of it (the parent a child's row needs, or
    /// the child still pointing at a parent being deleted).
    ForeignKey {
        constraint: Option<String>,
        table: Option<String>,
    },
    /// A primary key or unique constraint: another row already has the key.
    KeyConflict {
        constraint: Option<String>,
    },
    NotNull {
        column: Option<String>,
    },
    Check {
        constraint: Option<String>,
    },
    /// Anything else (a type, a length, a trigger): the code and message say what.
    Other,
}

/// Where a replay stands, stored in the target inside the same transaction as the rows it
/// applied, so a replay is exactly-once (ARCHITECTURE.md invariant 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayPosition {
    pub rollback: String,
    pub last_seq: i64,
}

/// Interrupts whatever statement the engine's connection is running, from another thread.
pub trait CancelHandle: Send + Sync {
    fn cancel(&self);
}

/// How an engine's column types behave where core carries a value written on another
/// engine (`types::convert`), so core asks the engine instead of knowing engines by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeQuirks {
    /// Fraction digits a `timestamp`/`datetime` column keeps when its declaration gives none.
    pub timestamp_fraction_digits: u32,
    /// A boolean going into a column of a type ripcord does not know becomes 0/1, because the
    /// engine has no boolean type to receive it.
    pub bool_as_int: bool,
}

/// An engine as known before connecting: each engine crate exports one, and the binary's
/// registry lists them. Core reads it where it must judge a URL (plan validation).
#[derive(Clone, Copy, Debug)]
pub struct EngineKind {
    /// What the engine's [`Engine::kind`] reports.
    pub name: &'static str,
    /// The URL schemes that select this engine (`postgres` for `postgres://…`).
    pub schemes: &'static [&'static str],
    /// How its URLs are written, for messages (`postgres://…`).
    pub url_example: &'static str,
    /// The URL after `scheme:` is a file path, which a plan resolves against its own folder.
    pub file_urls: bool,
    /// Also takes libpq-style `keyword=value` strings (`host=db dbname=erp`), which have no
    /// scheme.
    pub keyword_strings: bool,
    /// Tables live in schemas inside the database (`erp.customers` names one), and
    /// ripcord's own objects can have a schema of their own (`ripcord_schema`). Without,
    /// a plan naming a schema is refused when it is loaded.
    pub schemas: bool,
    pub types: TypeQuirks,
}

impl EngineKind {
    /// The scheme of `url` when it selects this engine.
    pub fn matches(&self, url: &str) -> bool {
        self.schemes
            .contains(&url.split(':').next().unwrap_or_default())
            || (self.keyword_strings && is_keyword_string(url))
    }
}

/// Whether `s` is written as `keyword=value …` (its first word is a keyword and `=`), not
/// as a URL.
pub fn is_keyword_string(s: &str) -> bool {
    let s = s.trim_start();
    let word_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    word_end > 0 && !s.contains("://") && s[word_end..].trim_start().starts_with('=')
}

/// The engines' URL forms as one phrase: "a:PATH, b://… or c://…" with `last` = "or".
pub fn url_forms(kinds: &[EngineKind], last: &str) -> String {
    let forms: Vec<&str> = kinds.iter().map(|k| k.url_example).collect();
    match forms.split_last() {
        None => String::new(),
        Some((only, [])) => only.to_string(),
        Some((tail, head)) => format!("{} {last} {tail}", head.join(", ")),
    }
}

/// What an engine may do besides capture and restore, each with a default for an engine
/// that cannot: the consistent counts a differential checkpoint checks against, journal
/// pruning, and the scratch restore `check --rehearse` times. An engine implements it
/// beside its housekeeping SQL.
pub trait Housekeeping {
    /// A journal mark and the tables' row counts read in one consistent snapshot, or
    /// `None` when the engine has no such read (then checkpoints are always full).
    fn mark_and_counts(
        &mut self,
        tables: &[String],
    ) -> EngineResult<Option<(JournalMark, Vec<u64>)>> {
        let _ = tables;
        Ok(None)
    }

    /// Deletes the journal entries that every mark in `keep` already saw (none of them
    /// would replay it, see [`JournalMark::is_after`]); returns how many went, or `None`
    /// when the engine cannot prune (then the journal is kept whole). An empty `keep`
    /// deletes nothing: with no mark to judge by, every entry may still be needed.
    fn prune_journal(&mut self, keep: &[JournalMark]) -> EngineResult<Option<u64>> {
        let _ = keep;
        Ok(None)
    }

    /// Restores a checkpoint's table under the same name into `scratch` (a PostgreSQL
    /// schema, a MariaDB database, an SQLite file path), created if absent, never touching
    /// the business table: `check --rehearse` times this. `None` when the engine cannot.
    fn scratch_restore(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = Result<Row, crate::Error>>,
    ) -> Result<Option<u64>, crate::Error> {
        let _ = (scratch, schema, rows);
        Ok(None)
    }
    /// Reads a table of `scratch` back, in key order, into `sink`.
    fn scratch_read(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        sink: &mut dyn SnapshotSink,
    ) -> Result<(), crate::Error> {
        let _ = (scratch, schema, sink);
        Err(EngineError::sql("rehearse", "this engine has no scratch restore").into())
    }
    /// Drops `scratch` and everything in it; nothing when it does not exist.
    fn scratch_drop(&mut self, scratch: &str) -> EngineResult<()> {
        let _ = scratch;
        Ok(())
    }

    /// True when the engine streams the table's rows in [`crate::store::key_order`] (a
    /// differential checkpoint merges its changes into the base in that order); the
    /// default, false, keeps the table's checkpoints full.
    fn keys_in_byte_order(&mut self, table: &str) -> EngineResult<bool> {
        let _ = table;
        Ok(false)
    }
}

pub trait Engine: Housekeeping + Send {
    /// The engine's name, as in its [`EngineKind`]; recorded in checkpoints.
    fn kind(&self) -> &'static str;

    /// What [`crate::types::convert`] must know about this engine's column types.
    fn types(&self) -> TypeQuirks;

    /// Creates ripcord's bookkeeping objects (journal, control, replay positions, functions,
    /// the schema they live in) if absent: `ripcord install`, and every writing command.
    fn prepare(&mut self) -> EngineResult<()>;

    /// How long `freeze` and `restore_table` wait for a lock on a business table; past it
    /// they fail naming the sessions that hold it. Engines whose locks cannot wait ignore it.
    fn set_lock_timeout(&mut self, _timeout: std::time::Duration) {}

    /// How long one of ripcord's own bookkeeping statements may run (install, uninstall,
    /// journal marks and reads, journal pruning, capture, restore, replay and frozen-table
    /// bookkeeping): past it the statement fails saying what it was doing. Snapshots,
    /// restores, replays, migration steps and verify reads are never bounded by it.
    fn set_statement_timeout(&mut self, _timeout: std::time::Duration) {}

    /// Whether [`Engine::prepare`] has run here (every object it creates exists). Reads
    /// only the catalogs.
    fn installed(&mut self) -> EngineResult<bool>;

    /// Every object ripcord adds to this database: the ones `prepare` creates, and the
    /// capture and freeze triggers on business tables; each says whether it exists now.
    /// Reads only the catalogs.
    fn ripcord_objects(&mut self) -> EngineResult<Vec<DbObject>>;

    /// Drops every object of [`Engine::ripcord_objects`] that exists (triggers first), so
    /// the database is what it was before ripcord; returns what it dropped.
    fn uninstall(&mut self) -> EngineResult<Vec<DbObject>>;

    fn list_tables(&mut self) -> EngineResult<Vec<String>>;
    fn table_schema(&mut self, table: &str) -> EngineResult<TableSchema>;

    /// Reads the tables and the journal mark from one consistent snapshot.
    fn snapshot(
        &mut self,
        tables: &[String],
        sink: &mut dyn SnapshotSink,
    ) -> Result<JournalMark, crate::Error>;

    /// Replaces `schema.name` with the given rows in one transaction, then recreates its
    /// indexes and triggers, reinstalls capture and freeze if asked, and records
    /// `restore_tag` as done in the same transaction.
    fn restore_table(
        &mut self,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = Result<Row, crate::Error>>,
        opts: &RestoreOptions,
    ) -> Result<u64, crate::Error>;

    /// True when a restore with this tag committed.
    fn restore_done(&mut self, restore_tag: &str) -> EngineResult<bool>;

    /// True when a restore with this tag may have changed the table, finished or not: an
    /// abandoned rollback keeps such a table frozen. Engines whose restore commits in
    /// several steps (MariaDB's swap) say yes from the first step that can change it.
    fn restore_touched(&mut self, restore_tag: &str) -> EngineResult<bool> {
        self.restore_done(restore_tag)
    }

    fn capture_install(&mut self, tables: &[TableSchema]) -> EngineResult<()>;
    fn capture_remove(&mut self, tables: &[String]) -> EngineResult<()>;
    fn captured_tables(&mut self) -> EngineResult<Vec<String>>;

    /// Per table, an opaque token that changes whenever the table is recreated or
    /// truncated or its capture trigger is (re)created: two equal tokens vouch that the
    /// journal holds every row change made between them, which is what a differential
    /// checkpoint rests on. `None` where the engine cannot vouch for that (then
    /// checkpoints are always full).
    fn capture_tokens(&mut self, tables: &[String]) -> EngineResult<Vec<Option<String>>> {
        Ok(vec![None; tables.len()])
    }

    /// The current journal position (everything committed so far).
    fn journal_mark(&mut self) -> EngineResult<JournalMark>;
    /// For a reader that follows the journal while business writes go on (the continuous
    /// sync): a token naming every transaction that may still commit a journal entry at or
    /// below the mark [`Engine::journal_mark`] returned just before. `None` where the engine
    /// cannot say; such a reader then cannot vouch that it missed nothing.
    fn journal_inflight(&mut self) -> EngineResult<Option<String>> {
        Ok(None)
    }
    /// True when every transaction the token names has ended: no entry at or below the
    /// mark read before the token can commit any more.
    fn journal_inflight_done(&mut self, token: &str) -> EngineResult<bool> {
        let _ = token;
        Ok(false)
    }
    /// Entries after `after` (see [`JournalMark::is_after`]) up to `upto` inclusive, in
    /// sequence order, for the given tables.
    fn read_journal(
        &mut self,
        after: &JournalMark,
        upto: i64,
        tables: &[String],
    ) -> EngineResult<Vec<JournalEntry>>;

    /// Applies the ops in one transaction; each op in its own savepoint so a refused write
    /// becomes a data gap instead of aborting the rest. Stores `position` in the same
    /// transaction.
    /// `summarize` turns the outcomes into a note (the batch's data gaps) stored with the
    /// position, in the same transaction.
    fn apply(
        &mut self,
        ops: &[ApplyOp],
        position: &ReplayPosition,
        summarize: &dyn Fn(&[ApplyOutcome]) -> String,
    ) -> EngineResult<Vec<ApplyOutcome>>;
    /// The last applied sequence for a replay tag, if any batch committed.
    fn replay_position(&mut self, tag: &str) -> EngineResult<Option<i64>>;
    /// Every committed batch of a replay tag: (last sequence, note).
    fn replay_log(&mut self, tag: &str) -> EngineResult<Vec<(i64, String)>>;

    /// Evaluates SQL expressions over one input row (reverse mappings).
    fn eval_exprs(&mut self, exprs: &[String], input: &RowImage) -> EngineResult<Vec<Value>>;

    /// [`Engine::eval_exprs`] over many rows, one result per input in input order. Every
    /// input has the same columns. Engines answer a batch in one statement; the default
    /// asks row by row.
    fn eval_exprs_batch(
        &mut self,
        exprs: &[String],
        inputs: &[RowImage],
    ) -> EngineResult<Vec<Vec<Value>>> {
        inputs.iter().map(|i| self.eval_exprs(exprs, i)).collect()
    }

    /// Blocks writes to the tables by anyone but ripcord; survives a crash until undone.
    fn freeze(&mut self, tables: &[String]) -> EngineResult<()>;
    fn unfreeze(&mut self, tables: &[String]) -> EngineResult<()>;
    fn frozen_tables(&mut self) -> EngineResult<Vec<String>>;

    /// Runs a migration step's SQL in one transaction, tagging its writes with `origin`.
    fn execute(&mut self, sql: &str, origin: Origin) -> EngineResult<()>;
    /// First column of the first row of a query, `Null` when there is no row.
    fn query_scalar(&mut self, sql: &str) -> EngineResult<Value>;
    fn count_rows(&mut self, table: &str) -> EngineResult<u64>;

    fn cancel_handle(&self) -> Box<dyn CancelHandle>;
}

/// One database object ripcord adds (see [`Engine::ripcord_objects`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DbObject {
    /// `schema`, `table`, `index`, `sequence`, `function` or `trigger`.
    pub kind: &'static str,
    /// The schema (PostgreSQL) or database (MariaDB) it lives in; `None` on SQLite.
    pub schema: Option<String>,
    pub name: String,
    /// For a trigger, the table it is on.
    pub on: Option<String>,
    /// Created by `prepare` (false: a trigger ripcord put on a business table).
    pub installed_by_prepare: bool,
    pub present: bool,
}

impl std::fmt::Display for DbObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.kind)?;
        if let Some(s) = &self.schema {
            write!(f, "{s}.")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(t) = &self.on {
            write!(f, " on {t}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    pub restore_tag: String,
    pub capture: bool,
    pub freeze: bool,
}
