//! The phases of a rollback, one function each. `drive` (in `mod.rs`) records each phase's
//! intent before it runs and its result after, so every function here may be run again
//! after a crash: each one either checks what already happened (restore tags, replay
//! positions in the target) or is harmless to repeat.

use super::*;

/// Runs one phase; each phase is a function below, returning the line the timeline shows.
pub(super) fn run_phase(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    phase: Phase,
    approval: &Option<String>,
    owner: &LockOwner,
) -> Result<PhaseOutcome> {
    if let Mode::Switch { tags } = &rec.mode {
        let tags = tags.clone();
        return run_switch_phase(ctx, rec, phase, approval, &tags);
    }
    let loaded = load(ctx, rec)?;
    match phase {
        Phase::Assess => assess(ctx, rec, &loaded),
        Phase::Approve => approve(ctx, rec, approval),
        Phase::Freeze => freeze(ctx, rec, &loaded),
        Phase::Drain => drain(ctx, rec, &loaded),
        Phase::Restore => restore(ctx, rec, &loaded, owner),
        Phase::Replay => replay(ctx, rec, &loaded, owner),
        Phase::Verify => verify(ctx, rec, &loaded),
        Phase::SwitchBack => switch_back(ctx, rec),
        Phase::Unfreeze => unfreeze(ctx, rec, &loaded),
        Phase::Report => report(rec),
    }
}

/// Every chunk re-hashes (invariant 1) and capture is still continuous, before anything is frozen.
fn assess(ctx: &mut Ctx, rec: &mut RollbackRecord, loaded: &[Loaded]) -> Result<PhaseOutcome> {
    // Invariant 1: nothing destructive without chunks that re-hash to their ids.
    for l in loaded {
        let e = l.entry();
        for t in &e.tables {
            for ch in t.all_chunks() {
                ctx.store.get_chunk(ch).map_err(|err| {
                    Error::Verify(format!(
                        "checkpoint {} cannot be used for {}: {err}",
                        l.manifest.id, t.schema.name
                    ))
                })?;
            }
        }
    }
    // Before anything is frozen: a resumed rollback whose capture broke since it
    // started must stop here, not after freezing the tables.
    let new_breaks = unaccepted_breaks(ctx, rec, loaded)?;
    if !new_breaks.is_empty() {
        return Err(uncaptured_error(&new_breaks));
    }
    let mut at_risk = 0;
    for l in loaded {
        at_risk += business_writes_after(ctx, &l.component, &l.entry().journal_mark, None)?;
    }
    Ok(PhaseOutcome::Assessed { at_risk })
}

/// Records who approved; without an approval the rollback is given up, having changed nothing.
fn approve(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    approval: &Option<String>,
) -> Result<PhaseOutcome> {
    match (&rec.approved_by, approval) {
        (Some(who), _) => Ok(PhaseOutcome::Approved { by: who.clone() }),
        (None, Some(who)) => {
            rec.approved_by = Some(who.clone());
            ctx.audit(
                "rollback.approve",
                serde_json::json!({"rollback": rec.id}),
                &format!("approved by {who}"),
            )?;
            Ok(PhaseOutcome::Approved { by: who.clone() })
        }
        (None, None) => Err(Error::NotApproved(
            "the rollback was not approved; nothing was changed".into(),
        )),
    }
}

/// Blocks business writes to the components' tables (and their captured tables).
fn freeze(ctx: &mut Ctx, rec: &mut RollbackRecord, loaded: &[Loaded]) -> Result<PhaseOutcome> {
    for l in loaded {
        ctx.engine_installed(&l.component.database)?
            .freeze(&l.component.tables)?;
        if l.component.capture_database != l.component.database
            || l.component.captured_tables() != l.component.tables
        {
            ctx.engine_installed(&l.component.capture_database)?
                .freeze(&l.component.captured_tables())?;
        }
    }
    ctx.audit(
        "freeze",
        serde_json::json!({"rollback": rec.id, "components": rec.components}),
        "frozen",
    )?;
    Ok(PhaseOutcome::Frozen)
}

