//! Traffic switches: moving a component's traffic to the new side or back to legacy, and
//! reading where it stands. A flip is persisted in the state store before it acts (the
//! intent, `pending`) and after its read-back agrees (`position`, `last`), so a flip cut
//! short by a crash is seen by the next command, which completes it (every action is
//! safe to repeat: SET, DEL, create, remove, and the plan's own statements and calls).
//! Each flip is audited with its evidence: what ran and what the read said after.
//!
//! Each kind runs through a `SwitchDriver`. SQL, file and command switches are run here
//! (commands through `process::Program`); Redis needs a client core does not carry, so the
//! binary supplies the Redis and HTTP drivers (`Connector::switch_driver`; HTTP through
//! `http::Client`).

use crate::context::{Ctx, new_id, now};
use crate::events::Event;
use crate::journal::Origin;
use crate::plan::{Switch, SwitchAction, SwitchKind, SwitchRead};
use crate::state::LockOwner;
use crate::value::Value;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Runs the actions and reads of one kind of switch.
pub trait SwitchDriver: Send + Sync {
    /// Runs one action; returns what it observed (a status, a count), never a secret.
    fn act(&self, ctx: &Ctx, action: &SwitchAction) -> Result<String>;
    /// The value the switch holds now; `None` when there is nothing (no key, no file, NULL).
    fn read(&self, ctx: &Ctx, read: &SwitchRead) -> Result<Option<String>>;
}

/// Where a switch stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "side", rename_all = "snake_case")]
pub enum Position {
    Legacy,
    New {
        stage: Option<u32>,
    },
    /// The read returned something that is neither side's value.
    Unknown {
        read: String,
    },
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Legacy => f.write_str("legacy"),
            Position::New { stage: None } => f.write_str("new"),
            Position::New { stage: Some(s) } => write!(f, "new (stage {s})"),
            Position::Unknown { read } => write!(f, "unknown (read {read:?})"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    New,
    Legacy,
}

/// A flip asked for: persisted before any action runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flip {
    pub id: String,
    pub to: Side,
    pub stage: Option<u32>,
    pub actor: String,
    pub reason: String,
    /// The rollback whose `switch_back` phase made this flip.
    pub rollback: Option<String>,
    pub started_at: String,
    /// Why it did not finish, when an action or the read-back failed.
    pub error: Option<String>,
}

impl Flip {
    pub fn target(&self) -> Position {
        match self.to {
            Side::New => Position::New { stage: self.stage },
            Side::Legacy => Position::Legacy,
        }
    }
}

/// A finished flip and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlipDone {
    pub flip: Flip,
    /// Each action run, with what it observed.
    pub ran: Vec<String>,
    /// The raw value the read returned after the actions (`None`: nothing there).
    pub read_back: Option<String>,
    pub position: Position,
    pub invalidated: Vec<String>,
    pub finished_at: String,
    /// An unfinished flip (by id) this one completed or replaced.
    pub completed_unfinished: Option<String>,
}

/// A switch's persisted state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub name: String,
    pub component: String,
    /// Where the last finished flip left it; `None` before the first flip.
    pub position: Option<Position>,
    /// A flip that started and has not finished (crashed or failed).
    pub pending: Option<Flip>,
    pub last: Option<FlipDone>,
    pub updated_at: String,
    /// The rule whose fallback made the last flip: a `run` step does not push the switch
    /// forward again past it; a person's flip clears it.
    #[serde(default)]
    pub fell_back: Option<FellBack>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FellBack {
    pub rule: String,
    pub at: String,
    pub from: Position,
    pub to: Position,
}

/// What `ripcord switch status` shows for one switch.
#[derive(Clone, Debug, Serialize)]
pub struct SwitchStatus {
    pub name: String,
    pub component: String,
    pub kind: SwitchKind,
    pub stages: Vec<u32>,
    /// What the state store says.
    pub persisted: Option<Position>,
    pub pending: Option<Flip>,
    /// What the switch itself says now.
    pub position: Option<Position>,
    pub read_back: Option<String>,
    pub read_error: Option<String>,
}

impl SwitchStatus {
    /// The switch is where ripcord last put it (legacy if never flipped), nothing unfinished.
    pub fn agrees(&self) -> bool {
        self.pending.is_none()
            && self.read_error.is_none()
            && self.position.as_ref() == Some(self.persisted.as_ref().unwrap_or(&Position::Legacy))
    }
}

