use crate::ddl::{self, ColInfo};
use crate::text::{self, Kind};
use crate::{bare, describe, err, is_cancel, lit, map_err, q, qn, split};
use postgres::types::ToSql;
use postgres::{Client, Statement};
use ripcord_core::engine::*;
use ripcord_core::journal::{JournalEntry, JournalMark, Op, Origin, RowImage};
use ripcord_core::schema::TableSchema;
use ripcord_core::value::{Row, Value};
use std::collections::HashMap;
use std::io::BufRead;

pub struct PgEngine {
    client: Client,
    /// The TLS connector the session was opened with; a cancel request needs it.
    tls: crate::connect::Tls,
    /// Where unqualified plan table names live: the connection's `current_schema()`.
    schema: String,
    /// Where ripcord's own tables and functions live (the plan's `ripcord_schema`).
    rs: String,
    prepared: bool,
    /// eval_exprs statements: SQL → (result kinds, statement returning text).
    eval_cache: HashMap<String, (Vec<Kind>, Statement)>,
    /// The lock wait allowed to freeze and restore (`SET LOCAL lock_timeout`).
    lock_timeout: std::time::Duration,
    /// The bound on ripcord's own bookkeeping statements (see [`PgEngine::bounded`]).
    statement_timeout: std::time::Duration,
    /// Inside [`PgEngine::bounded`]: the bound is set, an inner call leaves it alone.
    bounding: bool,
}

/// The two schemas a statement may name: where unqualified plan tables live, and ripcord's.
struct Sch<'a> {
    user: &'a str,
    rs: &'a str,
    /// The bound on ripcord's own statements, for the ones inside a long transaction.
    statement_timeout: std::time::Duration,
}

/// Ops per optimistic savepoint in `apply`; a refusal replays its chunk op by op.
const CHUNK: usize = 64;

const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'";

const ORIGIN_EXPR: &str =
    "coalesce(nullif(current_setting('ripcord.origin', true), ''), 'business')";

type Params = Vec<Option<String>>;

/// Column values as text, in column order (`None` = NULL).
type TextRow = Vec<Option<String>>;

fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn io_err(context: &str, e: std::io::Error) -> EngineError {
    if let Some(pe) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<postgres::Error>())
        && is_cancel(pe)
    {
        return EngineError::Cancelled;
    }
    EngineError::sql(context, e)
}

impl PgEngine {
    /// Prepares, once per shape, the statement that reads the first `outputs` columns of
    /// `inner` (named `_ripcord_0…`) as canonical text, with their kinds, into
    /// `eval_cache[inner]`. The expressions' types are only known once `inner` is prepared.
    fn prepare_eval(
        &mut self,
        inner: &str,
        outputs: usize,
        order: &str,
        context: &str,
    ) -> EngineResult<()> {
        if self.eval_cache.contains_key(inner) {
            return Ok(());
        }
        let oids: Vec<u32> = self
            .client
            .prepare(inner)
            .map_err(err(context))?
            .columns()
            .iter()
            .take(outputs)
            .map(|c| c.type_().oid())
            .collect();
        let kinds: Vec<Kind> = oids.iter().map(|o| Kind::of_oid(*o)).collect();
        let texts: Vec<String> = oids
            .iter()
            .enumerate()
            .map(|(i, o)| text::text_expr(&format!("r._ripcord_{i}"), *o))
            .collect();
        let stmt = self
            .client
            .prepare(&format!(
                "SELECT {} FROM ({inner}) r{order}",
                texts.join(", ")
            ))
            .map_err(err(context))?;
        self.eval_cache.insert(inner.to_string(), (kinds, stmt));
        Ok(())
    }

    /// Connects to a `postgres://` or `postgresql://` URL and pins the session settings
    /// the value mapping relies on.
    pub fn open(url: &str) -> EngineResult<Self> {
        let connect = |reason: String| EngineError::Connect {
            engine: "postgres",
            url: ripcord_core::redact::redact_url(url),
            // The driver's messages never include the password, but scrub them anyway.
            reason: ripcord_core::redact::scrub(&reason),
        };
        let (client, schema, tls) = crate::connect::connect(url, |c| {
            c.batch_execute(SESSION)?;
            c.query_one("SELECT current_schema()::text", &[])
                .map(|r| r.get::<_, Option<String>>(0))
        })
        .map_err(connect)?;
        let schema = schema.ok_or_else(|| {
            connect("no schema in the search_path exists; ripcord needs one to work in".into())
        })?;
        Ok(PgEngine {
            client,
            tls,
            schema,
            rs: DEFAULT_SCHEMA.to_string(),
            prepared: false,
            eval_cache: HashMap::new(),
            lock_timeout: ripcord_core::plan::DEFAULT_LOCK_TIMEOUT,
            statement_timeout: ripcord_core::plan::DEFAULT_STATEMENT_TIMEOUT,
            bounding: false,
        })
    }

    /// The underlying connection, for tests and tools.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Where unqualified table names live.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Puts ripcord's own objects in `schema` instead of [`DEFAULT_SCHEMA`].
    pub fn with_ripcord_schema(mut self, schema: &str) -> Self {
        self.rs = schema.to_string();
        self.prepared = false;
        self
    }

    /// Where ripcord's own tables and functions live.
    pub fn ripcord_schema(&self) -> &str {
        &self.rs
    }

    /// ripcord's schema, quoted.
    fn s(&self) -> String {
        q(&self.rs)
    }

    fn ensure_prepared(&mut self) -> EngineResult<()> {
        if !self.prepared {
            self.prepare()?;
        }
        Ok(())
    }

    /// For reads: true when ripcord's tables are there (then remembered), without
    /// creating anything.
    fn is_installed(&mut self) -> EngineResult<bool> {
        if !self.prepared {
            self.prepared = self.installed()?;
        }
        Ok(self.prepared)
    }

    /// For reads that need the journal: [`EngineError::NotInstalled`] when it is absent.
    fn need_installed(&mut self) -> EngineResult<()> {
        match self.is_installed()? {
            true => Ok(()),
            false => Err(EngineError::NotInstalled),
        }
    }

