//! Taking a checkpoint: capture on first (so no write falls between the snapshot and the
//! journal), then one consistent snapshot per database, streamed into the store, re-hashed,
//! and only then published and listed.

use crate::context::{Ctx, now};
use crate::engine::SnapshotSink;
use crate::events::Event;
use crate::plan::Component;
use crate::progress::Meter;
use crate::schema::TableSchema;
use crate::state::CheckpointRecord;
use crate::store::{
    ChunkWriter, ComponentEntry, Manifest, TableEntry, TableWriter, checkpoint_id_for,
};
use crate::value::Row;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::time::Instant;

struct Sink<'a> {
    writer: &'a ChunkWriter,
    bus: &'a crate::events::Bus,
    /// Rows each table had at its newest checkpoint, for the ETA.
    estimates: BTreeMap<String, u64>,
    current: Option<(TableWriter<'a>, Meter<'a>)>,
    done: Vec<TableEntry>,
}

impl SnapshotSink for Sink<'_> {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<()> {
        let total = self.estimates.get(&schema.name).copied().unwrap_or(0);
        self.current = Some((
            TableWriter::new(self.writer, schema.clone()),
            Meter::new(
                self.bus,
                crate::events::Operation::Checkpoint {
                    table: schema.name.clone(),
                },
                total,
            ),
        ));
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        let (w, meter) = self.current.as_mut().expect("begin_table first");
        let before = w.bytes();
        w.push(&row)?;
        meter.add(1, w.bytes() - before);
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        let (w, meter) = self.current.take().expect("begin_table first");
        meter.finish();
        self.done.push(w.finish()?);
        Ok(())
    }
}

/// Row counts of the tables at their newest checkpoint in `database`.
fn estimates(ctx: &mut Ctx, database: &str, tables: &[String]) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for rec in ctx.state.checkpoints()? {
        if out.len() == tables.len() {
            break;
        }
        let Ok(m) = ctx.store.manifest(&crate::store::CheckpointId(rec.id)) else {
            continue;
        };
        for c in m.components.iter().filter(|c| c.database == database) {
            for t in c.tables.iter().filter(|t| tables.contains(&t.schema.name)) {
                out.entry(t.schema.name.clone()).or_insert(t.rows);
            }
        }
    }
    Ok(out)
}

/// Makes sure the component's captured tables have capture triggers. Re-arming a table
/// that was armed (its shape changed) lets no write escape, so it is recorded as a link
/// that keeps capture continuous (`continuity.rs`).
pub fn ensure_capture(ctx: &mut Ctx, c: &Component) -> Result<Vec<String>> {
    let mut e = ctx.engine_installed(&c.capture_database)?;
    let on = e.captured_tables()?;
    let tables = c.captured_tables();
    let mut schemas = Vec::new();
    for t in &tables {
        schemas.push(e.table_schema(t)?);
    }
    let before = e.capture_tokens(&tables)?;
    e.capture_install(&schemas)?;
    drop(e);
    crate::continuity::link(ctx, &c.capture_database, &tables, &before, "capture")?;
    let newly: Vec<String> = tables.into_iter().filter(|t| !on.contains(t)).collect();
    if !newly.is_empty() {
        ctx.emit(Event::CaptureInstalled {
            database: c.capture_database.clone(),
            tables: newly.clone(),
        });
    }
    Ok(newly)
}

