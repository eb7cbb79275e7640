//! Retention: which checkpoints `ripcord prune` keeps, the journal entries no kept
//! checkpoint needs, and the store's garbage collection (ARCHITECTURE.md invariant 11).
//!
//! A checkpoint is kept when the policy selects it for any of its components (restic's
//! rules: `last` newest; the newest of each of the last `hourly` hours, `daily` days,
//! `weekly` ISO weeks that have one), and always when an unfinished rollback restores from
//! it, when it is the checkpoint of a component's newest rollback that left gaps or
//! overlaps to review, or when a kept differential checkpoint names it as its base.
//!
//! Chunk writers (checkpoints) hold the store's lock file shared and leave a marker in
//! `pending/` until their checkpoint is listed; the collector takes the lock exclusively,
//! so every marker it finds belongs to a checkpoint that was killed or failed: it records
//! each one in the audit log and removes it. No continuous sync exists yet, so none holds
//! a checkpoint.

use crate::context::Ctx;
use crate::journal::JournalMark;
use crate::state::CheckpointRecord;
use crate::store::{CheckpointId, FileKind, Store, StoreError};
use crate::{Error, Result};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::Path;

/// How many checkpoints to keep per component, as restic's `forget` counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.last == 0 && self.hourly == 0 && self.daily == 0 && self.weekly == 0
    }
}

/// A checkpoint as the policy sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: String,
    pub at: DateTime<Utc>,
    pub components: Vec<String>,
}

/// Checkpoint id → why the policy keeps it (empty: not kept). `list` is newest first.
pub fn select(policy: &Policy, list: &[Candidate]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> =
        list.iter().map(|c| (c.id.clone(), Vec::new())).collect();
    let components: BTreeSet<&String> = list.iter().flat_map(|c| &c.components).collect();
    let rules = [
        ("hourly", policy.hourly),
        ("daily", policy.daily),
        ("weekly", policy.weekly),
    ];
    for comp in components {
        let mine: Vec<&Candidate> = list
            .iter()
            .filter(|c| c.components.contains(comp))
            .collect();
        for (i, c) in mine.iter().enumerate().take(policy.last as usize) {
            out.get_mut(&c.id)
                .expect("listed")
                .push(format!("last {} of {comp}", i + 1));
        }
        for (name, n) in rules {
            let mut seen: Vec<String> = Vec::new();
            for c in &mine {
                if seen.len() >= n as usize {
                    break;
                }
                let b = bucket(name, &c.at);
                if seen.last() != Some(&b) {
                    out.get_mut(&c.id)
                        .expect("listed")
                        .push(format!("{name} {b} of {comp}"));
                    seen.push(b);
                }
            }
        }
    }
    out
}

/// The hour, day or ISO week `t` falls in (UTC), as a word without spaces.
fn bucket(rule: &str, t: &DateTime<Utc>) -> String {
    match rule {
        "hourly" => format!("{}T{:02}h", t.date_naive(), t.hour()),
        "daily" => t.date_naive().to_string(),
        _ => {
            let w = t.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
    }
}

/// One checkpoint's fate.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub id: String,
    pub created_at: String,
    pub components: Vec<String>,
    pub keep: bool,
    /// Why it is kept; empty when it goes.
    pub reasons: Vec<String>,
}

/// What `prune` will do (or, with `--dry-run`, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PrunePlan {
    pub checkpoints: Vec<Verdict>,
}

impl PrunePlan {
    pub fn removed(&self) -> impl Iterator<Item = &Verdict> {
        self.checkpoints.iter().filter(|v| !v.keep)
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::State(format!("checkpoint time {s:?}: {e}")))
}