/// The switch's position, from the value its read returned.
pub fn interpret(sw: &Switch, read: Option<&str>) -> Position {
    let Some(v) = read.map(str::trim) else {
        return match sw.legacy_value {
            None => Position::Legacy,
            Some(_) => Position::Unknown {
                read: "(nothing)".into(),
            },
        };
    };
    if sw.legacy_value.as_deref() == Some(v) {
        return Position::Legacy;
    }
    if sw.stages.is_empty() {
        if sw.new_value == v {
            return Position::New { stage: None };
        }
    } else if let Some(s) = sw
        .stages
        .iter()
        .find(|s| sw.new_value.replace("{stage}", &s.to_string()) == v)
    {
        return Position::New { stage: Some(*s) };
    }
    Position::Unknown {
        read: crate::redact::scrub(v),
    }
}

struct SqlDriver;
struct FileDriver;
struct CommandDriver;

impl SwitchDriver for SqlDriver {
    fn act(&self, ctx: &Ctx, action: &SwitchAction) -> Result<String> {
        let SwitchAction::Sql { database, sql } = action else {
            return Err(wrong_driver(action.kind()));
        };
        // ripcord's own origin: the statement is not a business write to carry back, and
        // it passes a freeze (switch_back runs before unfreeze).
        ctx.engine(database)?.execute(sql, Origin::Ripcord)?;
        Ok("executed".into())
    }
    fn read(&self, ctx: &Ctx, read: &SwitchRead) -> Result<Option<String>> {
        let SwitchRead::Sql { database, sql } = read else {
            return Err(wrong_driver(read.kind()));
        };
        Ok(match ctx.engine(database)?.query_scalar(sql)? {
            Value::Null => None,
            Value::Text(s) => Some(s),
            v => Some(v.to_string()),
        })
    }
}