/// With writes blocked: capture still continuous, tokens for the restore's links, and the journal position to replay up to.
fn drain(ctx: &mut Ctx, rec: &mut RollbackRecord, loaded: &[Loaded]) -> Result<PhaseOutcome> {
    // Capture may have broken between the assessment and the freeze: look again,
    // now that no business write can move it.
    let new_breaks = unaccepted_breaks(ctx, rec, loaded)?;
    if !new_breaks.is_empty() {
        let Error::Verify(msg) = uncaptured_error(&new_breaks) else {
            unreachable!("uncaptured_error is a verification error")
        };
        return Err(Error::Verify(format!(
            "{msg}\nThis rollback has frozen the tables and changed nothing else: give it up with `ripcord rollback --abandon {} --reason \"…\"` (that unfreezes them).",
            rec.id
        )));
    }
    for l in loaded {
        let db = &l.component.capture_database;
        let tables = l.component.captured_tables();
        let tokens = continuity::tokens(ctx, db, &tables)?;
        let map = rec.tokens_at_freeze.entry(db.clone()).or_default();
        for (t, tok) in tables.into_iter().zip(tokens) {
            map.entry(t).or_insert(tok);
        }
    }
    for l in loaded {
        let db = &l.component.capture_database;
        if !rec.drain_to.contains_key(db) {
            let high = ctx.engine_installed(db)?.journal_mark()?.high;
            rec.drain_to.insert(db.clone(), high);
        }
    }
    let mut at_risk = 0;
    for l in loaded {
        let upto = rec.drain_to[&l.component.capture_database];
        at_risk += business_writes_after(ctx, &l.component, &l.entry().journal_mark, Some(upto))?;
    }
    rec.figures.at_risk = at_risk;
    Ok(PhaseOutcome::Drained { at_risk })
}

/// Replaces each table from the checkpoint, parents first, skipping tables whose restore committed before a restart.
fn restore(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    loaded: &[Loaded],
    owner: &LockOwner,
) -> Result<PhaseOutcome> {
    let mut restored = 0;
    let mut skipped = 0;
    for (l, t) in restore_order(ctx, loaded)? {
        let mut engine = ctx.engine_installed(&l.component.database)?;
        let captured_here = l.component.capture_database == l.component.database;
        {
            let tag = format!("{}:{}", rec.id, t.schema.name);
            // The restore re-arms capture in its own transaction: no write escapes,
            // so the token it leaves continues the checkpoint's (a link).
            let relink = |ctx: &mut Ctx, rec: &RollbackRecord| -> Result<()> {
                if !captured_here {
                    return Ok(());
                }
                let db = &l.component.capture_database;
                let before = rec
                    .tokens_at_freeze
                    .get(db)
                    .and_then(|m| m.get(&t.schema.name))
                    .cloned()
                    .flatten();
                continuity::link(
                    ctx,
                    db,
                    std::slice::from_ref(&t.schema.name),
                    &[before],
                    &rec.id,
                )
            };
            if engine.restore_done(&tag)? {
                skipped += 1;
                relink(ctx, rec)?;
                continue;
            }
            let half = t.rows / 2;
            let mut n = 0u64;
            let bus = ctx.events.clone();
            let mut meter = crate::progress::Meter::new(
                &bus,
                Operation::Restore {
                    table: t.schema.name.clone(),
                },
                t.rows,
            );
            let row_bytes = t.bytes / t.rows.max(1);
            let mut rows = ctx.store.rows(&l.manifest.id, t).inspect(|_| {
                n += 1;
                meter.add(1, row_bytes);
                if n == half.max(1) {
                    crate::crash::point("restore:mid");
                }
            });
            let opts = RestoreOptions {
                restore_tag: tag,
                capture: captured_here && l.component.captured_tables().contains(&t.schema.name),
                freeze: true,
            };
            restored += engine.restore_table(&t.schema, &mut rows, &opts)?;
            drop(rows);
            meter.finish();
            relink(ctx, rec)?;
            renew_all(ctx, &rec.components, owner);
            ctx.emit(Event::Progress {
                what: Operation::Restored {
                    table: t.schema.name.clone(),
                },
                done: t.rows,
                total: t.rows,
            });
        }
    }
    rec.figures.restored_rows = restored;
    ctx.audit(
        "restore",
        serde_json::json!({"rollback": rec.id, "rows": restored}),
        "ok",
    )?;
    Ok(PhaseOutcome::Restored {
        rows: restored,
        already: skipped,
    })
}

