//! The go/no-go (`ripcord check`) as data: every item with a typed status, and the
//! decision, made here and nowhere else. Rendering (console, JSON, markdown) is the
//! binary's; items core cannot compute (probe baselines, a restore rehearsal) are pushed by
//! the caller with [`CheckReport::push`] and count towards the decision like any other.

use crate::Result;
use crate::context::Ctx;
use crate::plan::Action;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One item's verdict. `Warn` is printed but does not make the decision NO-GO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Go,
    Warn,
    NoGo,
}

impl ItemStatus {
    pub fn label(self) -> &'static str {
        match self {
            ItemStatus::Go => "GO",
            ItemStatus::Warn => "WARN",
            ItemStatus::NoGo => "NO-GO",
        }
    }
}

/// What an item is about; its `subject` names the instance (a database, `component.table`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Plan,
    Database,
    /// Whether ripcord's own objects are in a database (looked at, never created).
    Install,
    Table,
    Checkpoint,
    CheckpointAge,
    CaptureContinuity,
    Capture,
    Freeze,
    Invariant,
    StepVerify,
    Probe,
    Lock,
    Rollback,
    /// A restore of the newest checkpoint, timed against the recovery-time target.
    Rehearsal,
    /// A component's reverse sync (after a cutover).
    Sync,
    /// A traffic switch: its read against where ripcord last put it.
    Switch,
}