impl SwitchDriver for FileDriver {
    fn act(&self, _: &Ctx, action: &SwitchAction) -> Result<String> {
        let io = |what: &str, p: &std::path::Path, e: std::io::Error| {
            Error::Usage(format!("cannot {what} {}: {e}", p.display()))
        };
        match action {
            SwitchAction::FileWrite { path, content } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
                }
                // Written aside and renamed, so a reader never sees a half-written flag.
                let tmp = path.with_extension("ripcord-tmp");
                std::fs::write(&tmp, content).map_err(|e| io("write", &tmp, e))?;
                std::fs::rename(&tmp, path).map_err(|e| io("rename onto", path, e))?;
                Ok("created".into())
            }
            SwitchAction::FileRemove { path } => match std::fs::remove_file(path) {
                Ok(()) => Ok("removed".into()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("already absent".into()),
                Err(e) => Err(io("remove", path, e)),
            },
            other => Err(wrong_driver(other.kind())),
        }
    }
    fn read(&self, _: &Ctx, read: &SwitchRead) -> Result<Option<String>> {
        let SwitchRead::File { path } = read else {
            return Err(wrong_driver(read.kind()));
        };
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Usage(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs an argv without a shell; fails on a non-zero exit or after a minute.
fn run_argv(argv: &[String]) -> Result<String> {
    run_argv_for(argv, COMMAND_TIMEOUT)
}

/// Runs an argv without a shell (`process::Program`); fails on a non-zero exit or after
/// `timeout`.
pub(crate) fn run_argv_for(argv: &[String], timeout: Duration) -> Result<String> {
    let prog = argv
        .first()
        .ok_or_else(|| Error::Usage("empty command".into()))?;
    let f = crate::process::Program::argv(argv, timeout)
        .capture(crate::process::DEFAULT_CAPTURE)
        .run()
        .map_err(|e| match e {
            crate::process::ProcessError::TimedOut(_) => Error::Usage(format!(
                "{prog:?} did not finish within {}",
                humantime::format_duration(timeout)
            )),
            e => Error::Usage(e.to_string()),
        })?;
    if !f.status.success() {
        return Err(Error::Usage(format!(
            "{prog:?} exited with {}: {}",
            f.status,
            crate::redact::scrub(f.stderr.trim())
        )));
    }
    Ok(f.stdout)
}

impl SwitchDriver for CommandDriver {
    fn act(&self, _: &Ctx, action: &SwitchAction) -> Result<String> {
        let SwitchAction::Command { argv } = action else {
            return Err(wrong_driver(action.kind()));
        };
        run_argv(argv)?;
        Ok("exit 0".into())
    }
    fn read(&self, _: &Ctx, read: &SwitchRead) -> Result<Option<String>> {
        let SwitchRead::Command { argv } = read else {
            return Err(wrong_driver(read.kind()));
        };
        Ok(Some(run_argv(argv)?.trim().to_string()))
    }
}

fn wrong_driver(kind: SwitchKind) -> Error {
    Error::Internal(format!("a {} action reached the wrong driver", kind.name()))
}

/// The driver for a kind: core's own, or the one the binary supplies.
pub fn driver(ctx: &Ctx, kind: SwitchKind) -> Result<&dyn SwitchDriver> {
    match kind {
        SwitchKind::Sql => Ok(&SqlDriver),
        SwitchKind::File => Ok(&FileDriver),
        SwitchKind::Command => Ok(&CommandDriver),
        SwitchKind::Redis | SwitchKind::Http => {
            ctx.connector.switch_driver(kind).ok_or_else(|| {
                Error::Usage(format!(
                    "this build of ripcord has no {} switch driver",
                    kind.name()
                ))
            })
        }
    }
}

fn act(ctx: &Ctx, a: &SwitchAction) -> Result<String> {
    let observed = driver(ctx, a.kind())?.act(ctx, a)?;
    Ok(crate::redact::scrub(&format!(
        "{} → {observed}",
        a.describe()
    )))
}

/// Reads where the switch stands: the raw value and its meaning.
pub fn read(ctx: &Ctx, sw: &Switch) -> Result<(Option<String>, Position)> {
    let raw = driver(ctx, sw.kind)?.read(ctx, &sw.read)?;
    let pos = interpret(sw, raw.as_deref());
    Ok((raw.map(|r| crate::redact::scrub(&r)), pos))
}

fn record(ctx: &mut Ctx, sw: &Switch) -> Result<SwitchRecord> {
    Ok(ctx
        .state
        .switches()?
        .into_iter()
        .find(|r| r.name == sw.name)
        .unwrap_or_else(|| SwitchRecord {
            name: sw.name.clone(),
            component: sw.component.clone(),
            position: None,
            pending: None,
            last: None,
            updated_at: now(),
            fell_back: None,
        }))
}

/// Every switch of these components (all when none is named): the persisted state beside
/// what each switch's read says now.
pub fn status(ctx: &mut Ctx, components: &[String]) -> Result<Vec<SwitchStatus>> {
    let records = ctx.state.switches()?;
    let mut out = Vec::new();
    for sw in ctx.plan.switches_of(components) {
        let rec = records.iter().find(|r| r.name == sw.name);
        let (read_back, position, read_error) = match read(ctx, sw) {
            Ok((raw, pos)) => (raw, Some(pos), None),
            Err(e) => (None, None, Some(crate::redact::scrub(&e.to_string()))),
        };
        out.push(SwitchStatus {
            name: sw.name.clone(),
            component: sw.component.clone(),
            kind: sw.kind,
            stages: sw.stages.clone(),
            persisted: rec.and_then(|r| r.position.clone()),
            pending: rec.and_then(|r| r.pending.clone()),
            position,
            read_back,
            read_error,
        });
    }
    Ok(out)
}

/// What a flip is asked to do.
pub struct FlipRequest<'a> {
    pub to: Side,
    /// For a switch with stages moving to new: which one (default: the last).
    pub stage: Option<u32>,
    pub reason: &'a str,
    pub rollback: Option<&'a str>,
}

/// Moves one switch, persisted before and after, audited with its evidence. A flip left
/// unfinished by an earlier command is completed by this one (its id is recorded).
pub fn flip(ctx: &mut Ctx, sw: &Switch, req: &FlipRequest) -> Result<FlipDone> {
    let stage = match (req.to, req.stage, sw.stages.last()) {
        (Side::Legacy, Some(_), _) => {
            return Err(Error::Usage("--stage is for moving to the new side".into()));
        }
        (Side::Legacy, None, _) => None,
        (Side::New, Some(s), _) if !sw.stages.contains(&s) => {
            return Err(Error::Usage(match sw.stages.is_empty() {
                true => format!("switch {:?} has no stages", sw.name),
                false => format!(
                    "switch {:?} has stages {:?}; {s} is not one of them",
                    sw.name, sw.stages
                ),
            }));
        }
        (Side::New, Some(s), _) => Some(s),
        (Side::New, None, last) => last.copied(),
    };
    let owner = LockOwner::current(&ctx.actor);
    let lock = format!("switch:{}", sw.name);
    ctx.state
        .acquire_lock(&lock, &owner, Duration::from_secs(300))?;
    let result = flip_locked(ctx, sw, req, stage);
    let _ = ctx.state.release_lock(&lock, &owner);
    result
}

fn flip_locked(
    ctx: &mut Ctx,
    sw: &Switch,
    req: &FlipRequest,
    stage: Option<u32>,
) -> Result<FlipDone> {
    let mut rec = record(ctx, sw)?;
    let unfinished = rec.pending.take();
    let f = Flip {
        id: new_id("flip"),
        to: req.to,
        stage,
        actor: ctx.actor.clone(),
        reason: req.reason.to_string(),
        rollback: req.rollback.map(str::to_string),
        started_at: now(),
        error: None,
    };
    // The intent, before anything moves: a crash from here on is seen by the next command.
    rec.pending = Some(f.clone());
    rec.updated_at = now();
    ctx.state.save_switch(&rec)?;
    crate::crash::point("switch:intent");

    let actions = match req.to {
        Side::New => &sw.to_new,
        Side::Legacy => &sw.to_legacy,
    };
    let outcome = perform(ctx, sw, actions, stage, &f.target());
    match outcome {
        Ok(Acted {
            ran,
            read_back,
            position,
            invalidated,
        }) => {
            let done = FlipDone {
                flip: f,
                ran,
                read_back,
                position: position.clone(),
                invalidated,
                finished_at: now(),
                completed_unfinished: unfinished.map(|u| u.id),
            };
            rec.position = Some(position);
            rec.pending = None;
            rec.fell_back = None;
            rec.last = Some(done.clone());
            rec.updated_at = now();
            ctx.state.save_switch(&rec)?;
            ctx.audit(
                "switch.flip",
                serde_json::json!({"switch": sw.name, "component": sw.component, "flip": done}),
                &format!("{} now {}", sw.name, done.position),
            )?;
            ctx.emit(Event::SwitchFlipped {
                switch: sw.name.clone(),
                component: sw.component.clone(),
                position: done.position.clone(),
                rollback: done.flip.rollback.clone(),
                completed_unfinished: done.completed_unfinished.clone(),
            });
            Ok(done)
        }
        Err(Failed { ran, error }) => {
            let error = crate::redact::scrub(&error);
            let mut pending = f;
            pending.error = Some(error.clone());
            rec.pending = Some(pending.clone());
            rec.updated_at = now();
            ctx.state.save_switch(&rec)?;
            ctx.audit(
                "switch.flip.failed",
                serde_json::json!({"switch": sw.name, "component": sw.component, "flip": pending, "ran": ran}),
                &error,
            )?;
            ctx.emit(Event::SwitchFlipFailed {
                switch: sw.name.clone(),
                component: sw.component.clone(),
                target: pending.target(),
                rollback: pending.rollback.clone(),
                error: error.clone(),
            });
            Err(Error::Verify(format!(
                "switch {:?} (component {}) did not move to {}: {error}",
                sw.name,
                sw.component,
                pending.target()
            )))
        }
    }
}

/// What a rule's fallback did to its switch.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepBack {
    Moved {
        from: Position,
        to: Position,
    },
    /// It already reads legacy: nothing to step back.
    AtLegacy,
    /// Stepping back would leave the new side of a component cut over with a sync: its
    /// legacy is frozen, so only a (switch-path) rollback may move that traffic back.
    NeedsRollback {
        why: String,
    },
}

