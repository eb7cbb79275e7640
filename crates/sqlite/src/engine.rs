//! The SQLite engine.
//!
//! Bookkeeping tables live beside the user's tables, prefixed `_ripcord_`:
//! `_ripcord_journal` (captured writes), `_ripcord_ctl` (the origin of the writing
//! transaction), `_ripcord_frozen`, `_ripcord_restore` and `_ripcord_replay` (restore and
//! replay progress, written in the same transaction as the rows).
//!
//! The origin tag: SQLite has one writer at a time, so ripcord sets `_ripcord_ctl.origin`
//! at the start of its own write transaction and resets it before commit; the capture
//! triggers read it. Business writers never touch it and are tagged `business`.
//!
//! Journal values are JSON: integers as numbers, NULL as null, everything else as a string
//! with a type prefix (`t:` text, `r:` a float printed with 17 digits, `b:` hex blob), so
//! the decoder gets back exactly what was written.

use ripcord_core::engine::*;
use ripcord_core::journal::{JournalEntry, JournalMark, Op, Origin, RowImage};
use ripcord_core::schema::{Column, TableSchema};
use ripcord_core::value::{Row, Value};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use std::path::Path;

mod housekeeping;

/// The tables `prepare` creates.
const TABLES: [&str; 6] = [
    "_ripcord_meta",
    "_ripcord_journal",
    "_ripcord_ctl",
    "_ripcord_frozen",
    "_ripcord_restore",
    "_ripcord_replay",
];

pub struct SqliteEngine {
    conn: Connection,
    /// How long a write waits for the file's write lock (the busy timeout), outside
    /// ripcord's own bookkeeping: the plan's `lock_timeout`.
    lock_timeout: std::time::Duration,
    /// The busy timeout of ripcord's own bookkeeping (see [`SqliteEngine::bounded`]).
    statement_timeout: std::time::Duration,
    /// Inside [`SqliteEngine::bounded`].
    bounding: bool,
}

fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn err(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> EngineError {
    let context = context.into();
    move |e| {
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && f.code == rusqlite::ErrorCode::OperationInterrupted
        {
            return EngineError::Cancelled;
        }
        EngineError::sql(context, e)
    }
}

pub fn to_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            // Invalid UTF-8 stored as TEXT: keep the bytes rather than guess.
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

pub fn to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Bool(b) => S::Integer(*b as i64),
        Value::Int(i) => S::Integer(*i),
        Value::Float(f) => S::Real(*f),
        Value::Decimal(d) => S::Text(d.clone()),
        Value::Text(t) => S::Text(t.clone()),
        Value::Blob(b) => S::Blob(b.clone()),
    }
}

fn enc_expr(col: &str) -> String {
    format!(
        "CASE typeof({c}) WHEN 'null' THEN NULL WHEN 'integer' THEN {c} WHEN 'real' THEN 'r:' || printf('%!.17g', {c}) WHEN 'text' THEN 't:' || {c} ELSE 'b:' || hex({c}) END",
        c = col
    )
}

pub fn decode_image(json: Option<String>) -> Result<Option<RowImage>, String> {
    let Some(json) = json else { return Ok(None) };
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("journal row is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("journal row is not a JSON object")?;
    let mut out = RowImage::new();
    for (k, v) in obj {
        let val = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().ok_or("bad number")?),
            },
            serde_json::Value::String(s) => match s.split_at_checked(2) {
                Some(("t:", rest)) => Value::Text(rest.to_string()),
                Some(("r:", rest)) => Value::Float(
                    rest.parse()
                        .map_err(|_| format!("bad float {rest:?} in column {k}"))?,
                ),
                Some(("b:", rest)) => {
                    Value::Blob(hex(rest).ok_or_else(|| format!("bad hex in column {k}"))?)
                }
                _ => {
                    return Err(format!(
                        "column {k}: journal value {s:?} has no type prefix"
                    ));
                }
            },
            other => return Err(format!("column {k}: unexpected journal value {other}")),
        };
        out.insert(k.clone(), val);
    }
    Ok(Some(out))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The JSON object expression over `NEW`/`OLD` for a capture trigger.
fn image_expr(schema: &TableSchema, which: &str) -> String {
    let parts: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            format!(
                "{}, {}",
                lit(&c.name),
                enc_expr(&format!("{which}.{}", q(&c.name)))
            )
        })
        .collect();
    format!("json_object({})", parts.join(", "))
}

const ORIGIN: &str = "(SELECT origin FROM _ripcord_ctl WHERE id = 1)";

/// A fresh arming epoch, written into the capture triggers' text: SQLite gives a trigger no
/// identity of its own, so this is what makes a re-created trigger tell apart from the one
/// a checkpoint saw (`capture_tokens`).
fn new_epoch() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.update(&nanos.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finalize().to_hex()[..12].to_string()
}

const CAPTURE_SUFFIXES: [&str; 3] = ["i", "u", "d"];

/// The arming epoch written in a capture trigger's text by `capture_sql`.
fn epoch_of(trigger_sql: &str) -> Option<&str> {
    let start = trigger_sql.find("/*ripcord:")? + "/*ripcord:".len();
    let len = trigger_sql[start..].find("*/")?;
    Some(&trigger_sql[start..start + len])
}