impl ItemKind {
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Plan => "plan",
            ItemKind::Database => "database",
            ItemKind::Install => "install",
            ItemKind::Table => "table",
            ItemKind::Checkpoint => "checkpoint",
            ItemKind::CheckpointAge => "checkpoint age",
            ItemKind::CaptureContinuity => "capture continuity",
            ItemKind::Capture => "capture",
            ItemKind::Freeze => "freeze",
            ItemKind::Invariant => "invariant",
            ItemKind::StepVerify => "step verify",
            ItemKind::Probe => "probe",
            ItemKind::Lock => "lock",
            ItemKind::Rollback => "rollback",
            ItemKind::Rehearsal => "rehearse",
            ItemKind::Sync => "sync",
            ItemKind::Switch => "switch",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckItem {
    pub kind: ItemKind,
    /// The database, `component.table`, component, probe, lock or rollback it is about.
    pub subject: String,
    pub status: ItemStatus,
    pub detail: String,
    /// Figures behind the verdict, e.g. `{"age_seconds": 3600, "limit_seconds": 86400}`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub figures: serde_json::Map<String, serde_json::Value>,
}

impl CheckItem {
    pub fn new(
        kind: ItemKind,
        subject: impl Into<String>,
        status: ItemStatus,
        detail: impl Into<String>,
    ) -> Self {
        CheckItem {
            kind,
            subject: subject.into(),
            status,
            detail: detail.into(),
            figures: serde_json::Map::new(),
        }
    }
    pub fn ok(
        kind: ItemKind,
        subject: impl Into<String>,
        ok: bool,
        detail: impl Into<String>,
    ) -> Self {
        let status = if ok { ItemStatus::Go } else { ItemStatus::NoGo };
        CheckItem::new(kind, subject, status, detail)
    }
    pub fn figure(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.figures.insert(name.to_string(), value.into());
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Go,
    NoGo,
}

impl Decision {
    pub fn label(self) -> &'static str {
        match self {
            Decision::Go => "GO",
            Decision::NoGo => "NO-GO",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    pub fn push(&mut self, item: CheckItem) {
        self.items.push(item);
    }
    /// NO-GO when any item is NO-GO; warnings do not block.
    pub fn decision(&self) -> Decision {
        if self.items.iter().any(|i| i.status == ItemStatus::NoGo) {
            Decision::NoGo
        } else {
            Decision::Go
        }
    }
}

/// The default limit on the newest checkpoint's age (docs/product.md: a day).
pub const DEFAULT_MAX_CHECKPOINT_AGE: Duration = Duration::from_secs(24 * 3600);

/// Everything `check` can decide from the plan, the databases, the store and the state.
/// `now` is passed in so the age of a checkpoint is computed against one instant.
pub fn run(ctx: &mut Ctx, now: chrono::DateTime<chrono::Utc>) -> Result<CheckReport> {
    let mut r = CheckReport::default();
    r.push(
        CheckItem::ok(
            ItemKind::Plan,
            ctx.plan.path.display().to_string(),
            true,
            format!(
                "{} components, {} steps",
                ctx.plan.components.len(),
                ctx.plan.steps.len()
            ),
        )
        .figure("components", ctx.plan.components.len())
        .figure("steps", ctx.plan.steps.len()),
    );
    let comps = ctx.plan.components.clone();
    let mut reachable = std::collections::BTreeSet::new();
    for db in ctx.plan.databases.values().cloned().collect::<Vec<_>>() {
        let used = comps
            .iter()
            .any(|c| c.database == db.name || c.capture_database == db.name)
            || ctx.plan.steps.iter().any(|s| s.database == db.name);
        if !used {
            r.push(CheckItem::ok(
                ItemKind::Database,
                &db.name,
                true,
                format!("{} (not used by any component or step)", db.url),
            ));
            continue;
        }
        match ctx.engine(&db.name) {
            Ok(mut e) => {
                reachable.insert(db.name.clone());
                r.push(CheckItem::ok(
                    ItemKind::Database,
                    &db.name,
                    true,
                    db.url.to_string(),
                ));
                // Looked at, never created here: `check` is read-only (invariant 12).
                let captures = comps.iter().any(|c| c.capture_database == db.name);
                r.push(match e.installed() {
                    Ok(true) => CheckItem::ok(
                        ItemKind::Install,
                        &db.name,
                        true,
                        "ripcord's objects are there",
                    ),
                    Ok(false) => CheckItem::ok(
                        ItemKind::Install,
                        &db.name,
                        !captures,
                        format!(
                            "ripcord is not installed in database {} (run `ripcord install -d {}`{})",
                            db.name,
                            db.name,
                            if captures {
                                " or `ripcord capture start`"
                            } else {
                                "; a rollback installs it when it needs to"
                            }
                        ),
                    ),
                    Err(err) => CheckItem::ok(ItemKind::Install, &db.name, false, err.to_string()),
                });
            }
            Err(e) => r.push(CheckItem::ok(
                ItemKind::Database,
                &db.name,
                false,
                e.to_string(),
            )),
        }
    }
    let checkpoints = ctx.state.checkpoints()?;
    let rollbacks = ctx.state.rollbacks()?;
    let (syncs, switches) = crate::status::universe(ctx, now)?;
    let max_age = ctx.plan.max_checkpoint_age;
    for c in &comps {
        if reachable.contains(&c.database) {
            let mut e = ctx.engine(&c.database)?;
            for tb in &c.tables {
                let subject = format!("{}.{tb}", c.name);
                r.push(match e.table_schema(tb) {
                    Ok(_) => {
                        CheckItem::ok(ItemKind::Table, subject, true, "exists, has a primary key")
                    }
                    Err(err) => CheckItem::ok(ItemKind::Table, subject, false, err.to_string()),
                });
            }
            // Run every invariant once: a query that fails or is already broken before the
            // migration would only be found in the middle of one.
            for inv in crate::verify::invariants(ctx, e.as_mut(), c)? {
                r.push(CheckItem::ok(
                    ItemKind::Invariant,
                    format!("{}.{}", c.name, inv.name),
                    inv.ok,
                    inv.detail,
                ));
            }
        }
        match checkpoints.iter().find(|x| x.components.contains(&c.name)) {
            None => r.push(CheckItem::ok(
                ItemKind::Checkpoint,
                &c.name,
                false,
                format!("none yet: ripcord checkpoint -c {}", c.name),
            )),
            Some(cp) => {
                let id = crate::store::CheckpointId(cp.id.clone());
                let verified = ctx
                    .store
                    .manifest(&id)
                    .map_err(crate::Error::from)
                    .and_then(|m| ctx.store.verify(&m).map_err(crate::Error::from).map(|()| m));
                match verified {
                    Ok(m) => {
                        r.push(CheckItem::ok(
                            ItemKind::Checkpoint,
                            &c.name,
                            true,
                            format!("{} from {}, chunks re-hash", cp.id, cp.created_at),
                        ));
                        let age = age_item(&c.name, &cp.id, &cp.created_at, now, max_age);
                        // Told to the notifier too (issue #14's "checkpoint stale"), once per
                        // checkpoint: its delivery key names the checkpoint.
                        if age.status == ItemStatus::NoGo
                            && let Some(secs) =
                                age.figures.get("age_seconds").and_then(|v| v.as_i64())
                        {
                            ctx.emit(crate::events::Event::CheckpointStale {
                                component: c.name.clone(),
                                checkpoint: cp.id.clone(),
                                age_seconds: secs,
                                limit_seconds: max_age.as_secs() as i64,
                            });
                        }
                        r.push(age);
                        // A rollback to this checkpoint is only as good as the journal since.
                        r.push(match crate::continuity::check(ctx, c, &m) {
                            Ok(breaks) if breaks.is_empty() => CheckItem::ok(
                                ItemKind::CaptureContinuity,
                                &c.name,
                                true,
                                format!("unbroken since {}", cp.id),
                            ),
                            Ok(breaks) => CheckItem::ok(
                                ItemKind::CaptureContinuity,
                                &c.name,
                                false,
                                breaks
                                    .iter()
                                    .map(|b| b.to_string())
                                    .collect::<Vec<_>>()
                                    .join("; "),
                            ),
                            Err(e) => CheckItem::ok(
                                ItemKind::CaptureContinuity,
                                &c.name,
                                false,
                                e.to_string(),
                            ),
                        });
                    }
                    Err(e) => r.push(CheckItem::ok(
                        ItemKind::Checkpoint,
                        &c.name,
                        false,
                        e.to_string(),
                    )),
                }
            }
        }
        if reachable.contains(&c.capture_database) {
            let mut e = ctx.engine(&c.capture_database)?;
            let on = e.captured_tables()?;
            let missing: Vec<String> = c
                .captured_tables()
                .into_iter()
                .filter(|x| !on.contains(x))
                .collect();
            r.push(CheckItem::ok(
                ItemKind::Capture,
                &c.name,
                missing.is_empty(),
                if missing.is_empty() {
                    "on".into()
                } else {
                    format!("off for {}", missing.join(", "))
                },
            ));
            let frozen: Vec<String> = e
                .frozen_tables()?
                .into_iter()
                .filter(|x| c.tables.contains(x) || c.captured_tables().contains(x))
                .collect();
            let fenced_by = syncs.iter().find_map(|s| match &s.state {
                crate::sync::SyncState::Ended { rollback } if s.component == c.name => {
                    Some(rollback.clone())
                }
                _ => None,
            });
            let unfinished = rollbacks
                .iter()
                .any(|x| x.unfinished() && x.components.contains(&c.name));
            if let (false, Some(rb)) = (frozen.is_empty() || unfinished, &fenced_by) {
                // The fence a switch-path rollback leaves on the new side by design: late
                // writes there are refused instead of orphaned.
                r.push(CheckItem::new(
                    ItemKind::Freeze,
                    &c.name,
                    ItemStatus::Warn,
                    format!(
                        "fenced: {} on {} since rollback {rb} (traffic on legacy); `ripcord cutover --unfence -c {}` before re-basing it for another cutover",
                        frozen.join(", "),
                        c.capture_database,
                        c.name
                    ),
                ));
            } else if !frozen.is_empty() {
                let holder = rollbacks.iter().find(|x| x.components.contains(&c.name));
                let hint = match holder {
                    Some(x) if x.unfinished() => format!(
                        "rollback {} is unfinished: ripcord rollback --resume {}",
                        x.id, x.id
                    ),
                    Some(x) if !x.left_frozen.is_empty() => format!(
                        "rollback {} was abandoned after restoring them: ripcord rollback -c {} --reason \"…\" carries the business writes back",
                        x.id, c.name
                    ),
                    _ => "an interrupted rollback? ripcord rollback --resume".into(),
                };
                r.push(CheckItem::ok(
                    ItemKind::Freeze,
                    &c.name,
                    false,
                    format!("frozen: {} ({hint})", frozen.join(", ")),
                ));
            }
        }
    }
    step_verifies(ctx, &reachable, &mut r);
    for s in &syncs {
        r.push(sync_item(s));
    }
    for sw in &switches {
        r.push(switch_item(sw));
    }
    for l in ctx.state.locks()? {
        let sync_loop = syncs
            .iter()
            .any(|s| l.name == format!("sync:{}", s.component) && s.runner_alive);
        // A holder that died on this host blocks nobody: the next rollback takes it over.
        r.push(if sync_loop {
            // The sync loop holds its component's lock while it runs: its item says how
            // it is doing; a rollback takes the component over from it.
            CheckItem::ok(ItemKind::Lock, &l.name, true, format!("the sync loop: {l}"))
        } else if l.holder.is_dead_here() {
            CheckItem::ok(
                ItemKind::Lock,
                &l.name,
                true,
                format!("stale: {l}; its holder is gone, the next rollback takes it over"),
            )
        } else if l.lapsed() {
            // A holder on another host cannot be asked; its lease is what the takeover
            // goes by (`StateStore::lock`), and `check` says the same.
            CheckItem::ok(
                ItemKind::Lock,
                &l.name,
                true,
                format!("stale: {l}; its lease has ended, the next rollback takes it over"),
            )
        } else {
            CheckItem::ok(ItemKind::Lock, &l.name, false, l.to_string())
        });
    }
    for x in rollbacks.iter().filter(|x| x.unfinished()) {
        r.push(CheckItem::ok(
            ItemKind::Rollback,
            &x.id,
            false,
            format!(
                "unfinished ({}): ripcord rollback --resume {} or --abandon {} --reason \"…\"",
                x.components.join(", "),
                x.id,
                x.id
            ),
        ));
    }
    Ok(r)
}

/// A reverse sync's verdict: NO-GO when it failed (legacy lacks writes) or when it should
/// run and no live process runs it (legacy falls behind unseen); WARN when paused,
/// stopped, handed to a rollback, carrying accepted gaps or not measurable; GO otherwise.
pub fn sync_item(s: &crate::status::SyncView) -> CheckItem {
    use crate::sync::SyncState;
    let lag = match (s.lag_rows, s.lag_seconds) {
        (Some(n), Some(t)) => format!("lag {n} write(s), {t:.1} s"),
        _ => match &s.lag_error {
            Some(e) => format!("lag cannot be measured: {e}"),
            None => "no lag".into(),
        },
    };
    let runner = match (&s.runner, s.runner_alive) {
        (Some(l), true) => format!("run by pid {} on {}", l.holder.pid, l.holder.host),
        (Some(l), false) => format!(
            "its runner (pid {} on {}) is gone",
            l.holder.pid, l.holder.host
        ),
        (None, _) => "no process runs it".into(),
    };
    let c = &s.component;
    let (status, detail) = match &s.state {
        SyncState::Failed { failure } => (
            ItemStatus::NoGo,
            format!(
                "FAILED: {}; legacy lacks {} write(s): `ripcord rollback -c {c}` or `ripcord sync start -c {c} --accept-gap --reason \"…\"`",
                crate::words::sync_failure(failure),
                s.gaps
            ),
        ),
        SyncState::Running if !s.runner_alive => (
            ItemStatus::NoGo,
            format!(
                "running, but {runner}: legacy falls behind ({lag}); start `ripcord sync start` or `ripcord watch`"
            ),
        ),
        SyncState::Running if s.gaps > 0 || s.lag_error.is_some() => (
            ItemStatus::Warn,
            format!("running, {runner}, {lag}, {} gap(s) so far", s.gaps),
        ),
        SyncState::Running => (ItemStatus::Go, format!("running, {runner}, {lag}")),
        SyncState::Paused => (
            ItemStatus::Warn,
            format!("paused ({lag}): `ripcord sync resume -c {c}`"),
        ),
        SyncState::Stopped => (
            ItemStatus::Warn,
            format!("stopped ({lag}); a rollback still drains it: `ripcord sync start -c {c}`"),
        ),
        SyncState::Draining { rollback } => {
            (ItemStatus::Warn, format!("handed to rollback {rollback}"))
        }
        SyncState::Ended { rollback } => (
            ItemStatus::Go,
            format!("ended by rollback {rollback}; traffic on legacy"),
        ),
    };
    let mut item = CheckItem::new(ItemKind::Sync, c, status, detail)
        .figure("state", serde_json::to_value(&s.state).unwrap_or_default())
        .figure("runner_alive", s.runner_alive)
        .figure("gaps", s.gaps);
    if let (Some(n), Some(t)) = (s.lag_rows, s.lag_seconds) {
        item = item.figure("lag_rows", n).figure("lag_seconds", t);
    }
    item
}

/// A switch's verdict: NO-GO when its read fails, a flip is unfinished or it reads
/// somewhere other than where ripcord last put it (someone moved it by hand: a cutover or
/// rollback would start from a wrong belief); GO otherwise.
pub fn switch_item(s: &crate::status::SwitchView) -> CheckItem {
    let believed = s
        .persisted
        .clone()
        .unwrap_or(crate::switch::Position::Legacy);
    let (ok, detail) = match (&s.read_error, &s.pending, &s.position) {
        (Some(e), _, _) => (false, format!("cannot be read: {e}")),
        (_, Some(p), _) => (
            false,
            format!(
                "a flip to {p} did not finish: `ripcord switch to-{} -c {}` completes it",
                if *p == crate::switch::Position::Legacy {
                    "legacy"
                } else {
                    "new"
                },
                s.component
            ),
        ),
        (_, _, Some(p)) if *p != believed => (
            false,
            format!("reads {p}, but ripcord last put it at {believed} (moved outside ripcord?)"),
        ),
        (_, _, Some(p)) => (true, format!("reads {p}")),
        (_, _, None) => (false, "cannot be read".into()),
    };
    CheckItem::ok(ItemKind::Switch, &s.name, ok, detail)
        .figure("component", s.component.clone())
        .figure(
            "position",
            serde_json::to_value(&s.position).unwrap_or_default(),
        )
}

/// The newest checkpoint of a component against the plan's `max_checkpoint_age`.
pub fn age_item(
    component: &str,
    id: &str,
    created_at: &str,
    now: chrono::DateTime<chrono::Utc>,
    limit: Duration,
) -> CheckItem {
    let limit_s = limit.as_secs() as i64;
    match chrono::DateTime::parse_from_rfc3339(created_at) {
        Err(e) => CheckItem::ok(
            ItemKind::CheckpointAge,
            component,
            false,
            format!("checkpoint {id}: its time {created_at:?} cannot be read ({e})"),
        ),
        Ok(t) => {
            let age = now.signed_duration_since(t).num_seconds().max(0);
            let ok = age <= limit_s;
            let detail = if ok {
                format!(
                    "{id} is {} old (limit {})",
                    age_words(age),
                    age_words(limit_s)
                )
            } else {
                format!(
                    "{id} is {} old, over the limit of {}: take a fresh one with ripcord checkpoint -c {component}",
                    age_words(age),
                    age_words(limit_s)
                )
            };
            CheckItem::ok(ItemKind::CheckpointAge, component, ok, detail)
                .figure("checkpoint", id)
                .figure("age_seconds", age)
                .figure("limit_seconds", limit_s)
        }
    }
}

/// A short age: `45s`, `12m`, `3h05m`, `2d04h`.
pub fn age_words(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Runs every step's verify query once. A query that cannot run is a warning, not a
/// NO-GO: before its step it may read what the step creates (a new column); the detail
/// says so, and the operator can tell a typo from that.
fn step_verifies(ctx: &Ctx, reachable: &std::collections::BTreeSet<String>, r: &mut CheckReport) {
    for s in &ctx.plan.steps {
        let Some(Action::Sql(sql)) = &s.verify else {
            continue;
        };
        if !reachable.contains(&s.database) {
            continue;
        }
        let Ok(mut e) = ctx.engine(&s.database) else {
            continue;
        };
        r.push(match e.query_scalar(sql) {
            Ok(v) => CheckItem::ok(
                ItemKind::StepVerify,
                &s.name,
                true,
                format!("runs (today it returns {v})"),
            ),
            Err(err) => CheckItem::new(
                ItemKind::StepVerify,
                &s.name,
                ItemStatus::Warn,
                format!(
                    "does not run before the step: {err} (expected only if the step creates what it reads)"
                ),
            ),
        });
    }
}
