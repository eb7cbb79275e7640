//! What every command works with: the plan, the state store, the checkpoint store, the
//! event bus, who is acting, and a way to open engines by database name.

use crate::audit::AuditDraft;
use crate::engine::Engine;
use crate::events::{Bus, Event};
use crate::plan::{Database, Plan};
use crate::state::StateStore;
use crate::store::Store;
use crate::{Error, Result};
use std::sync::Arc;

/// Opens an engine for a plan database; the binary decides which engines exist.
pub trait Connector: Send + Sync {
    fn connect(&self, db: &Database) -> Result<Box<dyn Engine>>;
    /// The row-by-row diff engine, when the binary has one (see `verify::TableDiffer`).
    fn differ(&self) -> Option<&dyn crate::verify::TableDiffer> {
        None
    }
    /// The driver for a switch kind core does not run itself (Redis, HTTP).
    fn switch_driver(
        &self,
        _kind: crate::plan::SwitchKind,
    ) -> Option<&dyn crate::switch::SwitchDriver> {
        None
    }
}

/// Forwards everything to a connector shared between threads: what a [`Ctx::for_thread`]
/// connects with.
pub struct SharedConnector(pub Arc<dyn Connector>);

impl Connector for SharedConnector {
    fn connect(&self, db: &Database) -> Result<Box<dyn Engine>> {
        self.0.connect(db)
    }
    fn differ(&self) -> Option<&dyn crate::verify::TableDiffer> {
        self.0.differ()
    }
    fn switch_driver(
        &self,
        kind: crate::plan::SwitchKind,
    ) -> Option<&dyn crate::switch::SwitchDriver> {
        self.0.switch_driver(kind)
    }
}

pub struct Ctx {
    pub plan: Plan,
    pub state: Box<dyn StateStore>,
    pub store: Store,
    pub events: Bus,
    pub actor: String,
    pub connector: Box<dyn Connector>,
}

impl Ctx {
    /// A `Ctx` of its own for a thread beside this one (the scheduler, the guard's
    /// fallback, the sync loop inside `watch`): the same plan, store, event bus and actor, its own state-store
    /// connection, and `connector` shared.
    pub fn for_thread(&self, connector: Arc<dyn Connector>) -> Result<Ctx> {
        Ok(Ctx {
            plan: self.plan.clone(),
            state: self.state.reopen()?,
            store: self.store.clone(),
            events: self.events.clone(),
            actor: self.actor.clone(),
            connector: Box::new(SharedConnector(connector)),
        })
    }

    /// Opens a plan database to look: creates nothing, so it works for a read-only role
    /// (ARCHITECTURE.md invariant 12). Writers use [`Ctx::engine_installed`].
    pub fn engine(&self, database: &str) -> Result<Box<dyn Engine>> {
        let db =
            self.plan.databases.get(database).ok_or_else(|| {
                Error::Usage(format!("no database named {database:?} in the plan"))
            })?;
        let mut e = self.connector.connect(db)?;
        e.set_lock_timeout(db.lock_timeout);
        e.set_statement_timeout(db.statement_timeout);
        Ok(e)
    }

    /// Opens a plan database and installs ripcord's objects there if they are missing:
    /// for the commands that write (capture, checkpoint, run, rollback, install).
    pub fn engine_installed(&self, database: &str) -> Result<Box<dyn Engine>> {
        let mut e = self.engine(database)?;
        e.prepare().map_err(|err| {
            Error::Engine(crate::engine::EngineError::sql(
                format!("install ripcord in database {database}"),
                err,
            ))
        })?;
        Ok(e)
    }

    /// "ripcord is not installed in DB X (run `ripcord install`)" when it is not; reads
    /// only the catalogs.
    pub fn require_installed(&self, database: &str, e: &mut dyn Engine) -> Result<()> {
        if e.installed()? {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "ripcord is not installed in database {database} (run `ripcord install -d {database}`)"
            )))
        }
    }

    pub fn emit(&self, e: Event) {
        self.events.emit(e);
    }

    /// Records an action in the audit chain.
    /// The named components of the plan, in the order named; every one when none is named.
    pub fn components(&self, names: &[String]) -> Result<Vec<crate::plan::Component>> {
        if names.is_empty() {
            return Ok(self.plan.components.clone());
        }
        names
            .iter()
            .map(|n| {
                self.plan.component(n).cloned().ok_or_else(|| {
                    crate::Error::Usage(format!("no component named {n:?} in the plan"))
                })
            })
            .collect()
    }

    pub fn audit(&mut self, action: &str, args: serde_json::Value, result: &str) -> Result<()> {
        let draft = AuditDraft {
            actor: self.actor.clone(),
            action: action.into(),
            args,
            result: result.into(),
        };
        self.state.append_audit(draft)?;
        Ok(())
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A short, sortable, unique id with a prefix, e.g. `rb-20261121-210501-3fa2`.
pub fn new_id(prefix: &str) -> String {
    let t = chrono::Utc::now();
    let mut h = blake3::Hasher::new();
    h.update(&t.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    format!(
        "{prefix}-{}-{}",
        t.format("%Y%m%d-%H%M%S"),
        &h.finalize().to_hex()[..4]
    )
}