    /// Runs `f` in one transaction with the origin set (when given), committing on success.
    fn tx<T, E: From<EngineError>>(
        &mut self,
        begin: &str,
        origin: Option<Origin>,
        f: impl FnOnce(&mut Client, &Sch) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut sql = begin.to_string();
        if let Some(o) = origin {
            sql.push_str(&format!(
                "; SELECT set_config('ripcord.origin', '{}', true)",
                o.as_str()
            ));
        }
        self.client.batch_execute(&sql).map_err(err("begin"))?;
        let sch = Sch {
            user: &self.schema,
            rs: &self.rs,
            statement_timeout: self.statement_timeout,
        };
        match f(&mut self.client, &sch) {
            Ok(v) => {
                self.client.batch_execute("COMMIT").map_err(err("commit"))?;
                Ok(v)
            }
            Err(e) => {
                // The connection may be gone; the error that matters is the first one.
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }

    fn set_local_lock_timeout(&self) -> String {
        format!(
            "SET LOCAL lock_timeout = '{}ms'",
            self.lock_timeout.as_millis().max(1)
        )
    }

    /// The sessions holding locks on `relations` (quoted names), as one sentence: pid,
    /// user, application, client, how long, what they run or ran last.
    fn lock_holders(&mut self, names: &[String]) -> String {
        let holders = self.client.query(
            "SELECT DISTINCT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''),                  coalesce(host(a.client_addr), 'local socket'),                  coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0),                  coalesce(a.state, ''), left(coalesce(a.query, ''), 200), l.mode, c.relname::text              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid              JOIN pg_class c ON c.oid = l.relation              WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()                AND l.relation IN (SELECT to_regclass(x) FROM unnest($1::text[]) x)              ORDER BY 1",
            &[&names],
        );
        match holders {
            Ok(rows) if rows.is_empty() => {
                "no session holds a lock on them any more; try again".to_string()
            }
            Ok(rows) => rows
                .iter()
                .map(|r| {
                    format!(
                        "pid {} (user {}, application {:?}, from {}, in its transaction for {} s, {}, {} on {}), {}: {}",
                        r.get::<_, i32>(0),
                        r.get::<_, String>(1),
                        r.get::<_, String>(2),
                        r.get::<_, String>(3),
                        r.get::<_, i64>(4),
                        r.get::<_, String>(5),
                        r.get::<_, String>(7),
                        r.get::<_, String>(8),
                        if r.get::<_, String>(5).starts_with("idle") {
                            "last statement"
                        } else {
                            "running"
                        },
                        r.get::<_, String>(6).trim(),
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(q) => format!("could not list the holders: {}", describe(&q)),
        }
    }

    /// A lock timeout on `tables` made into a sentence naming the sessions holding locks on
    /// them (what they run, for how long, from where); other errors pass through.
    fn name_lock_holders(&mut self, e: EngineError, tables: &[String]) -> EngineError {
        let EngineError::Sql { context, reason } = &e else {
            return e;
        };
        if !reason.contains("lock timeout") {
            return e;
        }
        let names: Vec<String> = tables.iter().map(|t| qn(t)).collect();
        let held = self.lock_holders(&names);
        EngineError::sql(
            context.clone(),
            format!(
                "waited {} s for a lock on {} and gave up (lock_timeout); held by {held}. End or finish that session, or raise lock_timeout for this database in the plan",
                self.lock_timeout.as_secs_f64(),
                tables.join(", "),
            ),
        )
    }

    /// Runs one of ripcord's own bookkeeping operations with `statement_timeout` set for
    /// the session, and RESET after (the session's own default, usually none: snapshots,
    /// restores, replays, steps and verify reads are never bounded by it). A statement
    /// that runs out becomes "`what` did not finish within N s", naming the sessions that
    /// hold locks on ripcord's tables.
    fn bounded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> EngineResult<T>,
    ) -> EngineResult<T> {
        if self.bounding {
            return f(self);
        }
        self.client
            .batch_execute(&format!(
                "SET statement_timeout = '{}ms'",
                self.statement_timeout.as_millis().max(1)
            ))
            .map_err(err("statement_timeout"))?;
        self.bounding = true;
        let r = f(self);
        self.bounding = false;
        let reset = self.client.batch_execute("RESET statement_timeout");
        match r {
            Err(e) if is_timeout(&e) => {
                let names: Vec<String> = TABLES
                    .iter()
                    .map(|t| format!("{}.{}", q(&self.rs), q(t)))
                    .collect();
                let held = self.lock_holders(&names);
                Err(timed_out(e, what, self.statement_timeout, Some(&held)))
            }
            Err(e) => Err(e),
            Ok(v) => reset.map(|()| v).map_err(err("reset statement_timeout")),
        }
    }

    fn write<T>(
        &mut self,
        origin: Origin,
        f: impl FnOnce(&mut Client, &Sch) -> EngineResult<T>,
    ) -> EngineResult<T> {
        self.tx("BEGIN", Some(origin), f)
    }
}

/// A statement ended by `statement_timeout` (not a cancel: see `crate::is_cancel`).
fn is_timeout(e: &EngineError) -> bool {
    matches!(e, EngineError::Sql { reason, .. } if reason.contains("statement timeout"))
}

/// The sentence for a bookkeeping statement that ran out of time.
fn timed_out(
    e: EngineError,
    what: &str,
    bound: std::time::Duration,
    held: Option<&str>,
) -> EngineError {
    let EngineError::Sql { context, .. } = &e else {
        return e;
    };
    EngineError::sql(
        what,
        format!(
            "{context} did not finish within {} s (statement_timeout, the bound on ripcord's own bookkeeping) and was cancelled{}. A session holding a lock on ripcord's tables is the usual cause; or raise statement_timeout for this database in the plan",
            bound.as_secs_f64(),
            held.map(|h| format!("; locks on ripcord's tables: {h}"))
                .unwrap_or_default()
        ),
    )
}

/// ripcord's default schema for its own objects.
pub const DEFAULT_SCHEMA: &str = "ripcord";

/// ripcord's tables in its schema, created by `prepare`.
const TABLES: [&str; 5] = [
    "_ripcord_journal",
    "_ripcord_frozen",
    "_ripcord_restore",
    "_ripcord_replay",
    "_ripcord_pending_fk",
];
const FUNCTIONS: [&str; 2] = ["_ripcord_capture", "_ripcord_freeze"];

/// The comment on a schema ripcord created, so uninstall drops only a schema it made.
const SCHEMA_MARK: &str = "created by ripcord install; ripcord uninstall drops it";

/// `rs`: ripcord's schema. The trigger's argument is the table's name as the plan writes
/// it, which the journal records.
fn capture_sql(rs: &str, table: &str) -> String {
    let t = qn(table);
    let name = q(&format!("_ripcord_cap_{}", bare(table)));
    format!(
        // OR REPLACE keeps the trigger's oid, which `capture_tokens` relies on.
        "CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {t}
             FOR EACH ROW EXECUTE FUNCTION {}._ripcord_capture({})",
        q(rs),
        lit(table)
    )
}

fn freeze_sql(schema: &str, table: &str) -> String {
    let t = qn(table);
    let name = q(&format!("_ripcord_frz_{}", bare(table)));
    format!(
        "DROP TRIGGER IF EXISTS {name} ON {t};
         CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t}
             FOR EACH STATEMENT EXECUTE FUNCTION {s}._ripcord_freeze();
         INSERT INTO {s}._ripcord_frozen (tbl) VALUES ({}) ON CONFLICT DO NOTHING",
        lit(table),
        s = q(schema)
    )
}

/// Where the journal stands, read by one statement so `high` and the snapshot agree (in a
/// REPEATABLE READ transaction: as of the transaction's snapshot).
/// `bound`: inside a transaction that is not bounded as a whole (a snapshot), the mark's
/// own statement is (`SET LOCAL`), so a lock on the journal cannot hold the checkpoint.
fn journal_mark_in(
    c: &mut Client,
    schema: &str,
    bound: Option<std::time::Duration>,
) -> EngineResult<JournalMark> {
    if let Some(d) = bound {
        c.batch_execute(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            d.as_millis().max(1)
        ))
        .map_err(err("statement_timeout"))?;
    }
    let r = c
        .query_one(
            &format!(
                "SELECT coalesce(max(seq), 0), pg_current_snapshot()::text FROM {}._ripcord_journal",
                q(schema)
            ),
            &[],
        )
        .map_err(err("journal mark"))
        .map_err(|e| match bound {
            Some(d) if is_timeout(&e) => timed_out(e, "read the journal mark", d, None),
            _ => e,
        })?;
    if bound.is_some() {
        c.batch_execute("SET LOCAL statement_timeout TO DEFAULT")
            .map_err(err("statement_timeout"))?;
    }
    Ok(JournalMark {
        high: r.get(0),
        holes: Vec::new(),
        snapshot: Some(r.get(1)),
    })
}

fn select_sql(schema: &TableSchema, cols: &[ColInfo]) -> String {
    let names: Vec<String> = schema.columns.iter().map(|c| q(&c.name)).collect();
    // Byte order for text keys, the order ripcord's keys sort in on every engine.
    let key: Vec<String> = schema
        .primary_key
        .iter()
        .map(|&i| {
            let collate = cols.get(i).is_some_and(|c| c.collatable);
            format!(
                "{}{}",
                q(&schema.columns[i].name),
                if collate { " COLLATE \"C\"" } else { "" }
            )
        })
        .collect();
    format!(
        "COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT",
        names.join(", "),
        qn(&schema.name),
        key.join(", ")
    )
}

fn value_of(kind: Kind, field: Option<&str>) -> Result<Value, String> {
    match field {
        None => Ok(Value::Null),
        Some(s) => text::from_text(kind, s),
    }
}

/// Best effort for a journal key whose column no longer exists: JSON as it is.
/// A row of canonical texts (see `text::text_expr`) read back as values of `kinds`.
fn row_values(kinds: &[Kind], row: &postgres::Row, context: &str) -> EngineResult<Vec<Value>> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            value_of(*k, row.get::<_, Option<&str>>(i)).map_err(|e| EngineError::sql(context, e))
        })
        .collect()
}

fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Decimal(n.to_string()),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// Builds an image from the raw JSON (which keys were captured) and, when the table's
/// current columns decoded it, their exact text values.
fn image(
    raw: Option<serde_json::Value>,
    typed: Option<TextRow>,
    cols: &[ColInfo],
) -> Result<Option<RowImage>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let obj = raw.as_object().ok_or("journal row is not a JSON object")?;
    let mut out = RowImage::new();
    for (k, v) in obj {
        let typed_val = typed.as_ref().and_then(|t| {
            cols.iter()
                .position(|c| &c.name == k)
                .map(|i| (cols[i].kind, t.get(i).cloned().flatten()))
        });
        let val = match typed_val {
            Some((kind, s)) => {
                value_of(kind, s.as_deref()).map_err(|e| format!("column {k}: {e}"))?
            }
            None => json_value(v),
        };
        out.insert(k.clone(), val);
    }
    Ok(Some(out))
}

