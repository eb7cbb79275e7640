//! `/metrics`: the snapshot in the OpenMetrics text format (prometheus-client), every name
//! prefixed `ripcord_`, seconds as base units. Names and alerting rules: docs/metrics.md.

use super::snapshot::Snapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type G = Family<Labels, Gauge<f64, AtomicU64>>;

/// green 0, yellow 1, orange 2, red 3; unknown (no guard ran) -1.
pub fn level_value(level: &str) -> f64 {
    match level {
        "green" => 0.0,
        "yellow" => 1.0,
        "orange" => 2.0,
        "red" => 3.0,
        _ => -1.0,
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Reg(Registry);

impl Reg {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>) -> G {
        let g = G::default();
        match unit {
            Some(u) => self.0.register_with_unit(name, help, u, g.clone()),
            None => self.0.register(name, help, g.clone()),
        }
        g
    }

    /// A metric without labels.
    fn single(&mut self, name: &str, help: &str, value: f64) {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(value);
        self.0.register(name, help, g);
    }
}

pub fn render(snap: &Snapshot) -> Result<String, std::fmt::Error> {
    let mut r = Reg(Registry::with_prefix("ripcord"));
    let g = &snap.guard;

    r.single(
        "guard_level",
        "Overall guard level: 0 green, 1 yellow, 2 orange, 3 red, -1 unknown (no guard ran)",
        level_value(&g.level),
    );
    r.single(
        "guard_live",
        "1 while a guard (run or watch) is running",
        if g.live { 1.0 } else { 0.0 },
    );

    let rule_level = r.gauge(
        "rule_level",
        "A rule's level while it breaches or fires (0 green, 1 yellow, 2 orange, 3 red), 0 otherwise",
        None,
    );
    let rule_firing = r.gauge("rule_firing", "1 while the rule fires", None);
    for rule in &g.rules {
        use ripcord_core::status::RuleStatus;
        let active = matches!(rule.status, RuleStatus::Firing | RuleStatus::Breaching);
        let labels = l(&[("rule", &rule.name)]);
        rule_level.get_or_create(&labels).set(if active {
            level_value(rule.level.name())
        } else {
            0.0
        });
        rule_firing
            .get_or_create(&labels)
            .set(if rule.status == RuleStatus::Firing {
                1.0
            } else {
                0.0
            });
    }

    let probe_value = r.gauge("probe_value", "A probe's last measured value", None);
    let probe_up = r.gauge(
        "probe_up",
        "1 when the probe's last sample was measured, 0 when it could not be",
        None,
    );
    let probe_median = r.gauge(
        "probe_baseline_median",
        "The probe's pinned baseline median",
        None,
    );
    let probe_p95 = r.gauge(
        "probe_baseline_p95",
        "The probe's pinned baseline 95th percentile",
        None,
    );
    for p in &g.probes {
        let labels = l(&[("probe", &p.name)]);
        if let Some(last) = &p.last {
            if let Some(v) = last.value() {
                probe_value.get_or_create(&labels).set(v);
            }
            probe_up
                .get_or_create(&labels)
                .set(if last.value().is_some() { 1.0 } else { 0.0 });
        }
        if let Some(b) = &p.baseline {
            probe_median.get_or_create(&labels).set(b.median);
            probe_p95.get_or_create(&labels).set(b.p95);
        }
    }

    r.single(
        "open_decisions",
        "Decisions waiting for an approver",
        g.open_decisions.len() as f64,
    );

    // Per component: recovery-time target, newest checkpoint age, capture and freeze.
    let rto = r.gauge(
        "component_recovery_target",
        "The component's recovery-time target (rto)",
        Some(Unit::Seconds),
    );
    let age = r.gauge(
        "checkpoint_age",
        "Age of the newest checkpoint holding the component (absent: none yet)",
        Some(Unit::Seconds),
    );
    let captured = r.gauge(
        "capture_tables",
        "The component's tables by capture state (on, off, frozen)",
        None,
    );
    for c in &snap.components {
        let labels = l(&[("component", &c.name)]);
        rto.get_or_create(&labels).set(c.rto_seconds);
        if let Some(a) = c.checkpoint_age_seconds {
            age.get_or_create(&labels).set(a as f64);
        }
        let tables = snap
            .overview
            .capture
            .iter()
            .filter(|t| t.component == c.name);
        let (mut on, mut off, mut frozen) = (0.0, 0.0, 0.0);
        for t in tables {
            if t.capture {
                on += 1.0
            } else {
                off += 1.0
            }
            if t.frozen {
                frozen += 1.0
            }
        }
        for (state, n) in [("on", on), ("off", off), ("frozen", frozen)] {
            captured
                .get_or_create(&l(&[("component", &c.name), ("state", state)]))
                .set(n);
        }
    }

    let journal = r.gauge(
        "journal_high_sequence",
        "The capture journal's highest sequence number per database (its rate is the captured write rate)",
        None,
    );
    for (db, high) in &snap.journal {
        if let Ok(h) = high {
            journal
                .get_or_create(&l(&[("database", db)]))
                .set(*h as f64);
        }
    }

    // Continuous syncs: the lag measured at this scrape, when both sides answered.
    let sync_up = r.gauge(
        "sync_lag_measured",
        "For a running sync: 1 when its lag was measured at this scrape, 0 when a side did not answer (the lag metrics are then absent)",
        None,
    );
    let lag_rows = r.gauge(
        "sync_lag_rows",
        "Business writes on the new side not yet carried to legacy",
        None,
    );
    let lag_seconds = r.gauge(
        "sync_lag",
        "Age of the oldest business write not yet carried to legacy (0 when none waits)",
        Some(Unit::Seconds),
    );
    let applied = Family::<Labels, Counter<u64, AtomicU64>>::default();
    r.0.register(
        "sync_applied_writes",
        "Business writes the sync carried to legacy",
        applied.clone(),
    );
    for sy in &snap.syncs {
        let labels = l(&[("component", &sy.record.component)]);
        applied.get_or_create(&labels).inc_by(sy.record.applied);
        // A stopped sync has no lag to measure; one that runs and could not be measured
        // says so rather than showing an old figure.
        if sy.lag.is_some() || sy.lag_error.is_some() {
            sync_up
                .get_or_create(&labels)
                .set(if sy.lag.is_some() { 1.0 } else { 0.0 });
        }
        if let Some(lag) = &sy.lag {
            lag_rows.get_or_create(&labels).set(lag.rows as f64);
            lag_seconds.get_or_create(&labels).set(lag.seconds);
        }
    }

    // Notification deliveries per channel: finished (sent, or given up after the plan's
    // attempts) as counters, waiting as a gauge. The outbox only grows, so the counts do.
    let deliveries = Family::<Labels, Counter<u64, AtomicU64>>::default();
    r.0.register(
        "notify_deliveries",
        "Notification deliveries by channel and outcome (sent, or failed after the last attempt)",
        deliveries.clone(),
    );
    let attempts = Family::<Labels, Counter<u64, AtomicU64>>::default();
    r.0.register(
        "notify_attempts",
        "Delivery attempts by channel and result (ok, error)",
        attempts.clone(),
    );
    let pending = r.gauge(
        "notify_pending",
        "Notification deliveries waiting to be sent or retried, by channel",
        None,
    );
    for ch in snap.notify.channels.keys() {
        for outcome in ["sent", "failed"] {
            let _ = deliveries.get_or_create(&l(&[("channel", ch), ("outcome", outcome)]));
        }
        pending.get_or_create(&l(&[("channel", ch)])).set(0.0);
    }
    for d in &snap.deliveries {
        use ripcord_core::notify::DeliveryStatus as S;
        let ch = d.recipient.channel.as_str();
        match d.status {
            S::Sent => deliveries
                .get_or_create(&l(&[("channel", ch), ("outcome", "sent")]))
                .inc(),
            S::Failed => deliveries
                .get_or_create(&l(&[("channel", ch), ("outcome", "failed")]))
                .inc(),
            S::Pending => {
                pending.get_or_create(&l(&[("channel", ch)])).inc();
                0
            }
        };
        for a in &d.attempts {
            let result = if a.ok { "ok" } else { "error" };
            attempts
                .get_or_create(&l(&[("channel", ch), ("result", result)]))
                .inc();
        }
    }

    // The newest rollback of each component: phases and total against the target, writes.
    let phase = r.gauge(
        "rollback_phase_duration",
        "Time a phase of the component's newest rollback took",
        Some(Unit::Seconds),
    );
    let total = r.gauge(
        "rollback_duration",
        "Total time of the component's newest rollback (the phases summed)",
        Some(Unit::Seconds),
    );
    let target = r.gauge(
        "rollback_target",
        "The recovery-time target the newest rollback is measured against",
        Some(Unit::Seconds),
    );
    let ratio = r.gauge(
        "rollback_target_ratio",
        "Total time over target of the newest rollback (over 1.2 is critical)",
        None,
    );
    let writes = r.gauge(
        "rollback_writes",
        "Business writes of the newest rollback: at_risk (made since the checkpoint), recovered (carried back), lost (gaps)",
        None,
    );
    let rate = r.gauge(
        "rollback_recovery_ratio",
        "Recovered over at-risk writes of the newest rollback (absent when capture was broken)",
        None,
    );
    let verified = r.gauge(
        "rollback_verified",
        "1 when the newest rollback completed and was proven",
        None,
    );
    for rep in &snap.component_reports {
        for comp in &rep.components {
            if !snap.components.iter().any(|c| &c.name == comp) {
                continue;
            }
            let base = [("component", comp.as_str()), ("rollback", rep.id.as_str())];
            for p in &rep.timeline {
                let mut labels = base.to_vec();
                labels.push(("phase", p.phase.name()));
                phase.get_or_create(&l(&labels)).set(p.seconds);
            }
            total.get_or_create(&l(&base)).set(rep.total_seconds);
            target.get_or_create(&l(&base)).set(rep.target_seconds);
            if rep.target_seconds > 0.0 {
                ratio.get_or_create(&l(&base)).set(rep.target_share);
            }
            verified
                .get_or_create(&l(&base))
                .set(if rep.verified() { 1.0 } else { 0.0 });
            for (outcome, n) in [
                ("at_risk", rep.figures.at_risk),
                ("recovered", rep.figures.recovered),
                ("lost", rep.figures.lost),
            ] {
                let mut labels = base.to_vec();
                labels.push(("outcome", outcome));
                writes.get_or_create(&l(&labels)).set(n as f64);
            }
            if let Some(x) = rep.recovery_rate {
                rate.get_or_create(&l(&base)).set(x);
            }
        }
    }
    let by_state = r.gauge("rollbacks", "Rollbacks recorded, by state", None);
    for s in [
        "verified",
        "unverified",
        "abandoned",
        "failed",
        "unfinished",
    ] {
        let n = snap
            .rollbacks
            .iter()
            .filter(|x| x.state.name().eq_ignore_ascii_case(s))
            .count();
        by_state.get_or_create(&l(&[("state", s)])).set(n as f64);
    }

    let k = &snap.kpis;
    if let Some(x) = k.success_rate {
        r.single(
            "rollback_success_ratio",
            "Verified rollbacks over finished ones, across all rollbacks",
            x,
        );
    }
    if let Some(x) = k.recovery_rate {
        r.single(
            "recovery_ratio",
            "Recovered over at-risk business writes, across all rollbacks whose capture held",
            x,
        );
    }
    let over = r.gauge(
        "rollbacks_over_target",
        "Finished rollbacks over 120% of their target, by tier (emergency <= 15 min, component <= 60 min, graceful)",
        None,
    );
    for t in &k.tiers {
        over.get_or_create(&l(&[("tier", t.tier.name())]))
            .set(t.over_target as f64);
    }
    r.single(
        "audit_chain_intact",
        "1 when the audit log's hash chain verifies",
        if snap.audit.broken.is_none() {
            1.0
        } else {
            0.0
        },
    );
    r.single(
        "audit_entries",
        "Entries in the audit log",
        snap.audit.entries as f64,
    );
    r.single(
        "event_log_sequence",
        "The newest event's sequence number",
        snap.last_seq as f64,
    );

    let mut out = String::new();
    encode(&mut out, &r.0)?;
    Ok(out)
}
