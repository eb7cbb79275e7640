//! Journal pruning (`ripcord prune`), the consistent row counts differential checkpoints
//! check against, and the scratch database `check --rehearse` restores into: the engine's
//! [`Housekeeping`], kept apart from `engine.rs`.

use super::{MyEngine, err, select_sql};
use crate::sql::{self, Class, q};
use mysql::prelude::Queryable;
use ripcord_core::engine::{EngineError, EngineResult, Housekeeping, SnapshotSink};
use ripcord_core::journal::JournalMark;
use ripcord_core::schema::TableSchema;
use ripcord_core::value::Row;

impl Housekeeping for MyEngine {
    fn prune_journal(&mut self, keep: &[JournalMark]) -> EngineResult<Option<u64>> {
        self.bounded("prune the journal", |this| {
            // Nothing installed, nothing to prune; pruning never installs.
            if !this.table_exists("_ripcord_journal")? {
                return Ok(Some(0));
            }
            let Some(seen) = JournalMark::seen_by_all(keep) else {
                return Ok(Some(0));
            };
            let sql = format!("DELETE FROM _ripcord_journal WHERE {}", seen.seen_sql());
            this.conn.query_drop(&sql).map_err(err("prune journal"))?;
            Ok(Some(this.conn.affected_rows()))
        })
    }

    fn mark_and_counts(
        &mut self,
        tables: &[String],
    ) -> EngineResult<Option<(JournalMark, Vec<u64>)>> {
        self.begin_snapshot()?;
        let r = (|| {
            let mark = self.bounded("read the journal mark", |me| me.mark_in_snapshot())?;
            let mut counts = Vec::with_capacity(tables.len());
            for t in tables {
                let n = self
                    .int(
                        &format!("SELECT COUNT(*) FROM {}", q(t)),
                        &format!("count {t}"),
                    )?
                    .unwrap_or(0);
                counts.push(n as u64);
            }
            Ok((mark, counts))
        })();
        let end = self.exec("COMMIT", "end snapshot");
        let out = r?;
        end?;
        Ok(Some(out))
    }

    /// The table with its own keys and checks, not its foreign keys or triggers, which name
    /// other tables.
    fn scratch_restore(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
    ) -> ripcord_core::Result<Option<u64>> {
        self.exec(
            &format!("CREATE DATABASE IF NOT EXISTS {}", q(scratch)),
            "create the scratch database",
        )?;
        let (create, _fks) = sql::split_foreign_keys(&schema.create_sql);
        self.in_database(scratch, |e| {
            e.exec(
                &create,
                &format!("create {} in the scratch database", schema.name),
            )?;
            e.load(&schema.name, schema, rows)
        })
        .map(Some)
    }

    fn scratch_read(
        &mut self,
        scratch: &str,
        schema: &TableSchema,
        sink: &mut dyn SnapshotSink,
    ) -> ripcord_core::Result<()> {
        self.in_database(scratch, |e| {
            sink.begin_table(schema)?;
            let classes: Vec<Class> = schema
                .columns
                .iter()
                .map(|c| sql::classify(&c.decl_type))
                .collect();
            let ctx = format!("read scratch {}", schema.name);
            let mut res = e.conn.query_iter(select_sql(schema)).map_err(err(&ctx))?;
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
                                .map_err(|err| EngineError::sql(&ctx, err))?,
                        );
                    }
                    sink.row(out)?;
                }
            }
            drop(res);
            sink.end_table()
        })
    }

    fn scratch_drop(&mut self, scratch: &str) -> EngineResult<()> {
        self.exec(
            &format!("DROP DATABASE IF EXISTS {}", q(scratch)),
            "drop the scratch database",
        )
    }

    /// Integer keys, and text keys only under a binary collation: the server orders a
    /// `_ci` collation's text (and decimals, dates) otherwise than ripcord's byte order.
    fn keys_in_byte_order(&mut self, table: &str) -> EngineResult<bool> {
        let rows = self.rows(
            &format!(
                "SELECT c.DATA_TYPE, c.COLLATION_NAME FROM information_schema.KEY_COLUMN_USAGE k
                 JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA
                     AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME
                 WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = {} AND k.CONSTRAINT_NAME = 'PRIMARY'",
                sql::lit(table)
            ),
            "key columns",
        )?;
        Ok(!rows.is_empty()
            && rows.iter().all(|r| {
                let ty = r[0].as_deref().unwrap_or("").to_ascii_lowercase();
                let coll = r[1].as_deref().unwrap_or("");
                matches!(
                    ty.as_str(),
                    "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
                ) || (matches!(ty.as_str(), "char" | "varchar") && coll.ends_with("_bin"))
            }))
    }
}

impl MyEngine {
    /// Runs `f` with `scratch` as the session's database, then switches back, also on error.
    fn in_database<T>(
        &mut self,
        scratch: &str,
        f: impl FnOnce(&mut Self) -> ripcord_core::Result<T>,
    ) -> ripcord_core::Result<T> {
        let home = self
            .strings("SELECT DATABASE()", "current database")?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::sql("rehearse", "the connection has no database"))?;
        self.exec(&format!("USE {}", q(scratch)), "use the scratch database")?;
        let r = f(self);
        let back = self.exec(
            &format!("USE {}", q(&home)),
            "back to the business database",
        );
        let v = r?;
        back?;
        Ok(v)
    }
}