/// Why moving switches to a side would send traffic where writes are refused or where
/// nothing carries them back. Applications would see every write refused, or split them
/// across sides when some still read the old position; a rollback or a cutover moves the
/// traffic together with the freezes, so those are the ways each refusal names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// A switch-path rollback is draining the sync and flips the switches itself.
    Draining { component: String, rollback: String },
    /// To legacy while it is frozen behind a running (paused, stopped, failed) sync.
    LegacyBehindSync {
        component: String,
        state: crate::sync::SyncState,
    },
    /// To the new side after a rollback ended its sync and unfenced it: nothing carries
    /// its writes back.
    NoSync { component: String },
    /// To the new side while a switch-path rollback's fence stands.
    NewSideFenced {
        component: String,
        database: String,
        tables: Vec<String>,
        since: Option<String>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Draining {
                component: c,
                rollback,
            } => write!(
                f,
                "component {c}: rollback {rollback} is draining its sync and will flip the switches itself once legacy has every write: `ripcord rollback --resume {rollback}`"
            ),
            Refusal::LegacyBehindSync {
                component: c,
                state,
            } => write!(
                f,
                "component {c} is cut over and its sync is {state}: legacy is frozen behind the sync, so its traffic would meet refused writes there (or split across the sides). Roll back instead: `ripcord rollback -c {c} --reason \"…\"` freezes the new side, drains the sync's tail, verifies and then flips the switches"
            ),
            Refusal::NoSync { component: c } => write!(
                f,
                "component {c}: its sync ended with a rollback and none carries writes back now; the new side gets traffic again by `ripcord cutover -c {c} --reason \"…\"` (it verifies both sides, freezes legacy and starts a new sync)"
            ),
            Refusal::NewSideFenced {
                component: c,
                database,
                tables,
                since,
            } => write!(
                f,
                "component {c}: the new side {database} ({}) is fenced{}: it refuses every write and lacks what legacy took meanwhile. Re-base it and cut over: `ripcord cutover --unfence -c {c} --reason \"…\"`, bring the new side up to date from legacy, then `ripcord cutover -c {c} --reason \"…\"`",
                tables.join(", "),
                since
                    .as_ref()
                    .map_or(String::new(), |r| format!(" since rollback {r}"))
            ),
        }
    }
}

