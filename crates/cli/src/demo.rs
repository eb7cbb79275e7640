//! `ripcord demo`: the whole story on SQLite in a temporary folder, in well under 30 s.
//! A Universal Workshop database; a checkpoint; capture on; a migration whose new VAT
//! engine truncates instead of rounding; business writes keep arriving; an invariant
//! catches the bug; billing is rolled back; every business write survives, checked
//! independently; the report and the audit chain close the story.

use crate::commands::open;
use crate::workshop;
use anyhow::{Context as _, Result};
use ripcord_core::exit;
use ripcord_core::rollback::{self, Request};
use rusqlite::Connection;
use std::time::Instant;

fn say(_: &Instant, s: &str) {
    eprintln!(
        "\n[{:>7.2}s] == {s}",
        crate::console::started().elapsed().as_secs_f64()
    );
}

/// `ripcord audit verify`, as the demos end: its exit code says whether the chain holds.
pub(crate) fn audit_verify(ctx: &mut ripcord_core::context::Ctx) -> Result<i32> {
    crate::commands::run_command(
        ctx,
        crate::cli::Command::Audit {
            action: "verify".into(),
            json: false,
        },
    )
}

pub fn run(keep: bool, url: Option<String>) -> Result<i32> {
    let t = crate::console::started();
    let dir = tempfile::Builder::new().prefix("ripcord-demo-").tempdir()?;
    let root = dir.path().to_path_buf();
    let url = match url {
        Some(u) => u,
        None => {
            let conn = Connection::open(root.join("workshop.db"))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            "sqlite:workshop.db".to_string()
        }
    };
    let dialect = crate::registry::for_url(&url).map_or(workshop::Dialect::Sqlite, |e| e.dialect);
    let plan_path = root.join("ripcord.toml");
    std::fs::write(&plan_path, workshop::plan_for(&url, dialect))?;
    let plan = ripcord_core::plan::load(&plan_path, &crate::registry::kinds())
        .map_err(|e| anyhow::anyhow!("{:?}", miette::Report::new(*e)))?;
    let shown = plan.databases["workshop"].url.to_string();
    let mut ctx = open(plan, "demo-operator".into())?;
    let mut db = ctx.engine_installed("workshop")?;

    say(
        &t,
        &format!(
            "1. Universal Workshop ERP on {shown}; plan and state in {}",
            root.display()
        ),
    );
    let customers = 600;
    let rows = workshop::create(db.as_mut(), customers, 7)?;
    eprintln!(
        "           {rows} rows: customers (Arabic and English names), vehicles, service orders, invoices with 5% VAT in baisa, payments"
    );

    say(
        &t,
        "2. ripcord run: checkpoint every component (capture turns on first), then the migration steps",
    );
    let outcome = ripcord_core::run::run(&mut ctx).context("the migration run")?;
    ctx.events.flush();
    eprintln!(
        "           migration done: {} steps; every invariant held at cutover",
        outcome.steps_done.len()
    );

    say(
        &t,
        "3. Cutover. The business keeps working on the new version (new customers, invoices, payments, voids, corrections)",
    );
    let writes = workshop::business_day(db.as_mut(), customers, 11, 150)?;
    eprintln!(
        "           {} statements: {} new customers, {} new invoices, {} payments, {} old invoices paid, {} voided, {} payments removed, {} discounts corrected",
        writes.statements,
        writes.new_customers.len(),
        writes.new_invoices.len(),
        writes.new_payments.len(),
        writes.paid_invoices.len(),
        writes.voided_invoices.len(),
        writes.deleted_payments.len(),
        writes.discount_changes.len()
    );
    let wrong_sql = format!(
        "SELECT COUNT(*) FROM invoices WHERE vat_baisa <> {}",
        dialect.idiv("net_baisa * 5 + 50", "100")
    );
    let wrong = db.query_scalar(&wrong_sql)?;

    say(
        &t,
        "4. ripcord verify -c billing: the invariants are checked against the live data",
    );
    let code = crate::commands::run_command(
        &mut ctx,
        crate::cli::Command::Verify {
            component: vec!["billing".into()],
            against: None,
            fk: Vec::new(),
            json: false,
        },
    )?;
    eprintln!(
        "           exit code {code}: the new VAT engine truncates instead of rounding ({wrong} invoices off by a baisa)"
    );
    if code != exit::VERIFY_FAILED {
        anyhow::bail!("the demo's bug was not caught; this is a bug in the demo");
    }

    say(
        &t,
        "5. ripcord rollback -c billing --yes: back to the checkpoint, carrying every business write back",
    );
    let req = Request {
        components: vec!["billing".into()],
        to: None,
        reason: "VAT engine truncates instead of rounding".into(),
        accept_uncaptured: false,
    };
    let actor = ctx.actor.clone();
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some(actor.clone()))?;
    ctx.events.flush();

    say(
        &t,
        "6. Independent check: every business write is in the legacy tables, in its final form",
    );
    let mut db = ctx.engine_installed("workshop")?;
    let (checked, problems) = workshop::check_business_writes(db.as_mut(), &writes)?;
    for p in &problems {
        eprintln!("           PROBLEM: {p}");
    }
    eprintln!(
        "           {checked} business writes checked, {} missing or wrong",
        problems.len()
    );
    let still_wrong = db.query_scalar(&wrong_sql)?.as_f64().unwrap_or(-1.0) as i64;
    eprintln!("           invoices with wrong VAT now: {still_wrong}");

    say(&t, "7. ripcord verify -c billing, and the audit chain");
    let code = crate::commands::run_command(
        &mut ctx,
        crate::cli::Command::Verify {
            component: vec!["billing".into()],
            against: None,
            fk: Vec::new(),
            json: false,
        },
    )?;
    let audit_code = crate::demo::audit_verify(&mut ctx)?;

    say(&t, "8. The report (ripcord report)");
    println!("{}", crate::render::rollback_record_markdown(&rec));

    let f = &rec.figures;
    let ok = rec.ok()
        && problems.is_empty()
        && still_wrong == 0
        && code == exit::OK
        && audit_code == exit::OK;
    eprintln!("== Summary ==");
    eprintln!(
        "   business writes at risk: {}   recovered: {}   lost: {}   recovery rate: {:.1}%",
        f.at_risk,
        f.recovered,
        f.lost,
        f.recovery_rate() * 100.0
    );
    eprintln!(
        "   conflicts kept with the business value: {}   rows restored: {}",
        f.conflicts, f.restored_rows
    );
    eprintln!(
        "   rollback took {:.2}s against a {:.0}s target; independent check: {} problems; audit chain: {}",
        rec.total_seconds(),
        rec.rto_seconds,
        problems.len(),
        if audit_code == 0 { "intact" } else { "BROKEN" }
    );
    eprintln!(
        "   {} records lost. Demo finished in {:.1}s.",
        f.lost + problems.len() as u64,
        t.elapsed().as_secs_f64()
    );
    if dialect != workshop::Dialect::Sqlite {
        eprintln!("   the Workshop tables stay in {shown}");
    }
    if keep {
        let kept = dir.keep();
        eprintln!("   demo folder kept: {}", kept.display());
        eprintln!(
            "   see it on the dashboard: cd {} && ripcord serve   (then http://127.0.0.1:8088, ?lang=ar for Arabic)",
            kept.display()
        );
    } else {
        eprintln!(
            "   run with --keep, then `ripcord serve` in the demo folder: the dashboard, the rollback's HTML report, /metrics"
        );
    }
    Ok(if ok { exit::OK } else { exit::VERIFY_FAILED })
}
