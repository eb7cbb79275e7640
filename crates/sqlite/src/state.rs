//! The SQLite state store (`.ripcord/state.db`). Its schema is versioned with
//! `PRAGMA user_version`; [`MIGRATIONS`] brings an older file up to date in order.

use ripcord_core::Error;
use ripcord_core::audit::{self, AuditDraft, AuditEntry};
use ripcord_core::context::now;
use ripcord_core::events::{Envelope, Event, Severity};
use ripcord_core::notify::{
    AckRecord, AckToken, Attempt, DeliveryRecord, DeliveryStatus, IncidentRecord, IncidentStatus,
    NotifyBatch,
};
use ripcord_core::rollback::RollbackRecord;
use ripcord_core::state::*;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;

/// Schema versions, oldest first; version N is reached by running `MIGRATIONS[N-1]`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE runs (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, actor TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE checkpoints (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, components TEXT NOT NULL, rows INTEGER NOT NULL, bytes INTEGER NOT NULL, new_bytes INTEGER NOT NULL);
    CREATE TABLE rollbacks (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, record TEXT NOT NULL);
    CREATE TABLE phases (pos INTEGER PRIMARY KEY, rollback TEXT NOT NULL, phase TEXT NOT NULL, event TEXT NOT NULL, at TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, since TEXT NOT NULL, lease_until_ms INTEGER NOT NULL);
    CREATE TABLE audit (pos INTEGER PRIMARY KEY, seq INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, args TEXT NOT NULL, result TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
", "
    CREATE TABLE baselines (probe TEXT PRIMARY KEY, record TEXT NOT NULL);
    CREATE TABLE stop_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, scenario TEXT, handled_at TEXT, outcome TEXT);
    CREATE TABLE decisions (id TEXT PRIMARY KEY, opened_at TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL);
    CREATE TABLE guard_status (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL);
", "
    CREATE TABLE capture_links (pos INTEGER PRIMARY KEY, record TEXT NOT NULL);
", "
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, severity TEXT NOT NULL, subject TEXT NOT NULL, event TEXT NOT NULL);
", "
    CREATE TABLE switches (name TEXT PRIMARY KEY, record TEXT NOT NULL);
", "
    CREATE TABLE incidents (id TEXT PRIMARY KEY, opened_ms INTEGER NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL);
    CREATE TABLE incident_acks (incident TEXT NOT NULL, level INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (incident, level));
    CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, incident TEXT, status TEXT NOT NULL, next_ms INTEGER NOT NULL, record TEXT NOT NULL);
    CREATE INDEX deliveries_due ON deliveries (status, next_ms);
    CREATE TABLE notify_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
", "
    CREATE TABLE syncs (component TEXT PRIMARY KEY, record TEXT NOT NULL);
    CREATE TABLE cutovers (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, record TEXT NOT NULL);
", "
    CREATE TABLE ack_tokens (hash TEXT PRIMARY KEY, incident TEXT NOT NULL, level INTEGER NOT NULL, recipient TEXT NOT NULL, created_at TEXT NOT NULL, used_at TEXT);
"];

pub struct SqliteState {
    conn: Connection,
    path: std::path::PathBuf,
}

/// How long a state store statement waits for another ripcord process's lock on the file.
const BUSY_WAIT: Duration = Duration::from_secs(30);

