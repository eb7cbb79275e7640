//! `check --rehearse`: restores a component's newest checkpoint into scratch objects
//! (a PostgreSQL schema, a MariaDB database, an SQLite file beside the database), never the
//! business tables, times it against the component's recovery-time target, reads the rows
//! back against the checkpoint's count and fingerprint, and drops the scratch, also when
//! anything failed.

use crate::context::Ctx;
use crate::engine::SnapshotSink;
use crate::plan::Component;
use crate::schema::TableSchema;
use crate::value::{Fingerprint, Row};
use crate::{Error, Result};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct Rehearsal {
    pub component: String,
    pub checkpoint: String,
    /// Where it was restored (dropped again).
    pub scratch: String,
    pub rows: u64,
    /// The restore alone, without reading back.
    pub seconds: f64,
    pub rto_seconds: f64,
    /// Rows and content equal the checkpoint's, table by table.
    pub verified: bool,
    /// Within the recovery-time target and verified.
    pub ok: bool,
    pub detail: String,
}

#[derive(Default)]
struct Sum {
    f: Fingerprint,
}

impl SnapshotSink for Sum {
    fn begin_table(&mut self, _: &TableSchema) -> Result<()> {
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.f.add(&row);
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The scratch name for a rehearsal: unique, and a valid unquoted identifier everywhere.
fn scratch_name() -> String {
    crate::context::new_id("ripcord_rehearse").replace('-', "_")
}

pub fn rehearse(ctx: &mut Ctx, c: &Component) -> Result<Rehearsal> {
    let m = crate::checkpoint::find(ctx, &c.name, None)?;
    let entry = m
        .component(&c.name)
        .expect("find checks the component")
        .clone();
    let mut e = ctx.engine(&c.database)?;
    let scratch = scratch_name();
    let started = Instant::now();
    let r = (|| -> Result<(u64, f64, Vec<String>)> {
        let mut rows = 0;
        for t in &entry.tables {
            let mut it = ctx.store.rows(&m.id, t);
            match e.scratch_restore(&scratch, &t.schema, &mut it)? {
                Some(n) => rows += n,
                None => {
                    return Err(Error::Usage(format!(
                        "the {} engine cannot restore into scratch objects; not rehearsed",
                        e.kind()
                    )));
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut wrong = Vec::new();
        for t in &entry.tables {
            let mut sum = Sum::default();
            e.scratch_read(&scratch, &t.schema, &mut sum)?;
            let want = ctx.store.fingerprint(&m.id, t)?;
            if sum.f.rows() != t.rows {
                wrong.push(format!(
                    "{}: {} rows restored, the checkpoint holds {}",
                    t.schema.name,
                    sum.f.rows(),
                    t.rows
                ));
            } else if sum.f.finish() != want {
                wrong.push(format!(
                    "{}: the restored rows differ from the checkpoint's",
                    t.schema.name
                ));
            }
        }
        Ok((rows, seconds, wrong))
    })();
    // Dropped whatever happened above; a failed drop is reported, never hidden.
    let dropped = e.scratch_drop(&scratch);
    let (rows, seconds, wrong) = r?;
    dropped?;
    let rto = c.rto.as_secs_f64();
    let verified = wrong.is_empty();
    let ok = verified && seconds <= rto;
    let detail = if !verified {
        wrong.join("; ")
    } else {
        format!(
            "{}{rows} rows of {} restored into scratch in {seconds:.3}s (target {}), verified, dropped",
            if ok {
                ""
            } else {
                "over the recovery-time target: "
            },
            m.id,
            humantime::format_duration(c.rto)
        )
    };
    ctx.audit(
        "rehearse",
        serde_json::json!({"component": c.name, "checkpoint": m.id.0}),
        &format!(
            "{}: {rows} rows in {seconds:.1}s",
            if ok { "ok" } else { "failed" }
        ),
    )?;
    Ok(Rehearsal {
        component: c.name.clone(),
        checkpoint: m.id.0.clone(),
        scratch,
        rows,
        seconds,
        rto_seconds: rto,
        verified,
        ok,
        detail,
    })
}