/// The text of the table's three capture triggers, in `CAPTURE_SUFFIXES` order, when all
/// three exist.
fn capture_triggers(conn: &Connection, t: &str) -> EngineResult<Option<Vec<String>>> {
    let mut out = Vec::new();
    for s in CAPTURE_SUFFIXES {
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1 AND tbl_name = ?2",
                rusqlite::params![format!("_ripcord_cap_{t}_{s}"), t],
                |r| r.get(0),
            )
            .optional()
            .map_err(err(format!("capture triggers of {t}")))?;
        match sql {
            Some(sql) => out.push(sql),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// True when the table's capture triggers are exactly what `capture_sql` would write now
/// (same columns), so installing again would change nothing but the epoch.
fn capture_current(conn: &Connection, schema: &TableSchema) -> EngineResult<bool> {
    let Some(now) = capture_triggers(conn, &schema.name)? else {
        return Ok(false);
    };
    let Some(epoch) = epoch_of(&now[0]) else {
        return Ok(false);
    };
    Ok(capture_sql(schema, epoch)[3..] == now[..])
}

fn capture_sql(schema: &TableSchema, epoch: &str) -> Vec<String> {
    let t = &schema.name;
    let name = |s: &str| q(&format!("_ripcord_cap_{t}_{s}"));
    vec![
        format!("DROP TRIGGER IF EXISTS {}", name("i")),
        format!("DROP TRIGGER IF EXISTS {}", name("u")),
        format!("DROP TRIGGER IF EXISTS {}", name("d")),
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {} BEGIN /*ripcord:{epoch}*/ INSERT INTO _ripcord_journal(tbl, op, new_row, origin) VALUES ({}, 'I', {}, {ORIGIN}); END",
            name("i"),
            q(t),
            lit(t),
            image_expr(schema, "NEW")
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {} BEGIN /*ripcord:{epoch}*/ INSERT INTO _ripcord_journal(tbl, op, old_row, new_row, origin) VALUES ({}, 'U', {}, {}, {ORIGIN}); END",
            name("u"),
            q(t),
            lit(t),
            image_expr(schema, "OLD"),
            image_expr(schema, "NEW")
        ),
        format!(
            "CREATE TRIGGER {} AFTER DELETE ON {} BEGIN /*ripcord:{epoch}*/ INSERT INTO _ripcord_journal(tbl, op, old_row, origin) VALUES ({}, 'D', {}, {ORIGIN}); END",
            name("d"),
            q(t),
            lit(t),
            image_expr(schema, "OLD")
        ),
    ]
}

fn freeze_sql(t: &str) -> Vec<String> {
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .map(|ev| {
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} BEFORE {ev} ON {} WHEN {ORIGIN} <> 'ripcord' BEGIN SELECT RAISE(ABORT, {}); END",
                q(&format!("_ripcord_frz_{t}_{}", &ev[..1].to_lowercase())),
                q(t),
                lit(&format!("ripcord: table {t} is frozen while a rollback runs"))
            )
        })
        .collect()
}