/// Carries the business writes back, one replay per target database in commit order, exactly once.
fn replay(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    loaded: &[Loaded],
    owner: &LockOwner,
) -> Result<PhaseOutcome> {
    let mut applied_total = 0u64;
    rec.gaps.clear();
    rec.conflicts.clear();
    rec.overlaps.clear();
    // One replay per target database (and capture journal), across all its
    // components, in the order the business wrote: new rows need their parents
    // first, deletes their children first, and no fixed component order gives both.
    let mut groups: BTreeMap<(String, String), Vec<&Loaded>> = BTreeMap::new();
    for l in loaded {
        groups
            .entry((
                l.component.database.clone(),
                l.component.capture_database.clone(),
            ))
            .or_default()
            .push(l);
    }
    for ((db, _), group) in groups {
        let mut items: Vec<(i64, &str, Planned)> = Vec::new();
        let mut partial_gaps: Vec<Gap> = Vec::new();
        let mut key_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in &group {
            let plan = plan_replay(ctx, rec, l)?;
            for t in &l.entry().tables {
                key_names.insert(t.schema.name.clone(), t.schema.key_names());
            }
            let name = l.component.name.as_str();
            items.extend(plan.items.into_iter().map(|(s, p)| (s, name, p)));
            partial_gaps.extend(plan.partial_gaps);
            rec.conflicts.extend(plan.conflicts);
            rec.overlaps.extend(plan.overlaps);
            for (t, cols) in plan.unmapped_columns {
                rec.unmapped_columns.insert(t, cols.into_iter().collect());
            }
        }
        items.sort_by_key(|(s, _, _)| *s);
        let names: Vec<&str> = group.iter().map(|l| l.component.name.as_str()).collect();
        let tag = format!("{}:{}", rec.id, names.join("+"));
        let mut engine = ctx.engine_installed(&db)?;
        let bus = ctx.events.clone();
        let what = Operation::Replay {
            components: names.iter().map(|n| n.to_string()).collect(),
        };
        let mut batches = 0;
        let applier = replay::Applier {
            tag: &tag,
            batch: BATCH,
            key_names: &key_names,
            partial_gaps: &partial_gaps,
        };
        let mut after_batch = |applied: u64, pending: u64| {
            batches += 1;
            if batches == 1 {
                crate::crash::point("replay:mid");
            }
            bus.emit(Event::Progress {
                what: what.clone(),
                done: applied,
                total: pending,
            });
            // A long replay must not lose its locks to another operator.
            if batches % 20 == 0 {
                renew_all(ctx, &rec.components, owner);
            }
        };
        let (applied, gaps) = applier.apply(engine.as_mut(), &items, &mut after_batch)?;
        applied_total += applied;
        // A write refused on a row the business deleted later in the same journal
        // (its parent is in a component not rolled back, say) leaves nothing
        // missing: the row's final state is "absent" either way.
        let mut deleted_at: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (seq, _, p) in &items {
            if let Planned::Apply(ApplyOp::Delete { table, key }) = p {
                deleted_at.insert((table.clone(), replay::key_text(key)), *seq);
            }
        }
        let mut moot = 0;
        {
            for g in gaps {
                let later_deleted = deleted_at
                    .get(&(g.table.clone(), g.key.clone()))
                    .is_some_and(|d| *d > g.seq);
                if later_deleted && !g.partial() && g.op != crate::journal::Op::Delete {
                    moot += 1;
                } else {
                    rec.gaps.push(g);
                }
            }
        }
        if moot > 0 {
            rec.notes
                .push(RollbackNote::RefusedWritesToDeletedRows { writes: moot });
        }
    }
    for g in &rec.gaps {
        ctx.emit(Event::DataGap {
            rollback: rec.id.clone(),
            table: g.table.clone(),
            key: g.key.clone(),
            cause: g.cause.clone(),
            code: g.code(),
        });
    }
    for c in &rec.conflicts {
        ctx.emit(Event::Conflict {
            rollback: rec.id.clone(),
            table: c.table.clone(),
            key: c.key.clone(),
            columns: c.columns.clone(),
        });
    }
    rec.figures.lost = rec.gaps.len() as u64;
    rec.figures.recovered = rec.figures.at_risk.saturating_sub(rec.figures.lost);
    rec.figures.conflicts = rec.conflicts.len() as u64;
    rec.figures.review = rec.to_review().count() as u64;
    ctx.audit("replay", serde_json::json!({"rollback": rec.id, "applied": applied_total, "gaps": rec.gaps.len(), "review": rec.figures.review}), "ok")?;
    Ok(PhaseOutcome::Replayed)
}

