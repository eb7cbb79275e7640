//! `ripcord prune` and `ripcord gc`: the sentences around `ripcord_core::retention`.

use crate::console::bytes;
use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ripcord_core::context::Ctx;
use ripcord_core::exit;
use ripcord_core::retention::{self, GcReport, Policy};

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Keep the N newest checkpoints of each component.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_last: u32,
    /// Keep the newest checkpoint of each of the last N hours that have one (UTC).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_hourly: u32,
    /// Keep the newest checkpoint of each of the last N days that have one (UTC).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_daily: u32,
    /// Keep the newest checkpoint of each of the last N ISO weeks that have one.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_weekly: u32,
    /// Delete exactly these checkpoints instead of applying a policy (refused for one
    /// that must stay).
    #[arg(long, value_name = "CHECKPOINT")]
    pub forget: Vec<String>,
    /// List what would go and why each kept checkpoint is kept; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn prune(ctx: &mut Ctx, a: PruneArgs) -> Result<i32> {
    let policy = Policy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
    };
    let plan = retention::plan(ctx, &policy, &a.forget)?;
    if a.dry_run {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print_plan(&plan, "would delete");
            println!("dry run: nothing was deleted");
        }
        return Ok(exit::OK);
    }
    let out = retention::apply(ctx, plan, &policy)?;
    ctx.events.flush();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(exit::OK);
    }
    print_plan(&out.plan, "deleted");
    for (db, n) in &out.journal.deleted {
        println!("journal of {db}: {n} entries no kept checkpoint needs were deleted");
    }
    for why in &out.journal.kept_whole {
        println!("journal kept whole: {why}");
    }
    print_gc(&out.gc);
    Ok(exit::OK)
}

fn print_plan(plan: &retention::PrunePlan, gone: &str) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["checkpoint", "taken", "components", "fate", "why"]);
    for v in &plan.checkpoints {
        t.add_row([
            v.id.clone(),
            v.created_at.clone(),
            v.components.join(", "),
            if v.keep { "keep" } else { gone }.to_string(),
            if v.keep {
                v.reasons.join("; ")
            } else {
                "no rule keeps it".into()
            },
        ]);
    }
    println!("{t}");
}

fn print_gc(r: &GcReport) {
    println!(
        "store: {} chunks removed ({} freed), {} kept",
        r.chunks_removed,
        bytes(r.bytes_freed),
        r.chunks_kept
    );
    for p in &r.interrupted {
        println!(
            "interrupted checkpoint of {} (started {} by {}, pid {} on {}): recorded in the audit log, its chunks collected",
            p.components.join(", "),
            p.started_at,
            p.actor,
            p.pid,
            p.host
        );
    }
}

pub fn gc(ctx: &mut Ctx, json: bool) -> Result<i32> {
    let r = retention::gc(ctx)?;
    ctx.events.flush();
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_gc(&r);
    }
    Ok(exit::OK)
}