impl SqliteEngine {
    /// Opens `sqlite:PATH`. The file must exist: a typo in a plan must not create an empty
    /// database and then report it as empty.
    pub fn open(url: &str) -> EngineResult<Self> {
        let path = url
            .strip_prefix("sqlite:")
            .unwrap_or(url)
            .trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        let shown = ripcord_core::redact::redact_url(url);
        if path != ":memory:" && !Path::new(path).exists() {
            return Err(EngineError::Connect {
                engine: "sqlite",
                url: shown,
                reason: "the database file does not exist".into(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| EngineError::Connect {
            engine: "sqlite",
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::from_connection(conn)
    }

    pub fn from_connection(conn: Connection) -> EngineResult<Self> {
        let lock_timeout = ripcord_core::plan::DEFAULT_LOCK_TIMEOUT;
        conn.busy_timeout(lock_timeout)
            .map_err(err("busy_timeout"))?;
        // No `journal_mode = WAL` here: it is written into the file's header, and a
        // read-only command must leave the file as it found it (ARCHITECTURE.md invariant
        // 12). `prepare` switches to WAL; a read transaction is one snapshot in either mode.
        Ok(SqliteEngine {
            conn,
            lock_timeout,
            statement_timeout: ripcord_core::plan::DEFAULT_STATEMENT_TIMEOUT,
            bounding: false,
        })
    }

    /// Runs one of ripcord's own bookkeeping operations with the busy timeout at the
    /// plan's `statement_timeout`, then back at `lock_timeout`. SQLite statements cannot
    /// hang on a server; what can hold them is another connection's lock on the file, and
    /// that wait ends with "`what` waited N s for the database file". Nothing is interrupted
    /// once it runs: snapshots, restores and replays run as long as they need.
    fn bounded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> EngineResult<T>,
    ) -> EngineResult<T> {
        if self.bounding {
            return f(self);
        }
        self.conn
            .busy_timeout(self.statement_timeout)
            .map_err(err("busy_timeout"))?;
        self.bounding = true;
        let r = f(self);
        self.bounding = false;
        let reset = self
            .conn
            .busy_timeout(self.lock_timeout)
            .map_err(err("busy_timeout"));
        match r {
            Err(EngineError::Sql { context, reason }) if reason.contains("database is locked") => {
                Err(EngineError::sql(
                    what,
                    format!(
                        "{context} waited {} s for the database file, which another connection holds locked (statement_timeout, the bound on ripcord's own bookkeeping), and gave up. Finish that connection's transaction, or raise statement_timeout for this database in the plan",
                        self.statement_timeout.as_secs_f64()
                    ),
                ))
            }
            Err(e) => Err(e),
            Ok(v) => reset.map(|()| v),
        }
    }

    fn has_table(&self, name: &str) -> EngineResult<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(err("look up table"))
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in a write transaction with the origin tag set to `origin`.
    fn write<T>(
        &mut self,
        origin: Origin,
        f: impl FnOnce(&Connection) -> EngineResult<T>,
    ) -> EngineResult<T> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("begin"))?;
        // Not installed: no capture trigger reads the tag, and a read-only command must
        // not create the table to hold it.
        let tagged: bool = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ripcord_ctl'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(err("set origin"))?;
        if tagged {
            tx.execute(
                "UPDATE _ripcord_ctl SET origin = ?1 WHERE id = 1",
                [origin.as_str()],
            )
            .map_err(err("set origin"))?;
        }
        let out = f(&tx)?;
        if tagged {
            tx.execute(
                "UPDATE _ripcord_ctl SET origin = 'business' WHERE id = 1",
                [],
            )
            .map_err(err("reset origin"))?;
        }
        tx.commit().map_err(err("commit"))?;
        Ok(out)
    }
}

fn read_schema(conn: &Connection, table: &str) -> EngineResult<TableSchema> {
    let create_sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| {
            if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                Ok(None)
            } else {
                Err(e)
            }
        })
        .map_err(err(format!("read schema of {table}")))?;
    let create_sql = create_sql.ok_or_else(|| EngineError::NoSuchTable(table.to_string()))?;
    let mut st = conn
        .prepare(&format!("PRAGMA table_info({})", q(table)))
        .map_err(err("table_info"))?;
    let mut cols = Vec::new();
    let mut pk: Vec<(i64, usize)> = Vec::new();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(err("table_info"))?;
    for (i, row) in rows.enumerate() {
        let (name, ty, notnull, pkpos) = row.map_err(err("table_info"))?;
        if pkpos > 0 {
            pk.push((pkpos, i));
        }
        cols.push(Column {
            name,
            decl_type: ty,
            not_null: notnull != 0,
        });
    }
    if pk.is_empty() {
        return Err(EngineError::NoPrimaryKey(table.to_string()));
    }
    pk.sort();
    let mut post = Vec::new();
    let mut st = conn
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL AND name NOT LIKE '\\_ripcord\\_%' ESCAPE '\\' ORDER BY type, name")
        .map_err(err("indexes"))?;
    for s in st
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(err("indexes"))?
    {
        post.push(s.map_err(err("indexes"))?);
    }
    Ok(TableSchema {
        name: table.to_string(),
        columns: cols,
        primary_key: pk.into_iter().map(|(_, i)| i).collect(),
        create_sql,
        post_sql: post,
    })
}

fn select_sql(s: &TableSchema) -> String {
    let cols: Vec<String> = s.columns.iter().map(|c| q(&c.name)).collect();
    let key: Vec<String> = s.key_names().iter().map(|c| q(c)).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        q(&s.name),
        key.join(", ")
    )
}