/// The row-by-row proof, the invariants and the foreign keys.
fn verify(ctx: &mut Ctx, rec: &mut RollbackRecord, loaded: &[Loaded]) -> Result<PhaseOutcome> {
    let mut proof = Proof::default();
    for l in loaded {
        proof.tables.extend(prove(ctx, rec, l)?);
        let mut engine = ctx.engine_installed(&l.component.database)?;
        proof
            .invariants
            .extend(verify::invariants(ctx, engine.as_mut(), &l.component)?);
        if let (Some(d), Some(db)) = (
            ctx.connector.differ(),
            ctx.plan.databases.get(&l.component.database),
        ) {
            proof.orphans.extend(d.orphans(db, &l.component.tables)?);
        }
    }
    for o in &proof.orphans {
        rec.notes
            .push(RollbackNote::ReferentialIntegrity { orphans: o.clone() });
    }
    let ok = proof.ok();
    let diffs: u64 = proof.tables.iter().map(|t| t.differences).sum();
    let broken = proof.invariants.iter().filter(|i| !i.ok).count();
    rec.proof = Some(proof);
    ctx.audit(
        "verify",
        serde_json::json!({"rollback": rec.id}),
        if ok { "ok" } else { "failed" },
    )?;
    Ok(PhaseOutcome::Verified {
        differences: diffs,
        broken_invariants: broken as u64,
    })
}

/// Moves the rolled-back components' switches to legacy and runs their cache
/// invalidations, only after the proof passed (invariant 6). A switch this rollback already
/// moved (a resume after a crash) is not moved again; one that fails fails the phase.
fn switch_back(ctx: &mut Ctx, rec: &mut RollbackRecord) -> Result<PhaseOutcome> {
    // Invariant 6: traffic only moves back after verification passed.
    if rec.proof.as_ref().is_some_and(Proof::ok) {
        let switches: Vec<crate::plan::Switch> = ctx
            .plan
            .switches_of(&rec.components)
            .into_iter()
            .cloned()
            .collect();
        if switches.is_empty() {
            return Ok(PhaseOutcome::NoSwitches);
        }
        let records = ctx.state.switches()?;
        let mut moved = Vec::new();
        let mut invalidations = 0;
        for sw in &switches {
            let done_here = records.iter().any(|r| {
                r.name == sw.name
                    && r.pending.is_none()
                    && r.last
                        .as_ref()
                        .is_some_and(|l| l.flip.rollback.as_deref() == Some(rec.id.as_str()))
            });
            if done_here {
                moved.push(SwitchMoved {
                    switch: sw.name.clone(),
                    already: true,
                });
                continue;
            }
            let done = crate::switch::flip(
                ctx,
                sw,
                &crate::switch::FlipRequest {
                    to: crate::switch::Side::Legacy,
                    stage: None,
                    reason: &rec.reason,
                    rollback: Some(&rec.id),
                },
            )?;
            invalidations += done.invalidated.len() as u64;
            moved.push(SwitchMoved {
                switch: sw.name.clone(),
                already: false,
            });
        }
        Ok(PhaseOutcome::SwitchedBack {
            switches: moved,
            invalidations,
        })
    } else {
        rec.notes.push(RollbackNote::NotSwitchedBack);
        Ok(PhaseOutcome::SwitchBackSkipped)
    }
}