fn param(v: &Value) -> Option<String> {
    text::to_text(v)
}

fn cast(cols: &HashMap<String, ColInfo>, col: &str, n: usize) -> String {
    match cols.get(col) {
        Some(c) => format!("${n}::text::{}", c.decl),
        None => format!("${n}::text"),
    }
}

/// The statement and parameters for one replay op; the SQL depends only on the table and
/// the column names, so it is prepared once per shape.
fn op_sql(op: &ApplyOp, cols: &HashMap<String, ColInfo>) -> (String, Params) {
    let writable = |k: &String| cols.get(k).is_none_or(|c| !c.generated);
    let where_key = |key: &RowImage, first: usize, params: &mut Params| {
        let conds: Vec<String> = key
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                params.push(param(v));
                format!("{} = {}", q(k), cast(cols, k, first + i))
            })
            .collect();
        if conds.is_empty() {
            "false".to_string()
        } else {
            conds.join(" AND ")
        }
    };
    match op {
        ApplyOp::Insert { table, row } => {
            let mut params = Params::new();
            let mut names = Vec::new();
            let mut marks = Vec::new();
            for (k, v) in row.iter().filter(|(k, _)| writable(k)) {
                params.push(param(v));
                names.push(q(k));
                marks.push(cast(cols, k, params.len()));
            }
            let overriding = if row
                .keys()
                .any(|k| cols.get(k).is_some_and(|c| c.identity_always))
            {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let sql = if names.is_empty() {
                format!("INSERT INTO {} DEFAULT VALUES", qn(table))
            } else {
                format!(
                    "INSERT INTO {} ({}){overriding} VALUES ({})",
                    qn(table),
                    names.join(", "),
                    marks.join(", ")
                )
            };
            (sql, params)
        }
        ApplyOp::Update { table, key, set } => {
            let mut params = Params::new();
            let mut sets = Vec::new();
            for (k, v) in set.iter().filter(|(k, _)| writable(k)) {
                params.push(param(v));
                sets.push(format!("{} = {}", q(k), cast(cols, k, params.len())));
            }
            if sets.is_empty() {
                // Nothing writable changed: still report whether the row is there.
                let first = key.keys().next().map(|k| q(k)).unwrap_or_default();
                sets.push(format!("{first} = {first}"));
            }
            let first = params.len() + 1;
            let w = where_key(key, first, &mut params);
            (
                format!("UPDATE {} SET {} WHERE {w}", qn(table), sets.join(", ")),
                params,
            )
        }
        ApplyOp::Delete { table, key } => {
            let mut params = Params::new();
            let w = where_key(key, 1, &mut params);
            (format!("DELETE FROM {} WHERE {w}", qn(table)), params)
        }
    }
}

enum OpError {
    Refused(Refusal),
    Fatal(EngineError),
}

/// What a refused write broke, from the fields PostgreSQL sends with the error.
fn refusal(e: &postgres::Error) -> Refusal {
    use postgres::error::SqlState;
    let Some(db) = e.as_db_error() else {
        return Refusal::new(Violated::Other, "", e.to_string());
    };
    let constraint = db.constraint().map(str::to_string);
    let code = db.code();
    let violated = if *code == SqlState::FOREIGN_KEY_VIOLATION {
        // "Key (p)=(9) is not present in table "parent"." or "… is still referenced
        // from table "child".": the other table of the key.
        let table = db
            .detail()
            .and_then(|d| d.split_once("table \"")?.1.split_once('"'))
            .map(|(t, _)| t.to_string());
        Violated::ForeignKey { constraint, table }
    } else if *code == SqlState::UNIQUE_VIOLATION {
        Violated::KeyConflict { constraint }
    } else if *code == SqlState::NOT_NULL_VIOLATION {
        Violated::NotNull {
            column: db.column().map(str::to_string),
        }
    } else if *code == SqlState::CHECK_VIOLATION {
        Violated::Check { constraint }
    } else {
        Violated::Other
    };
    Refusal::new(violated, code.code(), describe(e))
}

struct Applier<'a> {
    c: &'a mut Client,
    schema: &'a str,
    tables: HashMap<String, HashMap<String, ColInfo>>,
    stmts: HashMap<String, Statement>,
}

impl Applier<'_> {
    fn run(&mut self, op: &ApplyOp) -> Result<u64, OpError> {
        let table = op.table();
        if !self.tables.contains_key(table) {
            let cols = match ddl::table_oid(self.c, self.schema, table).map_err(OpError::Fatal)? {
                Some(oid) => ddl::columns(self.c, oid).map_err(OpError::Fatal)?,
                None => Vec::new(),
            };
            self.tables.insert(
                table.to_string(),
                cols.into_iter().map(|c| (c.name.clone(), c)).collect(),
            );
        }
        let (sql, params) = op_sql(op, &self.tables[table]);
        let classify = |e: postgres::Error| {
            if is_cancel(&e) || e.is_closed() {
                OpError::Fatal(map_err(format!("apply to {table}"), e))
            } else {
                OpError::Refused(refusal(&e))
            }
        };
        let stmt = match self.stmts.get(&sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.c.prepare(&sql).map_err(classify)?;
                self.stmts.insert(sql, s.clone());
                s
            }
        };
        self.c.execute(&stmt, &refs(&params)).map_err(classify)
    }

    fn exec(&mut self, sql: &str) -> EngineResult<()> {
        self.c.batch_execute(sql).map_err(err(sql.to_string()))
    }

    fn outcome(n: u64) -> ApplyOutcome {
        if n == 0 {
            ApplyOutcome::NoRow
        } else {
            ApplyOutcome::Applied
        }
    }

    /// Optimistic: a chunk of ops under one savepoint (one round trip per op). When an op
    /// is refused the chunk is rolled back and redone op by op, each in its own savepoint,
    /// so every refusal leaves exactly the other ops applied.
    fn apply(&mut self, ops: &[ApplyOp]) -> EngineResult<Vec<ApplyOutcome>> {
        let mut out = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            let end = (i + CHUNK).min(ops.len());
            self.exec("SAVEPOINT ripcord_chunk")?;
            let mut done = Vec::new();
            let mut refused_at = None;
            for (k, op) in ops.iter().enumerate().take(end).skip(i) {
                match self.run(op) {
                    Ok(n) => done.push(Self::outcome(n)),
                    Err(OpError::Fatal(e)) => return Err(e),
                    Err(OpError::Refused(_)) => {
                        refused_at = Some(k);
                        break;
                    }
                }
            }
            match refused_at {
                None => {
                    self.exec("RELEASE ripcord_chunk")?;
                    out.extend(done);
                    i = end;
                }
                Some(k) => {
                    self.exec("ROLLBACK TO SAVEPOINT ripcord_chunk; RELEASE ripcord_chunk")?;
                    for op in &ops[i..=k] {
                        self.exec("SAVEPOINT ripcord_op")?;
                        let o = match self.run(op) {
                            Ok(n) => Self::outcome(n),
                            Err(OpError::Fatal(e)) => return Err(e),
                            Err(OpError::Refused(m)) => {
                                self.exec("ROLLBACK TO SAVEPOINT ripcord_op")?;
                                ApplyOutcome::Refused(m)
                            }
                        };
                        self.exec("RELEASE ripcord_op")?;
                        out.push(o);
                    }
                    i = k + 1;
                }
            }
        }
        Ok(out)
    }
}

/// The constraint name in `ALTER TABLE t ADD CONSTRAINT "name" ...`.
fn constraint_name(sql: &str) -> Option<String> {
    let rest = sql.split_once(" ADD CONSTRAINT \"")?.1;
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                return Some(name);
            }
        }
        name.push(c);
    }
    None
}

