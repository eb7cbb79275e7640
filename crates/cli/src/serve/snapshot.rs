//! Everything the dashboard and `/metrics` show, read in one go from the state store and
//! the plan's databases (read-only: nothing here creates or changes anything).

use anyhow::Result;
use ripcord_core::context::Ctx;
use ripcord_core::report::RollbackReport;
use ripcord_core::status::{Overview, RollbackSummary};

pub struct ComponentInfo {
    pub name: String,
    pub priority: String,
    pub rto_seconds: f64,
    /// Age of the newest checkpoint holding this component.
    pub checkpoint_age_seconds: Option<i64>,
}

pub struct AuditState {
    pub entries: usize,
    /// `None` when the chain is intact; else where it breaks.
    pub broken: Option<String>,
}

/// Probe name → (sample time in ms, value), oldest first.
pub type History = std::collections::BTreeMap<String, std::collections::VecDeque<(i64, f64)>>;

pub struct Snapshot {
    pub plan_name: String,
    pub components: Vec<ComponentInfo>,
    pub overview: Overview,
    pub guard: ripcord_guard::GuardStatus,
    pub rollbacks: Vec<RollbackSummary>,
    /// The newest rollback's report (the timeline the overview shows).
    pub newest_report: Option<RollbackReport>,
    /// The newest rollback of each component, once each (for `/metrics`).
    pub component_reports: Vec<RollbackReport>,
    pub switches: Vec<ripcord_core::switch::SwitchRecord>,
    pub audit: AuditState,
    /// Each capture database's journal high-water sequence number, or why it is unknown.
    pub journal: Vec<(String, Result<i64, String>)>,
    /// The newest event's sequence number (the page's live feed starts after it).
    pub last_seq: i64,
    pub max_checkpoint_age_seconds: i64,
    pub kpis: ripcord_core::report::Kpis,
    /// Filled by the server from what it sampled; empty from `take`.
    pub history: History,
    /// Incidents, newest first, with their acks and the outbox (notifications).
    pub incidents: Vec<ripcord_core::notify::IncidentRecord>,
    pub acks: Vec<ripcord_core::notify::AckRecord>,
    pub deliveries: Vec<ripcord_core::notify::DeliveryRecord>,
    /// The plan's notification settings, for the plan's wording of messages.
    pub notify: ripcord_core::plan::NotifyPlan,
    /// Each continuous sync with its lag measured now (when it can be).
    pub syncs: Vec<ripcord_core::sync::SyncStatus>,
}

pub fn take(ctx: &mut Ctx) -> Result<Snapshot> {
    let now = chrono::Utc::now();
    let overview = ripcord_core::status::overview(ctx, now)?;
    let guard = ripcord_guard::status(ctx)?;
    let records = ctx.state.rollbacks()?;
    let rollbacks = records.iter().map(RollbackSummary::of).collect();
    let newest_report = records.first().map(RollbackReport::of);
    let checkpoints = ctx.state.checkpoints()?;
    let mut components = Vec::new();
    let mut component_reports: Vec<RollbackReport> = Vec::new();
    for c in &ctx.plan.components.clone() {
        let age = checkpoints
            .iter()
            .find(|k| k.components.contains(&c.name))
            .and_then(|k| chrono::DateTime::parse_from_rfc3339(&k.created_at).ok())
            .map(|t| now.signed_duration_since(t).num_seconds().max(0));
        components.push(ComponentInfo {
            name: c.name.clone(),
            priority: format!("{:?}", c.priority).to_lowercase(),
            rto_seconds: c.rto.as_secs_f64(),
            checkpoint_age_seconds: age,
        });
        if let Some(r) = records.iter().find(|r| r.components.contains(&c.name))
            && !component_reports.iter().any(|x| x.id == r.id)
        {
            component_reports.push(RollbackReport::of(r));
        }
    }
    let entries = ctx.state.audit_entries()?;
    let head = ctx.state.audit_head()?;
    let audit = AuditState {
        entries: entries.len(),
        broken: ripcord_core::audit::verify(&entries, head)
            .err()
            .map(|b| b.to_string()),
    };
    let mut dbs: Vec<String> = ctx
        .plan
        .components
        .iter()
        .map(|c| c.capture_database.clone())
        .collect();
    dbs.sort();
    dbs.dedup();
    let journal = dbs
        .into_iter()
        .map(|db| {
            let high = ctx
                .engine(&db)
                .and_then(|mut e| Ok(e.journal_mark()?.high))
                .map_err(|e| ripcord_core::redact::scrub(&e.to_string()));
            (db, high)
        })
        .collect();
    let last_seq = last_seq(ctx)?;
    let syncs = ripcord_core::sync::status(ctx, &[])?;
    Ok(Snapshot {
        plan_name: ctx.plan.name.clone(),
        components,
        overview,
        guard,
        rollbacks,
        newest_report,
        component_reports,
        switches: ctx.state.switches()?,
        audit,
        journal,
        last_seq,
        max_checkpoint_age_seconds: ctx.plan.max_checkpoint_age.as_secs() as i64,
        kpis: ripcord_core::report::Kpis::of(&records),
        history: History::new(),
        incidents: ctx.state.incidents()?,
        acks: ctx.state.acks()?,
        deliveries: ctx.state.deliveries(None)?,
        notify: ctx.plan.notify.clone(),
        syncs,
    })
}

/// The newest stored event's `seq` (0 when the log is empty), paging to the end.
pub fn last_seq(ctx: &mut Ctx) -> Result<i64> {
    let mut after = 0;
    loop {
        let page = ctx.state.events_after(after, 1000)?;
        match page.last().and_then(|e| e.seq) {
            Some(s) if page.len() == 1000 => after = s,
            Some(s) => return Ok(s),
            None => return Ok(after),
        }
    }
}