fn e(context: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |err| {
        if let rusqlite::Error::SqliteFailure(f, _) = &err
            && f.code == rusqlite::ErrorCode::DatabaseBusy
        {
            return Error::State(format!(
                "{context}: another process kept the state store locked and ripcord gave up waiting ({err}); a ripcord command still writing there, or a tool with the file open, holds it"
            ));
        }
        Error::State(format!("{context}: {err}"))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl SqliteState {
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|err| Error::State(format!("cannot create {}: {err}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(e("open state store"))?;
        conn.busy_timeout(BUSY_WAIT).map_err(e("busy_timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(e("journal_mode"))?;
        let mut s = SqliteState {
            conn,
            path: path.to_path_buf(),
        };
        s.migrate()?;
        Ok(s)
    }

    /// Waits at most `wait` for another process's lock on the file (default 30 s).
    pub fn with_busy_timeout(self, wait: Duration) -> Result<Self, Error> {
        self.conn.busy_timeout(wait).map_err(e("busy_timeout"))?;
        Ok(self)
    }

    fn migrate(&mut self) -> Result<(), Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("migrate"))?;
        let v: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map_err(e("user_version"))? as usize;
        if v > MIGRATIONS.len() {
            return Err(Error::State(format!(
                "the state store is version {v}, newer than this ripcord ({}); upgrade ripcord",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(v) {
            tx.execute_batch(m).map_err(e("migrate"))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(e("user_version"))?;
        }
        tx.commit().map_err(e("migrate"))
    }

    /// For tests that tamper with the audit table on purpose.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl StateStore for SqliteState {
    fn create_run(&mut self, id: &str, actor: &str, detail: &serde_json::Value) -> StateResult<()> {
        self.conn
            .execute("INSERT INTO runs (id, started_at, actor, status, detail) VALUES (?1, ?2, ?3, 'running', ?4)", params![id, now(), actor, detail.to_string()])
            .map_err(e("create run"))?;
        Ok(())
    }

    fn finish_run(
        &mut self,
        id: &str,
        status: &str,
        detail: &serde_json::Value,
    ) -> StateResult<()> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, detail = ?4 WHERE id = ?1",
                params![id, now(), status, detail.to_string()],
            )
            .map_err(e("finish run"))?;
        Ok(())
    }

    fn runs(&mut self) -> StateResult<Vec<RunRecord>> {
        let mut st = self.conn.prepare("SELECT id, started_at, finished_at, actor, status, detail FROM runs ORDER BY started_at DESC").map_err(e("runs"))?;
        let v = st
            .query_map([], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    actor: r.get(3)?,
                    status: r.get(4)?,
                    detail: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                })
            })
            .map_err(e("runs"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("runs"))?;
        Ok(v)
    }

    fn add_checkpoint(&mut self, c: &CheckpointRecord) -> StateResult<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO checkpoints (id, created_at, components, rows, bytes, new_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.id, c.created_at, serde_json::to_string(&c.components).expect("json"), c.rows as i64, c.bytes as i64, c.new_bytes as i64],
            )
            .map_err(e("add checkpoint"))?;
        Ok(())
    }

    fn checkpoints(&mut self) -> StateResult<Vec<CheckpointRecord>> {
        let mut st = self.conn.prepare("SELECT id, created_at, components, rows, bytes, new_bytes FROM checkpoints ORDER BY created_at DESC, rowid DESC").map_err(e("checkpoints"))?;
        let v = st
            .query_map([], |r| {
                Ok(CheckpointRecord {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    components: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    rows: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                    new_bytes: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(e("checkpoints"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("checkpoints"))?;
        Ok(v)
    }

    fn remove_checkpoint(&mut self, id: &str) -> StateResult<bool> {
        let n = self
            .conn
            .execute("DELETE FROM checkpoints WHERE id = ?1", params![id])
            .map_err(e("remove checkpoint"))?;
        Ok(n > 0)
    }

    fn save_rollback(&mut self, r: &RollbackRecord) -> StateResult<()> {
        let json = serde_json::to_string(r).expect("records serialize");
        self.conn
            .execute(
                "INSERT INTO rollbacks (id, started_at, record) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                params![r.id, r.started_at, json],
            )
            .map_err(e("save rollback"))?;
        Ok(())
    }

    fn rollbacks(&mut self) -> StateResult<Vec<RollbackRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT record FROM rollbacks ORDER BY started_at DESC, rowid DESC")
            .map_err(e("rollbacks"))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(e("rollbacks"))?;
        let mut out = Vec::new();
        for r in rows {
            let json = r.map_err(e("rollbacks"))?;
            out.push(
                serde_json::from_str(&json).map_err(|err| {
                    Error::State(format!("a rollback record is unreadable: {err}"))
                })?,
            );
        }
        Ok(out)
    }

    fn add_capture_link(&mut self, link: &CaptureLink) -> StateResult<()> {
        let json = serde_json::to_string(link).expect("links serialize");
        self.conn
            .execute("INSERT INTO capture_links (record) VALUES (?1)", [json])
            .map_err(e("add capture link"))?;
        Ok(())
    }

    fn capture_links(&mut self) -> StateResult<Vec<CaptureLink>> {
        json_texts(
            &self.conn,
            "SELECT record FROM capture_links ORDER BY pos",
            "capture links",
        )?
        .iter()
        .map(|j| serde_json::from_str(j).map_err(unreadable("capture link")))
        .collect()
    }

    fn log_phase(
        &mut self,
        rollback: &str,
        phase: &str,
        event: &str,
        detail: &str,
    ) -> StateResult<()> {
        self.conn
            .execute("INSERT INTO phases (rollback, phase, event, at, detail) VALUES (?1, ?2, ?3, ?4, ?5)", params![rollback, phase, event, now(), detail])
            .map_err(e("log phase"))?;
        Ok(())
    }

    fn phases(&mut self, rollback: &str) -> StateResult<Vec<PhaseRecord>> {
        let mut st = self.conn.prepare("SELECT rollback, phase, event, at, detail FROM phases WHERE rollback = ?1 ORDER BY pos").map_err(e("phases"))?;
        let v = st
            .query_map([rollback], |r| {
                Ok(PhaseRecord {
                    rollback: r.get(0)?,
                    phase: r.get(1)?,
                    event: r.get(2)?,
                    at: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(e("phases"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("phases"))?;
        Ok(v)
    }

    fn acquire_lock(&mut self, name: &str, owner: &LockOwner, lease: Duration) -> StateResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("lock"))?;
        let held: Option<(String, String, u32, String, i64)> = tx
            .query_row(
                "SELECT owner, host, pid, since, lease_until_ms FROM locks WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(e("lock"))?;
        if let Some((o, host, pid, since, until)) = held {
            let holder = LockOwner {
                owner: o,
                host,
                pid,
            };
            let mine = holder.host == owner.host && holder.pid == owner.pid;
            if !mine && until > now_ms() && !holder.is_dead_here() {
                return Err(Error::from(LockHeld {
                    name: name.into(),
                    holder,
                    since,
                    lease_until: ms_text(until),
                }));
            }
        }
        tx.execute(
            "INSERT INTO locks (name, owner, host, pid, since, lease_until_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid, since = excluded.since, lease_until_ms = excluded.lease_until_ms",
            params![name, owner.owner, owner.host, owner.pid, now(), now_ms() + lease.as_millis() as i64],
        )
        .map_err(e("lock"))?;
        tx.commit().map_err(e("lock"))
    }

    fn renew_lock(&mut self, name: &str, owner: &LockOwner, lease: Duration) -> StateResult<()> {
        self.conn
            .execute(
                "UPDATE locks SET lease_until_ms = ?4 WHERE name = ?1 AND host = ?2 AND pid = ?3",
                params![
                    name,
                    owner.host,
                    owner.pid,
                    now_ms() + lease.as_millis() as i64
                ],
            )
            .map_err(e("renew lock"))?;
        Ok(())
    }

    fn release_lock(&mut self, name: &str, owner: &LockOwner) -> StateResult<()> {
        self.conn
            .execute(
                "DELETE FROM locks WHERE name = ?1 AND host = ?2 AND pid = ?3",
                params![name, owner.host, owner.pid],
            )
            .map_err(e("release lock"))?;
        Ok(())
    }

    fn locks(&mut self) -> StateResult<Vec<LockHeld>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT name, owner, host, pid, since, lease_until_ms FROM locks ORDER BY name",
            )
            .map_err(e("locks"))?;
        let v = st
            .query_map([], |r| {
                Ok(LockHeld {
                    name: r.get(0)?,
                    holder: LockOwner {
                        owner: r.get(1)?,
                        host: r.get(2)?,
                        pid: r.get(3)?,
                    },
                    since: r.get(4)?,
                    lease_until: ms_text(r.get(5)?),
                })
            })
            .map_err(e("locks"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("locks"))?;
        Ok(v)
    }

    fn append_audit(&mut self, draft: AuditDraft) -> StateResult<AuditEntry> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("audit"))?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(e("audit"))?;
        let entry = audit::seal(draft, head, now());
        tx.execute(
            "INSERT INTO audit (seq, at, actor, action, args, result, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![entry.seq, entry.at, entry.actor, entry.action, entry.args.to_string(), entry.result, entry.prev, entry.hash],
        )
        .map_err(e("audit"))?;
        tx.execute(
            "INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)",
            params![entry.seq, entry.hash],
        )
        .map_err(e("audit"))?;
        tx.commit().map_err(e("audit"))?;
        Ok(entry)
    }

    fn audit_entries(&mut self) -> StateResult<Vec<AuditEntry>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT seq, at, actor, action, args, result, prev, hash FROM audit ORDER BY pos",
            )
            .map_err(e("audit"))?;
        let v = st
            .query_map([], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    args: serde_json::from_str(&r.get::<_, String>(4)?)
                        .unwrap_or(serde_json::Value::Null),
                    result: r.get(5)?,
                    prev: r.get(6)?,
                    hash: r.get(7)?,
                })
            })
            .map_err(e("audit"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("audit"))?;
        Ok(v)
    }

    fn audit_head(&mut self) -> StateResult<Option<(i64, String)>> {
        self.conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(e("audit head"))
    }

    fn reopen(&self) -> StateResult<Box<dyn StateStore>> {
        Ok(Box::new(SqliteState::open(&self.path)?))
    }

    fn pin_baseline(&mut self, b: &BaselineRecord) -> StateResult<()> {
        self.conn
            .execute(
                "INSERT INTO baselines (probe, record) VALUES (?1, ?2) ON CONFLICT (probe) DO UPDATE SET record = excluded.record",
                params![b.probe, serde_json::to_string(b).expect("records serialize")],
            )
            .map_err(e("pin baseline"))?;
        Ok(())
    }

    fn baselines(&mut self) -> StateResult<Vec<BaselineRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM baselines ORDER BY probe",
            "baselines",
        )?
        .iter()
        .map(|j| serde_json::from_str(j).map_err(unreadable("baseline")))
        .collect()
    }

    fn request_stop(
        &mut self,
        actor: &str,
        reason: &str,
        scenario: Option<&str>,
    ) -> StateResult<StopRecord> {
        let (at, at_ms) = (now(), now_ms());
        self.conn
            .execute(
                "INSERT INTO stop_requests (at, at_ms, actor, reason, scenario) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at, at_ms, actor, reason, scenario],
            )
            .map_err(e("request stop"))?;
        Ok(StopRecord {
            id: self.conn.last_insert_rowid(),
            at,
            at_ms,
            actor: actor.into(),
            reason: reason.into(),
            scenario: scenario.map(str::to_string),
            handled_at: None,
            outcome: None,
        })
    }

    fn stop_requests_after(&mut self, id: i64) -> StateResult<Vec<StopRecord>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, at, at_ms, actor, reason, scenario, handled_at, outcome FROM stop_requests WHERE id > ?1 ORDER BY id")
            .map_err(e("stop requests"))?;
        st.query_map([id], |r| {
            Ok(StopRecord {
                id: r.get(0)?,
                at: r.get(1)?,
                at_ms: r.get(2)?,
                actor: r.get(3)?,
                reason: r.get(4)?,
                scenario: r.get(5)?,
                handled_at: r.get(6)?,
                outcome: r.get(7)?,
            })
        })
        .map_err(e("stop requests"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("stop requests"))
    }

    fn last_stop_id(&mut self) -> StateResult<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM stop_requests", [], |r| {
                r.get(0)
            })
            .map_err(e("stop requests"))
    }

    fn answer_stop(&mut self, id: i64, outcome: &str) -> StateResult<()> {
        self.conn
            .execute(
                "UPDATE stop_requests SET handled_at = ?2, outcome = ?3 WHERE id = ?1",
                params![id, now(), outcome],
            )
            .map_err(e("answer stop"))?;
        Ok(())
    }

    fn save_decision(&mut self, d: &DecisionRecord) -> StateResult<()> {
        self.conn
            .execute(
                "INSERT INTO decisions (id, opened_at, status, record) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record",
                params![d.id, d.opened_at, d.status, serde_json::to_string(d).expect("records serialize")],
            )
            .map_err(e("save decision"))?;
        Ok(())
    }

    fn decisions(&mut self) -> StateResult<Vec<DecisionRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM decisions ORDER BY opened_at DESC, rowid DESC",
            "decisions",
        )?
        .iter()
        .map(|j| serde_json::from_str(j).map_err(unreadable("decision")))
        .collect()
    }

    fn answer_decision(&mut self, id: &str, status: &str, by: &str) -> StateResult<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("answer decision"))?;
        let rec: Option<String> = tx
            .query_row(
                "SELECT record FROM decisions WHERE id = ?1 AND status = 'open'",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(e("answer decision"))?;
        let Some(rec) = rec else {
            return Ok(false);
        };
        let mut d: DecisionRecord = serde_json::from_str(&rec)
            .map_err(|err| Error::State(format!("a decision record is unreadable: {err}")))?;
        d.status = status.into();
        d.answered_by = Some(by.into());
        d.answered_at = Some(now());
        tx.execute(
            "UPDATE decisions SET status = ?2, record = ?3 WHERE id = ?1",
            params![
                id,
                status,
                serde_json::to_string(&d).expect("records serialize")
            ],
        )
        .map_err(e("answer decision"))?;
        tx.commit().map_err(e("answer decision"))?;
        Ok(true)
    }

    fn append_events(&mut self, events: &mut [Envelope]) -> StateResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("append events"))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO events (at, severity, subject, event) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e("append events"))?;
            for ev in events.iter_mut() {
                st.execute(params![
                    ev.at,
                    ev.severity.name(),
                    serde_json::to_string(&ev.subject).expect("subjects serialize"),
                    serde_json::to_string(&ev.event).expect("events serialize"),
                ])
                .map_err(e("append events"))?;
                ev.seq = Some(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(e("append events"))
    }

    fn events_after(&mut self, seq: i64, limit: usize) -> StateResult<Vec<Envelope>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, at, severity, subject, event FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(e("events"))?;
        st.query_map(params![seq, limit as i64], |r| {
            let (severity, subject, event): (String, String, String) =
                (r.get(2)?, r.get(3)?, r.get(4)?);
            // A reader must get past every row, so one it cannot read is shown as unknown
            // instead of stopping it there.
            let event: Event = serde_json::from_str(&event).unwrap_or(Event::Unknown);
            Ok(Envelope {
                seq: Some(r.get(0)?),
                at: r.get(1)?,
                severity: Severity::parse(&severity).unwrap_or_else(|| event.severity()),
                subject: serde_json::from_str(&subject).unwrap_or_default(),
                event,
            })
        })
        .map_err(e("events"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("events"))
    }

    fn save_guard_status(&mut self, status: &serde_json::Value) -> StateResult<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO guard_status (id, record) VALUES (1, ?1)",
                [status.to_string()],
            )
            .map_err(e("save guard status"))?;
        Ok(())
    }

    fn guard_status(&mut self) -> StateResult<Option<serde_json::Value>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT record FROM guard_status WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e("guard status"))?;
        Ok(v.and_then(|v| serde_json::from_str(&v).ok()))
    }

    fn save_switch(&mut self, r: &ripcord_core::switch::SwitchRecord) -> StateResult<()> {
        let record = serde_json::to_string(r)
            .map_err(|err| Error::State(format!("switch record: {err}")))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO switches (name, record) VALUES (?1, ?2)",
                params![r.name, record],
            )
            .map_err(e("save switch"))?;
        Ok(())
    }

    fn switches(&mut self) -> StateResult<Vec<ripcord_core::switch::SwitchRecord>> {
        self.switch_records()
    }

    fn notify_cursor(&mut self) -> StateResult<Option<i64>> {
        self.conn
            .query_row("SELECT seq FROM notify_cursor WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e("notify cursor"))
    }

    fn last_event_seq(&mut self) -> StateResult<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(e("last event"))
    }

    fn notify_commit(&mut self, batch: &NotifyBatch) -> StateResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("notify commit"))?;
        for i in &batch.incidents {
            let status = match i.status {
                IncidentStatus::Open => "open",
                IncidentStatus::Resolved => "resolved",
            };
            tx.execute(
                "INSERT OR REPLACE INTO incidents (id, opened_ms, status, record) VALUES (?1, ?2, ?3, ?4)",
                params![i.id, i.opened_ms, status, serde_json::to_string(i).expect("records serialize")],
            )
            .map_err(e("save incident"))?;
        }
        for d in &batch.deliveries {
            let id: Option<i64> = tx
                .query_row(
                    "INSERT INTO deliveries (key, incident, status, next_ms, record) VALUES (?1, ?2, ?3, ?4, '') ON CONFLICT (key) DO NOTHING RETURNING id",
                    params![d.key, d.incident, d.status.name(), d.next_attempt_ms],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e("queue delivery"))?;
            if let Some(id) = id {
                let rec = DeliveryRecord { id, ..d.clone() };
                tx.execute(
                    "UPDATE deliveries SET record = ?2 WHERE id = ?1",
                    params![id, serde_json::to_string(&rec).expect("records serialize")],
                )
                .map_err(e("queue delivery"))?;
            }
        }
        if let Some(c) = batch.cursor {
            tx.execute(
                "INSERT OR REPLACE INTO notify_cursor (id, seq) VALUES (1, ?1)",
                [c],
            )
            .map_err(e("notify cursor"))?;
        }
        tx.commit().map_err(e("notify commit"))
    }

    fn incidents(&mut self) -> StateResult<Vec<IncidentRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM incidents ORDER BY opened_ms DESC, id DESC",
            "incidents",
        )?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(unreadable("incident")))
        .collect()
    }

    fn ack_incident(&mut self, ack: &AckRecord) -> StateResult<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO incident_acks (incident, level, record) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![ack.incident, ack.level, serde_json::to_string(ack).expect("records serialize")],
            )
            .map_err(e("ack"))?;
        Ok(n == 1)
    }

    fn acks(&mut self) -> StateResult<Vec<AckRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM incident_acks ORDER BY rowid",
            "acks",
        )?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(unreadable("ack")))
        .collect()
    }

    fn save_ack_token(&mut self, t: &AckToken) -> StateResult<()> {
        self.conn
            .execute(
                "INSERT INTO ack_tokens (hash, incident, level, recipient, created_at, used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![t.hash, t.incident, t.level, t.recipient, t.created_at, t.used_at],
            )
            .map_err(e("save ack token"))?;
        Ok(())
    }

    fn ack_token(&mut self, hash: &str) -> StateResult<Option<AckToken>> {
        self.conn
            .query_row(
                "SELECT hash, incident, level, recipient, created_at, used_at FROM ack_tokens WHERE hash = ?1",
                [hash],
                |r| {
                    Ok(AckToken {
                        hash: r.get(0)?,
                        incident: r.get(1)?,
                        level: r.get(2)?,
                        recipient: r.get(3)?,
                        created_at: r.get(4)?,
                        used_at: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(e("ack token"))
    }

    fn use_ack_token(&mut self, hash: &str, at: &str) -> StateResult<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE ack_tokens SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL",
                params![hash, at],
            )
            .map_err(e("use ack token"))?;
        Ok(n == 1)
    }

    fn deliveries(&mut self, incident: Option<&str>) -> StateResult<Vec<DeliveryRecord>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT record FROM deliveries WHERE ?1 IS NULL OR incident = ?1 ORDER BY id",
            )
            .map_err(e("deliveries"))?;
        let texts = st
            .query_map([incident], |r| r.get::<_, String>(0))
            .map_err(e("deliveries"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("deliveries"))?;
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(unreadable("delivery")))
            .collect()
    }

    fn claim_due(
        &mut self,
        now_ms: i64,
        limit: usize,
        claim_until_ms: i64,
    ) -> StateResult<Vec<DeliveryRecord>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("claim deliveries"))?;
        let rows: Vec<(i64, String)> = {
            let mut st = tx
                .prepare_cached("SELECT id, record FROM deliveries WHERE status = 'pending' AND next_ms <= ?1 ORDER BY id LIMIT ?2")
                .map_err(e("claim deliveries"))?;
            st.query_map(params![now_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(e("claim deliveries"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e("claim deliveries"))?
        };
        let mut out = Vec::new();
        for (id, text) in rows {
            let mut rec: DeliveryRecord =
                serde_json::from_str(&text).map_err(unreadable("delivery"))?;
            rec.next_attempt_ms = claim_until_ms;
            tx.execute(
                "UPDATE deliveries SET next_ms = ?2, record = ?3 WHERE id = ?1",
                params![
                    id,
                    claim_until_ms,
                    serde_json::to_string(&rec).expect("records serialize")
                ],
            )
            .map_err(e("claim deliveries"))?;
            out.push(rec);
        }
        tx.commit().map_err(e("claim deliveries"))?;
        Ok(out)
    }

    fn record_attempt(
        &mut self,
        id: i64,
        attempt: &Attempt,
        status: DeliveryStatus,
        next_attempt_ms: i64,
    ) -> StateResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("record attempt"))?;
        let text: Option<String> = tx
            .query_row("SELECT record FROM deliveries WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e("record attempt"))?;
        let Some(text) = text else {
            return Err(Error::State(format!("no delivery {id}")));
        };
        let mut rec: DeliveryRecord =
            serde_json::from_str(&text).map_err(unreadable("delivery"))?;
        rec.attempts.push(attempt.clone());
        rec.status = status;
        rec.next_attempt_ms = next_attempt_ms;
        tx.execute(
            "UPDATE deliveries SET status = ?2, next_ms = ?3, record = ?4 WHERE id = ?1",
            params![
                id,
                status.name(),
                next_attempt_ms,
                serde_json::to_string(&rec).expect("records serialize")
            ],
        )
        .map_err(e("record attempt"))?;
        tx.commit().map_err(e("record attempt"))
    }

    fn save_sync(&mut self, r: &ripcord_core::sync::SyncRecord) -> StateResult<()> {
        let record =
            serde_json::to_string(r).map_err(|err| Error::State(format!("sync record: {err}")))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO syncs (component, record) VALUES (?1, ?2)",
                params![r.component, record],
            )
            .map_err(e("save sync"))?;
        Ok(())
    }

    fn syncs(&mut self) -> StateResult<Vec<ripcord_core::sync::SyncRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM syncs ORDER BY component",
            "syncs",
        )?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(unreadable("sync record")))
        .collect()
    }

    fn save_cutover(&mut self, r: &ripcord_core::cutover::CutoverRecord) -> StateResult<()> {
        let record = serde_json::to_string(r)
            .map_err(|err| Error::State(format!("cutover record: {err}")))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cutovers (id, started_at, record) VALUES (?1, ?2, ?3)",
                params![r.id, r.started_at, record],
            )
            .map_err(e("save cutover"))?;
        Ok(())
    }

    fn cutovers(&mut self) -> StateResult<Vec<ripcord_core::cutover::CutoverRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM cutovers ORDER BY started_at DESC, id DESC",
            "cutovers",
        )?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(unreadable("cutover record")))
        .collect()
    }
}