/// Checkpoint id → why it must stay whatever the policy says.
fn protected(ctx: &mut Ctx) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rollbacks = ctx.state.rollbacks()?;
    for r in rollbacks.iter().filter(|r| r.unfinished()) {
        for id in r.checkpoints.values() {
            out.entry(id.clone())
                .or_default()
                .push(format!("rollback {} is unfinished", r.id));
        }
    }
    // The newest rollback of each component: its gaps and overlaps are reviewed against
    // the checkpoint it restored.
    let mut newest: BTreeMap<&str, &crate::rollback::RollbackRecord> = BTreeMap::new();
    for r in &rollbacks {
        for c in &r.components {
            match newest.get(c.as_str()) {
                Some(n) if n.started_at >= r.started_at => {}
                _ => {
                    newest.insert(c, r);
                }
            }
        }
    }
    for r in newest.values() {
        if !r.gaps.is_empty() || r.to_review().next().is_some() {
            for id in r.checkpoints.values() {
                let why = format!("rollback {} left gaps or overlaps to review", r.id);
                let v = out.entry(id.clone()).or_default();
                if !v.contains(&why) {
                    v.push(why);
                }
            }
        }
    }
    Ok(out)
}

/// Decides what goes: by `policy`, or exactly the checkpoints in `forget`. A forgotten
/// checkpoint that must stay is refused (`Error::Held`), naming why.
pub fn plan(ctx: &mut Ctx, policy: &Policy, forget: &[String]) -> Result<PrunePlan> {
    if policy.is_empty() == forget.is_empty() {
        return Err(Error::Usage(
            "give a policy (--keep-last, --keep-hourly, --keep-daily, --keep-weekly) or checkpoints to --forget, not both and not neither"
                .into(),
        ));
    }
    let list = ctx.state.checkpoints()?;
    let mut forget_ids = Vec::new();
    for f in forget {
        let hits: Vec<&CheckpointRecord> = list
            .iter()
            .filter(|r| r.id == *f || r.id.starts_with(f.as_str()))
            .collect();
        match hits.as_slice() {
            [one] => forget_ids.push(one.id.clone()),
            [] => {
                return Err(Error::Usage(format!(
                    "no checkpoint {f:?}; `ripcord checkpoints` lists them"
                )));
            }
            _ => return Err(Error::Usage(format!("{f:?} names several checkpoints"))),
        }
    }
    let candidates = list
        .iter()
        .map(|r| {
            Ok(Candidate {
                id: r.id.clone(),
                at: parse_time(&r.created_at)?,
                components: r.components.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut reasons: BTreeMap<String, Vec<String>> = if policy.is_empty() {
        list.iter()
            .map(|r| {
                let keep = !forget_ids.contains(&r.id);
                (
                    r.id.clone(),
                    if keep {
                        vec!["not named by --forget".into()]
                    } else {
                        Vec::new()
                    },
                )
            })
            .collect()
    } else {
        select(policy, &candidates)
    };
    for (id, why) in protected(ctx)? {
        if let Some(v) = reasons.get_mut(&id) {
            v.extend(why);
        }
    }
    // Bases of kept differential checkpoints, until nothing new is kept.
    let listed: HashSet<String> = list.iter().map(|r| r.id.clone()).collect();
    let mut frontier: Vec<String> = reasons
        .iter()
        .filter(|(_, w)| !w.is_empty())
        .map(|(id, _)| id.clone())
        .collect();
    let mut visited = HashSet::new();
    while let Some(id) = frontier.pop() {
        if !visited.insert(id.clone()) {
            continue;
        }
        let m = ctx.store.manifest(&CheckpointId(id.clone()))?;
        let bases: BTreeSet<String> = m
            .components
            .iter()
            .flat_map(|c| &c.tables)
            .filter_map(|t| t.delta.as_ref().map(|d| d.base.0.clone()))
            .collect();
        for b in bases {
            if listed.contains(&b) {
                let v = reasons.get_mut(&b).expect("listed");
                let why = format!("base of differential checkpoint {id}");
                if !v.contains(&why) {
                    v.push(why);
                }
                frontier.push(b);
            }
        }
    }
    for id in &forget_ids {
        let why = &reasons[id];
        if !why.is_empty() {
            return Err(Error::Held(format!(
                "checkpoint {id} is not deleted: {}",
                why.join("; ")
            )));
        }
    }
    Ok(PrunePlan {
        checkpoints: list
            .into_iter()
            .map(|r| {
                let why = reasons.remove(&r.id).unwrap_or_default();
                Verdict {
                    keep: !why.is_empty(),
                    reasons: why,
                    id: r.id,
                    created_at: r.created_at,
                    components: r.components,
                }
            })
            .collect(),
    })
}

/// What pruning the journals did, per capture database.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalPrune {
    /// Database → entries deleted.
    pub deleted: BTreeMap<String, u64>,
    /// Why a database's journal was kept whole.
    pub kept_whole: Vec<String>,
}

/// Deletes the journal entries every kept checkpoint of the database's components already
/// holds. A database is skipped (kept whole) when a component capturing there has no kept
/// checkpoint, or a kept checkpoint names a component the plan no longer has.
pub fn prune_journals(ctx: &mut Ctx) -> Result<JournalPrune> {
    let mut out = JournalPrune::default();
    let mut marks: BTreeMap<String, Vec<JournalMark>> = BTreeMap::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for rec in ctx.state.checkpoints()? {
        let m = ctx.store.manifest(&CheckpointId(rec.id.clone()))?;
        for c in &m.components {
            let Some(pc) = ctx.plan.components.iter().find(|p| p.name == c.name) else {
                out.kept_whole.push(format!(
                    "every journal: checkpoint {} holds component {:?}, which the plan no longer names",
                    rec.id, c.name
                ));
                return Ok(out);
            };
            marks
                .entry(pc.capture_database.clone())
                .or_default()
                .push(c.journal_mark.clone());
            covered.insert(c.name.clone());
        }
    }
    let mut dbs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &ctx.plan.components {
        dbs.entry(c.capture_database.clone())
            .or_default()
            .push(c.name.clone());
    }
    for (db, comps) in dbs {
        if let Some(c) = comps.iter().find(|c| !covered.contains(*c)) {
            out.kept_whole
                .push(format!("{db}: component {c} has no kept checkpoint"));
            continue;
        }
        let keep = marks.remove(&db).unwrap_or_default();
        let mut e = ctx.engine(&db)?;
        match e.prune_journal(&keep)? {
            Some(n) => {
                out.deleted.insert(db, n);
            }
            None => out
                .kept_whole
                .push(format!("{db}: the engine cannot prune its journal")),
        }
    }
    Ok(out)
}

/// A checkpoint being written: the store's lock held shared, and a marker naming it.
pub struct WriteGuard {
    _lock: fs::File,
    store: Store,
    marker: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub started_at: String,
    pub pid: u32,
    pub host: String,
    pub actor: String,
    pub components: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn lock_file(store: &Store) -> std::result::Result<fs::File, StoreError> {
    fs::create_dir_all(store.root()).map_err(io(store.root()))?;
    let path = store.root().join("lock");
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))
}

/// Call before a checkpoint writes its first chunk; [`WriteGuard::listed`] once it is
/// listed. Waits while a collection runs.
pub fn begin_write(
    store: &Store,
    actor: &str,
    components: &[String],
) -> std::result::Result<WriteGuard, StoreError> {
    let lock = lock_file(store)?;
    let lock_path = store.root().join("lock");
    lock.lock_shared().map_err(io(&lock_path))?;
    let marker = crate::context::new_id(&format!("cp{}", std::process::id()));
    let p = Pending {
        started_at: crate::context::now(),
        pid: std::process::id(),
        host: crate::state::hostname(),
        actor: actor.to_string(),
        components: components.to_vec(),
    };
    store.backend().put(
        FileKind::Pending,
        &marker,
        &serde_json::to_vec(&p).expect("serializes"),
    )?;
    Ok(WriteGuard {
        _lock: lock,
        store: store.clone(),
        marker,
    })
}

impl WriteGuard {
    /// The checkpoint is published and listed: nothing of it is pending any more.
    pub fn listed(self) -> std::result::Result<(), StoreError> {
        self.store
            .backend()
            .remove(FileKind::Pending, &self.marker)
            .map(drop)
    }
}

/// What a collection freed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GcReport {
    pub chunks_kept: u64,
    pub chunks_removed: u64,
    /// Compressed bytes on disk freed.
    pub bytes_freed: u64,
    /// Checkpoints that were being written when their process died or failed.
    pub interrupted: Vec<Pending>,
    /// Leftover temporary files removed.
    pub temp_files: u64,
}

/// Removes every chunk no manifest in the store names (a manifest is removed with its
/// checkpoint by `prune`, before this runs), temporary files left by killed writers, and
/// the markers of checkpoints that never finished. Refuses while a checkpoint is being
/// written, and when any manifest cannot be read (its chunks cannot be told apart).
pub fn collect(store: &Store) -> Result<GcReport> {
    let lock = lock_file(store)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(Error::Held(
                "a checkpoint is being written to the store; collect garbage once it is done"
                    .into(),
            ));
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(StoreError::Io {
                path: store.root().join("lock"),
                source: e,
            }
            .into());
        }
    }
    let b = store.backend();
    let mut report = GcReport {
        temp_files: b.remove_leftovers()?,
        ..GcReport::default()
    };
    let mut referenced: HashSet<String> = HashSet::new();
    for f in b.list(FileKind::Manifest)? {
        let m = store.manifest(&CheckpointId(f.id))?;
        for c in &m.components {
            for t in &c.tables {
                referenced.extend(t.all_chunks().map(|ch| ch.id.0.clone()));
            }
        }
    }
    for f in b.list(FileKind::Chunk)? {
        if referenced.contains(&f.id) {
            report.chunks_kept += 1;
        } else if b.remove(FileKind::Chunk, &f.id)? {
            report.chunks_removed += 1;
            report.bytes_freed += f.size;
        }
    }
    for f in b.list(FileKind::Pending)? {
        let pending = b
            .get(FileKind::Pending, &f.id)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Pending>(&bytes).ok());
        if let Some(p) = pending {
            report.interrupted.push(p);
        }
        b.remove(FileKind::Pending, &f.id)?;
    }
    Ok(report)
}