impl Engine for SqliteEngine {
    fn kind(&self) -> &'static str {
        crate::KIND.name
    }
    fn types(&self) -> TypeQuirks {
        crate::KIND.types
    }

    fn set_lock_timeout(&mut self, timeout: std::time::Duration) {
        self.lock_timeout = timeout;
        // The wait for the file's write lock: a freeze or a restore behind a writer.
        let _ = self.conn.busy_timeout(timeout);
    }

    fn set_statement_timeout(&mut self, timeout: std::time::Duration) {
        self.statement_timeout = timeout;
    }

    fn prepare(&mut self) -> EngineResult<()> {
        self.bounded("install ripcord's objects", |this| {
            // The journal's AUTOINCREMENT makes SQLite add its own `sqlite_sequence`, which no
            // statement can drop: remember whether it was there, so uninstall can take it away.
            let seq_before = this.has_table("sqlite_sequence")?;
            let first = !this.has_table("_ripcord_meta")?;
            let mode_before: String = this
                .conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(err("journal_mode"))?;
            // WAL lets readers (a snapshot, a verify) run beside the business writers.
            this.conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(err("journal_mode"))?;
            this.conn
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS _ripcord_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                     CREATE TABLE IF NOT EXISTS _ripcord_journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        tbl TEXT NOT NULL, op TEXT NOT NULL, old_row TEXT, new_row TEXT,
                        origin TEXT NOT NULL,
                        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
                     CREATE TABLE IF NOT EXISTS _ripcord_ctl (id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL);
                     INSERT OR IGNORE INTO _ripcord_ctl VALUES (1, 'business');
                     CREATE TABLE IF NOT EXISTS _ripcord_frozen (tbl TEXT PRIMARY KEY, since TEXT NOT NULL);
                     CREATE TABLE IF NOT EXISTS _ripcord_restore (tag TEXT PRIMARY KEY, at TEXT NOT NULL);
                     CREATE TABLE IF NOT EXISTS _ripcord_replay (tag TEXT NOT NULL, last_seq INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (tag, last_seq));",
                )
                .map_err(err("create ripcord tables"))?;
            if first {
                this.conn
                    .execute(
                        "INSERT OR IGNORE INTO _ripcord_meta VALUES ('sqlite_sequence_before', ?1)",
                        [if seq_before { "1" } else { "0" }],
                    )
                    .map_err(err("create ripcord tables"))?;
                // Uninstall sets it back, so the file's header is as before ripcord.
                this.conn
                    .execute(
                        "INSERT OR IGNORE INTO _ripcord_meta VALUES ('journal_mode_before', ?1)",
                        [mode_before.to_ascii_lowercase()],
                    )
                    .map_err(err("create ripcord tables"))?;
            }
            Ok(())
        })
    }

    fn installed(&mut self) -> EngineResult<bool> {
        self.bounded("look for ripcord's objects", |this| {
            // `_ripcord_meta` is newer than the rest: a database installed before it is
            // installed all the same (the next `prepare` adds it).
            for t in TABLES.iter().filter(|t| **t != "_ripcord_meta") {
                if !this.has_table(t)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    fn ripcord_objects(&mut self) -> EngineResult<Vec<DbObject>> {
        self.bounded("list ripcord's objects", |this| {
            let mut st = this
                .conn
                .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name LIKE '\\_ripcord\\_%' ESCAPE '\\' ORDER BY type, tbl_name, name")
                .map_err(err("ripcord's objects"))?;
            let there = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(err("ripcord's objects"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("ripcord's objects"))?;
            let mut out: Vec<DbObject> = TABLES
                .iter()
                .map(|t| DbObject {
                    kind: "table",
                    schema: None,
                    name: t.to_string(),
                    on: None,
                    installed_by_prepare: true,
                    present: there.iter().any(|(k, n, _)| k == "table" && n == t),
                })
                .collect();
            for (kind, name, on) in there {
                let kind = match kind.as_str() {
                    "trigger" => "trigger",
                    "index" => "index",
                    "table" if !TABLES.contains(&name.as_str()) => "table",
                    _ => continue,
                };
                out.push(DbObject {
                    kind,
                    schema: None,
                    on: (kind == "trigger").then_some(on),
                    name,
                    installed_by_prepare: false,
                    present: true,
                });
            }
            Ok(out)
        })
    }

    fn uninstall(&mut self) -> EngineResult<Vec<DbObject>> {
        self.bounded("remove ripcord's objects", |this| {
            let present: Vec<DbObject> = this
                .ripcord_objects()?
                .into_iter()
                .filter(|o| o.present)
                .collect();
            let meta = |key: &str| -> EngineResult<Option<String>> {
                if !this.has_table("_ripcord_meta")? {
                    return Ok(None);
                }
                this.conn
                    .query_row(
                        "SELECT value FROM _ripcord_meta WHERE key = ?1",
                        [key],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(err("uninstall ripcord"))
            };
            let seq_before = meta("sqlite_sequence_before")?;
            let mode_before = meta("journal_mode_before")?;
            let tx = this.conn.transaction().map_err(err("uninstall ripcord"))?;
            for o in present.iter().filter(|o| o.kind == "trigger") {
                tx.execute_batch(&format!("DROP TRIGGER IF EXISTS {}", q(&o.name)))
                    .map_err(err("uninstall ripcord"))?;
            }
            for o in present.iter().filter(|o| o.kind == "table") {
                tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", q(&o.name)))
                    .map_err(err("uninstall ripcord"))?;
            }
            tx.commit().map_err(err("uninstall ripcord"))?;
            // `sqlite_sequence` cannot be dropped; when ripcord's journal brought it and no
            // other table uses it, take its entry out of the schema and rebuild the file.
            if seq_before.as_deref() == Some("0") && this.has_table("sqlite_sequence")? {
                let used: i64 = this
                    .conn
                    .query_row("SELECT count(*) FROM sqlite_sequence", [], |r| r.get(0))
                    .map_err(err("uninstall ripcord"))?;
                if used == 0 {
                    this.conn
                        .execute_batch(
                            "PRAGMA writable_schema = ON;
                             DELETE FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence';
                             PRAGMA writable_schema = OFF;
                             VACUUM;",
                        )
                        .map_err(err("remove sqlite_sequence"))?;
                }
            }
            // Leave WAL only when ripcord put the file in it (the mode lives in its header).
            if let Some(mode) = mode_before
                .filter(|m| ["delete", "truncate", "persist", "memory", "off"].contains(&m.as_str()))
            {
                this.conn
                    .pragma_update(None, "journal_mode", &mode)
                    .map_err(err(format!("set journal_mode back to {mode}")))?;
            }
            Ok(present)
        })
    }

    fn list_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the tables", |this| {
            let mut st = this
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_ripcord\\_%' ESCAPE '\\' ORDER BY name")
                .map_err(err("list tables"))?;
            let names = st
                .query_map([], |r| r.get(0))
                .map_err(err("list tables"))?
                .collect::<Result<Vec<String>, _>>()
                .map_err(err("list tables"))?;
            Ok(names)
        })
    }

    fn table_schema(&mut self, table: &str) -> EngineResult<TableSchema> {
        self.bounded("read the table's definition", |this| {
            read_schema(&this.conn, table)
        })
    }

    fn snapshot(
        &mut self,
        tables: &[String],
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<JournalMark> {
        // Without ripcord's tables there is no journal: the mark is empty (a checkpoint
        // installs first; `verify` only reads the rows).
        let installed = self.has_table("_ripcord_journal")?;
        // One read transaction: in WAL mode every read in it sees the same snapshot.
        let tx = self.conn.transaction().map_err(err("begin snapshot"))?;
        let high: i64 = match installed {
            false => 0,
            true => tx
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM _ripcord_journal",
                    [],
                    |r| r.get(0),
                )
                .map_err(err("journal mark"))?,
        };
        for t in tables {
            let schema = read_schema(&tx, t)?;
            sink.begin_table(&schema)?;
            let mut st = tx
                .prepare(&select_sql(&schema))
                .map_err(err(format!("read {t}")))?;
            let mut rows = st.query([]).map_err(err(format!("read {t}")))?;
            let n = schema.columns.len();
            while let Some(r) = rows.next().map_err(err(format!("read {t}")))? {
                let row: Row = (0..n)
                    .map(|i| r.get_ref(i).map(to_value))
                    .collect::<Result<_, _>>()
                    .map_err(err(format!("read {t}")))?;
                sink.row(row)?;
            }
            sink.end_table()?;
        }
        tx.commit().map_err(err("end snapshot"))?;
        // One writer at a time: sequence numbers commit in order, so there are no holes.
        Ok(JournalMark {
            high,
            holes: Vec::new(),
            snapshot: None,
        })
    }

    fn restore_table(
        &mut self,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
        opts: &RestoreOptions,
    ) -> ripcord_core::Result<u64> {
        // Foreign keys would make DROP TABLE delete or refuse child rows; the restore puts
        // the component back whole, then checks the keys.
        self.conn
            .pragma_update(None, "foreign_keys", "OFF")
            .map_err(err("foreign_keys off"))?;
        let t = &schema.name;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("begin restore"))?;
        tx.execute(
            "UPDATE _ripcord_ctl SET origin = 'ripcord' WHERE id = 1",
            [],
        )
        .map_err(err("set origin"))?;
        let seq: Option<i64> = tx
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [t],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                rusqlite::Error::SqliteFailure(..) => Ok(None), // no sqlite_sequence table yet
                e => Err(e),
            })
            .map_err(err("read sqlite_sequence"))?;
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", q(t)))
            .map_err(err(format!("drop {t}")))?;
        tx.execute_batch(&schema.create_sql)
            .map_err(err(format!("create {t}")))?;
        let cols: Vec<String> = schema.columns.iter().map(|c| q(&c.name)).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let mut n = 0u64;
        {
            let mut ins = tx
                .prepare(&format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    q(t),
                    cols.join(", "),
                    marks.join(", ")
                ))
                .map_err(err(format!("insert into {t}")))?;
            for row in rows {
                let row = row?;
                ins.execute(params_from_iter(row.iter().map(to_sql)))
                    .map_err(err(format!("insert into {t}")))?;
                n += 1;
            }
        }
        for s in &schema.post_sql {
            tx.execute_batch(s)
                .map_err(err(format!("recreate index or trigger on {t}")))?;
        }
        if let Some(seq) = seq {
            // Keep the AUTOINCREMENT high-water mark: ids handed out after the checkpoint
            // must not be handed out again.
            tx.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?2) WHERE name = ?1",
                rusqlite::params![t, seq],
            )
            .map_err(err("sqlite_sequence"))?;
        }
        if opts.capture {
            for s in capture_sql(schema, &new_epoch()) {
                tx.execute_batch(&s)
                    .map_err(err(format!("capture on {t}")))?;
            }
        }
        if opts.freeze {
            for s in freeze_sql(t) {
                tx.execute_batch(&s).map_err(err(format!("freeze {t}")))?;
            }
        }
        tx.execute("INSERT INTO _ripcord_restore (tag, at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", [&opts.restore_tag]).map_err(err("record restore"))?;
        tx.execute(
            "UPDATE _ripcord_ctl SET origin = 'business' WHERE id = 1",
            [],
        )
        .map_err(err("reset origin"))?;
        tx.commit().map_err(err(format!("commit restore of {t}")))?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(err("foreign_keys on"))?;
        Ok(n)
    }

    fn restore_done(&mut self, tag: &str) -> EngineResult<bool> {
        self.bounded("read the restore bookkeeping", |this| {
            if !this.has_table("_ripcord_restore")? {
                return Ok(false);
            }
            let n: i64 = this
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM _ripcord_restore WHERE tag = ?1",
                    [tag],
                    |r| r.get(0),
                )
                .map_err(err("restore state"))?;
            Ok(n > 0)
        })
    }

    fn capture_install(&mut self, tables: &[TableSchema]) -> EngineResult<()> {
        self.write(Origin::Ripcord, |c| {
            for s in tables {
                // Re-arming what is already armed would change the epoch and so end the
                // continuity a checkpoint relies on, for nothing.
                if capture_current(c, s)? {
                    continue;
                }
                for sql in capture_sql(s, &new_epoch()) {
                    c.execute_batch(&sql)
                        .map_err(err(format!("capture on {}", s.name)))?;
                }
            }
            Ok(())
        })
    }

    fn capture_remove(&mut self, tables: &[String]) -> EngineResult<()> {
        self.bounded("remove capture", |this| {
            this.write(Origin::Ripcord, |c| {
                for t in tables {
                    for s in ["i", "u", "d"] {
                        c.execute_batch(&format!(
                            "DROP TRIGGER IF EXISTS {}",
                            q(&format!("_ripcord_cap_{t}_{s}"))
                        ))
                        .map_err(err("drop capture"))?;
                    }
                }
                Ok(())
            })
        })
    }

    fn captured_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the captured tables", |this| {
            let mut st = this
                .conn
                .prepare("SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '\\_ripcord\\_cap\\_%' ESCAPE '\\' ORDER BY tbl_name")
                .map_err(err("captured tables"))?;
            let v = st
                .query_map([], |r| r.get(0))
                .map_err(err("captured tables"))?
                .collect::<Result<Vec<String>, _>>()
                .map_err(err("captured tables"))?;
            Ok(v)
        })
    }

    /// The capture triggers' text (with their arming epoch): it changes when capture is
    /// re-armed or its columns change; the table cannot be rewritten without dropping the
    /// triggers (then there is no token).
    fn capture_tokens(&mut self, tables: &[String]) -> EngineResult<Vec<Option<String>>> {
        self.bounded("read the capture tokens", |this| {
            tables
                .iter()
                .map(|t| {
                    Ok(capture_triggers(&this.conn, t)?.map(|sqls| {
                        let mut h = blake3::Hasher::new();
                        for s in &sqls {
                            h.update(s.as_bytes());
                            h.update(&[0]);
                        }
                        format!("sqlite:{}", &h.finalize().to_hex()[..32])
                    }))
                })
                .collect()
        })
    }

    /// One writer at a time: a visible entry means every lower one committed or never will.
    fn journal_inflight(&mut self) -> EngineResult<Option<String>> {
        Ok(Some(String::new()))
    }
    fn journal_inflight_done(&mut self, _token: &str) -> EngineResult<bool> {
        Ok(true)
    }

    fn journal_mark(&mut self) -> EngineResult<JournalMark> {
        self.bounded("read the journal mark", |this| {
            if !this.has_table("_ripcord_journal")? {
                return Err(EngineError::NotInstalled);
            }
            let high = this
                .conn
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM _ripcord_journal",
                    [],
                    |r| r.get(0),
                )
                .map_err(err("journal mark"))?;
            Ok(JournalMark {
                high,
                holes: Vec::new(),
                snapshot: None,
            })
        })
    }

    fn read_journal(
        &mut self,
        after: &JournalMark,
        upto: i64,
        tables: &[String],
    ) -> EngineResult<Vec<JournalEntry>> {
        self.bounded("read the journal", |this| {
            if !this.has_table("_ripcord_journal")? {
                return Err(EngineError::NotInstalled);
            }
            let lo = after
                .holes
                .first()
                .map(|h| (h - 1).min(after.high))
                .unwrap_or(after.high);
            let marks: Vec<String> = (0..tables.len()).map(|i| format!("?{}", i + 3)).collect();
            let sql = format!(
                "SELECT seq, tbl, op, old_row, new_row, origin, at FROM _ripcord_journal WHERE seq > ?1 AND seq <= ?2 AND tbl IN ({}) ORDER BY seq",
                if marks.is_empty() {
                    "NULL".to_string()
                } else {
                    marks.join(", ")
                }
            );
            let mut st = this.conn.prepare(&sql).map_err(err("read journal"))?;
            let mut params: Vec<rusqlite::types::Value> = vec![lo.into(), upto.into()];
            params.extend(
                tables
                    .iter()
                    .map(|t| rusqlite::types::Value::Text(t.clone())),
            );
            let rows = st
                .query_map(params_from_iter(params), |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(err("read journal"))?;
            let mut out = Vec::new();
            for r in rows {
                let (seq, table, op, old, new, origin, at) = r.map_err(err("read journal"))?;
                if !after.is_after(seq) {
                    continue;
                }
                let bad = |reason: String| EngineError::sql(format!("journal entry {seq}"), reason);
                out.push(JournalEntry {
                    seq,
                    op: Op::from_code(&op).ok_or_else(|| bad(format!("unknown operation {op:?}")))?,
                    old: decode_image(old).map_err(bad)?,
                    new: decode_image(new).map_err(bad)?,
                    origin: Origin::parse(&origin),
                    table,
                    at,
                });
            }
            Ok(out)
        })
    }

    fn apply(
        &mut self,
        ops: &[ApplyOp],
        position: &ReplayPosition,
        summarize: &dyn Fn(&[ApplyOutcome]) -> String,
    ) -> EngineResult<Vec<ApplyOutcome>> {
        self.write(Origin::Ripcord, |c| {
            let mut outcomes = Vec::with_capacity(ops.len());
            for op in ops {
                c.execute_batch("SAVEPOINT ripcord_op")
                    .map_err(err("savepoint"))?;
                let r = apply_one(c, op);
                let outcome = match r {
                    Ok(0) => ApplyOutcome::NoRow,
                    Ok(_) => ApplyOutcome::Applied,
                    Err(e) => ApplyOutcome::Refused(refusal(&e)),
                };
                if matches!(outcome, ApplyOutcome::Refused(_)) {
                    c.execute_batch("ROLLBACK TO ripcord_op")
                        .map_err(err("rollback to savepoint"))?;
                }
                c.execute_batch("RELEASE ripcord_op")
                    .map_err(err("release savepoint"))?;
                outcomes.push(outcome);
            }
            let note = summarize(&outcomes);
            c.execute(
                "INSERT INTO _ripcord_replay (tag, last_seq, note) VALUES (?1, ?2, ?3)",
                rusqlite::params![position.rollback, position.last_seq, note],
            )
            .map_err(err("store replay position"))?;
            Ok(outcomes)
        })
    }

    fn replay_position(&mut self, tag: &str) -> EngineResult<Option<i64>> {
        self.bounded("read the replay position", |this| {
            if !this.has_table("_ripcord_replay")? {
                return Ok(None);
            }
            this.conn
                .query_row(
                    "SELECT MAX(last_seq) FROM _ripcord_replay WHERE tag = ?1",
                    [tag],
                    |r| r.get(0),
                )
                .map_err(err("replay position"))
        })
    }

    fn replay_log(&mut self, tag: &str) -> EngineResult<Vec<(i64, String)>> {
        self.bounded("read the replay log", |this| {
            if !this.has_table("_ripcord_replay")? {
                return Ok(Vec::new());
            }
            let mut st = this
                .conn
                .prepare(
                    "SELECT last_seq, note FROM _ripcord_replay WHERE tag = ?1 ORDER BY last_seq",
                )
                .map_err(err("replay log"))?;
            let v = st
                .query_map([tag], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err("replay log"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("replay log"))?;
            Ok(v)
        })
    }

    fn eval_exprs(&mut self, exprs: &[String], input: &RowImage) -> EngineResult<Vec<Value>> {
        let cols: Vec<String> = input
            .keys()
            .enumerate()
            .map(|(i, k)| format!("?{} AS {}", i + 1, q(k)))
            .collect();
        let sql = format!(
            "SELECT {} FROM (SELECT {})",
            exprs.join(", "),
            if cols.is_empty() {
                "NULL".into()
            } else {
                cols.join(", ")
            }
        );
        let params: Vec<rusqlite::types::Value> = input.values().map(to_sql).collect();
        self.conn
            .query_row(&sql, params_from_iter(params), |r| {
                (0..exprs.len())
                    .map(|i| r.get_ref(i).map(to_value))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(err(format!("evaluate {}", exprs.join(", "))))
    }

    fn eval_exprs_batch(
        &mut self,
        exprs: &[String],
        inputs: &[RowImage],
    ) -> EngineResult<Vec<Vec<Value>>> {
        let Some(first) = inputs.first() else {
            return Ok(Vec::new());
        };
        let names: Vec<&String> = first.keys().collect();
        let context = || format!("evaluate {}", exprs.join(", "));
        // One VALUES row per input (no compound-SELECT limit applies to VALUES), within
        // SQLite's bound on parameters per statement.
        let per = names.len() + 1;
        let rows_per_stmt = (30_000 / per).max(1);
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(rows_per_stmt) {
            let mut params: Vec<rusqlite::types::Value> = Vec::with_capacity(chunk.len() * per);
            let mut tuples = Vec::with_capacity(chunk.len());
            for (n, img) in chunk.iter().enumerate() {
                let base = params.len();
                let mut t = Vec::with_capacity(per);
                for (i, name) in names.iter().enumerate() {
                    let v = img.get(*name).ok_or_else(|| {
                        EngineError::sql(context(), format!("input row {n} has no column {name}"))
                    })?;
                    params.push(to_sql(v));
                    t.push(format!("?{}", base + i + 1));
                }
                params.push(rusqlite::types::Value::Integer(n as i64));
                t.push(format!("?{}", base + names.len() + 1));
                tuples.push(format!("({})", t.join(", ")));
            }
            let cols: Vec<String> = names
                .iter()
                .map(|n| q(n))
                .chain(std::iter::once("_ripcord_n".to_string()))
                .collect();
            let sql = format!(
                "WITH _ripcord_in({}) AS (VALUES {}) SELECT {} FROM _ripcord_in ORDER BY _ripcord_n",
                cols.join(", "),
                tuples.join(", "),
                exprs.join(", ")
            );
            let mut stmt = self.conn.prepare(&sql).map_err(err(context()))?;
            let mut rows = stmt
                .query(params_from_iter(params))
                .map_err(err(context()))?;
            while let Some(r) = rows.next().map_err(err(context()))? {
                out.push(
                    (0..exprs.len())
                        .map(|i| r.get_ref(i).map(to_value))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err(context()))?,
                );
            }
        }
        if out.len() != inputs.len() {
            return Err(EngineError::sql(
                context(),
                format!("{} results for {} rows", out.len(), inputs.len()),
            ));
        }
        Ok(out)
    }

    fn freeze(&mut self, tables: &[String]) -> EngineResult<()> {
        self.write(Origin::Ripcord, |c| {
            for t in tables {
                for s in freeze_sql(t) {
                    c.execute_batch(&s).map_err(err(format!("freeze {t}")))?;
                }
                c.execute("INSERT OR IGNORE INTO _ripcord_frozen VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", [t]).map_err(err("freeze"))?;
            }
            Ok(())
        })
    }

    fn unfreeze(&mut self, tables: &[String]) -> EngineResult<()> {
        self.bounded("unfreeze", |this| {
            this.write(Origin::Ripcord, |c| {
                for t in tables {
                    for s in ["i", "u", "d"] {
                        c.execute_batch(&format!(
                            "DROP TRIGGER IF EXISTS {}",
                            q(&format!("_ripcord_frz_{t}_{s}"))
                        ))
                        .map_err(err("unfreeze"))?;
                    }
                    c.execute("DELETE FROM _ripcord_frozen WHERE tbl = ?1", [t])
                        .map_err(err("unfreeze"))?;
                }
                Ok(())
            })
        })
    }

    fn frozen_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the frozen tables", |this| {
            if !this.has_table("_ripcord_frozen")? {
                return Ok(Vec::new());
            }
            let mut st = this
                .conn
                .prepare("SELECT tbl FROM _ripcord_frozen ORDER BY tbl")
                .map_err(err("frozen"))?;
            let v = st
                .query_map([], |r| r.get(0))
                .map_err(err("frozen"))?
                .collect::<Result<Vec<String>, _>>()
                .map_err(err("frozen"))?;
            Ok(v)
        })
    }

    fn execute(&mut self, sql: &str, origin: Origin) -> EngineResult<()> {
        self.write(origin, |c| c.execute_batch(sql).map_err(err("step SQL")))
    }

    fn query_scalar(&mut self, sql: &str) -> EngineResult<Value> {
        let mut st = self
            .conn
            .prepare(sql)
            .map_err(err(format!("query {sql}")))?;
        let mut rows = st.query([]).map_err(err(format!("query {sql}")))?;
        match rows.next().map_err(err(format!("query {sql}")))? {
            Some(r) => Ok(to_value(r.get_ref(0).map_err(err("query"))?)),
            None => Ok(Value::Null),
        }
    }

    fn count_rows(&mut self, table: &str) -> EngineResult<u64> {
        let n: i64 = self
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", q(table)), [], |r| {
                r.get(0)
            })
            .map_err(err(format!("count {table}")))?;
        Ok(n as u64)
    }

    fn cancel_handle(&self) -> Box<dyn CancelHandle> {
        Box::new(Interrupt(self.conn.get_interrupt_handle()))
    }
}