/// Allows writes again.
fn unfreeze(ctx: &mut Ctx, rec: &mut RollbackRecord, loaded: &[Loaded]) -> Result<PhaseOutcome> {
    for l in loaded {
        ctx.engine_installed(&l.component.database)?
            .unfreeze(&l.component.tables)?;
        ctx.engine_installed(&l.component.capture_database)?
            .unfreeze(&l.component.captured_tables())?;
    }
    ctx.audit("unfreeze", serde_json::json!({"rollback": rec.id}), "ok")?;
    Ok(PhaseOutcome::Unfrozen)
}

/// The closing figures.
fn report(rec: &mut RollbackRecord) -> Result<PhaseOutcome> {
    if zero_recovered(rec) {
        rec.notes.push(RollbackNote::NoneRecovered {
            at_risk: rec.figures.at_risk,
        });
    }
    Ok(PhaseOutcome::Reported)
}

/// Capture breaks since the checkpoints that the operator did not accept at the start.
fn unaccepted_breaks(ctx: &mut Ctx, rec: &RollbackRecord, loaded: &[Loaded]) -> Result<Vec<Break>> {
    let mut out = Vec::new();
    for l in loaded {
        out.extend(
            continuity::check(ctx, &l.component, &l.manifest)?
                .into_iter()
                .filter(|b| !accepted_break(rec, b)),
        );
    }
    Ok(out)
}

/// Tables in the order they are restored: a parent before the tables whose foreign keys
/// point at it (so an interrupted restore never leaves children restored over missing
/// parents), then the seeds' restoration tiers (critical components first). A cycle of
/// foreign keys falls back to the tiers alone.
fn restore_order<'a>(
    ctx: &Ctx,
    loaded: &'a [Loaded],
) -> Result<Vec<(&'a Loaded, &'a crate::store::TableEntry)>> {
    let mut all: Vec<(&Loaded, &crate::store::TableEntry)> = loaded
        .iter()
        .flat_map(|l| l.entry().tables.iter().map(move |t| (l, t)))
        .collect();
    all.sort_by_key(|(l, _)| l.component.priority);
    let mut edges: Vec<(String, String, String)> = Vec::new();
    if let Some(d) = ctx.connector.differ() {
        let dbs: std::collections::BTreeSet<&String> =
            loaded.iter().map(|l| &l.component.database).collect();
        for db in dbs {
            if let Some(plan_db) = ctx.plan.databases.get(db) {
                for (child, parent) in d.foreign_keys(plan_db)? {
                    if child != parent {
                        edges.push((db.clone(), child, parent));
                    }
                }
            }
        }
    }
    let key = |(l, t): &(&Loaded, &crate::store::TableEntry)| {
        (l.component.database.clone(), t.schema.name.clone())
    };
    let mut out = Vec::with_capacity(all.len());
    let mut done: std::collections::BTreeSet<(String, String)> = Default::default();
    while !all.is_empty() {
        // The first (in tier order) whose restored parents are all restored already.
        let ready = all.iter().position(|x| {
            let (db, name) = key(x);
            edges.iter().all(|(d, child, parent)| {
                *d != db
                    || *child != name
                    || done.contains(&(d.clone(), parent.clone()))
                    || !all.iter().any(|y| key(y) == (d.clone(), parent.clone()))
            })
        });
        let next = all.remove(ready.unwrap_or(0));
        done.insert(key(&next));
        out.push(next);
    }
    Ok(out)
}