/// What refuses moving `switches` to `to` by anything but a rollback or a cutover (which
/// move the traffic together with the freezes): a person's `ripcord switch`, or a `run`
/// step's `switch` advance.
pub fn refusals(ctx: &mut Ctx, switches: &[Switch], to: Side) -> Result<Vec<Refusal>> {
    let mut comps: Vec<String> = switches.iter().map(|w| w.component.clone()).collect();
    comps.sort();
    comps.dedup();
    let mut out = Vec::new();
    for c in &comps {
        let sync = crate::sync::record(ctx, c)?;
        match to {
            Side::Legacy => {
                let Some(rec) = sync.filter(|r| r.state.active()) else {
                    continue;
                };
                out.push(match &rec.state {
                    crate::sync::SyncState::Draining { rollback } => Refusal::Draining {
                        component: c.clone(),
                        rollback: rollback.clone(),
                    },
                    state => Refusal::LegacyBehindSync {
                        component: c.clone(),
                        state: state.clone(),
                    },
                });
            }
            Side::New => {
                let Some(comp) = ctx.plan.component(c).cloned() else {
                    continue;
                };
                // Only a switch-path rollback fences, and it leaves its sync ended: without
                // one (the restore path, or a sync still carrying writes) nothing to look at,
                // and the new database is not opened.
                if comp.capture_database == comp.database
                    || sync.as_ref().is_none_or(|r| r.state.active())
                {
                    continue;
                }
                let frozen = ctx
                    .engine_installed(&comp.capture_database)?
                    .frozen_tables()?;
                let fenced: Vec<String> = comp
                    .captured_tables()
                    .into_iter()
                    .filter(|t| frozen.contains(t))
                    .collect();
                if fenced.is_empty() {
                    // Unfenced for a re-base: still no sync, and legacy serves unfrozen.
                    out.push(Refusal::NoSync {
                        component: c.clone(),
                    });
                    continue;
                }
                let since = match sync.as_ref().map(|r| &r.state) {
                    Some(crate::sync::SyncState::Ended { rollback }) => Some(rollback.clone()),
                    _ => None,
                };
                out.push(Refusal::NewSideFenced {
                    component: c.clone(),
                    database: comp.capture_database.clone(),
                    tables: fenced,
                    since,
                });
            }
        }
    }
    Ok(out)
}