struct Interrupt(rusqlite::InterruptHandle);

impl CancelHandle for Interrupt {
    fn cancel(&self) {
        self.0.interrupt();
    }
}

fn where_key(key: &RowImage, first: usize) -> (String, Vec<rusqlite::types::Value>) {
    let conds: Vec<String> = key
        .keys()
        .enumerate()
        .map(|(i, k)| format!("{} = ?{}", q(k), first + i))
        .collect();
    (conds.join(" AND "), key.values().map(to_sql).collect())
}

/// What a refused write broke, from SQLite's extended result code and its message
/// ("UNIQUE constraint failed: t.id"; a foreign key failure names nothing).
fn refusal(e: &rusqlite::Error) -> Refusal {
    let rusqlite::Error::SqliteFailure(f, msg) = e else {
        return Refusal::new(Violated::Other, "", e.to_string());
    };
    let after = || {
        msg.as_deref()
            .and_then(|m| m.split_once("constraint failed: "))
            .map(|(_, what)| what.to_string())
    };
    use rusqlite::ffi;
    let violated = match f.extended_code {
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Violated::ForeignKey {
            constraint: None,
            table: None,
        },
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
            Violated::KeyConflict { constraint: None }
        }
        // "t.col": the column.
        ffi::SQLITE_CONSTRAINT_NOTNULL => Violated::NotNull {
            column: after().map(|c| c.rsplit('.').next().unwrap_or(&c).to_string()),
        },
        ffi::SQLITE_CONSTRAINT_CHECK => Violated::Check {
            constraint: after(),
        },
        _ => Violated::Other,
    };
    Refusal::new(violated, f.extended_code.to_string(), e.to_string())
}

fn apply_one(c: &Connection, op: &ApplyOp) -> rusqlite::Result<usize> {
    match op {
        ApplyOp::Insert { table, row } => {
            let cols: Vec<String> = row.keys().map(|k| q(k)).collect();
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let params: Vec<rusqlite::types::Value> = row.values().map(to_sql).collect();
            c.execute(
                &format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    q(table),
                    cols.join(", "),
                    marks.join(", ")
                ),
                params_from_iter(params),
            )
        }
        ApplyOp::Update { table, key, set } => {
            let sets: Vec<String> = set
                .keys()
                .enumerate()
                .map(|(i, k)| format!("{} = ?{}", q(k), i + 1))
                .collect();
            let (w, kp) = where_key(key, set.len() + 1);
            let mut params: Vec<rusqlite::types::Value> = set.values().map(to_sql).collect();
            params.extend(kp);
            c.execute(
                &format!("UPDATE {} SET {} WHERE {w}", q(table), sets.join(", ")),
                params_from_iter(params),
            )
        }
        ApplyOp::Delete { table, key } => {
            let (w, kp) = where_key(key, 1);
            c.execute(
                &format!("DELETE FROM {} WHERE {w}", q(table)),
                params_from_iter(kp),
            )
        }
    }
}
