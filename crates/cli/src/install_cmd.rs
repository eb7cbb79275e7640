//! `ripcord install` and `ripcord uninstall`: the only commands besides the writers
//! (capture, checkpoint, run, rollback) that change what ripcord keeps in a database.

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use ripcord_core::context::Ctx;
use ripcord_core::engine::DbObject;
use ripcord_core::{Error, Result, exit};

/// The plan's databases to act on: the named ones, or every one.
fn databases(ctx: &Ctx, named: &[String]) -> Result<Vec<String>> {
    if named.is_empty() {
        return Ok(ctx.plan.databases.keys().cloned().collect());
    }
    for n in named {
        if !ctx.plan.databases.contains_key(n) {
            let known: Vec<&str> = ctx.plan.databases.keys().map(String::as_str).collect();
            return Err(Error::Usage(format!(
                "no database named {n:?} in the plan (it has {})",
                known.join(", ")
            )));
        }
    }
    Ok(named.to_vec())
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["database", "kind", "schema", "name", "on", "action"]);
    t
}

fn add(t: &mut Table, db: &str, o: &DbObject, action: &str) {
    t.add_row([
        db.to_string(),
        o.kind.to_string(),
        o.schema.clone().unwrap_or_default(),
        o.name.clone(),
        o.on.clone().unwrap_or_default(),
        action.to_string(),
    ]);
}

pub fn install(ctx: &mut Ctx, named: &[String], dry_run: bool) -> Result<i32> {
    let mut t = table();
    for db in databases(ctx, named)? {
        let mut e = ctx.engine(&db)?;
        let missing: Vec<DbObject> = e
            .ripcord_objects()?
            .into_iter()
            .filter(|o| o.installed_by_prepare && !o.present)
            .collect();
        if dry_run {
            for o in &missing {
                add(&mut t, &db, o, "would create");
            }
            if missing.is_empty() {
                println!("database {db}: ripcord is installed; nothing to create");
            }
            continue;
        }
        e.prepare().map_err(|err| {
            ripcord_core::engine::EngineError::sql(format!("install ripcord in database {db}"), err)
        })?;
        for o in &missing {
            add(&mut t, &db, o, "created");
        }
        if missing.is_empty() {
            println!("database {db}: ripcord was already installed");
        }
        let names: Vec<String> = missing.iter().map(|o| o.to_string()).collect();
        ctx.audit(
            "install",
            serde_json::json!({"database": db, "created": names}),
            "ok",
        )?;
    }
    if !t.is_empty() {
        println!("{t}");
    }
    if dry_run {
        println!("dry run: nothing was created");
    }
    Ok(exit::OK)
}

/// Why uninstalling from `db` would lose what an operator still relies on.
fn blockers(ctx: &mut Ctx, db: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let uses = |c: &ripcord_core::plan::Component| c.database == db || c.capture_database == db;
    for r in ctx.state.rollbacks()? {
        if r.unfinished()
            && r.components
                .iter()
                .any(|n| ctx.plan.component(n).is_some_and(uses))
        {
            out.push(format!(
                "rollback {} is unfinished (ripcord rollback --resume {} or --abandon {} --reason \"…\")",
                r.id, r.id, r.id
            ));
        }
    }
    let captured: Vec<String> = ctx
        .plan
        .components
        .iter()
        .filter(|c| c.capture_database == db)
        .map(|c| c.name.clone())
        .collect();
    for c in ctx.state.checkpoints()? {
        let needs: Vec<&String> = c
            .components
            .iter()
            .filter(|n| captured.contains(n))
            .collect();
        if !needs.is_empty() {
            out.push(format!(
                "checkpoint {} of {} needs the journal kept here to roll back to it",
                c.id,
                needs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let frozen = ctx.engine(db)?.frozen_tables()?;
    if !frozen.is_empty() {
        out.push(format!(
            "tables are frozen by a rollback: {}",
            frozen.join(", ")
        ));
    }
    Ok(out)
}

pub fn uninstall(
    ctx: &mut Ctx,
    named: &[String],
    dry_run: bool,
    force: bool,
    reason: Option<&str>,
) -> Result<i32> {
    if force && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Error::Usage(
            "--force needs --reason \"…\" (it is recorded in the audit log)".into(),
        ));
    }
    let dbs = databases(ctx, named)?;
    let mut held = Vec::new();
    for db in &dbs {
        for b in blockers(ctx, db)? {
            held.push(format!("database {db}: {b}"));
        }
    }
    if !held.is_empty() && !force && !dry_run {
        return Err(Error::Held(format!(
            "ripcord uninstall refuses, nothing was removed:\n  {}\nUninstalling deletes the journal a rollback needs; to remove it anyway: ripcord uninstall --force --reason \"…\"",
            held.join("\n  ")
        )));
    }
    let mut t = table();
    for db in &dbs {
        let mut e = ctx.engine(db)?;
        if dry_run {
            for o in e.ripcord_objects()?.into_iter().filter(|o| o.present) {
                add(&mut t, db, &o, "would drop");
            }
            continue;
        }
        let dropped = e.uninstall()?;
        for o in &dropped {
            add(&mut t, db, o, "dropped");
        }
        let names: Vec<String> = dropped.iter().map(|o| o.to_string()).collect();
        ctx.audit(
            "uninstall",
            serde_json::json!({"database": db, "dropped": names, "forced": force && !held.is_empty(),
                "reason": reason, "overrode": held}),
            "ok",
        )?;
    }
    if t.is_empty() {
        println!("ripcord has nothing in {}", dbs.join(", "));
    } else {
        println!("{t}");
    }
    if dry_run {
        if !held.is_empty() && !force {
            println!(
                "without --force --reason \"…\" uninstall refuses (exit 5):\n  {}",
                held.join("\n  ")
            );
        }
        println!("dry run: nothing was removed");
    }
    Ok(exit::OK)
}