/// A rule's `fallback`: the switch one stage back from where its read says it stands, or
/// to legacy from its first stage (or a switch without stages). Flipped like any flip
/// (persisted, audited, evidence), plus a `guard.fallback` audit entry and a
/// `switch_fell_back` event naming the rule.
pub fn step_back(ctx: &mut Ctx, sw: &Switch, rule: &str, why: &str) -> Result<StepBack> {
    let (_, from) = read(ctx, sw)?;
    let target = match &from {
        Position::Legacy => return Ok(StepBack::AtLegacy),
        Position::Unknown { read } => {
            return Err(Error::Verify(format!(
                "switch {:?} reads {read:?}, neither side's value: no stage to step back to",
                sw.name
            )));
        }
        Position::New { stage: Some(s) } => match sw.stages.iter().position(|x| x == s) {
            Some(i) if i > 0 => Position::New {
                stage: Some(sw.stages[i - 1]),
            },
            _ => Position::Legacy,
        },
        Position::New { stage: None } => Position::Legacy,
    };
    if target == Position::Legacy
        && let Some(s) = crate::sync::record(ctx, &sw.component)?
        && s.state.active()
    {
        return Ok(StepBack::NeedsRollback {
            why: format!(
                "component {} is cut over and its sync is {}: legacy is frozen, so its traffic goes back only by a rollback",
                sw.component, s.state
            ),
        });
    }
    let (to, stage) = match &target {
        Position::New { stage } => (Side::New, *stage),
        _ => (Side::Legacy, None),
    };
    let reason = crate::redact::scrub(&format!("rule {rule:?} is red: {why}"));
    let done = flip(
        ctx,
        sw,
        &FlipRequest {
            to,
            stage,
            reason: &reason,
            rollback: None,
        },
    )?;
    let mut rec = record(ctx, sw)?;
    rec.fell_back = Some(FellBack {
        rule: rule.to_string(),
        at: now(),
        from: from.clone(),
        to: done.position.clone(),
    });
    ctx.state.save_switch(&rec)?;
    ctx.audit(
        "guard.fallback",
        serde_json::json!({"rule": rule, "switch": sw.name, "component": sw.component, "from": from, "to": done.position, "flip": done.flip.id}),
        &format!("{} stepped back from {from} to {}", sw.name, done.position),
    )?;
    ctx.emit(Event::SwitchFellBack {
        switch: sw.name.clone(),
        component: sw.component.clone(),
        rule: rule.to_string(),
        from: from.clone(),
        to: done.position.clone(),
    });
    Ok(StepBack::Moved {
        from,
        to: done.position,
    })
}

struct Acted {
    ran: Vec<String>,
    read_back: Option<String>,
    position: Position,
    invalidated: Vec<String>,
}

struct Failed {
    ran: Vec<String>,
    error: String,
}

/// The actions, the read-back (which must say `target`), then the invalidations.
fn perform(
    ctx: &Ctx,
    sw: &Switch,
    actions: &[SwitchAction],
    stage: Option<u32>,
    target: &Position,
) -> std::result::Result<Acted, Failed> {
    let mut ran = Vec::new();
    for a in actions {
        let a = a.with_stage(stage);
        match act(ctx, &a) {
            Ok(ev) => ran.push(ev),
            Err(e) => {
                let error = format!("{} failed: {e}", a.describe());
                return Err(Failed { ran, error });
            }
        }
    }
    crate::crash::point("switch:acted");
    let (read_back, position) = match read(ctx, sw) {
        Ok(r) => r,
        Err(e) => {
            let error = format!("the read-back failed: {e}");
            return Err(Failed { ran, error });
        }
    };
    if &position != target {
        let error = format!("after the flip the read says {position}, not {target}");
        return Err(Failed { ran, error });
    }
    let mut invalidated = Vec::new();
    for a in &sw.invalidate {
        let a = a.with_stage(stage);
        match act(ctx, &a) {
            Ok(ev) => invalidated.push(ev),
            Err(e) => {
                let error = format!("cache invalidation {} failed: {e}", a.describe());
                return Err(Failed { ran, error });
            }
        }
    }
    Ok(Acted {
        ran,
        read_back,
        position,
        invalidated,
    })
}