impl SqliteState {
    fn switch_records(&mut self) -> StateResult<Vec<ripcord_core::switch::SwitchRecord>> {
        json_texts(
            &self.conn,
            "SELECT record FROM switches ORDER BY name",
            "switches",
        )?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(unreadable("switch record")))
        .collect()
    }
}

/// The first column of every row: a JSON record.
fn json_texts(conn: &Connection, sql: &str, what: &str) -> StateResult<Vec<String>> {
    let mut st = conn.prepare(sql).map_err(e(what))?;
    st.query_map([], |r| r.get::<_, String>(0))
        .map_err(e(what))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(e(what))
}

fn unreadable(what: &str) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |err| Error::State(format!("a {what} record is unreadable: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_core::engine::{Refusal, Violated};
    use ripcord_core::events::{Bus, EventSink, GapCode, GapReason};
    use std::sync::{Arc, Barrier};

    /// Holds the delivery thread at its first event until the test opens the barrier.
    struct Gate(Arc<Barrier>, bool);

    impl EventSink for Gate {
        fn emit(&mut self, _: &Event) {
            if !self.1 {
                self.1 = true;
                self.0.wait();
            }
        }
    }

    fn progress(done: u64) -> Event {
        Event::Progress {
            what: ripcord_core::events::Operation::Replay {
                components: vec!["payments".into()],
            },
            done,
            total: 10,
        }
    }

    #[test]
    fn events_are_appended_in_order_and_read_by_sequence_from_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let writer = SqliteState::open(&path).unwrap();
        let bus = Bus::default();
        bus.persist_to(writer.reopen().unwrap());
        let gate = Arc::new(Barrier::new(2));
        bus.subscribe(Box::new(Gate(gate.clone(), false)));
        ripcord_core::redact::register("Sekrit-Pw-123");
        bus.emit(Event::RunStarted {
            run: "run-1".into(),
        });
        // Queued while the first event holds the delivery thread: they are taken together,
        // and the progress events among them are thinned to the first and the last.
        for done in 1..=10 {
            bus.emit(progress(done));
        }
        bus.emit(Event::DataGap {
            rollback: "rb-1".into(),
            table: "payments".into(),
            key: "id=7".into(),
            cause: GapReason::Refused {
                refusal: Refusal::new(Violated::Other, "08006", "postgres://u:Sekrit-Pw-123@h/db"),
            },
            code: GapCode::Refused,
        });
        bus.emit(Event::RtoExceeded {
            rollback: "rb-1".into(),
            seconds: 20.0,
            rto_seconds: 10.0,
        });
        gate.wait();
        bus.flush();

        let mut reader = SqliteState::open(&path).unwrap();
        let all = reader.events_after(0, 100).unwrap();
        let kinds: Vec<String> = all
            .iter()
            .map(|e| serde_json::to_value(&e.event).unwrap()["kind"].to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "\"run_started\"",
                "\"progress\"",
                "\"progress\"",
                "\"data_gap\"",
                "\"rto_exceeded\""
            ]
        );
        let seqs: Vec<i64> = all.iter().map(|e| e.seq.unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert!(matches!(all[2].event, Event::Progress { done: 10, .. }));
        assert_eq!(all[0].subject.run.as_deref(), Some("run-1"));
        assert_eq!(all[3].severity, Severity::Warning);
        assert_eq!(all[4].severity, Severity::Critical);
        assert_eq!(all[4].subject.rollback.as_deref(), Some("rb-1"));
        match &all[3].event {
            Event::DataGap {
                cause: GapReason::Refused { refusal },
                code,
                ..
            } => {
                assert_eq!(*code, GapCode::Refused);
                let m = &refusal.message;
                assert!(!m.contains("Sekrit") && m.contains("***"), "{m}");
            }
            e => panic!("{e:?}"),
        }

        // A reader that saw up to the gap gets exactly what came after it.
        let rest = reader.events_after(seqs[3], 100).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].seq, Some(seqs[4]));
        assert_eq!(reader.events_after(seqs[1], 2).unwrap().len(), 2);

        // Nothing was held back: a later emit gets the next sequence number.
        bus.emit(Event::RunStarted {
            run: "run-2".into(),
        });
        bus.flush();
        let next = reader.events_after(seqs[4], 100).unwrap();
        assert!(next.len() == 1 && next[0].seq.unwrap() > seqs[4]);
    }

    /// The log of a ripcord that stored gap reasons and level changes as sentences read
    /// those rows as unknown events after an upgrade.
    #[test]
    fn old_rows_of_retyped_event_kinds_read_as_those_kinds_not_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteState::open(&dir.path().join("state.db")).unwrap();
        for event in [
            r#"{"kind":"data_gap","rollback":"rb-1","table":"payments","key":"id=4","reason":"the legacy database refused the write: FOREIGN KEY constraint failed","code":"refused"}"#,
            r#"{"kind":"level_changed","rule":"","from":"green","to":"red","reason":"slow","evidence":null}"#,
            r#"{"kind":"run_stopped","run":"r1","reason":"stopped by signal SIGTERM: interrupted","components":[]}"#,
        ] {
            s.connection()
                .execute(
                    "INSERT INTO events (at, severity, subject, event) VALUES ('2026-11-01T00:00:00.000Z', 'warning', '{}', ?1)",
                    [event],
                )
                .unwrap();
        }
        let all = s.events_after(0, 10).unwrap();
        assert!(
            matches!(&all[0].event, Event::DataGap { code: GapCode::Refused, cause: GapReason::Described { reason, .. }, .. } if reason.ends_with("constraint failed")),
            "{:?}",
            all[0].event
        );
        assert!(
            matches!(&all[1].event, Event::LevelChanged { cause: ripcord_core::events::LevelCause::Described { reason }, .. } if reason == "slow"),
            "{:?}",
            all[1].event
        );
        assert!(
            matches!(
                &all[2].event,
                Event::RunStopped {
                    cause: ripcord_core::events::RunStop::Stop { .. },
                    ..
                }
            ),
            "{:?}",
            all[2].event
        );
    }

    #[test]
    fn a_row_this_ripcord_cannot_read_does_not_stop_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteState::open(&dir.path().join("state.db")).unwrap();
        s.connection()
            .execute(
                "INSERT INTO events (at, severity, subject, event) VALUES ('2030-01-01T00:00:00.000Z', 'emergency', '{}', '{\"kind\":\"teleported\"}')",
                [],
            )
            .unwrap();
        let mut e = [ripcord_core::events::Envelope::new(Event::RunStarted {
            run: "run-1".into(),
        })];
        s.append_events(&mut e).unwrap();
        let all = s.events_after(0, 10).unwrap();
        assert!(matches!(all[0].event, Event::Unknown));
        assert_eq!(all[1].seq, e[0].seq);
    }
}