/// Refuses a checkpoint of frozen tables. A rollback freezes: one still running or
/// unfinished holds a half-restored table, and one abandoned after its restore leaves the
/// checkpoint's rows without the business writes since. A checkpoint of either would
/// record those lost writes as the truth a later rollback restores and "proves". A
/// cutover freezes legacy behind its sync, and a switch-path rollback fences the new side:
/// neither holds the business's newest writes.
fn refuse_frozen(ctx: &mut Ctx, comps: &[Component]) -> Result<()> {
    let mut held: Vec<(String, Vec<String>)> = Vec::new();
    for c in comps {
        let mut frozen: Vec<String> = Vec::new();
        let mut dbs = vec![(&c.database, c.tables.clone())];
        if c.capture_database != c.database {
            dbs.push((&c.capture_database, c.captured_tables()));
        }
        for (db, tables) in dbs {
            let on = ctx.engine(db)?.frozen_tables()?;
            for t in tables {
                if on.contains(&t) && !frozen.contains(&t) {
                    frozen.push(t);
                }
            }
        }
        if !frozen.is_empty() {
            held.push((c.name.clone(), frozen));
        }
    }
    let Some((name, tables)) = held.first() else {
        return Ok(());
    };
    let rollbacks = ctx.state.rollbacks()?;
    let holder = rollbacks
        .iter()
        .filter(|r| r.components.contains(name))
        .find(|r| r.unfinished() || r.left_frozen.iter().any(|t| tables.contains(t)));
    let why = match holder {
        Some(r) if r.unfinished() => format!(
            "rollback {} of them is unfinished; continue it with `ripcord rollback --resume {}` or give it up with `ripcord rollback --abandon {} --reason \"…\"`",
            r.id, r.id, r.id
        ),
        Some(r) => format!(
            "rollback {} was abandoned after restoring them, so they hold its checkpoint without the business writes since; `ripcord rollback -c {name} --reason \"…\"` restores them and carries those writes back",
            r.id
        ),
        None => "a rollback or a cutover froze them (legacy stays frozen behind a cut-over component's sync, and a switch-path rollback fences the new side); `ripcord check` names which".to_string(),
    };
    Err(Error::Held(format!(
        "cannot checkpoint component {name}: tables {} are frozen: {why}. A checkpoint now would record their rows as the truth and lose those writes",
        tables.join(", ")
    )))
}

