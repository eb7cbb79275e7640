//! The MariaDB/MySQL engine.
//!
//! Bookkeeping tables live in the URL's database, prefixed `_ripcord_`: `_ripcord_journal`
//! (captured writes), `_ripcord_frozen`, `_ripcord_restore` (finished restores),
//! `_ripcord_swap` (restores whose new table is loaded, for crash recovery) and
//! `_ripcord_replay` (replay positions, written in the same transaction as the rows).
//!
//! The origin tag is the session variable `@ripcord_origin`, set by ripcord around its own
//! writes and reset before commit; capture triggers store `COALESCE(@ripcord_origin,
//! 'business')`, so business sessions, which never set it, are tagged `business`.
//!
//! Values travel as text: ripcord reads with the text protocol and writes SQL literals (see
//! `sql.rs`), so what is restored is exactly what the server printed.

use crate::sql::{self, Class, q};
use mysql::Conn;
use mysql::prelude::Queryable;
use ripcord_core::engine::*;
use ripcord_core::journal::{JournalEntry, JournalMark, Op, Origin, RowImage};
use ripcord_core::schema::{Column, TableSchema};
use ripcord_core::value::{Row, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How far below the snapshot's highest journal sequence holes are looked for. A
/// transaction that took a sequence number and is still open after this many later journal
/// rows were written is beyond the window (documented limitation).
const HOLE_WINDOW: i64 = 100_000;
/// Target size of one multi-row INSERT of a restore, and of one batch of replayed writes.
const BATCH_BYTES: usize = 1 << 20;
const ER_QUERY_INTERRUPTED: u16 = 1317;
/// MySQL's answer to a locking read with NOWAIT that met a lock (MariaDB answers
/// `ER_LOCK_WAIT_TIMEOUT`).
const ER_LOCK_NOWAIT: u16 = 3572;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;
/// `max_statement_time` exceeded.
const ER_STATEMENT_TIMEOUT: u16 = 1969;

/// What a refused write broke. MariaDB sends no constraint or column fields with an
/// error, so they are read from its message (the server's English, its default).
fn refusal(code: u16, message: &str) -> Refusal {
    // The text between `open` and the next `close` after it.
    let between = |open: &str, close: char| {
        message
            .split_once(open)
            .and_then(|(_, rest)| rest.split_once(close))
            .map(|(name, _)| name.to_string())
    };
    let violated = match code {
        // ER_NO_REFERENCED_ROW_2: "… fails (`db`.`child`, CONSTRAINT `fk` FOREIGN KEY
        // (`p`) REFERENCES `parent` (`id`))"; the parent is the other table.
        1452 => Violated::ForeignKey {
            constraint: between("CONSTRAINT `", '`'),
            table: between("REFERENCES `", '`'),
        },
        // ER_ROW_IS_REFERENCED_2: "… fails (`db`.`child`, CONSTRAINT …": the child is.
        1451 => Violated::ForeignKey {
            constraint: between("CONSTRAINT `", '`'),
            table: between("`.`", '`'),
        },
        1216 | 1217 => Violated::ForeignKey {
            constraint: None,
            table: None,
        },
        // ER_DUP_ENTRY: "Duplicate entry '1' for key 'PRIMARY'".
        1062 => Violated::KeyConflict {
            constraint: between("for key '", '\''),
        },
        // ER_BAD_NULL_ERROR: "Column 'x' cannot be null".
        1048 => Violated::NotNull {
            column: between("Column '", '\''),
        },
        // MariaDB's ER_CONSTRAINT_FAILED "CONSTRAINT `c` failed for `db`.`t`", MySQL's
        // 3819 "Check constraint 'c' is violated.".
        4025 => Violated::Check {
            constraint: between("CONSTRAINT `", '`'),
        },
        3819 => Violated::Check {
            constraint: between("constraint '", '\''),
        },
        _ => Violated::Other,
    };
    Refusal::new(violated, code.to_string(), message)
}

mod housekeeping;

pub struct MyEngine {
    conn: Conn,
    /// Where the session was opened (password included) for the cancel connection; never
    /// shown.
    target: crate::connect::Target,
    conn_id: u32,
    /// Set by a cancel; a statement that a kill ended without an error (e.g. `SLEEP`
    /// returns 1) still reports `Cancelled`.
    cancelled: Arc<AtomicBool>,
    /// The lock wait allowed to freeze and restore (`lock_wait_timeout`, metadata locks,
    /// and `innodb_lock_wait_timeout`, row locks).
    lock_timeout: std::time::Duration,
    /// The bound on ripcord's own bookkeeping statements (see [`MyEngine::bounded`]).
    statement_timeout: std::time::Duration,
    /// Inside [`MyEngine::bounded`]: the bound is set, an inner call leaves it alone.
    bounding: bool,
    /// The holes of the mark [`Engine::journal_mark`] returned last: what
    /// [`Engine::journal_inflight`] names.
    last_holes: Option<Vec<i64>>,
}

/// The first `n` columns of every row of a result, as values.
fn result_values(
    res: &mut mysql::QueryResult<'_, '_, '_, mysql::Text>,
    n: usize,
    ctx: &str,
) -> EngineResult<Vec<Vec<Value>>> {
    let columns = res.columns().as_ref().to_vec();
    let mut out = Vec::new();
    if let Some(set) = res.iter() {
        for row in set {
            let row = row.map_err(err(ctx))?;
            out.push(
                (0..n)
                    .map(|i| {
                        sql::from_column(&columns[i], row.as_ref(i).unwrap_or(&mysql::Value::NULL))
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

fn err(context: impl Into<String>) -> impl FnOnce(mysql::Error) -> EngineError {
    let context = context.into();
    move |e| {
        if let mysql::Error::MySqlError(m) = &e
            && m.code == ER_QUERY_INTERRUPTED
        {
            return EngineError::Cancelled;
        }
        EngineError::sql(context, crate::describe(&e))
    }
}

fn text(v: Option<&mysql::Value>) -> Option<String> {
    match v? {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

/// Runs every statement of a (multi-statement) text and reports each statement's affected
/// rows until the first error, which is returned with the index of the failing statement.
fn run_multi(conn: &mut Conn, sql: &str) -> (Vec<u64>, Option<mysql::Error>) {
    let mut res = match conn.query_iter(sql) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut affected = Vec::new();
    while let Some(mut set) = res.iter() {
        let n = set.affected_rows();
        for row in set.by_ref() {
            if let Err(e) = row {
                return (affected, Some(e));
            }
        }
        affected.push(n);
    }
    (affected, None)
}

/// The capture triggers' bodies, as (name suffix, event, body): also what
/// `information_schema.TRIGGERS.ACTION_STATEMENT` shows for a trigger that is current.
fn capture_bodies(schema: &TableSchema) -> [(&'static str, &'static str, String); 3] {
    let t = &schema.name;
    let image = |which: &str| {
        let parts: Vec<String> = schema
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{}, {}",
                    sql::lit(&c.name),
                    sql::capture_expr(which, &c.name, sql::classify(&c.decl_type))
                )
            })
            .collect();
        format!("JSON_OBJECT({})", parts.join(", "))
    };
    const ORIGIN: &str = "COALESCE(@ripcord_origin, 'business')";
    [
        (
            "i",
            "INSERT",
            format!(
                "INSERT INTO _ripcord_journal (tbl, op, new_row, origin) VALUES ({}, 'I', {}, {ORIGIN})",
                sql::lit(t),
                image("NEW")
            ),
        ),
        (
            "u",
            "UPDATE",
            format!(
                "INSERT INTO _ripcord_journal (tbl, op, old_row, new_row, origin) VALUES ({}, 'U', {}, {}, {ORIGIN})",
                sql::lit(t),
                image("OLD"),
                image("NEW")
            ),
        ),
        (
            "d",
            "DELETE",
            format!(
                "INSERT INTO _ripcord_journal (tbl, op, old_row, origin) VALUES ({}, 'D', {}, {ORIGIN})",
                sql::lit(t),
                image("OLD")
            ),
        ),
    ]
}

/// The tables `prepare` creates.
const TABLES: [&str; 5] = [
    "_ripcord_journal",
    "_ripcord_frozen",
    "_ripcord_restore",
    "_ripcord_swap",
    "_ripcord_replay",
];

fn capture_sql(schema: &TableSchema) -> Vec<String> {
    let t = &schema.name;
    let name = |s: &str| q(&format!("_ripcord_cap_{t}_{s}"));
    let bodies = capture_bodies(schema);
    let mut out: Vec<String> = bodies
        .iter()
        .map(|(s, _, _)| format!("DROP TRIGGER IF EXISTS {}", name(s)))
        .collect();
    for (s, event, body) in bodies {
        out.push(format!(
            "CREATE TRIGGER {} AFTER {event} ON {} FOR EACH ROW {body}",
            name(s),
            q(t)
        ));
    }
    out
}

fn freeze_sql(t: &str) -> Vec<String> {
    freeze_sql_as(t, t, |s| format!("_ripcord_frz_{t}_{s}"))
}

/// The freeze a restore puts on `_ripcord_new_<t>` before it is swapped in (`RENAME TABLE`
/// moves a table's triggers with it): the swapped-in table is frozen from its first moment.
/// Trigger names are unique in a database, and `CREATE TRIGGER IF NOT EXISTS` does nothing
/// when the name stands on another table, so the names are the restore's own
/// (`_ripcord_frn_<hash of its tag>_<t>_*`): neither the old table's freeze nor an
/// abandoned restore's interim freeze can take them.
fn interim_freeze_sql(t: &str, tag: &str, on: &str) -> Vec<String> {
    let h = fnv1a(tag);
    freeze_sql_as(t, on, |s| format!("{INTERIM_PREFIX}{h:08x}_{t}_{s}"))
}

const INTERIM_PREFIX: &str = "_ripcord_frn_";

/// FNV-1a, 32 bits: a short name part that stays the same across processes and versions.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn freeze_sql_as(t: &str, on: &str, name: impl Fn(&str) -> String) -> Vec<String> {
    let mut msg = format!("ripcord: table {t} is frozen while a rollback runs");
    // MESSAGE_TEXT holds at most 128 characters.
    if let Some((i, _)) = msg.char_indices().nth(128) {
        msg.truncate(i);
    }
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .map(|ev| {
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} BEFORE {ev} ON {} FOR EACH ROW IF COALESCE(@ripcord_origin, '') <> 'ripcord' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = {}; END IF",
                q(&name(&ev[..1].to_lowercase())),
                q(on),
                sql::lit(&msg)
            )
        })
        .collect()
}

fn select_sql(s: &TableSchema) -> String {
    let cols: Vec<String> = s
        .columns
        .iter()
        .map(|c| sql::read_expr(&c.name, sql::classify(&c.decl_type)))
        .collect();
    let key: Vec<String> = s.key_names().iter().map(|c| q(c)).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        q(&s.name),
        key.join(", ")
    )
}

fn where_key(key: &RowImage) -> Result<String, String> {
    let mut conds = Vec::new();
    for (k, v) in key {
        if v.is_null() {
            conds.push(format!("{} IS NULL", q(k)));
        } else {
            conds.push(format!("{} = {}", q(k), sql::value_lit(v)?));
        }
    }
    Ok(conds.join(" AND "))
}

fn op_sql(op: &ApplyOp) -> Result<String, String> {
    Ok(match op {
        ApplyOp::Insert { table, row } => {
            let cols: Vec<String> = row.keys().map(|k| q(k)).collect();
            let vals = row
                .values()
                .map(sql::value_lit)
                .collect::<Result<Vec<_>, _>>()?;
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                q(table),
                cols.join(", "),
                vals.join(", ")
            )
        }
        ApplyOp::Update { table, key, set } => {
            let sets = set
                .iter()
                .map(|(k, v)| Ok(format!("{} = {}", q(k), sql::value_lit(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            format!(
                "UPDATE {} SET {} WHERE {}",
                q(table),
                sets.join(", "),
                where_key(key)?
            )
        }
        ApplyOp::Delete { table, key } => {
            format!("DELETE FROM {} WHERE {}", q(table), where_key(key)?)
        }
    })
}

impl MyEngine {
    /// Opens `mysql://user:password@host:port/database` (or `mariadb://…`). The session runs
    /// in UTC, utf8mb4 and strict mode.
    pub fn open(url: &str) -> EngineResult<Self> {
        let shown = ripcord_core::redact::redact_url(url);
        let connect_err = |reason: String| {
            let mut reason = reason;
            for s in ripcord_core::redact::secrets_in_url(url) {
                reason = reason.replace(&s, "***");
            }
            EngineError::Connect {
                engine: "mysql",
                url: shown.clone(),
                reason,
            }
        };
        let target =
            crate::connect::resolve(url, &crate::connect::Env::process()).map_err(&connect_err)?;
        if target.opts.get_db_name().is_none() {
            return Err(connect_err("the URL names no database".into()));
        }
        let conn = crate::connect::open(&target).map_err(&connect_err)?;
        let conn_id = conn.connection_id();
        Ok(MyEngine {
            conn,
            target,
            conn_id,
            cancelled: Arc::new(AtomicBool::new(false)),
            lock_timeout: ripcord_core::plan::DEFAULT_LOCK_TIMEOUT,
            statement_timeout: ripcord_core::plan::DEFAULT_STATEMENT_TIMEOUT,
            bounding: false,
            last_holes: None,
        })
    }

    /// Arms capture on each table not armed already, each under its write lock.
    fn capture_install_locked(&mut self, tables: &[TableSchema]) -> EngineResult<()> {
        for s in tables {
            // Re-arming what is already armed would give the triggers a new creation time
            // and so end the continuity a checkpoint relies on, for nothing.
            if self.capture_current(s)? {
                continue;
            }
            // Replacing the triggers is a drop then a create: without the table's write lock
            // held across both, a business write in between would go unjournaled (found by
            // crates/cli/tests/load_capture.rs).
            self.exec(
                &format!("LOCK TABLES {} WRITE, _ripcord_journal WRITE", q(&s.name)),
                "lock for capture",
            )?;
            let r = capture_sql(s)
                .iter()
                .try_for_each(|stmt| self.exec(stmt, &format!("capture on {}", s.name)));
            let unlocked = self.exec("UNLOCK TABLES", "unlock after capture");
            r?;
            unlocked?;
        }
        Ok(())
    }

    /// Bounds (or, with `false`, sets back to the server's defaults) how long this session
    /// waits for metadata and row locks.
    fn bound_lock_waits(&mut self, on: bool) -> EngineResult<()> {
        let sql = if on {
            let s = self.lock_timeout.as_secs().max(1);
            format!("SET SESSION lock_wait_timeout = {s}, SESSION innodb_lock_wait_timeout = {s}")
        } else {
            "SET SESSION lock_wait_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT"
                .to_string()
        };
        self.exec(&sql, "lock_wait_timeout")
    }

    /// The sessions holding locks on `tables`, as one sentence (from `metadata_lock_info`
    /// when the plugin is installed, else every open transaction).
    fn lock_holders(&mut self, tables: &[String]) -> String {
        let names: Vec<String> = tables.iter().map(|t| sql::lit(t)).collect();
        let row = "p.ID, p.USER, p.HOST, COALESCE(p.DB, ''), COMMAND, COALESCE(p.STATE, ''), \
             LEFT(COALESCE(p.INFO, ''), 200)";
        let mdl = self.rows(
            &format!(
                "SELECT DISTINCT {row}, TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), m.LOCK_MODE, m.TABLE_NAME \
                 FROM information_schema.METADATA_LOCK_INFO m \
                 JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID \
                 LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
                 WHERE m.TABLE_SCHEMA = DATABASE() AND m.TABLE_NAME IN ({}) AND p.ID <> CONNECTION_ID() ORDER BY 1",
                names.join(", ")
            ),
            "lock holders",
        );
        let (rows, which) = match mdl {
            Ok(r) => (Ok(r), "held by"),
            // Without the metadata_lock_info plugin, the open transactions are the suspects.
            Err(_) => (
                self.rows(
                    &format!(
                        "SELECT {row}, TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), NULL, NULL \
                         FROM information_schema.INNODB_TRX t \
                         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                         WHERE p.ID <> CONNECTION_ID() ORDER BY t.trx_started"
                    ),
                    "open transactions",
                ),
                "open transactions (one of them holds it; the metadata_lock_info plugin would say which)",
            ),
        };
        let f = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let plugin = which == "held by";
        match rows {
            Ok(r) if r.is_empty() && plugin => {
                "no session holds a lock on them any more; try again".to_string()
            }
            Ok(r) if r.is_empty() => "no open transaction; a LOCK TABLES or FLUSH TABLES WITH READ LOCK in another session holds it then (the metadata_lock_info plugin would say which)".to_string(),
            Ok(r) => format!(
                "{which}: {}",
                r.iter()
                    .map(|r| {
                        let open = match f(r, 7) {
                            s if s.is_empty() => String::new(),
                            s => format!(", in a transaction for {s} s"),
                        };
                        let lock = match f(r, 8) {
                            s if s.is_empty() => String::new(),
                            s => format!(", {s} on {}", f(r, 9)),
                        };
                        let stmt = match f(r, 6) {
                            s if s.is_empty() => "no statement running".to_string(),
                            s => s,
                        };
                        format!(
                            "thread {} (user {}, from {}{open}, {}{lock}): {stmt}",
                            f(r, 0),
                            f(r, 1),
                            f(r, 2),
                            f(r, 4),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Err(q) => format!("could not list the holders: {q}"),
        }
    }

    /// Runs one of ripcord's own bookkeeping operations with the session's
    /// `max_statement_time` set, then back to the server's default, so snapshots, restores,
    /// replays, steps and verify reads are never bounded by it. A statement that runs out
    /// (MariaDB error 1969; it also ends metadata-lock waits) becomes "`what` did not finish
    /// within N s", naming the sessions that hold locks on ripcord's tables. MySQL has no
    /// `max_statement_time`: there the lock waits are bounded instead.
    fn bounded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> EngineResult<T>,
    ) -> EngineResult<T> {
        if self.bounding {
            return f(self);
        }
        let secs = self.statement_timeout.as_secs_f64().max(0.001);
        let (on, off) = match self.exec(
            &format!("SET SESSION max_statement_time = {secs}"),
            "max_statement_time",
        ) {
            Ok(()) => (true, "SET SESSION max_statement_time = DEFAULT".to_string()),
            Err(EngineError::Sql { reason, .. }) if reason.contains("(error 1193,") => {
                let s = self.statement_timeout.as_secs().max(1);
                self.exec(
                    &format!("SET SESSION lock_wait_timeout = {s}, SESSION innodb_lock_wait_timeout = {s}"),
                    "lock_wait_timeout",
                )?;
                (
                    true,
                    "SET SESSION lock_wait_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT"
                        .to_string(),
                )
            }
            Err(e) => return Err(e),
        };
        self.bounding = on;
        let r = f(self);
        self.bounding = false;
        let reset = self.exec(&off, "reset max_statement_time");
        match r {
            Err(EngineError::Sql { context, reason })
                if reason.contains(&format!("(error {ER_STATEMENT_TIMEOUT},"))
                    || reason.contains(&format!("(error {ER_LOCK_WAIT_TIMEOUT},")) =>
            {
                let names: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
                let held = self.lock_holders(&names);
                Err(EngineError::sql(
                    what,
                    format!(
                        "{context} did not finish within {} s (statement_timeout, the bound on ripcord's own bookkeeping) and was interrupted; locks on ripcord's tables: {held}. A session holding a lock on ripcord's tables is the usual cause; or raise statement_timeout for this database in the plan",
                        self.statement_timeout.as_secs_f64()
                    ),
                ))
            }
            Err(e) => Err(e),
            Ok(v) => reset.map(|()| v),
        }
    }

    /// A lock wait timeout on `tables` made into a sentence naming the sessions that hold
    /// locks on them (from `metadata_lock_info` when the plugin is installed, else every
    /// open transaction); other errors pass through.
    fn name_lock_holders(&mut self, e: EngineError, tables: &[String]) -> EngineError {
        let EngineError::Sql { context, reason } = &e else {
            return e;
        };
        if !reason.contains(&format!("error {ER_LOCK_WAIT_TIMEOUT},")) {
            return e;
        }
        let held = self.lock_holders(tables);
        EngineError::sql(
            context.clone(),
            format!(
                "waited {} s for a lock on {} and gave up (lock_wait_timeout); {held}. End or finish that session, or raise lock_timeout for this database in the plan",
                self.lock_timeout.as_secs().max(1),
                tables.join(", "),
            ),
        )
    }

    /// Runs statements (one or several), failing on the first error.
    /// True when the table's capture triggers are exactly what `capture_sql` would write.
    fn capture_current(&mut self, schema: &TableSchema) -> EngineResult<bool> {
        let t = &schema.name;
        let now = self.rows(
            &format!(
                "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = {} AND TRIGGER_NAME LIKE '\\_ripcord\\_cap\\_%'",
                sql::lit(t)
            ),
            "capture triggers",
        )?;
        let want = capture_bodies(schema);
        Ok(now.len() == want.len()
            && want.iter().all(|(s, _, body)| {
                let name = format!("_ripcord_cap_{t}_{s}");
                now.iter().any(|r| {
                    r.first().and_then(|x| x.as_deref()) == Some(name.as_str())
                        && r.get(1).and_then(|x| x.as_deref()) == Some(body.as_str())
                })
            }))
    }

    fn exec(&mut self, sql: &str, context: &str) -> EngineResult<()> {
        match run_multi(&mut self.conn, sql) {
            (_, None) => Ok(()),
            (_, Some(e)) => Err(err(context)(e)),
        }
    }

    fn rows(&mut self, sql: &str, context: &str) -> EngineResult<Vec<Vec<Option<String>>>> {
        let rows: Vec<mysql::Row> = self.conn.query(sql).map_err(err(context))?;
        Ok(rows
            .iter()
            .map(|r| (0..r.len()).map(|i| text(r.as_ref(i))).collect())
            .collect())
    }

    fn strings(&mut self, sql: &str, context: &str) -> EngineResult<Vec<String>> {
        Ok(self
            .rows(sql, context)?
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    fn int(&mut self, sql: &str, context: &str) -> EngineResult<Option<i64>> {
        match self.strings(sql, context)?.first() {
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| EngineError::sql(context, format!("not an integer: {s}"))),
            None => Ok(None),
        }
    }

    fn table_exists(&mut self, t: &str) -> EngineResult<bool> {
        Ok(self
            .int(
                &format!(
                    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                    sql::lit(t)
                ),
                "table exists",
            )?
            .unwrap_or(0)
            > 0)
    }

    /// Runs `f` in one transaction with the origin tag set; resets the tag before commit and
    /// on every way out.
    fn write<T>(
        &mut self,
        origin: Origin,
        f: impl FnOnce(&mut Self) -> EngineResult<T>,
    ) -> EngineResult<T> {
        self.exec(
            &format!(
                "SET @ripcord_origin = {}; START TRANSACTION",
                sql::lit(origin.as_str())
            ),
            "begin",
        )?;
        let out = f(self);
        match out {
            Ok(v) => {
                if let Err(e) = self.exec("SET @ripcord_origin = NULL; COMMIT", "commit") {
                    let _ = self.exec("ROLLBACK; SET @ripcord_origin = NULL", "rollback");
                    return Err(e);
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.exec("ROLLBACK; SET @ripcord_origin = NULL", "rollback");
                Err(e)
            }
        }
    }

    /// The journal mark as seen by the current (consistent-snapshot) transaction.
    ///
    /// InnoDB hands out AUTO_INCREMENT values when a row is inserted, not when its
    /// transaction commits, and never hands one out twice; this holds for every
    /// `innodb_autoinc_lock_mode` (0 and 1 only change how long the counter is locked within
    /// a statement, 2 may also leave unused gaps). So a writer can take seq n, a second one
    /// n+1 and commit first. In our read view the committed ones are visible and the
    /// in-flight ones are not: every missing seq at or below `high` is a hole (a seq whose
    /// transaction later rolls back is a harmless hole that never shows up).
    fn mark_in_snapshot(&mut self) -> EngineResult<JournalMark> {
        let high = self
            .int(
                "SELECT COALESCE(MAX(seq), 0) FROM _ripcord_journal",
                "journal mark",
            )?
            .unwrap_or(0);
        let lo = (high - HOLE_WINDOW).max(0);
        let gaps = self.rows(
            &format!(
                "SELECT prev, seq FROM (SELECT seq, LAG(seq) OVER (ORDER BY seq) AS prev FROM (SELECT {lo} AS seq UNION ALL SELECT seq FROM _ripcord_journal WHERE seq > {lo} AND seq <= {high}) s) g WHERE seq - prev > 1"
            ),
            "journal holes",
        )?;
        let mut holes = Vec::new();
        for g in gaps {
            let n = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
            if let (Some(prev), Some(seq)) = (n(&g[0]), n(&g[1])) {
                holes.extend(prev + 1..seq);
            }
        }
        Ok(JournalMark {
            high,
            holes,
            snapshot: None,
        })
    }

    fn begin_snapshot(&mut self) -> EngineResult<()> {
        self.exec(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            "begin snapshot",
        )
    }

    fn read_schema(&mut self, table: &str) -> EngineResult<TableSchema> {
        let t = sql::lit(table);
        let cols = self.rows(
            &format!(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {t} ORDER BY ORDINAL_POSITION"
            ),
            "read columns",
        )?;
        if cols.is_empty() {
            return Err(EngineError::NoSuchTable(table.to_string()));
        }
        let columns: Vec<Column> = cols
            .into_iter()
            .map(|r| Column {
                name: r[0].clone().unwrap_or_default(),
                decl_type: r[1].clone().unwrap_or_default(),
                not_null: r[2].as_deref() == Some("NO"),
            })
            .collect();
        let pk_names = self.strings(
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {t} AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX"
            ),
            "read primary key",
        )?;
        if pk_names.is_empty() {
            return Err(EngineError::NoPrimaryKey(table.to_string()));
        }
        let primary_key = pk_names
            .iter()
            .map(|n| {
                columns
                    .iter()
                    .position(|c| &c.name == n)
                    .ok_or_else(|| EngineError::sql("read primary key", format!("no column {n}")))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let create = self.rows(
            &format!("SHOW CREATE TABLE {}", q(table)),
            "show create table",
        )?;
        let create_sql = create
            .first()
            .and_then(|r| r.get(1).cloned().flatten())
            .ok_or_else(|| EngineError::NoSuchTable(table.to_string()))?;
        let triggers = self.strings(
            &format!(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = {t} AND TRIGGER_NAME NOT LIKE '\\_ripcord\\_%' ORDER BY ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"
            ),
            "list triggers",
        )?;
        let mut post_sql = Vec::new();
        for name in triggers {
            let r = self.rows(&format!("SHOW CREATE TRIGGER {}", q(&name)), "show trigger")?;
            let Some(r) = r.first() else { continue };
            let field = |i: usize| r.get(i).cloned().flatten();
            if let Some(stmt) = field(2) {
                // Recreated under the sql_mode and character set it was created with (the
                // server stores them with the trigger, and mysqldump shows them), then the
                // session's own are put back.
                match (field(1), field(3), field(4)) {
                    (Some(mode), Some(cs), Some(coll)) => post_sql.push(format!(
                        "SET @ripcord_mode = @@SESSION.sql_mode, @ripcord_cs = @@SESSION.character_set_client, @ripcord_coll = @@SESSION.collation_connection;
                         SET SESSION sql_mode = {}, character_set_client = {}, collation_connection = {};
                         {stmt};
                         SET SESSION sql_mode = @ripcord_mode, character_set_client = @ripcord_cs, collation_connection = @ripcord_coll",
                        sql::lit(&mode),
                        sql::lit(&cs),
                        sql::lit(&coll)
                    )),
                    _ => post_sql.push(stmt),
                }
            }
        }
        Ok(TableSchema {
            name: table.to_string(),
            columns,
            primary_key,
            create_sql: sql::strip_auto_increment(&create_sql),
            post_sql,
        })
    }

    /// Drops the triggers on `t`: every one but a restore's interim freeze, or only those.
    fn drop_triggers_on(&mut self, t: &str, interim: bool) -> EngineResult<()> {
        let names = self.strings(
            &format!(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = {}",
                sql::lit(t)
            ),
            "list triggers",
        )?;
        for n in names
            .into_iter()
            .filter(|n| n.starts_with(INTERIM_PREFIX) == interim)
        {
            self.exec(&format!("DROP TRIGGER IF EXISTS {}", q(&n)), "drop trigger")?;
        }
        Ok(())
    }

    /// The restore proper; foreign-key and unique checks are off around it.
    ///
    /// DDL commits implicitly, so the restore is a sequence of steps, each safe to repeat:
    /// 1. unless this tag's swap marker exists: drop any leftover `_ripcord_new_<t>` (a load
    ///    cut short), create it, bulk-load it, carry over the AUTO_INCREMENT counter, then
    ///    write the marker (`_ripcord_swap`): from here on the new table is complete;
    /// 2. if `_ripcord_new_<t>` exists, swap it in; a leftover `_ripcord_old_<t>` is the
    ///    pre-restore table of a swap that already happened and is dropped;
    /// 3. drop `_ripcord_old_<t>`, re-add foreign keys, recreate triggers;
    /// 4. record the tag and delete the marker in one transaction.
    ///
    /// The new table gets an interim freeze before the marker; it moves with the rename and
    /// is dropped only once the table's own freeze and capture triggers stand again, so no
    /// business write ever reaches the swapped-in table unfrozen and unjournaled (found by
    /// the operator model, seed 1170: a rollback killed right after the swap let a write
    /// through, and a later rollback's continuity link vouched for the gap). A rerun after
    /// a crash past step 1 does not reload: the swapped-in table already holds the
    /// checkpoint's rows, and only ripcord could have written it since.
    fn restore_steps(
        &mut self,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
        opts: &RestoreOptions,
    ) -> ripcord_core::Result<u64> {
        let t = &schema.name;
        let new = format!("_ripcord_new_{t}");
        let old = format!("_ripcord_old_{t}");
        let tag = sql::lit(&opts.restore_tag);
        let (create_new, fks) = sql::split_foreign_keys(&schema.create_sql);
        let marked = self
            .int(
                &format!("SELECT COUNT(*) FROM _ripcord_swap WHERE tag = {tag}"),
                "restore marker",
            )?
            .unwrap_or(0)
            > 0;
        let mut loaded = None;
        if !marked {
            self.exec(
                &format!("DROP TABLE IF EXISTS {}", q(&new)),
                "drop leftover",
            )?;
            let head = format!("CREATE TABLE {}", q(t));
            let body = create_new.strip_prefix(&head).ok_or_else(|| {
                EngineError::sql(
                    format!("restore {t}"),
                    "create_sql does not start with CREATE TABLE for this table",
                )
            })?;
            self.exec(
                &format!("CREATE TABLE {}{body}", q(&new)),
                &format!("create {new}"),
            )?;
            loaded = Some(self.load(&new, schema, rows)?);
            // Ids handed out after the checkpoint must not be handed out again; InnoDB
            // never sets the counter below max(id) + 1, so the larger of the two wins.
            let counter = self.int(
                &format!(
                    "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                    sql::lit(t)
                ),
                "read auto_increment",
            )?;
            if let Some(c) = counter {
                self.exec(
                    &format!("ALTER TABLE {} AUTO_INCREMENT = {c}", q(&new)),
                    "keep auto_increment",
                )?;
            }
            for s in interim_freeze_sql(t, &opts.restore_tag, &new) {
                self.exec(&s, &format!("freeze {new}"))?;
            }
            self.exec(
                &format!(
                    "INSERT INTO _ripcord_swap (tag, tbl) VALUES ({tag}, {})",
                    sql::lit(t)
                ),
                "restore marker",
            )?;
        }
        ripcord_core::crash::point("mysql:restore:before-swap");
        if self.table_exists(&new)? {
            if marked {
                // A rerun: made with the marker, made again in case someone dropped it.
                for s in interim_freeze_sql(t, &opts.restore_tag, &new) {
                    self.exec(&s, &format!("freeze {new}"))?;
                }
            }
            self.exec(&format!("DROP TABLE IF EXISTS {}", q(&old)), "drop old")?;
            let referenced = self
                .int(
                    &format!(
                        "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = {} AND TABLE_NAME <> {}",
                        sql::lit(t),
                        sql::lit(t)
                    ),
                    "referencing tables",
                )?
                .unwrap_or(0)
                > 0;
            if !self.table_exists(t)? {
                self.exec(&format!("RENAME TABLE {} TO {}", q(&new), q(t)), "swap in")?;
            } else if referenced {
                // Renaming a parent table repoints its children's foreign keys at the new
                // name; dropping it leaves them pointing at `t`, which the copy becomes. A
                // crash in between leaves `t` missing and the marker set: the rerun renames.
                self.exec(&format!("DROP TABLE {}", q(t)), "drop replaced table")?;
                self.exec(&format!("RENAME TABLE {} TO {}", q(&new), q(t)), "swap in")?;
            } else {
                self.exec(
                    &format!(
                        "RENAME TABLE {} TO {}, {} TO {}",
                        q(t),
                        q(&old),
                        q(&new),
                        q(t)
                    ),
                    "swap",
                )?;
            }
        }
        ripcord_core::crash::point("mysql:restore:after-swap");
        if marked {
            // A rerun may find the table with its own freeze and no interim one (a crash
            // after the interim was dropped): freeze it again before dropping any trigger.
            for s in interim_freeze_sql(t, &opts.restore_tag, t) {
                self.exec(&s, &format!("freeze {t}"))?;
            }
        }
        self.exec(&format!("DROP TABLE IF EXISTS {}", q(&old)), "drop old")?;
        if !fks.is_empty() {
            let have = self.strings(
                &format!(
                    "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                    sql::lit(t)
                ),
                "foreign keys",
            )?;
            let missing: Vec<String> = fks
                .iter()
                .filter(|fk| {
                    !have
                        .iter()
                        .any(|h| fk.starts_with(&format!("CONSTRAINT {} ", q(h))))
                })
                .map(|fk| format!("ADD {fk}"))
                .collect();
            if !missing.is_empty() {
                self.exec(
                    &format!("ALTER TABLE {} {}", q(t), missing.join(", ")),
                    "re-add foreign keys",
                )?;
            }
        }
        self.drop_triggers_on(t, false)?;
        for s in &schema.post_sql {
            self.exec(s, &format!("recreate trigger on {t}"))?;
        }
        if opts.capture {
            for s in capture_sql(schema) {
                self.exec(&s, &format!("capture on {t}"))?;
            }
        }
        if opts.freeze {
            for s in freeze_sql(t) {
                self.exec(&s, &format!("freeze {t}"))?;
            }
        }
        ripcord_core::crash::point("mysql:restore:before-thaw-interim");
        // This restore's and any abandoned one's: the table's own freeze stands now.
        self.drop_triggers_on(t, true)?;
        let n = match loaded {
            Some(n) => n,
            None => self.count_rows(t)?,
        };
        self.exec(
            &format!(
                "START TRANSACTION; INSERT INTO _ripcord_restore (tag, tbl) VALUES ({tag}, {}); DELETE FROM _ripcord_swap WHERE tag = {tag}; COMMIT",
                sql::lit(t)
            ),
            "record restore",
        )
        .inspect_err(|_| {
            let _ = self.exec("ROLLBACK", "rollback");
        })?;
        Ok(n)
    }

    /// Bulk-loads rows with multi-row INSERTs of about [`BATCH_BYTES`] each.
    fn load(
        &mut self,
        table: &str,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
    ) -> ripcord_core::Result<u64> {
        let cols: Vec<String> = schema.columns.iter().map(|c| q(&c.name)).collect();
        let head = format!("INSERT INTO {} ({}) VALUES ", q(table), cols.join(", "));
        let mut buf = String::with_capacity(BATCH_BYTES + 64 * 1024);
        let mut n = 0u64;
        let ctx = format!("load {}", schema.name);
        self.exec("START TRANSACTION", &ctx)?;
        let r: ripcord_core::Result<()> = (|| {
            for row in rows {
                let row = row?;
                if row.len() != cols.len() {
                    return Err(EngineError::sql(
                        &ctx,
                        format!("row has {} values for {} columns", row.len(), cols.len()),
                    )
                    .into());
                }
                buf.push_str(if buf.is_empty() { &head } else { "," });
                buf.push('(');
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    sql::push_value(&mut buf, v).map_err(|e| EngineError::sql(&ctx, e))?;
                }
                buf.push(')');
                n += 1;
                if buf.len() >= BATCH_BYTES {
                    self.exec(&buf, &ctx)?;
                    buf.clear();
                }
            }
            if !buf.is_empty() {
                self.exec(&buf, &ctx)?;
            }
            Ok(())
        })();
        match r {
            Ok(()) => {
                self.exec("COMMIT", &ctx)?;
                Ok(n)
            }
            Err(e) => {
                let _ = self.exec("ROLLBACK", "rollback");
                Err(e)
            }
        }
    }

    /// Runs `ops` as multi-statement batches `SAVEPOINT s; op; SAVEPOINT s; op; …` (setting
    /// a savepoint with an existing name moves it), one round trip per batch. On a refused
    /// op the server stops the batch there: roll back to the savepoint and go on after it.
    fn apply_ops(&mut self, ops: &[ApplyOp]) -> EngineResult<Vec<ApplyOutcome>> {
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            let mut batch = String::new();
            let mut end = i;
            while end < ops.len() && (batch.is_empty() || batch.len() < BATCH_BYTES) {
                match op_sql(&ops[end]) {
                    Ok(s) => {
                        batch.push_str("SAVEPOINT ripcord_op;");
                        batch.push_str(&s);
                        batch.push(';');
                        end += 1;
                    }
                    Err(reason) if end == i => {
                        // A value ripcord cannot write as SQL: refused before the server.
                        outcomes.push(ApplyOutcome::Refused(Refusal::new(
                            Violated::Other,
                            "",
                            reason,
                        )));
                        i += 1;
                        end = i;
                        continue;
                    }
                    Err(_) => break,
                }
            }
            if end == i {
                continue;
            }
            let (affected, failure) = run_multi(&mut self.conn, &batch);
            // Statement 2k is the savepoint of op i+k, statement 2k+1 the op itself.
            for (k, n) in affected.iter().enumerate() {
                if k % 2 == 1 {
                    outcomes.push(if *n == 0 {
                        ApplyOutcome::NoRow
                    } else {
                        ApplyOutcome::Applied
                    });
                }
            }
            let done = affected.len() / 2;
            match failure {
                None => i = end,
                Some(e) if affected.len() % 2 == 1 => {
                    // Interruptions, lock timeouts and deadlocks are not the row's fault:
                    // they fail the batch (to be retried) rather than become data gaps.
                    if let mysql::Error::MySqlError(m) = &e
                        && ![ER_QUERY_INTERRUPTED, ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK]
                            .contains(&m.code)
                    {
                        self.exec("ROLLBACK TO SAVEPOINT ripcord_op", "rollback to savepoint")?;
                        outcomes.push(ApplyOutcome::Refused(refusal(m.code, &m.message)));
                        i += done + 1;
                    } else {
                        return Err(err("apply")(e));
                    }
                }
                Some(e) => return Err(err("savepoint")(e)),
            }
        }
        Ok(outcomes)
    }
}

impl Engine for MyEngine {
    fn kind(&self) -> &'static str {
        crate::KIND.name
    }
    fn types(&self) -> TypeQuirks {
        crate::KIND.types
    }

    fn set_lock_timeout(&mut self, timeout: std::time::Duration) {
        self.lock_timeout = timeout;
    }

    fn set_statement_timeout(&mut self, timeout: std::time::Duration) {
        self.statement_timeout = timeout;
    }

    fn prepare(&mut self) -> EngineResult<()> {
        self.bounded("install ripcord's objects", |this| {
            const T: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
            this.exec(
                &format!(
                    "CREATE TABLE IF NOT EXISTS _ripcord_journal (
                        seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                        tbl VARCHAR(128) NOT NULL, op CHAR(1) NOT NULL,
                        old_row LONGTEXT NULL, new_row LONGTEXT NULL,
                        origin VARCHAR(16) NOT NULL,
                        at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                        KEY tbl_seq (tbl, seq)) {T};
                     CREATE TABLE IF NOT EXISTS _ripcord_frozen (tbl VARCHAR(128) NOT NULL PRIMARY KEY,
                        since TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) {T};
                     CREATE TABLE IF NOT EXISTS _ripcord_restore (tag VARCHAR(255) NOT NULL PRIMARY KEY,
                        tbl VARCHAR(128) NOT NULL,
                        at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) {T};
                     CREATE TABLE IF NOT EXISTS _ripcord_swap (tag VARCHAR(255) NOT NULL PRIMARY KEY,
                        tbl VARCHAR(128) NOT NULL) {T};
                     CREATE TABLE IF NOT EXISTS _ripcord_replay (tag VARCHAR(255) NOT NULL,
                        last_seq BIGINT NOT NULL, note LONGTEXT NOT NULL,
                        PRIMARY KEY (tag, last_seq)) {T}"
                ),
                "create ripcord tables",
            )
        })
    }

    fn installed(&mut self) -> EngineResult<bool> {
        self.bounded("look for ripcord's objects", |this| {
            Ok(this
                .ripcord_objects()?
                .iter()
                .filter(|o| o.installed_by_prepare)
                .all(|o| o.present))
        })
    }

    /// ripcord's tables stay in the business database (see ARCHITECTURE.md: the capture
    /// triggers write the journal in the writer's transaction, and a journal in another
    /// database would need the application's users to be granted writes there).
    fn ripcord_objects(&mut self) -> EngineResult<Vec<DbObject>> {
        self.bounded("list ripcord's objects", |this| {
            let db = this
                .strings("SELECT DATABASE()", "current database")?
                .into_iter()
                .next();
            let tables = this.strings(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_ripcord\\_%' ORDER BY TABLE_NAME",
                "ripcord's tables",
            )?;
            let obj = |kind, name: &str, on: Option<String>, prep, present| DbObject {
                kind,
                schema: db.clone(),
                name: name.to_string(),
                on,
                installed_by_prepare: prep,
                present,
            };
            let mut out = Vec::new();
            for t in TABLES {
                out.push(obj("table", t, None, true, tables.iter().any(|x| x == t)));
            }
            let journal = tables.iter().any(|x| x == "_ripcord_journal");
            out.push(obj(
                "index",
                "tbl_seq",
                Some("_ripcord_journal".into()),
                true,
                journal,
            ));
            // A restore's leftovers (`_ripcord_new_T`, `_ripcord_old_T`) after a crash.
            for t in tables.iter().filter(|t| !TABLES.contains(&t.as_str())) {
                out.push(obj("table", t, None, false, true));
            }
            for r in this.rows(
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_ripcord\\_%' ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
                "ripcord's triggers",
            )? {
                let name = r[0].clone().unwrap_or_default();
                out.push(obj("trigger", &name, r[1].clone(), false, true));
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
            for o in present.iter().filter(|o| o.kind == "trigger") {
                this.exec(
                    &format!("DROP TRIGGER IF EXISTS {}", q(&o.name)),
                    "uninstall ripcord",
                )?;
            }
            for o in present.iter().filter(|o| o.kind == "table") {
                this.exec(
                    &format!("DROP TABLE IF EXISTS {}", q(&o.name)),
                    "uninstall ripcord",
                )?;
            }
            Ok(present)
        })
    }

    fn list_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the tables", |this| {
            this.strings(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_ripcord\\_%' ORDER BY TABLE_NAME",
                "list tables",
            )
        })
    }

    fn table_schema(&mut self, table: &str) -> EngineResult<TableSchema> {
        self.bounded("read the table's definition", |this| {
            this.read_schema(table)
        })
    }

    fn snapshot(
        &mut self,
        tables: &[String],
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<JournalMark> {
        // information_schema is not versioned: read the shapes first, then open the read
        // view; a table altered in between fails the read ("definition has changed").
        let schemas = tables
            .iter()
            .map(|t| self.read_schema(t))
            .collect::<EngineResult<Vec<_>>>()?;
        // Without ripcord's tables there is no journal: the mark is empty (a checkpoint
        // installs first; `verify` only reads the rows).
        let installed = self.installed()?;
        self.begin_snapshot()?;
        let r = (|| -> ripcord_core::Result<JournalMark> {
            let mark = match installed {
                true => self.bounded("read the journal mark", |me| me.mark_in_snapshot())?,
                false => JournalMark {
                    high: 0,
                    holes: Vec::new(),
                    snapshot: None,
                },
            };
            for schema in &schemas {
                sink.begin_table(schema)?;
                let classes: Vec<Class> = schema
                    .columns
                    .iter()
                    .map(|c| sql::classify(&c.decl_type))
                    .collect();
                let ctx = format!("read {}", schema.name);
                // query_iter streams: rows are read from the socket as the sink takes them.
                let mut res = self
                    .conn
                    .query_iter(select_sql(schema))
                    .map_err(err(&ctx))?;
                if let Some(set) = res.iter() {
                    for row in set {
                        let row = row.map_err(err(&ctx))?;
                        let mut out: Row = Vec::with_capacity(classes.len());
                        for (v, class) in row.unwrap().into_iter().zip(&classes) {
                            let v = match v {
                                mysql::Value::Bytes(b) => Some(b),
                                _ => None,
                            };
                            out.push(
                                sql::from_owned_text(*class, v)
                                    .map_err(|e| EngineError::sql(&ctx, e))?,
                            );
                        }
                        if out.len() != classes.len() {
                            return Err(EngineError::sql(
                                &ctx,
                                "the server sent a row with the wrong number of columns",
                            )
                            .into());
                        }
                        sink.row(out)?;
                    }
                }
                drop(res);
                sink.end_table()?;
            }
            Ok(mark)
        })();
        let end = self.exec("COMMIT", "end snapshot");
        let mark = r?;
        end?;
        Ok(mark)
    }

    fn restore_table(
        &mut self,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
        opts: &RestoreOptions,
    ) -> ripcord_core::Result<u64> {
        if self.restore_done(&opts.restore_tag)? {
            // Never restore twice over newer (replayed) data.
            return Ok(self.count_rows(&schema.name)?);
        }
        self.exec(
            "SET FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0, @ripcord_origin = 'ripcord'",
            "restore session",
        )?;
        self.bound_lock_waits(true)?;
        let r = self.restore_steps(schema, rows, opts);
        let unbound = self.bound_lock_waits(false);
        let reset = self.exec(
            "SET FOREIGN_KEY_CHECKS = 1, UNIQUE_CHECKS = 1, @ripcord_origin = NULL",
            "restore session",
        );
        let n = match r {
            Err(ripcord_core::Error::Engine(e)) => {
                return Err(self
                    .name_lock_holders(e, std::slice::from_ref(&schema.name))
                    .into());
            }
            other => other?,
        };
        unbound?;
        reset?;
        Ok(n)
    }

    /// The swap marker is written once the new table is complete, before the rename: from
    /// then on the table may hold the checkpoint (found by the operator-model test: a
    /// rollback killed right after the swap, then abandoned, thawed the restored table).
    fn restore_touched(&mut self, tag: &str) -> EngineResult<bool> {
        self.bounded("read the restore bookkeeping", |this| {
            if this.restore_done(tag)? {
                return Ok(true);
            }
            if !this.table_exists("_ripcord_swap")? {
                return Ok(false);
            }
            Ok(this
                .int(
                    &format!(
                        "SELECT COUNT(*) FROM _ripcord_swap WHERE tag = {}",
                        sql::lit(tag)
                    ),
                    "restore state",
                )?
                .unwrap_or(0)
                > 0)
        })
    }

    fn restore_done(&mut self, tag: &str) -> EngineResult<bool> {
        self.bounded("read the restore bookkeeping", |this| {
            if !this.table_exists("_ripcord_restore")? {
                return Ok(false);
            }
            Ok(this
                .int(
                    &format!(
                        "SELECT COUNT(*) FROM _ripcord_restore WHERE tag = {}",
                        sql::lit(tag)
                    ),
                    "restore state",
                )?
                .unwrap_or(0)
                > 0)
        })
    }

    fn capture_install(&mut self, tables: &[TableSchema]) -> EngineResult<()> {
        // LOCK TABLES waits for every open transaction on the table: bounded like the
        // freeze, so `checkpoint` and `capture start` name the blocker instead of hanging.
        self.bound_lock_waits(true)?;
        let r = self.capture_install_locked(tables);
        let unbound = self.bound_lock_waits(false);
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        r.map_err(|e| self.name_lock_holders(e, &names))?;
        unbound
    }

    fn capture_remove(&mut self, tables: &[String]) -> EngineResult<()> {
        self.bounded("remove capture", |this| {
            for t in tables {
                for s in ["i", "u", "d"] {
                    this.exec(
                        &format!(
                            "DROP TRIGGER IF EXISTS {}",
                            q(&format!("_ripcord_cap_{t}_{s}"))
                        ),
                        "drop capture",
                    )?;
                }
            }
            Ok(())
        })
    }

    /// The table's InnoDB id (new on TRUNCATE, a copying ALTER, a re-create; or its creation
    /// time where the id cannot be read) and its capture triggers' creation times and
    /// bodies: it changes whenever a write could have escaped the journal.
    fn capture_tokens(&mut self, tables: &[String]) -> EngineResult<Vec<Option<String>>> {
        self.bounded("read the capture tokens", |this| {
            let mut out = Vec::with_capacity(tables.len());
            for t in tables {
                let names: Vec<String> = ["i", "u", "d"]
                    .iter()
                    .map(|s| sql::lit(&format!("_ripcord_cap_{t}_{s}")))
                    .collect();
                let triggers = this.rows(
                    &format!(
                        "SELECT TRIGGER_NAME, DATE_FORMAT(CREATED, '%Y%m%d%H%i%s%f'), MD5(ACTION_STATEMENT) FROM information_schema.TRIGGERS
                         WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = {} AND TRIGGER_NAME IN ({}) ORDER BY TRIGGER_NAME",
                        sql::lit(t),
                        names.join(", ")
                    ),
                    "capture token",
                )?;
                if triggers.len() != 3 {
                    out.push(None);
                    continue;
                }
                // INNODB_SYS_TABLES needs the PROCESS privilege; CREATE_TIME is the fallback.
                let id = this
                    .rows(
                        &format!(
                            "SELECT TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME = CONCAT(DATABASE(), '/', {})",
                            sql::lit(t)
                        ),
                        "table id",
                    )
                    .ok()
                    .and_then(|r| r.into_iter().next())
                    .and_then(|r| r.into_iter().next().flatten());
                let id = match id {
                    Some(id) => format!("id{id}"),
                    None => this
                        .strings(
                            &format!(
                                "SELECT DATE_FORMAT(CREATE_TIME, '%Y%m%d%H%i%s') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                                sql::lit(t)
                            ),
                            "table creation time",
                        )?
                        .into_iter()
                        .next()
                        .map(|c| format!("ct{c}"))
                        .unwrap_or_default(),
                };
                let trig: Vec<String> = triggers
                    .into_iter()
                    .map(|r| {
                        r.into_iter()
                            .map(|c| c.unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .collect();
                out.push(Some(format!("mysql:{id}:{}", trig.join(":"))));
            }
            Ok(out)
        })
    }

    fn captured_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the captured tables", |this| {
            this.strings(
                "SELECT DISTINCT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_ripcord\\_cap\\_%' ORDER BY EVENT_OBJECT_TABLE",
                "captured tables",
            )
        })
    }

    /// The holes of the mark read just before: each a sequence number at or below its
    /// highest committed one that no committed row held. Only a transaction that wrote this
    /// journal and was still open can commit one later (AUTO_INCREMENT hands them out at
    /// insert, never twice, increasing; a writer with none yet gets one above the mark);
    /// the others belong to rolled-back writes or were skipped. So only writers of this
    /// database's journal are named: transactions elsewhere on the server (another
    /// database, another sync) never hold a pass back, and no privilege beyond reading the
    /// journal is needed.
    fn journal_inflight(&mut self) -> EngineResult<Option<String>> {
        let holes = match self.last_holes.take() {
            Some(h) => h,
            None => self.journal_mark()?.holes,
        };
        Ok(Some(
            holes
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ))
    }
    /// Done when no open transaction holds a hole of the token: a locking read of the holes'
    /// rows must wait for an uncommitted insert of one (`NOWAIT` answers at once instead),
    /// finds nothing where a write rolled back or a number was skipped, and locks a row
    /// committed since only for the statement (READ COMMITTED: no gap locks).
    fn journal_inflight_done(&mut self, token: &str) -> EngineResult<bool> {
        let mut seqs = Vec::new();
        for s in token.split(',').filter(|s| !s.is_empty()) {
            seqs.push(s.parse::<i64>().map_err(|_| {
                EngineError::sql("journal in-flight check", format!("not a sequence: {s:?}"))
            })?);
        }
        for chunk in seqs.chunks(1000) {
            let list: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
            self.exec(
                "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "journal in-flight check",
            )?;
            let sql = format!(
                "SELECT seq FROM _ripcord_journal WHERE seq IN ({}) FOR UPDATE NOWAIT",
                list.join(", ")
            );
            match self.conn.query_drop(sql) {
                Ok(()) => {}
                Err(mysql::Error::MySqlError(e))
                    if e.code == ER_LOCK_WAIT_TIMEOUT || e.code == ER_LOCK_NOWAIT =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(err("journal in-flight check")(e)),
            }
        }
        Ok(true)
    }

    fn journal_mark(&mut self) -> EngineResult<JournalMark> {
        self.bounded("read the journal mark", |this| {
            if !this.table_exists("_ripcord_journal")? {
                return Err(EngineError::NotInstalled);
            }
            this.begin_snapshot()?;
            let r = this.mark_in_snapshot();
            let end = this.exec("COMMIT", "end snapshot");
            let mark = r?;
            end?;
            this.last_holes = Some(mark.holes.clone());
            Ok(mark)
        })
    }

    fn read_journal(
        &mut self,
        after: &JournalMark,
        upto: i64,
        tables: &[String],
    ) -> EngineResult<Vec<JournalEntry>> {
        self.bounded("read the journal", |this| {
            if tables.is_empty() {
                return Ok(Vec::new());
            }
            if !this.table_exists("_ripcord_journal")? {
                return Err(EngineError::NotInstalled);
            }
            let tbls: Vec<String> = tables.iter().map(|t| sql::lit(t)).collect();
            let base = format!(
                "SELECT seq, tbl, op, old_row, new_row, origin, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM _ripcord_journal WHERE tbl IN ({}) AND seq <= {upto} AND ",
                tbls.join(", ")
            );
            let mut raw = this.rows(
                &format!("{base} seq > {} ORDER BY seq", after.high),
                "read journal",
            )?;
            let holes: Vec<String> = after
                .holes
                .iter()
                .filter(|&&h| h <= upto && h <= after.high)
                .map(|h| h.to_string())
                .collect();
            for chunk in holes.chunks(5000) {
                raw.extend(this.rows(
                    &format!("{base} seq IN ({})", chunk.join(",")),
                    "read journal holes",
                )?);
            }
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let seq: i64 = r[0].as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                let bad = |reason: String| EngineError::sql(format!("journal entry {seq}"), reason);
                let op = r[2].clone().unwrap_or_default();
                out.push(JournalEntry {
                    seq,
                    table: r[1].clone().unwrap_or_default(),
                    op: Op::from_code(&op).ok_or_else(|| bad(format!("unknown operation {op:?}")))?,
                    old: sql::decode_image(r[3].as_deref()).map_err(bad)?,
                    new: sql::decode_image(r[4].as_deref()).map_err(bad)?,
                    origin: Origin::parse(r[5].as_deref().unwrap_or("")),
                    at: r[6].clone().unwrap_or_default(),
                });
            }
            out.sort_by_key(|e| e.seq);
            Ok(out)
        })
    }

    fn apply(
        &mut self,
        ops: &[ApplyOp],
        position: &ReplayPosition,
        summarize: &dyn Fn(&[ApplyOutcome]) -> String,
    ) -> EngineResult<Vec<ApplyOutcome>> {
        self.write(Origin::Ripcord, |me| {
            let outcomes = me.apply_ops(ops)?;
            let note = summarize(&outcomes);
            me.exec(
                &format!(
                    "INSERT INTO _ripcord_replay (tag, last_seq, note) VALUES ({}, {}, {})",
                    sql::lit(&position.rollback),
                    position.last_seq,
                    sql::lit(&note)
                ),
                "store replay position",
            )?;
            Ok(outcomes)
        })
    }

    fn replay_position(&mut self, tag: &str) -> EngineResult<Option<i64>> {
        self.bounded("read the replay position", |this| {
            if !this.table_exists("_ripcord_replay")? {
                return Ok(None);
            }
            this.int(
                &format!(
                    "SELECT MAX(last_seq) FROM _ripcord_replay WHERE tag = {}",
                    sql::lit(tag)
                ),
                "replay position",
            )
        })
    }

    fn replay_log(&mut self, tag: &str) -> EngineResult<Vec<(i64, String)>> {
        self.bounded("read the replay log", |this| {
            if !this.table_exists("_ripcord_replay")? {
                return Ok(Vec::new());
            }
            let rows = this.rows(
                &format!(
                    "SELECT last_seq, note FROM _ripcord_replay WHERE tag = {} ORDER BY last_seq",
                    sql::lit(tag)
                ),
                "replay log",
            )?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    (
                        r[0].as_deref().and_then(|s| s.parse().ok()).unwrap_or(0),
                        r[1].clone().unwrap_or_default(),
                    )
                })
                .collect())
        })
    }

    fn eval_exprs(&mut self, exprs: &[String], input: &RowImage) -> EngineResult<Vec<Value>> {
        let ctx = format!("evaluate {}", exprs.join(", "));
        let cols = input
            .iter()
            .map(|(k, v)| Ok(format!("{} AS {}", sql::value_lit(v)?, q(k))))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| EngineError::sql(&ctx, e))?;
        let sql = format!(
            "SELECT {} FROM (SELECT {}) s",
            exprs.join(", "),
            if cols.is_empty() {
                "NULL AS `_ripcord_none`".into()
            } else {
                cols.join(", ")
            }
        );
        let mut res = self.conn.query_iter(sql).map_err(err(&ctx))?;
        result_values(&mut res, exprs.len(), &ctx)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::sql(ctx, "no row"))
    }

    fn eval_exprs_batch(
        &mut self,
        exprs: &[String],
        inputs: &[RowImage],
    ) -> EngineResult<Vec<Vec<Value>>> {
        let Some(first) = inputs.first() else {
            return Ok(Vec::new());
        };
        let ctx = format!("evaluate {}", exprs.join(", "));
        let names: Vec<&String> = first.keys().collect();
        // One SELECT of literals per input, UNION ALL (MariaDB and MySQL both take it; the
        // column types are aggregated over every row), a statement per ~1 MiB of SQL.
        let mut out = Vec::with_capacity(inputs.len());
        let mut start = 0;
        while start < inputs.len() {
            let mut parts: Vec<String> = Vec::new();
            let mut bytes = 0;
            let mut end = start;
            while end < inputs.len() && (parts.is_empty() || bytes < BATCH_BYTES) {
                let img = &inputs[end];
                let mut cols = Vec::with_capacity(names.len() + 1);
                for name in &names {
                    let v = img.get(*name).ok_or_else(|| {
                        EngineError::sql(&ctx, format!("input row {end} has no column {name}"))
                    })?;
                    let l = sql::value_lit(v).map_err(|e| EngineError::sql(&ctx, e))?;
                    cols.push(if parts.is_empty() {
                        format!("{l} AS {}", q(name))
                    } else {
                        l
                    });
                }
                cols.push(if parts.is_empty() {
                    format!("{} AS `_ripcord_n`", end - start)
                } else {
                    (end - start).to_string()
                });
                let part = format!("SELECT {}", cols.join(", "));
                bytes += part.len();
                parts.push(part);
                end += 1;
            }
            let sql = format!(
                "SELECT {} FROM ({}) s ORDER BY s.`_ripcord_n`",
                exprs.join(", "),
                parts.join(" UNION ALL ")
            );
            let mut res = self.conn.query_iter(sql).map_err(err(&ctx))?;
            out.extend(result_values(&mut res, exprs.len(), &ctx)?);
            start = end;
        }
        if out.len() != inputs.len() {
            return Err(EngineError::sql(
                ctx,
                format!("{} results for {} rows", out.len(), inputs.len()),
            ));
        }
        Ok(out)
    }

    fn freeze(&mut self, tables: &[String]) -> EngineResult<()> {
        let before = self.frozen_tables()?;
        self.bound_lock_waits(true)?;
        // Each CREATE TRIGGER commits on its own: remember what was made, so a freeze that
        // cannot finish takes its triggers back instead of leaving tables half-frozen.
        let mut made: Vec<String> = Vec::new();
        let mut r = Ok(());
        'tables: for t in tables {
            for stmt in freeze_sql(t) {
                if let Err(e) = self.exec(&stmt, &format!("freeze {t}")) {
                    r = Err(e);
                    break 'tables;
                }
                made.push(t.clone());
            }
            if let Err(e) = self.exec(
                &format!(
                    "INSERT IGNORE INTO _ripcord_frozen (tbl) VALUES ({})",
                    sql::lit(t)
                ),
                "freeze",
            ) {
                r = Err(e);
                break;
            }
        }
        if let Err(e) = r {
            made.dedup();
            made.retain(|t| !before.contains(t));
            if let Err(undo) = self.unfreeze(&made) {
                tracing::warn!("could not take back a failed freeze: {undo}");
            }
            let _ = self.bound_lock_waits(false);
            return Err(self.name_lock_holders(e, tables));
        }
        self.bound_lock_waits(false)
    }

    fn unfreeze(&mut self, tables: &[String]) -> EngineResult<()> {
        self.bounded("unfreeze", |this| {
            for t in tables {
                for s in ["i", "u", "d"] {
                    this.exec(
                        &format!(
                            "DROP TRIGGER IF EXISTS {}",
                            q(&format!("_ripcord_frz_{t}_{s}"))
                        ),
                        "unfreeze",
                    )?;
                }
                this.drop_triggers_on(t, true)?;
                this.exec(
                    &format!("DELETE FROM _ripcord_frozen WHERE tbl = {}", sql::lit(t)),
                    "unfreeze",
                )?;
            }
            Ok(())
        })
    }

    fn frozen_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the frozen tables", |this| {
            if !this.table_exists("_ripcord_frozen")? {
                return Ok(Vec::new());
            }
            this.strings("SELECT tbl FROM _ripcord_frozen ORDER BY tbl", "frozen")
        })
    }

    /// DDL inside the step commits implicitly (MariaDB cannot roll it back); the origin tag
    /// stays set until the step ends, so every write of the step is tagged.
    fn execute(&mut self, sql: &str, origin: Origin) -> EngineResult<()> {
        self.cancelled.store(false, Ordering::SeqCst);
        self.write(origin, |me| {
            me.exec(sql, "step SQL")?;
            // Checked before commit: a cancelled step is rolled back, not half-kept.
            if me.cancelled.swap(false, Ordering::SeqCst) {
                return Err(EngineError::Cancelled);
            }
            Ok(())
        })
    }

    fn query_scalar(&mut self, sql: &str) -> EngineResult<Value> {
        let ctx = format!("query {sql}");
        self.cancelled.store(false, Ordering::SeqCst);
        let mut res = self.conn.query_iter(sql).map_err(err(&ctx))?;
        let columns = res.columns().as_ref().to_vec();
        let mut out = Value::Null;
        let mut first = true;
        while let Some(set) = res.iter() {
            for row in set {
                let row = row.map_err(err(&ctx))?;
                if first && !columns.is_empty() {
                    out =
                        sql::from_column(&columns[0], row.as_ref(0).unwrap_or(&mysql::Value::NULL));
                }
                first = false;
            }
        }
        if self.cancelled.swap(false, Ordering::SeqCst) {
            return Err(EngineError::Cancelled);
        }
        Ok(out)
    }

    fn count_rows(&mut self, table: &str) -> EngineResult<u64> {
        Ok(self
            .int(
                &format!("SELECT COUNT(*) FROM {}", q(table)),
                &format!("count {table}"),
            )?
            .unwrap_or(0) as u64)
    }

    fn cancel_handle(&self) -> Box<dyn CancelHandle> {
        Box::new(Killer {
            target: self.target.clone(),
            conn_id: self.conn_id,
            cancelled: self.cancelled.clone(),
        })
    }
}

struct Killer {
    target: crate::connect::Target,
    conn_id: u32,
    cancelled: Arc<AtomicBool>,
}

impl CancelHandle for Killer {
    /// Opens a second connection and interrupts the engine's current statement; the
    /// interrupted statement fails with ER_QUERY_INTERRUPTED, reported as `Cancelled`.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let r = crate::connect::open(&self.target).and_then(|mut c| {
            c.query_drop(format!("KILL QUERY {}", self.conn_id))
                .map_err(|e| crate::describe(&e))
        });
        if let Err(e) = r {
            tracing::warn!(
                "could not cancel the MariaDB statement: {}",
                ripcord_core::redact::scrub(&e)
            );
        }
    }
}