/// Collects the store's garbage and records it, and each interrupted checkpoint, in the
/// audit log.
pub fn gc(ctx: &mut Ctx) -> Result<GcReport> {
    let report = collect(&ctx.store)?;
    for p in &report.interrupted {
        ctx.audit(
            "checkpoint interrupted",
            serde_json::to_value(p).expect("serializes"),
            "abandoned: it never finished; its chunks were collected",
        )?;
    }
    ctx.audit(
        "gc",
        serde_json::json!({}),
        &format!(
            "ok: {} chunks removed ({} bytes), {} kept, {} interrupted checkpoints",
            report.chunks_removed,
            report.bytes_freed,
            report.chunks_kept,
            report.interrupted.len()
        ),
    )?;
    Ok(report)
}

/// What `ripcord prune` did.
#[derive(Clone, Debug, Serialize)]
pub struct PruneOutcome {
    pub plan: PrunePlan,
    pub journal: JournalPrune,
    pub gc: GcReport,
}

/// Removes what the plan says goes (unlisted first, then its manifest), audited, then
/// prunes the journals and collects the store's garbage.
pub fn apply(ctx: &mut Ctx, plan: PrunePlan, policy: &Policy) -> Result<PruneOutcome> {
    let removed: Vec<String> = plan.removed().map(|v| v.id.clone()).collect();
    for id in &removed {
        ctx.state.remove_checkpoint(id)?;
        ctx.store.backend().remove(FileKind::Manifest, id)?;
    }
    ctx.audit(
        "prune",
        serde_json::json!({"policy": policy, "removed": removed}),
        &format!(
            "ok: {} checkpoints removed, {} kept",
            removed.len(),
            plan.checkpoints.len() - removed.len()
        ),
    )?;
    let journal = prune_journals(ctx)?;
    let gc = gc(ctx)?;
    Ok(PruneOutcome { plan, journal, gc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cands(times: &[&str]) -> Vec<Candidate> {
        let mut v: Vec<Candidate> = times
            .iter()
            .enumerate()
            .map(|(i, t)| Candidate {
                id: format!("cp-{i}"),
                at: at(t),
                components: vec!["ledger".into()],
            })
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.at));
        v
    }

    fn kept(p: &Policy, list: &[Candidate]) -> Vec<String> {
        let mut v: Vec<String> = select(p, list)
            .into_iter()
            .filter(|(_, w)| !w.is_empty())
            .map(|(id, _)| id)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn hourly_keeps_the_newest_of_each_of_the_last_hours_that_have_one() {
        let list = cands(&[
            "2026-11-29T10:05:00Z",
            "2026-11-29T10:55:00Z",
            "2026-11-29T11:10:00Z",
            "2026-11-29T13:00:00Z",
            "2026-11-29T13:30:00Z",
        ]);
        let p = Policy {
            hourly: 2,
            ..Default::default()
        };
        // 13h → cp-4 (13:30), 11h → cp-2; 10h is a third hour.
        assert_eq!(kept(&p, &list), ["cp-2", "cp-4"]);
        let p = Policy {
            hourly: 3,
            ..Default::default()
        };
        assert_eq!(kept(&p, &list), ["cp-1", "cp-2", "cp-4"]);
    }

    #[test]
    fn daily_and_weekly_count_calendar_days_and_iso_weeks() {
        let list = cands(&[
            "2026-11-23T09:00:00Z", // Monday, week 48
            "2026-11-28T09:00:00Z", // Saturday, week 48
            "2026-11-29T08:00:00Z", // Sunday, week 48
            "2026-11-29T09:00:00Z",
            "2026-11-30T09:00:00Z", // Monday, week 49
        ]);
        let daily = Policy {
            daily: 2,
            ..Default::default()
        };
        assert_eq!(kept(&daily, &list), ["cp-3", "cp-4"]);
        let weekly = Policy {
            weekly: 2,
            ..Default::default()
        };
        assert_eq!(kept(&weekly, &list), ["cp-3", "cp-4"]);
    }

    #[test]
    fn policies_apply_per_component() {
        let mut list = cands(&["2026-11-29T10:00:00Z", "2026-11-29T11:00:00Z"]);
        list.push(Candidate {
            id: "cp-old-other".into(),
            at: at("2026-11-01T00:00:00Z"),
            components: vec!["payroll".into()],
        });
        let p = Policy {
            last: 1,
            ..Default::default()
        };
        assert_eq!(kept(&p, &list), ["cp-1", "cp-old-other"]);
    }

    proptest! {
        /// Whatever the times: `last` N keeps exactly the N newest, every bucket rule keeps
        /// at most N, the newest checkpoint is kept by any non-empty policy, and each kept
        /// one is the newest of its bucket.
        #[test]
        fn policy_selection_holds_its_promises(
            offsets in proptest::collection::vec(0i64..(30 * 24 * 3600), 1..40),
            last in 0u32..5, hourly in 0u32..5, daily in 0u32..5, weekly in 0u32..3,
        ) {
            let base = at("2026-11-01T00:00:00Z");
            let mut list: Vec<Candidate> = offsets.iter().enumerate().map(|(i, o)| Candidate {
                id: format!("cp-{i:03}"),
                at: base + chrono::Duration::seconds(*o),
                components: vec!["c".into()],
            }).collect();
            list.sort_by(|a, b| b.at.cmp(&a.at).then(a.id.cmp(&b.id)));
            let p = Policy { last, hourly, daily, weekly };
            let sel = select(&p, &list);
            let by_last: Vec<&String> = list.iter().take(last as usize).map(|c| &c.id).collect();
            for (id, why) in &sel {
                let n_last = why.iter().filter(|w| w.starts_with("last ")).count();
                prop_assert_eq!(n_last == 1, by_last.contains(&id));
            }
            for (name, n) in [("hourly", hourly), ("daily", daily), ("weekly", weekly)] {
                let count = sel.values().flatten().filter(|w| w.starts_with(name)).count();
                prop_assert!(count <= n as usize);
                // Each kept one is the newest in its bucket.
                for c in &list {
                    if sel[&c.id].iter().any(|w| w.starts_with(name)) {
                        let b = bucket(name, &c.at);
                        prop_assert!(!list.iter().any(|o| o.at > c.at && bucket(name, &o.at) == b));
                    }
                }
            }
            if !p.is_empty() {
                prop_assert!(!sel[&list[0].id].is_empty(), "the newest is always kept");
            }
        }
    }
}