pub fn take(ctx: &mut Ctx, components: &[String]) -> Result<Manifest> {
    let started = Instant::now();
    let comps: Vec<Component> = ctx.components(components)?;
    refuse_frozen(ctx, &comps)?;
    // Held until the checkpoint is listed: a collection waits, and one after a kill finds
    // the marker and records the checkpoint as interrupted (`retention.rs`).
    let pending = crate::retention::begin_write(&ctx.store, &ctx.actor, components)?;
    for c in &comps {
        ensure_capture(ctx, c)?;
    }
    // Capture evidence, read before every snapshot and again after all of them: equal
    // tokens vouch that capture stayed armed across the checkpoint's mark.
    let mut evidence_before = Vec::new();
    for c in &comps {
        evidence_before.push(crate::continuity::tokens(
            ctx,
            &c.capture_database,
            &c.captured_tables(),
        )?);
    }
    let mut by_db: BTreeMap<String, Vec<&Component>> = BTreeMap::new();
    for c in &comps {
        by_db.entry(c.database.clone()).or_default().push(c);
    }
    let mut entries = Vec::new();
    let mut new_bytes = 0;
    for (db, cs) in by_db {
        let mut engine = ctx.engine_installed(&db)?;
        let tables: Vec<String> = cs.iter().flat_map(|c| c.tables.clone()).collect();
        let writer = ChunkWriter::new(&ctx.store);
        let bus = ctx.events.clone();
        let mut sink = Sink {
            writer: &writer,
            bus: &bus,
            estimates: estimates(ctx, &db, &tables)?,
            current: None,
            done: Vec::new(),
        };
        let same_db = cs.iter().all(|c| c.capture_database == c.database);
        let (snapshot, done) =
            match crate::differential::take(ctx, engine.as_mut(), &cs, &tables, &writer) {
                Ok(Ok((mark, done))) => (Ok(mark), done),
                Ok(Err(why)) => {
                    tracing::info!(database = %db, reason = %why, "full checkpoint");
                    // Tokens read before and after the snapshot: equal ones vouch for the
                    // whole read, and let the next checkpoint be differential over this one.
                    let before = if same_db {
                        engine.capture_tokens(&tables)?
                    } else {
                        vec![None; tables.len()]
                    };
                    let r = engine.snapshot(&tables, &mut sink);
                    let mut done = std::mem::take(&mut sink.done);
                    if r.is_ok() && same_db && engine.capture_tokens(&tables)? == before {
                        for (t, token) in tables.iter().zip(before) {
                            if let Some(e) = done.iter_mut().find(|e| &e.schema.name == t) {
                                e.capture_token = token;
                            }
                        }
                    }
                    (r, done)
                }
                Err(e) => (Err(e), Vec::new()),
            };
        // Always wait for the writer, so a failed snapshot leaves no thread behind.
        let written = writer.finish();
        let mark = snapshot?;
        new_bytes += written?;
        let mut by_name: BTreeMap<String, TableEntry> = done
            .into_iter()
            .map(|t| (t.schema.name.clone(), t))
            .collect();
        for c in cs {
            // Capture in another database: its journal position now (not in the snapshot);
            // writes there before this moment belong to the checkpoint's era.
            let journal_mark = if c.capture_database == c.database {
                mark.clone()
            } else {
                ctx.engine_installed(&c.capture_database)?.journal_mark()?
            };
            entries.push(ComponentEntry {
                name: c.name.clone(),
                database: db.clone(),
                engine: engine.kind().to_string(),
                journal_mark,
                tables: c
                    .tables
                    .iter()
                    .map(|t| by_name.remove(t).expect("snapshot returns every table"))
                    .collect(),
                capture: BTreeMap::new(),
            });
        }
    }
    for (c, before) in comps.iter().zip(evidence_before) {
        let tables = c.captured_tables();
        let after = crate::continuity::tokens(ctx, &c.capture_database, &tables)?;
        let entry = entries
            .iter_mut()
            .find(|e| e.name == c.name)
            .expect("one entry per component");
        entry.capture = tables
            .into_iter()
            .zip(before.into_iter().zip(after))
            .map(|(t, (b, a))| (t, if b == a { b } else { None }))
            .collect();
    }
    let differential = entries
        .iter()
        .flat_map(|c| &c.tables)
        .any(|t| t.delta.is_some());
    let mut manifest = Manifest {
        // Format 1 readers would ignore a delta and restore its base: refuse them.
        format: if differential { 2 } else { 1 },
        id: crate::store::CheckpointId(String::new()),
        created_at: now(),
        components: entries,
    };
    manifest.id = checkpoint_id_for(&manifest);
    // Invariant 1: only a checkpoint whose chunks re-hash is published; the chunk writer
    // read every one back from disk and re-hashed it before `finish` returned.
    crate::crash::point("checkpoint:before-manifest");
    ctx.store.put_manifest(&manifest)?;
    let rows: u64 = manifest
        .components
        .iter()
        .flat_map(|c| &c.tables)
        .map(|t| t.rows)
        .sum();
    let rec = CheckpointRecord {
        id: manifest.id.0.clone(),
        created_at: manifest.created_at.clone(),
        components: components.to_vec(),
        rows,
        bytes: manifest.stored_bytes(),
        new_bytes,
    };
    ctx.state.add_checkpoint(&rec)?;
    pending.listed()?;
    ctx.audit(
        "checkpoint",
        serde_json::json!({"components": components, "id": rec.id}),
        &format!("ok: {rows} rows"),
    )?;
    ctx.emit(Event::CheckpointTaken {
        id: rec.id.clone(),
        components: components.to_vec(),
        rows,
        bytes: rec.bytes,
        new_bytes,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(manifest)
}

/// The newest valid checkpoint that covers the component, or the one asked for.
pub fn find(ctx: &mut Ctx, component: &str, wanted: Option<&str>) -> Result<Manifest> {
    let list = ctx.state.checkpoints()?;
    let rec = match wanted {
        Some(id) => list.into_iter().find(|r| r.id == id || r.id.starts_with(id)).ok_or_else(|| Error::Usage(format!("no valid checkpoint {id:?}; `ripcord checkpoints` lists them")))?,
        None => list.into_iter().find(|r| r.components.iter().any(|c| c == component)).ok_or_else(|| {
            Error::Usage(format!("component {component:?} has no checkpoint; take one with `ripcord checkpoint -c {component}`"))
        })?,
    };
    let m = ctx
        .store
        .manifest(&crate::store::CheckpointId(rec.id.clone()))?;
    if m.component(component).is_none() {
        return Err(Error::Usage(format!(
            "checkpoint {} does not include component {component:?}",
            rec.id
        )));
    }
    Ok(m)
}
