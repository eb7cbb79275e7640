//! Journal pruning (`ripcord prune`), the consistent row counts differential checkpoints
//! check against, and the scratch file `check --rehearse` restores into (beside the
//! database: `<database file>.<scratch name>`): the engine's [`Housekeeping`], kept apart
//! from `engine.rs`.

use super::{SqliteEngine, err, q, select_sql, to_sql, to_value};
use ripcord_core::engine::{EngineError, EngineResult, Housekeeping, SnapshotSink};
use ripcord_core::journal::JournalMark;
use ripcord_core::schema::TableSchema;
use ripcord_core::value::Row;
use rusqlite::{Connection, params_from_iter};
use std::path::PathBuf;

impl Housekeeping for SqliteEngine {
    fn prune_journal(&mut self, keep: &[JournalMark]) -> EngineResult<Option<u64>> {
        self.bounded("prune the journal", |this| {
            // Nothing installed, nothing to prune; pruning never installs.
            if !this.has_table("_ripcord_journal")? {
                return Ok(Some(0));
            }
            let Some(seen) = JournalMark::seen_by_all(keep) else {
                return Ok(Some(0));
            };
            let sql = format!("DELETE FROM _ripcord_journal WHERE {}", seen.seen_sql());
            let n = this.conn.execute(&sql, []).map_err(err("prune journal"))?;
            Ok(Some(n as u64))
        })
    }

    /// One read transaction: in WAL mode every read in it sees the same snapshot.
    fn mark_and_counts(
        &mut self,
        tables: &[String],
    ) -> EngineResult<Option<(JournalMark, Vec<u64>)>> {
        let tx = self.conn.transaction().map_err(err("begin count"))?;
        let high: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM _ripcord_journal",
                [],
                |r| r.get(0),
            )
            .map_err(err("journal mark"))?;
        let mut counts = Vec::with_capacity(tables.len());
        for t in tables {
            let n: i64 = tx
                .query_row(&format!("SELECT COUNT(*) FROM {}", q(t)), [], |r| r.get(0))
                .map_err(err(format!("count {t}")))?;
            counts.push(n as u64);
        }
        tx.commit().map_err(err("end count"))?;
        Ok(Some((
            JournalMark {
                high,
                holes: Vec::new(),
                snapshot: None,
            },
            counts,
        )))
    }

    /// The table with its own keys and checks, not its indexes or triggers.
    fn scratch_restore(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
    ) -> ripcord_core::Result<Option<u64>> {
        let mut c = self.scratch_conn(scratch)?;
        let t = &schema.name;
        let tx = c.transaction().map_err(err("begin scratch restore"))?;
        tx.execute_batch(&schema.create_sql)
            .map_err(err(format!("create {t} in the scratch file")))?;
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
                .map_err(err(format!("insert into scratch {t}")))?;
            for row in rows {
                let row = row?;
                ins.execute(params_from_iter(row.iter().map(to_sql)))
                    .map_err(err(format!("insert into scratch {t}")))?;
                n += 1;
            }
        }
        tx.commit().map_err(err("commit scratch restore"))?;
        Ok(Some(n))
    }

    fn scratch_read(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<()> {
        let c = self.scratch_conn(scratch)?;
        let t = &schema.name;
        sink.begin_table(schema)?;
        let mut st = c
            .prepare(&select_sql(schema))
            .map_err(err(format!("read scratch {t}")))?;
        let mut rows = st.query([]).map_err(err(format!("read scratch {t}")))?;
        let n = schema.columns.len();
        while let Some(r) = rows.next().map_err(err(format!("read scratch {t}")))? {
            let row: Row = (0..n)
                .map(|i| r.get_ref(i).map(to_value))
                .collect::<Result<_, _>>()
                .map_err(err(format!("read scratch {t}")))?;
            sink.row(row)?;
        }
        sink.end_table()
    }

    fn scratch_drop(&mut self, scratch: &str) -> EngineResult<()> {
        let path = self.scratch_path(scratch)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EngineError::sql(
                        format!("remove scratch file {}", p.display()),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Only a rowid key (`INTEGER PRIMARY KEY`): any other column may hold values of mixed
    /// types or a collation, which SQLite orders otherwise than ripcord.
    fn keys_in_byte_order(&mut self, table: &str) -> EngineResult<bool> {
        let keys: Vec<(String, i64)> = {
            let mut st = self
                .conn
                .prepare("SELECT type, pk FROM pragma_table_info(?1) WHERE pk > 0")
                .map_err(err("key columns"))?;
            st.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err("key columns"))?
                .collect::<Result<_, _>>()
                .map_err(err("key columns"))?
        };
        Ok(keys.len() == 1 && keys[0].0.eq_ignore_ascii_case("INTEGER"))
    }
}

impl SqliteEngine {
    fn scratch_path(&self, scratch: &str) -> EngineResult<PathBuf> {
        match self.conn.path() {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(format!("{p}.{scratch}"))),
            _ => Err(EngineError::sql(
                "rehearse",
                "an in-memory database has no place for a scratch file",
            )),
        }
    }

    fn scratch_conn(&self, scratch: &str) -> EngineResult<Connection> {
        let path = self.scratch_path(scratch)?;
        Connection::open(&path).map_err(err(format!("open scratch file {}", path.display())))
    }
}
