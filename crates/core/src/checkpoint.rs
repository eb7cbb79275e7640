//! Taking a checkpoint: capture on first (so no write falls between the snapshot and the
//! journal), then one consistent snapshot per database, streamed into the store, re-hashed,
//! and only then published and listed.

use crate::context::{Ctx, now};
use crate::engine::SnapshotSink;
use crate::events::Event;
use crate::plan::Component;
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
    current: Option<TableWriter<'a>>,
    done: Vec<TableEntry>,
}

impl SnapshotSink for Sink<'_> {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<()> {
        self.current = Some(TableWriter::new(self.writer, schema.clone()));
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.current
            .as_mut()
            .expect("begin_table first")
            .push(&row)?;
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        let entry = self.current.take().expect("begin_table first").finish()?;
        self.done.push(entry);
        Ok(())
    }
}

/// Makes sure the component's captured tables have capture triggers.
pub fn ensure_capture(ctx: &Ctx, c: &Component) -> Result<Vec<String>> {
    let mut e = ctx.engine(&c.capture_database)?;
    let on = e.captured_tables()?;
    let tables = c.captured_tables();
    let mut schemas = Vec::new();
    for t in &tables {
        schemas.push(e.table_schema(t)?);
    }
    e.capture_install(&schemas)?;
    let newly: Vec<String> = tables.into_iter().filter(|t| !on.contains(t)).collect();
    if !newly.is_empty() {
        ctx.emit(Event::CaptureInstalled {
            database: c.capture_database.clone(),
            tables: newly.clone(),
        });
    }
    Ok(newly)
}

pub fn take(ctx: &mut Ctx, components: &[String]) -> Result<Manifest> {
    let started = Instant::now();
    let comps: Vec<Component> = components
        .iter()
        .map(|n| {
            ctx.plan
                .component(n)
                .cloned()
                .ok_or_else(|| Error::Usage(format!("no component named {n:?} in the plan")))
        })
        .collect::<Result<_>>()?;
    for c in &comps {
        ensure_capture(ctx, c)?;
    }
    let mut by_db: BTreeMap<String, Vec<&Component>> = BTreeMap::new();
    for c in &comps {
        by_db.entry(c.database.clone()).or_default().push(c);
    }
    let mut entries = Vec::new();
    let mut new_bytes = 0;
    for (db, cs) in by_db {
        let mut engine = ctx.engine(&db)?;
        let tables: Vec<String> = cs.iter().flat_map(|c| c.tables.clone()).collect();
        let writer = ChunkWriter::new(&ctx.store);
        let mut sink = Sink {
            writer: &writer,
            current: None,
            done: Vec::new(),
        };
        let snapshot = engine.snapshot(&tables, &mut sink);
        let done = sink.done;
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
                ctx.engine(&c.capture_database)?.journal_mark()?
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
            });
        }
    }
    let mut manifest = Manifest {
        format: 1,
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