/// The replay plan of one component, against the restored tables' schemas.
fn plan_replay(ctx: &Ctx, rec: &RollbackRecord, l: &Loaded) -> Result<replay::ReplayPlan> {
    let upto = *rec
        .drain_to
        .get(&l.component.capture_database)
        .ok_or_else(|| Error::Internal("replay before drain".into()))?;
    let mut target = ctx.engine_installed(&l.component.database)?;
    let target_kind = target.kind();
    let cross_engine = (l.component.capture_database != l.component.database
        && ctx.engine_installed(&l.component.capture_database)?.kind() != target_kind)
        .then_some(target.types());
    let targets: BTreeMap<String, TableSchema> = l
        .entry()
        .tables
        .iter()
        .map(|t| (t.schema.name.clone(), t.schema.clone()))
        .collect();
    let mut eval = |exprs: &[String], img: &crate::journal::RowImage| {
        target.eval_exprs(exprs, img).map_err(|e| e.to_string())
    };
    let mut planner = replay::Planner::new(&l.component, &targets, cross_engine);
    journal_pages(
        ctx,
        &l.component,
        &l.entry().journal_mark,
        Some(upto),
        |page| {
            planner.add(&page, &mut eval);
            Ok(())
        },
    )?;
    Ok(planner.finish())
}

/// Rebuilds each table's expected state (checkpoint rows + the business writes that were
/// carried back) and compares it with the table, row by row.
fn prove(ctx: &Ctx, rec: &RollbackRecord, l: &Loaded) -> Result<Vec<TableProof>> {
    let plan = plan_replay(ctx, rec, l)?;
    let gap_seqs: std::collections::BTreeSet<i64> = rec
        .gaps
        .iter()
        .filter(|g| !g.partial())
        .map(|g| g.seq)
        .collect();
    let applied: Vec<&ApplyOp> = plan
        .items
        .iter()
        .filter_map(|(seq, p)| match p {
            Planned::Apply(op) if !gap_seqs.contains(seq) => Some(op),
            _ => None,
        })
        .collect();
    let ops_of = |table: &str| -> Vec<&ApplyOp> {
        applied
            .iter()
            .copied()
            .filter(|op| op.table() == table)
            .collect()
    };
    let expected_in_memory = |t: &crate::store::TableEntry| -> Result<Expected> {
        let rows = ctx
            .store
            .rows(&l.manifest.id, t)
            .collect::<Result<Vec<_>>>()?;
        let mut e = Expected::from_rows(t.schema.clone(), rows);
        for op in ops_of(&t.schema.name) {
            e.apply(op);
        }
        Ok(e)
    };
    // The checkpoint's rows stream, with the replayed writes laid over them, against the
    // table read in key order: memory stays bounded whatever the table's size. Only when
    // the keys cannot be ordered the same way on both sides is the expected state built
    // in memory and handed to the range-checksum diff.
    if let (Some(differ), Some(db)) = (
        ctx.connector.differ(),
        ctx.plan.databases.get(&l.component.database),
    ) {
        let mut out = Vec::new();
        for t in &l.entry().tables {
            let ops = ops_of(&t.schema.name);
            let c = match verify::stream_proof(ctx, differ, db, &l.manifest.id, t, &ops)? {
                Some(c) => c,
                None => {
                    let (schema, rows, columns) = verify::known_rows(expected_in_memory(t)?);
                    verify::TableCheck {
                        rows_held_peak: rows.len() as u64,
                        ..differ.compare(db, &schema, rows, &columns)?
                    }
                }
            };
            out.push(TableProof {
                component: l.component.name.clone(),
                table: t.schema.name.clone(),
                rows: c.rows,
                differences: c.differences,
                examples: c.examples,
                rows_held_peak: c.rows_held_peak,
                checked: Checked::default(),
            });
        }
        return Ok(out);
    }
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for t in &l.entry().tables {
        expected.insert(t.schema.name.clone(), expected_in_memory(t)?);
    }
    let mut engine = ctx.engine_installed(&l.component.database)?;
    let mut collect = Collect::default();
    engine.snapshot(&l.component.tables, &mut collect)?;
    let mut out = Vec::new();
    for (schema, rows) in collect.tables {
        let exp = &expected[&schema.name];
        let (examples, differences) = exp.compare(&rows, 20);
        out.push(TableProof {
            component: l.component.name.clone(),
            table: schema.name.clone(),
            rows: rows.len() as u64,
            differences,
            examples,
            rows_held_peak: rows.len() as u64,
            checked: Checked::default(),
        });
    }
    Ok(out)
}

