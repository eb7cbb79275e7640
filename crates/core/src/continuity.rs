//! Capture continuity: may ripcord vouch that the journal holds every write made to a
//! component's captured tables since a checkpoint? Only with the engine's evidence.
//!
//! A checkpoint records, per captured table, the engine's capture token (see
//! `Engine::capture_tokens`), read before and after its snapshot. Any event that can let a
//! write escape the journal changes the token or removes it: capture stopped (trigger
//! dropped), a trigger disabled, the table truncated, rewritten, renamed or re-created, a
//! trigger re-created by hand. When ripcord itself re-arms capture without letting a write
//! through (in one transaction, or under the table's write lock: a schema change picked up
//! by `capture start`, a rollback's restore), it records a [`CaptureLink`] from the old
//! token to the new one. Capture is continuous from a checkpoint when following the links
//! from the checkpoint's token reaches today's token; otherwise the rollback refuses (or,
//! with `--accept-uncaptured`, says that an unknown number of writes may be missing).

use crate::Result;
use crate::context::{Ctx, now};
use crate::plan::Component;
use crate::state::CaptureLink;
use crate::store::Manifest;
use serde::{Deserialize, Serialize};

/// A captured table whose writes since a checkpoint ripcord cannot vouch for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Break {
    pub component: String,
    pub database: String,
    pub table: String,
    /// The window in which writes may have escaped the journal: from (the checkpoint, or
    /// the `capture stop` after it) to (the `capture start` after that, or now).
    pub from: String,
    pub to: String,
    pub why: BreakKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The checkpoint holds no evidence (taken before ripcord recorded it, or capture could
    /// not be vouched for while it was read).
    NoEvidence,
    /// Capture is off now: trigger missing or disabled.
    Off,
    /// Capture was stopped and started again, or the table was rewritten, since.
    Rearmed,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.why {
            BreakKind::NoEvidence => {
                "the checkpoint holds no evidence that capture was armed when it was taken"
            }
            BreakKind::Off => "capture is off now (trigger missing or disabled)",
            BreakKind::Rearmed => {
                "capture was stopped and re-armed, or the table was truncated, rewritten or re-created, since the checkpoint"
            }
        };
        write!(
            f,
            "{}.{} (component {}): {why}; writes between {} and {} may not be in the journal",
            self.database, self.table, self.component, self.from, self.to
        )
    }
}

/// The capture tokens of `tables` in `database` now.
pub fn tokens(ctx: &Ctx, database: &str, tables: &[String]) -> Result<Vec<Option<String>>> {
    Ok(ctx.engine(database)?.capture_tokens(tables)?)
}

/// Records that ripcord moved the tables' capture from `before` to their tokens now without
/// letting a write escape. Tables whose token did not change, or that had none before, get
/// no link (no link can mend a capture that was already broken).
pub fn link(
    ctx: &mut Ctx,
    database: &str,
    tables: &[String],
    before: &[Option<String>],
    by: &str,
) -> Result<()> {
    let after = tokens(ctx, database, tables)?;
    for ((t, b), a) in tables.iter().zip(before).zip(after) {
        if let (Some(b), Some(a)) = (b, a)
            && *b != a
        {
            ctx.state.add_capture_link(&CaptureLink {
                database: database.to_string(),
                table: t.clone(),
                before: b.clone(),
                after: a,
                at: now(),
                by: by.to_string(),
            })?;
        }
    }
    Ok(())
}

/// The captured tables of `c` whose writes since checkpoint `m` the journal may not hold.
pub fn check(ctx: &mut Ctx, c: &Component, m: &Manifest) -> Result<Vec<Break>> {
    let entry = m
        .component(&c.name)
        .ok_or_else(|| crate::Error::Internal(format!("{} not in {}", c.name, m.id)))?;
    let tables = c.captured_tables();
    let current = tokens(ctx, &c.capture_database, &tables)?;
    let links = ctx.state.capture_links()?;
    let mut broken = Vec::new();
    for (t, now_token) in tables.iter().zip(current) {
        let Some(Some(mut token)) = entry.capture.get(t).cloned() else {
            broken.push((t, BreakKind::NoEvidence));
            continue;
        };
        for l in links.iter().filter(|l| {
            l.database == c.capture_database
                && l.table == *t
                && l.at.as_str() >= m.created_at.as_str()
        }) {
            if l.before == token {
                token = l.after.clone();
            }
        }
        match now_token {
            None => broken.push((t, BreakKind::Off)),
            Some(n) if n != token => broken.push((t, BreakKind::Rearmed)),
            Some(_) => {}
        }
    }
    if broken.is_empty() {
        // The audit log is read only to name a break's window, never on the happy path.
        return Ok(Vec::new());
    }
    let (from, to) = window(ctx, c, &m.created_at)?;
    Ok(broken
        .into_iter()
        .map(|(t, why)| Break {
            component: c.name.clone(),
            database: c.capture_database.clone(),
            table: t.clone(),
            from: from.clone(),
            to: to.clone(),
            why,
        })
        .collect())
}

/// The narrowest window the audit log can name: the last `capture stop` of the component
/// after the checkpoint, and the `capture start` after it; else the checkpoint and now.
fn window(ctx: &mut Ctx, c: &Component, since: &str) -> Result<(String, String)> {
    let mut from = since.to_string();
    let mut to = None;
    for e in ctx.state.audit_entries()? {
        if e.at.as_str() < since
            || e.args.get("component").and_then(|v| v.as_str()) != Some(&c.name)
        {
            continue;
        }
        match e.action.as_str() {
            "capture.stop" => {
                from = e.at.clone();
                to = None;
            }
            "capture.start" if to.is_none() && from.as_str() > since => to = Some(e.at.clone()),
            _ => {}
        }
    }
    Ok((from, to.unwrap_or_else(now)))
}
