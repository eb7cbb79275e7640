//! Journal pruning (`ripcord prune`) and the scratch schema `check --rehearse` restores
//! into. Kept apart from `engine.rs`, which calls in here.

use crate::ddl;
use crate::text::{self, Kind};
use crate::{bare, err, lit, q};
use postgres::Client;
use ripcord_core::engine::{EngineError, EngineResult, SnapshotSink};
use ripcord_core::journal::JournalMark;
use ripcord_core::schema::TableSchema;
use ripcord_core::value::{Row, Value};
use std::io::BufRead;

/// The SQL condition "mark saw entry `j`", the negation of `read_journal`'s filter.
fn seen_by(m: &JournalMark) -> String {
    let holes: Vec<String> = m.holes.iter().map(|h| h.to_string()).collect();
    let mut s = format!("(j.seq <= {}", m.high);
    if !holes.is_empty() {
        s.push_str(&format!(" AND j.seq NOT IN ({})", holes.join(",")));
    }
    if let Some(snap) = &m.snapshot {
        let snap = lit(snap);
        s.push_str(&format!(
            " AND NOT (j.txid >= pg_snapshot_xmin({snap}::pg_snapshot) AND NOT pg_visible_in_snapshot(j.txid, {snap}::pg_snapshot))"
        ));
    }
    s.push(')');
    s
}

pub fn prune_journal(c: &mut Client, schema: &str, keep: &[JournalMark]) -> EngineResult<u64> {
    if keep.is_empty() {
        return Ok(0);
    }
    let mut marks: Vec<&JournalMark> = Vec::new();
    for m in keep {
        if !marks.contains(&m) {
            marks.push(m);
        }
    }
    let cond: Vec<String> = marks.iter().map(|m| seen_by(m)).collect();
    let sql = format!(
        "DELETE FROM {}._ripcord_journal j WHERE {}",
        q(schema),
        cond.join(" AND ")
    );
    c.execute(sql.as_str(), &[]).map_err(err("prune journal"))
}

/// The checkpoint's DDL of `ts` aimed at `scratch`, and the schema a qualified table
/// (`erp.orders`) lives in. `read_schema` writes a qualified table and the sequences it
/// owns as `"erp"."…"`, so that prefix becomes the scratch schema's: `erp.orders` is
/// rehearsed as `scratch.orders`. Two plan tables with one name in different schemas of
/// one component meet there, and the second CREATE fails, saying so.
fn in_scratch<'a>(ts: &'a TableSchema, scratch: &str) -> (String, Option<&'a str>) {
    match ts.name.split_once('.') {
        Some((own, _)) => (
            ts.create_sql
                .replace(&format!("{}.", q(own)), &format!("{}.", q(scratch))),
            Some(own),
        ),
        None => (ts.create_sql.clone(), None),
    }
}

/// Restores the rows into `scratch`.`table`: the table with its own constraints (primary
/// key, unique, check), not its foreign keys, indexes or triggers, which name other tables.
pub fn scratch_restore(
    c: &mut Client,
    schema: &str,
    scratch: &str,
    ts: &TableSchema,
    rows: &mut dyn Iterator<Item = ripcord_core::Result<Row>>,
) -> ripcord_core::Result<u64> {
    let t = &ts.name;
    let (create_sql, own) = in_scratch(ts, scratch);
    c.batch_execute(&format!(
        "BEGIN; CREATE SCHEMA IF NOT EXISTS {sc}; SET LOCAL search_path TO {sc}, {own}{s}",
        sc = q(scratch),
        own = own.map(|o| format!("{}, ", q(o))).unwrap_or_default(),
        s = q(schema)
    ))
    .map_err(err("create the scratch schema"))?;
    let r = (|| -> ripcord_core::Result<u64> {
        c.batch_execute(&create_sql)
            .map_err(err(format!("create {t} in the scratch schema")))?;
        let oid = ddl::table_oid(c, scratch, bare(t))?.ok_or_else(|| {
            EngineError::sql(
                format!("create {t}"),
                "not in the scratch schema after CREATE",
            )
        })?;
        let (load, names) = ddl::loaded_columns(c, oid, ts)?;
        let mut w = c
            .copy_in(&format!(
                "COPY {}.{} ({}) FROM STDIN",
                q(scratch),
                q(bare(t)),
                names.join(", ")
            ))
            .map_err(err(format!("load {t} into the scratch schema")))?;
        let n = text::copy_rows(&mut w, rows, &load, ts.columns.len(), t, |e| {
            EngineError::sql(format!("load {t}"), e)
        })?;
        w.finish().map_err(err(format!("load {t}")))?;
        Ok(n)
    })();
    match r {
        Ok(n) => {
            c.batch_execute("COMMIT").map_err(err("commit"))?;
            Ok(n)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

/// Reads `scratch`.`table` back in the order a snapshot reads the business table.
pub fn scratch_read(
    c: &mut Client,
    scratch: &str,
    ts: &TableSchema,
    sink: &mut dyn SnapshotSink,
) -> ripcord_core::Result<()> {
    let t = &ts.name;
    let oid = ddl::table_oid(c, scratch, bare(t))?
        .ok_or_else(|| EngineError::sql(format!("read {t}"), "not in the scratch schema"))?;
    let cols = ddl::columns(c, oid)?;
    let kinds: Vec<Kind> = ts
        .columns
        .iter()
        .map(|col| {
            cols.iter()
                .find(|ci| ci.name == col.name)
                .map(|ci| ci.kind)
                .ok_or_else(|| {
                    EngineError::sql(format!("read {t}"), format!("no column {}", col.name))
                })
        })
        .collect::<EngineResult<_>>()?;
    let names: Vec<String> = ts.columns.iter().map(|col| q(&col.name)).collect();
    let key: Vec<String> = ts
        .primary_key
        .iter()
        .map(|&i| {
            let name = &ts.columns[i].name;
            let collate = cols.iter().any(|ci| &ci.name == name && ci.collatable);
            format!("{}{}", q(name), if collate { " COLLATE \"C\"" } else { "" })
        })
        .collect();
    let sql = format!(
        "COPY (SELECT {} FROM {}.{} ORDER BY {}) TO STDOUT",
        names.join(", "),
        q(scratch),
        q(bare(t)),
        key.join(", ")
    );
    sink.begin_table(ts)?;
    let mut reader = c.copy_out(&sql).map_err(err(format!("read scratch {t}")))?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| EngineError::sql(format!("read scratch {t}"), e))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let fields =
            text::copy_line(&line).map_err(|e| EngineError::sql(format!("read {t}"), e))?;
        let row: Row = fields
            .into_iter()
            .zip(&kinds)
            .map(|(f, k)| f.map_or(Ok(Value::Null), |f| text::from_owned_text(*k, f)))
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::sql(format!("read {t}"), e))?;
        sink.row(row)?;
    }
    sink.end_table()
}

pub fn scratch_drop(c: &mut Client, scratch: &str) -> EngineResult<()> {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", q(scratch)))
        .map_err(err("drop the scratch schema"))
}