/// The switch path's phases: legacy was kept current by the sync, so the rollback drains
/// its tail, proves the sides equal and moves traffic; it restores nothing.
fn run_switch_phase(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    phase: Phase,
    approval: &Option<String>,
    tags: &BTreeMap<String, String>,
) -> Result<PhaseOutcome> {
    let comps = components_of(ctx, rec)?;
    match phase {
        Phase::Assess => {
            let mut pending = 0;
            for c in &comps {
                let s = crate::sync::record(ctx, &c.name)?.ok_or_else(|| {
                    Error::Internal(format!("the sync record of {} vanished", c.name))
                })?;
                if s.tag != tags[&c.name] {
                    return Err(Error::Verify(format!(
                        "component {} was cut over again since this rollback started (sync {} is not {}); abandon this rollback",
                        c.name, s.tag, tags[&c.name]
                    )));
                }
                pending += crate::sync::lag(ctx, &s)?.rows;
            }
            Ok(PhaseOutcome::SyncPending { pending })
        }
        Phase::Approve => approve(ctx, rec, approval),
        Phase::Freeze => {
            // The new side stops taking writes; legacy has been frozen since the cutover
            // (frozen again here, harmlessly, in case someone thawed it).
            for c in &comps {
                ctx.engine_installed(&c.capture_database)?
                    .freeze(&c.captured_tables())?;
                ctx.engine_installed(&c.database)?.freeze(&c.tables)?;
            }
            ctx.audit(
                "freeze",
                serde_json::json!({"rollback": rec.id, "components": rec.components, "sides": "new and legacy"}),
                "frozen",
            )?;
            Ok(PhaseOutcome::BothSidesFrozen)
        }
        Phase::Drain => switch_drain(ctx, rec, &comps),
        Phase::Restore | Phase::Replay => Ok(PhaseOutcome::KeptCurrentBySync),
        Phase::Verify => {
            let mut proof = Proof::default();
            for c in &comps {
                proof.tables.extend(crate::sync::compare_sides(ctx, c)?);
                let mut engine = ctx.engine_installed(&c.database)?;
                proof
                    .invariants
                    .extend(verify::invariants(ctx, engine.as_mut(), c)?);
            }
            let ok = proof.ok();
            let diffs: u64 = proof.tables.iter().map(|t| t.differences).sum();
            let broken = proof.invariants.iter().filter(|i| !i.ok).count();
            let count_only: Vec<String> = proof
                .tables
                .iter()
                .filter(|t| !t.checked.contents())
                .map(|t| t.table.clone())
                .collect();
            for t in &proof.tables {
                if let Checked::CountOnly { why } = &t.checked {
                    let note = RollbackNote::CountOnly {
                        table: t.table.clone(),
                        why: why.clone(),
                    };
                    if !rec.notes.contains(&note) {
                        rec.notes.push(note);
                    }
                }
            }
            rec.proof = Some(proof);
            ctx.audit(
                "verify",
                serde_json::json!({"rollback": rec.id, "path": "switch", "count_only": count_only}),
                if ok { "ok" } else { "failed" },
            )?;
            Ok(PhaseOutcome::SidesCompared {
                differences: diffs,
                broken_invariants: broken as u64,
                count_only,
            })
        }
        Phase::SwitchBack => switch_back(ctx, rec),
        Phase::Unfreeze => {
            // Invariant 2d: legacy opens only once traffic points at it. The
            // new side stays frozen (fenced): a late write there is refused, not orphaned.
            if !rec.proof.as_ref().is_some_and(Proof::ok) {
                rec.notes.push(RollbackNote::BothSidesStayFrozen);
                return Ok(PhaseOutcome::BothSidesStayFrozen);
            }
            for c in &comps {
                ctx.engine_installed(&c.database)?.unfreeze(&c.tables)?;
                if let Some(mut s) = crate::sync::record(ctx, &c.name)? {
                    s.state = crate::sync::SyncState::Ended {
                        rollback: rec.id.clone(),
                    };
                    s.updated_at = now();
                    ctx.state.save_sync(&s)?;
                }
            }
            ctx.audit(
                "unfreeze",
                serde_json::json!({"rollback": rec.id, "sides": "legacy", "fenced": rec.components}),
                "ok",
            )?;
            Ok(PhaseOutcome::LegacyUnfrozenNewFenced)
        }
        Phase::Report => report(rec),
    }
}