/// Adds a foreign key; when the rows do not satisfy it yet (other tables of the component
/// are restored after this one), adds it `NOT VALID` so new writes are checked, and records
/// it for validation on unfreeze.
fn add_foreign_key(c: &mut Client, schema: &str, table: &str, sql: &str) -> EngineResult<()> {
    c.batch_execute(&format!("SAVEPOINT ripcord_fk; {sql}; RELEASE ripcord_fk"))
        .or_else(|e| {
            if e.code() != Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
                return Err(map_err(format!("add foreign key on {table}"), e));
            }
            tracing::warn!(table, "foreign key added NOT VALID until the rollback finishes");
            let name = constraint_name(sql).unwrap_or_default();
            c.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT ripcord_fk; RELEASE ripcord_fk; {sql} NOT VALID;
                 INSERT INTO {}._ripcord_pending_fk (tbl, conname) VALUES ({}, {}) ON CONFLICT DO NOTHING",
                q(schema),
                lit(table),
                lit(&name)
            ))
            .map_err(err(format!("add foreign key on {table}")))
        })
}

impl Engine for PgEngine {
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
            // An earlier ripcord's journal in the connection's schema may hold writes a
            // rollback needs, and its triggers still write there: never start a second journal
            // beside it silently.
            if this.schema != this.rs
                && ddl::table_oid(&mut this.client, &this.schema.clone(), "_ripcord_journal")?.is_some()
            {
                return Err(EngineError::sql(
                    "install ripcord",
                    format!(
                        "an earlier ripcord keeps its journal in schema {:?}; finish or abandon its rollbacks, then `ripcord uninstall --force --reason \"…\"` removes it (and its triggers), and capture starts again in schema {:?}",
                        this.schema, this.rs
                    ),
                ));
            }
            let s = this.s();
            let l = lit(&this.rs);
            let mark = lit(SCHEMA_MARK);
            let sql = format!(
                "SELECT pg_advisory_xact_lock(hashtext('ripcord.prepare'));
                 DO $do$ BEGIN
                     IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {l}) THEN
                         CREATE SCHEMA {s};
                         COMMENT ON SCHEMA {s} IS {mark};
                     END IF;
                 END $do$;
                 CREATE TABLE IF NOT EXISTS {s}._ripcord_journal (
                     seq bigserial PRIMARY KEY, tbl text NOT NULL, op char(1) NOT NULL,
                     old_row json, new_row json, origin text NOT NULL,
                     txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                     at timestamptz NOT NULL DEFAULT clock_timestamp());
                 CREATE INDEX IF NOT EXISTS _ripcord_journal_txid ON {s}._ripcord_journal (txid);
                 CREATE INDEX IF NOT EXISTS _ripcord_journal_tbl ON {s}._ripcord_journal (tbl, seq);
                 CREATE TABLE IF NOT EXISTS {s}._ripcord_frozen (
                     tbl text PRIMARY KEY, since timestamptz NOT NULL DEFAULT now());
                 CREATE TABLE IF NOT EXISTS {s}._ripcord_restore (
                     tag text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
                 CREATE TABLE IF NOT EXISTS {s}._ripcord_replay (
                     tag text NOT NULL, last_seq bigint NOT NULL, note text NOT NULL,
                     at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tag, last_seq));
                 CREATE TABLE IF NOT EXISTS {s}._ripcord_pending_fk (
                     tbl text NOT NULL, conname text NOT NULL, PRIMARY KEY (tbl, conname));
                 CREATE OR REPLACE FUNCTION {s}._ripcord_capture() RETURNS trigger
                 LANGUAGE plpgsql SET extra_float_digits = 3 AS $fn$
                 BEGIN
                     IF TG_OP = 'INSERT' THEN
                         INSERT INTO {s}._ripcord_journal (tbl, op, new_row, origin)
                         VALUES (coalesce(TG_ARGV[0], TG_TABLE_NAME), 'I', to_json(NEW), {ORIGIN_EXPR});
                     ELSIF TG_OP = 'UPDATE' THEN
                         INSERT INTO {s}._ripcord_journal (tbl, op, old_row, new_row, origin)
                         VALUES (coalesce(TG_ARGV[0], TG_TABLE_NAME), 'U', to_json(OLD), to_json(NEW), {ORIGIN_EXPR});
                     ELSE
                         INSERT INTO {s}._ripcord_journal (tbl, op, old_row, origin)
                         VALUES (coalesce(TG_ARGV[0], TG_TABLE_NAME), 'D', to_json(OLD), {ORIGIN_EXPR});
                     END IF;
                     RETURN NULL;
                 END
                 $fn$;
                 CREATE OR REPLACE FUNCTION {s}._ripcord_freeze() RETURNS trigger
                 LANGUAGE plpgsql AS $fn$
                 BEGIN
                     IF coalesce(current_setting('ripcord.origin', true), '') <> 'ripcord' THEN
                         RAISE EXCEPTION 'ripcord: table % is frozen while a rollback runs', TG_TABLE_NAME
                             USING ERRCODE = 'object_not_in_prerequisite_state';
                     END IF;
                     RETURN NULL;
                 END
                 $fn$;"
            );
            this.tx("BEGIN", None, |c, _| {
                c.batch_execute(&sql).map_err(err("create ripcord tables"))
            })?;
            this.prepared = true;
            Ok(())
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

    fn ripcord_objects(&mut self) -> EngineResult<Vec<DbObject>> {
        self.bounded("list ripcord's objects", |this| {
            let rs = this.rs.clone();
            let obj = |kind, name: &str, present| DbObject {
                kind,
                schema: (kind != "schema").then(|| rs.clone()),
                name: name.to_string(),
                on: None,
                installed_by_prepare: true,
                present,
            };
            // (exists, ripcord made it): a schema that was there before is not ripcord's.
            let schema = this
                .client
                .query_opt(
                    "SELECT coalesce(obj_description(oid, 'pg_namespace') = $2, false)
                     FROM pg_namespace WHERE nspname = $1",
                    &[&rs, &SCHEMA_MARK],
                )
                .map_err(err("look up ripcord's schema"))?
                .map(|r| r.get::<_, bool>(0));
            let rels: Vec<(String, String)> = this
                .client
                .query(
                    "SELECT c.relname::text, c.relkind::text FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
                    &[&rs],
                )
                .map_err(err("list ripcord's tables"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let funcs: Vec<String> = this
                .client
                .query(
                    "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = $1",
                    &[&rs],
                )
                .map_err(err("list ripcord's functions"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let rel = |n: &str, k: &str| rels.iter().any(|(a, b)| a == n && b == k);
            let mut out = Vec::new();
            if schema != Some(false) {
                out.push(obj("schema", &rs, schema.is_some()));
            }
            for t in TABLES {
                out.push(obj("table", t, rel(t, "r")));
            }
            out.push(obj(
                "sequence",
                "_ripcord_journal_seq_seq",
                rel("_ripcord_journal_seq_seq", "S"),
            ));
            for i in ["_ripcord_journal_txid", "_ripcord_journal_tbl"] {
                out.push(obj("index", i, rel(i, "i")));
            }
            for f in FUNCTIONS {
                out.push(obj(
                    "function",
                    &format!("{f}()"),
                    funcs.iter().any(|x| x == f),
                ));
            }
            // An earlier ripcord kept its tables and functions in the connection's schema.
            if this.schema != rs {
                for r in this
                    .client
                    .query(
                        "SELECT 'table', c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname::text = ANY($2)
                         UNION ALL
                         SELECT 'function', p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname = $1 AND p.proname::text = ANY($3) ORDER BY 1, 2",
                        &[
                            &this.schema,
                            &TABLES.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                            &FUNCTIONS.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                        ],
                    )
                    .map_err(err("look for an earlier ripcord's objects"))?
                {
                    let (kind, name): (String, String) = (r.get(0), r.get(1));
                    out.push(DbObject {
                        kind: if kind == "table" { "table" } else { "function" },
                        schema: Some(this.schema.clone()),
                        name: if kind == "table" { name } else { format!("{name}()") },
                        on: None,
                        installed_by_prepare: false,
                        present: true,
                    });
                }
            }
            // Triggers that call ripcord's functions, wherever they are; and any trigger named
            // like ripcord's (one left by an older version in another schema).
            for r in this
                .client
                .query(
                    "SELECT DISTINCT g.tgname::text, tn.nspname::text, c.relname::text
                     FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                     JOIN pg_namespace tn ON tn.oid = c.relnamespace
                     JOIN pg_proc p ON p.oid = g.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
                     WHERE NOT g.tgisinternal
                       AND ((pn.nspname = $1 AND p.proname::text = ANY($2))
                            OR g.tgname LIKE '\\_ripcord\\_cap\\_%' OR g.tgname LIKE '\\_ripcord\\_frz\\_%')
                     ORDER BY 2, 3, 1",
                    &[&rs, &FUNCTIONS.iter().map(|f| f.to_string()).collect::<Vec<_>>()],
                )
                .map_err(err("list ripcord's triggers"))?
            {
                let (name, schema, table): (String, String, String) = (r.get(0), r.get(1), r.get(2));
                out.push(DbObject {
                    kind: "trigger",
                    schema: Some(schema.clone()),
                    name,
                    on: Some(format!("{schema}.{table}")),
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
            let s = this.s();
            let mut sql = String::new();
            for o in present.iter().filter(|o| o.kind == "trigger") {
                let (schema, table) =
                    o.on.as_deref()
                        .and_then(|t| t.split_once('.'))
                        .unwrap_or_default();
                sql.push_str(&format!(
                    "DROP TRIGGER IF EXISTS {} ON {}.{};\n",
                    q(&o.name),
                    q(schema),
                    q(table)
                ));
            }
            // Only ripcord's own objects, by name: never CASCADE, so an object someone else
            // made to depend on them stops the uninstall instead of vanishing with it.
            for o in present.iter().filter(|o| o.kind == "table") {
                let schema = q(o.schema.as_deref().unwrap_or(&this.rs));
                sql.push_str(&format!("DROP TABLE IF EXISTS {schema}.{};\n", q(&o.name)));
            }
            for o in present.iter().filter(|o| o.kind == "function") {
                let schema = q(o.schema.as_deref().unwrap_or(&this.rs));
                let name = o.name.trim_end_matches("()");
                sql.push_str(&format!(
                    "DROP FUNCTION IF EXISTS {schema}.{}();\n",
                    q(name)
                ));
            }
            if present.iter().any(|o| o.kind == "schema") {
                // Only a schema ripcord created, and only when nothing else is in it.
                sql.push_str(&format!(
                    "DO $do$ BEGIN
                       IF obj_description((SELECT oid FROM pg_namespace WHERE nspname = {l}), 'pg_namespace') = {mark}
                          AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {l})
                          AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = {l})
                          AND NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = {l})
                       THEN EXECUTE 'DROP SCHEMA {s}'; END IF; END $do$;",
                    l = lit(&this.rs),
                    mark = lit(SCHEMA_MARK),
                    s = s.replace('\'', "''")
                ));
            }
            this.tx("BEGIN", Some(Origin::Ripcord), |c, _| {
                c.batch_execute(&sql).map_err(err("uninstall ripcord"))
            })?;
            this.prepared = false;
            Ok(present)
        })
    }

    fn list_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the tables", |this| {
            Ok(this
                .client
                .query(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition
                       AND c.relname NOT LIKE '\\_ripcord\\_%' ORDER BY 1",
                    &[&this.schema],
                )
                .map_err(err("list tables"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn table_schema(&mut self, table: &str) -> EngineResult<TableSchema> {
        self.bounded("read the table's definition", |this| {
            Ok(ddl::read_schema(&mut this.client, &this.schema, table)?.0)
        })
    }

    fn snapshot(
        &mut self,
        tables: &[String],
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<JournalMark> {
        // Without ripcord's tables there is no journal: the mark is empty (a checkpoint
        // installs first; `verify` only reads the rows).
        let installed = self.is_installed()?;
        for t in tables {
            if ddl::table_oid(&mut self.client, &self.schema, t)?.is_none() {
                return Err(EngineError::NoSuchTable(t.clone()).into());
            }
        }
        self.tx(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            None,
            |c, schema| -> ripcord_core::Result<JournalMark> {
                // Locks first: LOCK takes no snapshot, so the schemas read below are the
                // ones the rows were written under.
                if !tables.is_empty() {
                    let list: Vec<String> = tables.iter().map(|t| qn(t)).collect();
                    c.batch_execute(&format!(
                        "LOCK TABLE {} IN ACCESS SHARE MODE",
                        list.join(", ")
                    ))
                    .map_err(err("lock tables for the snapshot"))?;
                }
                let exported: String = c
                    .query_one("SELECT pg_export_snapshot()", &[])
                    .map_err(err("export snapshot"))?
                    .get(0);
                tracing::debug!(snapshot = %exported, "checkpoint snapshot exported");
                let mark = match installed {
                    true => journal_mark_in(c, schema.rs, Some(schema.statement_timeout))?,
                    false => JournalMark {
                        high: 0,
                        holes: Vec::new(),
                        snapshot: None,
                    },
                };
                for t in tables {
                    let (ts, cols) = ddl::read_schema(c, schema.user, t)?;
                    sink.begin_table(&ts)?;
                    let kinds: Vec<Kind> = cols.iter().map(|c| c.kind).collect();
                    let mut reader = c
                        .copy_out(&select_sql(&ts, &cols))
                        .map_err(err(format!("read {t}")))?;
                    let mut line = Vec::new();
                    loop {
                        // PostgreSQL sends one row per CopyData message: a message that
                        // ends in a newline is offered to the sink where it lies, without
                        // copying it out first. `CopyLine::is` says no to a line holding
                        // another raw newline (two rows in one message), and anything not
                        // taken is read line by line below.
                        let buf = reader
                            .fill_buf()
                            .map_err(|e| io_err(&format!("read {t}"), e))?;
                        let Some((&last, body)) = buf.split_last() else {
                            break;
                        };
                        if last == b'\n' {
                            let taken = sink.raw_row(&text::CopyLine {
                                line: body,
                                kinds: &kinds,
                            })?;
                            if taken {
                                let n = buf.len();
                                reader.consume(n);
                                continue;
                            }
                        }
                        line.clear();
                        reader
                            .read_until(b'\n', &mut line)
                            .map_err(|e| io_err(&format!("read {t}"), e))?;
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        let fields = text::copy_line(&line)
                            .map_err(|e| EngineError::sql(format!("read {t}"), e))?;
                        if fields.len() != kinds.len() {
                            return Err(EngineError::sql(
                                format!("read {t}"),
                                "COPY row has the wrong number of fields",
                            )
                            .into());
                        }
                        let row: Row = fields
                            .into_iter()
                            .zip(&kinds)
                            .map(|(f, k)| {
                                f.map_or(Ok(Value::Null), |f| text::from_owned_text(*k, f))
                            })
                            .collect::<Result<_, _>>()
                            .map_err(|e| EngineError::sql(format!("read {t}"), e))?;
                        sink.row(row)?;
                    }
                    sink.end_table()?;
                }
                Ok(mark)
            },
        )
    }

    fn restore_table(
        &mut self,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
        opts: &RestoreOptions,
    ) -> ripcord_core::Result<u64> {
        self.ensure_prepared()?;
        let t = schema.name.clone();
        let set_lock = self.set_local_lock_timeout();
        let r = self.tx(
            "BEGIN",
            Some(Origin::Ripcord),
            |c, sch| -> ripcord_core::Result<u64> {
                c.batch_execute(&set_lock).map_err(err("lock_timeout"))?;
                let old = ddl::table_oid(c, sch.user, &t)?;
                // Other tables' foreign keys to this one: dropped for the swap, added back
                // once the rows are in.
                let mut referencing: Vec<(String, String, String)> = Vec::new();
                let mut old_seqs: Vec<(String, i64, bool)> = Vec::new();
                if let Some(oid) = old {
                    for r in c
                        .query(
                            "SELECT k.conrelid::regclass::text, k.conname::text, pg_get_constraintdef(k.oid), cl.relname::text
                             FROM pg_constraint k JOIN pg_class cl ON cl.oid = k.conrelid
                             WHERE k.contype = 'f' AND k.confrelid = $1 AND k.conrelid <> $1",
                            &[&oid],
                        )
                        .map_err(err("read referencing foreign keys"))?
                    {
                        let (rel, name, def, relname): (String, String, String, String) =
                            (r.get(0), r.get(1), r.get(2), r.get(3));
                        c.batch_execute(&format!("ALTER TABLE {rel} DROP CONSTRAINT {}", q(&name)))
                            .map_err(err(format!("drop foreign key {name}")))?;
                        referencing.push((
                            relname,
                            name.clone(),
                            format!("ALTER TABLE {rel} ADD CONSTRAINT {} {def}", q(&name)),
                        ));
                    }
                    for (col, seq) in ddl::sequences_by_column(c, oid)? {
                        let (v, called) = ddl::sequence_value(c, split(sch.user, &t).0, &seq)?;
                        old_seqs.push((col, v, called));
                    }
                }
                c.batch_execute(&format!("DROP TABLE IF EXISTS {}", qn(&t)))
                    .map_err(err(format!("drop {t}")))?;
                c.batch_execute(&schema.create_sql)
                    .map_err(err(format!("create {t}")))?;
                let oid = ddl::table_oid(c, sch.user, &t)?.ok_or_else(|| {
                    EngineError::sql(format!("create {t}"), "the table is not there after CREATE")
                })?;
                let (load, names) = ddl::loaded_columns(c, oid, schema)?;
                // The table was created in this transaction, so its rows can be written
                // frozen: the proof's read right after does not have to set every row's
                // hint bits (nor a later vacuum freeze them). Plain tables only; COPY
                // refuses FREEZE on a partitioned one.
                let plain: bool = c
                    .query_one("SELECT relkind = 'r' FROM pg_class WHERE oid = $1", &[&oid])
                    .map_err(err(format!("load {t}")))?
                    .get(0);
                let n;
                {
                    let mut w = c
                        .copy_in(&format!(
                            "COPY {} ({}) FROM STDIN{}",
                            qn(&t),
                            names.join(", "),
                            if plain { " WITH (FREEZE)" } else { "" }
                        ))
                        .map_err(err(format!("load {t}")))?;
                    n = text::copy_rows(&mut w, rows, &load, schema.columns.len(), &t, |e| {
                        io_err(&format!("load {t}"), e)
                    })?;
                    w.finish().map_err(err(format!("load {t}")))?;
                }
                for s in &schema.post_sql {
                    if ddl::is_foreign_key(s) {
                        add_foreign_key(c, sch.rs, &t, s)?;
                    } else {
                        c.batch_execute(s)
                            .map_err(err(format!("recreate index, trigger or grant on {t}")))?;
                    }
                }
                // Keep sequences at least where they were: ids handed out after the
                // checkpoint (and replayed with their rows) must not be handed out again.
                for (col, seq) in ddl::sequences_by_column(c, oid)? {
                    if let Some((_, v, called)) = old_seqs.iter().find(|(c0, ..)| *c0 == col) {
                        let (now, _) = ddl::sequence_value(c, split(sch.user, &t).0, &seq)?;
                        if *v > now {
                            c.batch_execute(&format!("SELECT setval({}, {v}, {called})", lit(&format!("{}.{}", q(split(sch.user, &t).0), q(&seq)))))
                                .map_err(err("restore sequence"))?;
                        }
                    }
                }
                if opts.capture {
                    c.batch_execute(&capture_sql(sch.rs, &t))
                        .map_err(err(format!("capture on {t}")))?;
                }
                if opts.freeze {
                    c.batch_execute(&freeze_sql(sch.rs, &t))
                        .map_err(err(format!("freeze {t}")))?;
                }
                for (child, _, sql) in &referencing {
                    add_foreign_key(c, sch.rs, child, sql)?;
                }
                c.execute(
                    &format!("INSERT INTO {}._ripcord_restore (tag) VALUES ($1)", q(sch.rs)),
                    &[&opts.restore_tag],
                )
                .map_err(err("record restore"))?;
                Ok(n)
            },
        );
        match r {
            Err(ripcord_core::Error::Engine(e)) => Err(self
                .name_lock_holders(e, std::slice::from_ref(&schema.name))
                .into()),
            other => other,
        }
    }

    fn restore_done(&mut self, tag: &str) -> EngineResult<bool> {
        self.bounded("read the restore bookkeeping", |this| {
            if !this.is_installed()? {
                return Ok(false);
            }
            let n: i64 = this
                .client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {}._ripcord_restore WHERE tag = $1",
                        this.s()
                    ),
                    &[&tag],
                )
                .map_err(err("restore state"))?
                .get(0);
            Ok(n > 0)
        })
    }

    fn capture_install(&mut self, tables: &[TableSchema]) -> EngineResult<()> {
        self.ensure_prepared()?;
        let set_lock = self.set_local_lock_timeout();
        // CREATE TRIGGER waits for every open transaction on the table: bounded like the
        // freeze, so `checkpoint` and `capture start` name the blocker instead of hanging.
        let r = self.write(Origin::Ripcord, |c, sch| {
            c.batch_execute(&set_lock).map_err(err("lock_timeout"))?;
            for t in tables {
                c.batch_execute(&capture_sql(sch.rs, &t.name))
                    .map_err(err(format!("capture on {}", t.name)))?;
            }
            Ok(())
        });
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        r.map_err(|e| self.name_lock_holders(e, &names))
    }

    fn capture_remove(&mut self, tables: &[String]) -> EngineResult<()> {
        self.bounded("remove capture", |this| {
            this.write(Origin::Ripcord, |c, sch| {
                for t in tables {
                    if ddl::table_oid(c, sch.user, t)?.is_some() {
                        c.batch_execute(&format!(
                            "DROP TRIGGER IF EXISTS {} ON {}",
                            q(&format!("_ripcord_cap_{}", bare(t))),
                            qn(t)
                        ))
                        .map_err(err(format!("drop capture on {t}")))?;
                    }
                }
                Ok(())
            })
        })
    }

    fn captured_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the captured tables", |this| {
            Ok(this
                .client
                .query(
                    // Named as the plan names them: bare in the default schema, qualified elsewhere.
                    "SELECT DISTINCT CASE WHEN n.nspname = $1 THEN c.relname::text
                                          ELSE n.nspname || '.' || c.relname END FROM pg_trigger g
                     JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE g.tgname LIKE '\\_ripcord\\_cap\\_%' ORDER BY 1",
                    &[&this.schema],
                )
                .map_err(err("captured tables"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    /// Table oid, relfilenode (changes on TRUNCATE and rewrites) and the capture trigger's
    /// oid (kept by CREATE OR REPLACE TRIGGER, new after DROP/CREATE).
    fn capture_tokens(&mut self, tables: &[String]) -> EngineResult<Vec<Option<String>>> {
        self.bounded("read the capture tokens", |this| {
            let mut out = Vec::with_capacity(tables.len());
            for t in tables {
                let row = this
                    .client
                    .query_opt(
                        "SELECT c.oid::int8, c.relfilenode::int8, g.oid::int8 FROM pg_class c
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                         JOIN pg_trigger g ON g.tgrelid = c.oid AND g.tgname = '_ripcord_cap_' || c.relname
                             AND g.tgenabled <> 'D'
                         WHERE n.nspname = $1 AND c.relname = $2",
                        &[&split(&this.schema, t).0, &bare(t)],
                    )
                    .map_err(err(format!("capture token of {t}")))?;
                out.push(row.map(|r| {
                    let (a, b, c): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
                    format!("pg:{a}:{b}:{c}")
                }));
            }
            Ok(out)
        })
    }

    /// The transactions in progress now (the capture trigger runs AFTER the row write, so a
    /// writer holds its transaction id before it takes a journal sequence).
    fn journal_inflight(&mut self) -> EngineResult<Option<String>> {
        let r = self
            .client
            .query_one("SELECT pg_current_snapshot()::text", &[])
            .map_err(err("journal in-flight snapshot"))?;
        Ok(Some(r.get(0)))
    }
    fn journal_inflight_done(&mut self, token: &str) -> EngineResult<bool> {
        let r = self
            .client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_snapshot_xip($1::text::pg_snapshot) AS x WHERE pg_xact_status(x) = 'in progress')",
                &[&token],
            )
            .map_err(err("journal in-flight check"))?;
        Ok(r.get(0))
    }

    fn journal_mark(&mut self) -> EngineResult<JournalMark> {
        self.bounded("read the journal mark", |this| {
            this.need_installed()?;
            journal_mark_in(&mut this.client, &this.rs, None)
        })
    }

    /// Entries with `seq <= upto` the mark did not see: above `high`, in `holes`, or
    /// written by a transaction the mark's snapshot did not see (committed after it).
    /// Images are decoded through the table's current column types (json_populate_record,
    /// then each column's text output); when that fails, e.g. after a type change the old
    /// values do not fit, the table's entries fall back to their JSON values.
    fn read_journal(
        &mut self,
        after: &JournalMark,
        upto: i64,
        tables: &[String],
    ) -> EngineResult<Vec<JournalEntry>> {
        self.bounded("read the journal", |this| {
            this.need_installed()?;
            let holes: Vec<i64> = after.holes.clone();
            let snap = after.snapshot.clone();
            let high = after.high;
            let mut all: Vec<JournalEntry> = this.tx(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                None,
                |c, sch| -> EngineResult<Vec<JournalEntry>> {
                    let s = q(sch.rs);
                    let mut out = Vec::new();
                    let filter = "j.tbl = $1 AND j.seq <= $2 AND (j.seq > $3 OR j.seq = ANY($4)
                        OR ($5::text IS NOT NULL AND j.txid >= pg_snapshot_xmin($5::text::pg_snapshot)
                            AND NOT pg_visible_in_snapshot(j.txid, $5::text::pg_snapshot)))";
                    let head = "j.seq, j.op::text, j.origin, \
                        to_char(j.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), j.old_row, j.new_row";
                    for t in tables {
                        let oid = ddl::table_oid(c, sch.user, t)?;
                        let cols = match oid {
                            Some(oid) => ddl::columns(c, oid)?,
                            None => Vec::new(),
                        };
                        let params: [&(dyn ToSql + Sync); 5] = [t, &upto, &high, &holes, &snap];
                        let typed_sql = (!cols.is_empty()).then(|| {
                            let arr = |a: &str| {
                                let items: Vec<String> = cols
                                    .iter()
                                    .map(|ci| text::text_expr(&format!("{a}.{}", q(&ci.name)), ci.base_oid))
                                    .collect();
                                format!("ARRAY[{}]", items.join(", "))
                            };
                            format!(
                                "SELECT {head}, {}, {} FROM {s}._ripcord_journal j
                                 LEFT JOIN LATERAL json_populate_record(NULL::{qt}, j.old_row) o ON true
                                 LEFT JOIN LATERAL json_populate_record(NULL::{qt}, j.new_row) n ON true
                                 WHERE {filter} ORDER BY j.seq",
                                arr("o"),
                                arr("n"),
                                qt = format!("{}.{}", q(split(sch.user, t).0), q(bare(t)))
                            )
                        });
                        let plain_sql = format!(
                            "SELECT {head} FROM {s}._ripcord_journal j WHERE {filter} ORDER BY j.seq"
                        );
                        let mut typed = true;
                        let rows = match &typed_sql {
                            Some(sql) => {
                                c.batch_execute("SAVEPOINT ripcord_read").map_err(err("savepoint"))?;
                                match c.query(sql.as_str(), &params) {
                                    Ok(r) => {
                                        c.batch_execute("RELEASE ripcord_read").map_err(err("release"))?;
                                        r
                                    }
                                    Err(e) if is_cancel(&e) => return Err(EngineError::Cancelled),
                                    Err(e) => {
                                        tracing::warn!(table = %t, error = %describe(&e),
                                            "journal images do not fit the table's current types; using their JSON values");
                                        c.batch_execute("ROLLBACK TO SAVEPOINT ripcord_read; RELEASE ripcord_read")
                                            .map_err(err("rollback to savepoint"))?;
                                        typed = false;
                                        c.query(plain_sql.as_str(), &params).map_err(err("read journal"))?
                                    }
                                }
                            }
                            None => {
                                typed = false;
                                c.query(plain_sql.as_str(), &params).map_err(err("read journal"))?
                            }
                        };
                        for r in rows {
                            let seq: i64 = r.get(0);
                            let op: String = r.get(1);
                            let bad = |reason: String| EngineError::sql(format!("journal entry {seq}"), reason);
                            let old_raw: Option<serde_json::Value> = r.get(4);
                            let new_raw: Option<serde_json::Value> = r.get(5);
                            let (old_t, new_t): (Option<TextRow>, Option<TextRow>) =
                                if typed { (r.get(6), r.get(7)) } else { (None, None) };
                            out.push(JournalEntry {
                                seq,
                                table: t.clone(),
                                op: Op::from_code(&op).ok_or_else(|| bad(format!("unknown operation {op:?}")))?,
                                old: image(old_raw, old_t, &cols).map_err(bad)?,
                                new: image(new_raw, new_t, &cols).map_err(bad)?,
                                origin: Origin::parse(r.get::<_, &str>(2)),
                                at: r.get(3),
                            });
                        }
                    }
                    Ok(out)
                },
            )?;
            all.sort_by_key(|e| e.seq);
            Ok(all)
        })
    }

    fn apply(
        &mut self,
        ops: &[ApplyOp],
        position: &ReplayPosition,
        summarize: &dyn Fn(&[ApplyOutcome]) -> String,
    ) -> EngineResult<Vec<ApplyOutcome>> {
        self.ensure_prepared()?;
        self.write(Origin::Ripcord, |c, sch| {
            let mut a = Applier {
                c,
                schema: sch.user,
                tables: HashMap::new(),
                stmts: HashMap::new(),
            };
            let outcomes = a.apply(ops)?;
            let note = summarize(&outcomes);
            c.execute(
                &format!(
                    "INSERT INTO {}._ripcord_replay (tag, last_seq, note) VALUES ($1, $2, $3)",
                    q(sch.rs)
                ),
                &[&position.rollback, &position.last_seq, &note],
            )
            .map_err(err("store replay position"))?;
            Ok(outcomes)
        })
    }

    fn replay_position(&mut self, tag: &str) -> EngineResult<Option<i64>> {
        self.bounded("read the replay position", |this| {
            if !this.is_installed()? {
                return Ok(None);
            }
            Ok(this
                .client
                .query_one(
                    &format!(
                        "SELECT max(last_seq) FROM {}._ripcord_replay WHERE tag = $1",
                        this.s()
                    ),
                    &[&tag],
                )
                .map_err(err("replay position"))?
                .get(0))
        })
    }

    fn replay_log(&mut self, tag: &str) -> EngineResult<Vec<(i64, String)>> {
        self.bounded("read the replay log", |this| {
            if !this.is_installed()? {
                return Ok(Vec::new());
            }
            Ok(this
                .client
                .query(
                    &format!(
                        "SELECT last_seq, note FROM {}._ripcord_replay WHERE tag = $1 ORDER BY last_seq",
                        this.s()
                    ),
                    &[&tag],
                )
                .map_err(err("replay log"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn eval_exprs(&mut self, exprs: &[String], input: &RowImage) -> EngineResult<Vec<Value>> {
        if exprs.is_empty() {
            return Ok(Vec::new());
        }
        let cols: Vec<String> = input
            .iter()
            .enumerate()
            .map(|(i, (k, v))| format!("${}::text::{} AS {}", i + 1, Kind::sql_type(v), q(k)))
            .collect();
        let outs: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("({e}) AS _ripcord_{i}"))
            .collect();
        let inner = format!(
            "SELECT {} FROM (SELECT {}) s",
            outs.join(", "),
            if cols.is_empty() {
                "1".to_string()
            } else {
                cols.join(", ")
            }
        );
        let context = || format!("evaluate {}", exprs.join(", "));
        self.prepare_eval(&inner, exprs.len(), "", &context())?;
        let (kinds, stmt) = &self.eval_cache[&inner];
        let params: Params = input.values().map(param).collect();
        let row = self
            .client
            .query_one(stmt, &refs(&params))
            .map_err(err(context()))?;
        row_values(kinds, &row, &context())
    }

    fn eval_exprs_batch(
        &mut self,
        exprs: &[String],
        inputs: &[RowImage],
    ) -> EngineResult<Vec<Vec<Value>>> {
        let Some(first) = inputs.first() else {
            return Ok(Vec::new());
        };
        if exprs.is_empty() {
            return Ok(vec![Vec::new(); inputs.len()]);
        }
        let context = || format!("evaluate {}", exprs.join(", "));
        let names: Vec<&String> = first.keys().collect();
        // One text array per column, unnested with the row's ordinal: the statement does
        // not depend on the batch's size, so it is prepared once per shape. A column's type
        // is that of its first non-NULL value in the batch (every row must agree).
        let mut arrays: Vec<Vec<Option<String>>> =
            vec![Vec::with_capacity(inputs.len()); names.len()];
        let mut types: Vec<&'static str> = vec!["text"; names.len()];
        let mut typed = vec![false; names.len()];
        for (n, img) in inputs.iter().enumerate() {
            for (i, name) in names.iter().enumerate() {
                let v = img.get(*name).ok_or_else(|| {
                    EngineError::sql(context(), format!("input row {n} has no column {name}"))
                })?;
                if !typed[i] && !v.is_null() {
                    types[i] = Kind::sql_type(v);
                    typed[i] = true;
                }
                arrays[i].push(param(v));
            }
        }
        let cols: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, k)| format!("u.c{i}::{} AS {}", types[i], q(k)))
            .collect();
        let args: Vec<String> = (0..names.len())
            .map(|i| format!("${}::text[]", i + 1))
            .collect();
        let aliases: Vec<String> = (0..names.len()).map(|i| format!("c{i}")).collect();
        let outs: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("({e}) AS _ripcord_{i}"))
            .collect();
        let source = if names.is_empty() {
            "SELECT u.n AS _ripcord_n FROM generate_series(1, $1::int) AS u(n)".to_string()
        } else {
            format!(
                "SELECT {}, u.n AS _ripcord_n FROM unnest({}) WITH ORDINALITY AS u({}, n)",
                cols.join(", "),
                args.join(", "),
                aliases.join(", ")
            )
        };
        let inner = format!("SELECT {}, s._ripcord_n FROM ({source}) s", outs.join(", "));
        self.prepare_eval(&inner, exprs.len(), " ORDER BY r._ripcord_n", &context())?;
        let (kinds, stmt) = &self.eval_cache[&inner];
        let count = inputs.len() as i32;
        let params: Vec<&(dyn ToSql + Sync)> = if names.is_empty() {
            vec![&count]
        } else {
            arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
        };
        let rows = self.client.query(stmt, &params).map_err(err(context()))?;
        if rows.len() != inputs.len() {
            return Err(EngineError::sql(
                context(),
                format!("{} results for {} rows", rows.len(), inputs.len()),
            ));
        }
        let context = context();
        rows.iter()
            .map(|row| row_values(kinds, row, &context))
            .collect()
    }

    fn freeze(&mut self, tables: &[String]) -> EngineResult<()> {
        self.ensure_prepared()?;
        let set_lock = self.set_local_lock_timeout();
        // One transaction: a freeze that cannot take every table's lock freezes none.
        let r = self.write(Origin::Ripcord, |c, sch| {
            c.batch_execute(&set_lock).map_err(err("lock_timeout"))?;
            for t in tables {
                c.batch_execute(&freeze_sql(sch.rs, t))
                    .map_err(err(format!("freeze {t}")))?;
            }
            Ok(())
        });
        r.map_err(|e| self.name_lock_holders(e, tables))
    }

    fn unfreeze(&mut self, tables: &[String]) -> EngineResult<()> {
        self.ensure_prepared()?;
        self.write(Origin::Ripcord, |c, sch| {
            for t in tables {
                if ddl::table_oid(c, sch.user, t)?.is_some() {
                    c.batch_execute(&format!(
                        "DROP TRIGGER IF EXISTS {} ON {}",
                        q(&format!("_ripcord_frz_{}", bare(t))),
                        qn(t)
                    ))
                    .map_err(err(format!("unfreeze {t}")))?;
                }
                c.execute(
                    &format!("DELETE FROM {}._ripcord_frozen WHERE tbl = $1", q(sch.rs)),
                    &[t],
                )
                .map_err(err("unfreeze"))?;
            }
            // Foreign keys a restore had to add NOT VALID: the rollback is over, so the
            // rows should satisfy them now.
            let pending: Vec<(String, String)> = c
                .query(
                    &format!("SELECT tbl, conname FROM {}._ripcord_pending_fk ORDER BY 1, 2", q(sch.rs)),
                    &[],
                )
                .map_err(err("pending foreign keys"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            for (t, name) in pending {
                let r = c.batch_execute(&format!(
                    "SAVEPOINT ripcord_fk; ALTER TABLE {} VALIDATE CONSTRAINT {}; RELEASE ripcord_fk",
                    qn(&t),
                    q(&name)
                ));
                match r {
                    Ok(()) => {
                        c.execute(
                            &format!("DELETE FROM {}._ripcord_pending_fk WHERE tbl = $1 AND conname = $2", q(sch.rs)),
                            &[&t, &name],
                        )
                        .map_err(err("pending foreign keys"))?;
                    }
                    Err(e) if is_cancel(&e) => return Err(EngineError::Cancelled),
                    Err(e) => {
                        tracing::warn!(table = %t, constraint = %name, error = %describe(&e),
                            "foreign key stays NOT VALID");
                        c.batch_execute("ROLLBACK TO SAVEPOINT ripcord_fk; RELEASE ripcord_fk")
                            .map_err(err("rollback to savepoint"))?;
                    }
                }
            }
            Ok(())
        })
    }

    fn frozen_tables(&mut self) -> EngineResult<Vec<String>> {
        self.bounded("list the frozen tables", |this| {
            if !this.is_installed()? {
                return Ok(Vec::new());
            }
            Ok(this
                .client
                .query(
                    &format!("SELECT tbl FROM {}._ripcord_frozen ORDER BY tbl", this.s()),
                    &[],
                )
                .map_err(err("frozen tables"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn execute(&mut self, sql: &str, origin: Origin) -> EngineResult<()> {
        self.write(origin, |c, _| c.batch_execute(sql).map_err(err("step SQL")))
    }

    fn query_scalar(&mut self, sql: &str) -> EngineResult<Value> {
        let context = || format!("query {sql}");
        let stmt = self.client.prepare(sql).map_err(err(context()))?;
        let kind = stmt
            .columns()
            .first()
            .map(|c| Kind::of_oid(c.type_().oid()))
            .ok_or_else(|| EngineError::sql(context(), "the query returns no column"))?;
        // The simple protocol returns every type as its text output.
        for m in self.client.simple_query(sql).map_err(err(context()))? {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                return value_of(kind, r.get(0)).map_err(|e| EngineError::sql(context(), e));
            }
        }
        Ok(Value::Null)
    }

    fn count_rows(&mut self, table: &str) -> EngineResult<u64> {
        let n: i64 = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}", qn(table)), &[])
            .map_err(|e| {
                if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) {
                    EngineError::NoSuchTable(table.to_string())
                } else {
                    map_err(format!("count {table}"), e)
                }
            })?
            .get(0);
        Ok(n as u64)
    }

    fn cancel_handle(&self) -> Box<dyn CancelHandle> {
        Box::new(Cancel(self.client.cancel_token(), self.tls.clone()))
    }
}

/// The scratch schema, pruning and consistent counts; the SQL is in `housekeeping.rs`.
impl Housekeeping for PgEngine {
    fn mark_and_counts(
        &mut self,
        tables: &[String],
    ) -> EngineResult<Option<(JournalMark, Vec<u64>)>> {
        self.need_installed()?;
        let r = self.tx(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            None,
            |c, sch| -> EngineResult<(JournalMark, Vec<u64>)> {
                let mark = journal_mark_in(c, sch.rs, Some(sch.statement_timeout))?;
                let mut counts = Vec::with_capacity(tables.len());
                for t in tables {
                    let n: i64 = c
                        .query_one(&format!("SELECT count(*) FROM {}", qn(t)), &[])
                        .map_err(err(format!("count {t}")))?
                        .get(0);
                    counts.push(n as u64);
                }
                Ok((mark, counts))
            },
        )?;
        Ok(Some(r))
    }

    /// Text keys are read `COLLATE "C"` (see `select_sql`): byte order.
    fn keys_in_byte_order(&mut self, _table: &str) -> EngineResult<bool> {
        Ok(true)
    }

    fn prune_journal(&mut self, keep: &[JournalMark]) -> EngineResult<Option<u64>> {
        self.bounded("prune the journal", |this| {
            // Nothing installed, nothing to prune; pruning never installs.
            if !this.is_installed()? {
                return Ok(Some(0));
            }
            crate::housekeeping::prune_journal(&mut this.client, &this.rs, keep).map(Some)
        })
    }

    fn scratch_restore(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
    ) -> ripcord_core::Result<Option<u64>> {
        crate::housekeeping::scratch_restore(&mut self.client, &self.schema, scratch, schema, rows)
            .map(Some)
    }

    fn scratch_read(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<()> {
        crate::housekeeping::scratch_read(&mut self.client, scratch, schema, sink)
    }

    fn scratch_drop(&mut self, scratch: &str) -> EngineResult<()> {
        crate::housekeeping::scratch_drop(&mut self.client, scratch)
    }
}

struct Cancel(postgres::CancelToken, crate::connect::Tls);

impl CancelHandle for Cancel {
    fn cancel(&self) {
        if let Err(e) = self.0.cancel_query(self.1.clone()) {
            tracing::warn!(error = %e, "could not send the cancel request");
        }
    }
}

// The CLI holds engines as `Box<dyn Engine>`, which needs `Send`.
const _: fn(PgEngine) -> Box<dyn Engine> = |e| Box::new(e);