/// Takes each component's sync over and applies the rest of the new side's journal, now
/// frozen, to legacy; every write that could not be applied is a gap (a loss).
fn switch_drain(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    comps: &[Component],
) -> Result<PhaseOutcome> {
    let mut at_risk = 0;
    let mut drained = 0;
    rec.gaps.clear();
    for c in comps {
        let mut s = crate::sync::record(ctx, &c.name)?
            .ok_or_else(|| Error::Internal(format!("the sync record of {} vanished", c.name)))?;
        let owner = crate::sync::hand_over(ctx, &mut s, &rec.id)?;
        let result = (|| -> Result<crate::sync::Pass> {
            // The freeze waited out the frozen tables' writers in the middle of a
            // transaction (bounded, refusing by name), so one pass reads all; only a
            // writer of another table captured in the same database can still hold a
            // journal sequence below the mark.
            let p = crate::sync::pass(ctx, &mut s, Duration::from_secs(30), false)?;
            if p.waited {
                return Err(Error::Verify(format!(
                    "a transaction that wrote the journal of database {} (the new side of {}) stayed open 30 s after the freeze; the tail cannot be drained yet (resume to try again)",
                    c.capture_database, c.name
                )));
            }
            Ok(p)
        })();
        crate::sync::release(ctx, &c.name, &owner);
        let p = result?;
        drained += p.applied;
        let hi = rec
            .drain_to
            .entry(c.capture_database.clone())
            .or_insert(p.high);
        *hi = (*hi).max(p.high);
        // Every business write since the cutover was at risk; the sync carried them.
        let mut new = ctx.engine_installed(&c.capture_database)?;
        at_risk += new
            .read_journal(&s.from, p.high, &c.captured_tables())?
            .iter()
            .filter(|e| e.origin == Origin::Business)
            .count() as u64;
        rec.gaps.extend(s.gaps.iter().cloned());
    }
    for g in &rec.gaps {
        ctx.emit(Event::DataGap {
            rollback: rec.id.clone(),
            table: g.table.clone(),
            key: g.key.clone(),
            cause: g.cause.clone(),
            code: g.code(),
        });
    }
    rec.figures.at_risk = at_risk;
    rec.figures.lost = rec.gaps.iter().filter(|g| !g.partial()).count() as u64;
    rec.figures.recovered = at_risk.saturating_sub(rec.figures.lost);
    ctx.audit(
        "drain",
        serde_json::json!({"rollback": rec.id, "path": "switch", "applied_now": drained, "gaps": rec.gaps.len()}),
        "ok",
    )?;
    Ok(PhaseOutcome::SyncDrained {
        applied: drained,
        at_risk,
    })
}
