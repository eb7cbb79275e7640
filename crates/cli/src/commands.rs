//! One function per subcommand. Each loads the plan, opens the state store and records
//! what it did in the audit log.

use crate::cli::{Cli, Command};
use crate::console::{Timeline, bytes};
use anyhow::{Context as _, Result};
use comfy_table::Table;
use ripcord_core::context::{Connector, Ctx};
use ripcord_core::engine::Engine;
use ripcord_core::events::Bus;
use ripcord_core::plan::{Database, Plan};
use ripcord_core::rollback::{self, Request, Status};
use ripcord_core::state::StateStore;
use ripcord_core::store::Store;
use ripcord_core::{Error, exit};
use ripcord_sqlite::SqliteState;
use std::io::{IsTerminal, Write};
use std::path::Path;

pub struct Engines;

impl Connector for Engines {
    fn differ(&self) -> Option<&dyn ripcord_core::verify::TableDiffer> {
        Some(&crate::diff_cmd::DiffEngine)
    }
    fn switch_driver(
        &self,
        kind: ripcord_core::plan::SwitchKind,
    ) -> Option<&dyn ripcord_core::switch::SwitchDriver> {
        crate::switch_cmd::driver(kind)
    }
    fn connect(&self, db: &Database) -> ripcord_core::Result<Box<dyn Engine>> {
        match crate::registry::for_url(db.url.expose()) {
            Some(e) => match (&db.ripcord_schema, e.connect_in_schema) {
                (None, _) => Ok((e.connect)(db.url.expose())?),
                (Some(s), Some(connect)) => Ok(connect(db.url.expose(), s)?),
                (Some(_), None) => Err(Error::Usage(format!(
                    "database {:?}: ripcord_schema is for engines with schemas; {} keeps ripcord's tables in the database itself",
                    db.name, e.kind.name
                ))),
            },
            None => Err(Error::Usage(format!(
                "database {:?} ({}): the {} engine is not built yet; this ripcord supports {} databases",
                db.name,
                db.url,
                db.url.scheme(),
                crate::registry::url_forms("and")
            ))),
        }
    }
}

pub fn actor(cli_as: Option<String>) -> String {
    cli_as
        .or_else(|| std::env::var("RIPCORD_ACTOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "operator".into())
}

/// Writes log lines to `.ripcord/ripcord.log` with every known secret removed.
struct ScrubFile(std::fs::File);

impl Write for ScrubFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let clean = ripcord_core::redact::scrub(&String::from_utf8_lossy(buf));
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Console and log verbosity from `-q` / `-v`: -1 quiet, 0 default, 1 debug, 2+ trace.
static VERBOSITY: std::sync::atomic::AtomicI8 = std::sync::atomic::AtomicI8::new(0);

pub fn set_verbosity(quiet: bool, verbose: u8) {
    let v = if quiet { -1 } else { verbose.min(2) as i8 };
    VERBOSITY.store(v, std::sync::atomic::Ordering::Relaxed);
}

fn verbosity() -> i8 {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed)
}

/// The log filter: `RUST_LOG` (or the older `RIPCORD_LOG`) when set, else by -v. A
/// PostgreSQL NOTICE (`DROP … IF EXISTS, skipping` on every capture install) reaches the
/// log through the driver's `postgres::config` target at info; it is kept out below -vv.
pub fn log_filter(rust_log: Option<&str>, verbose: i8) -> tracing_subscriber::EnvFilter {
    if let Some(f) = rust_log.filter(|f| !f.trim().is_empty())
        && let Ok(f) = tracing_subscriber::EnvFilter::try_new(f)
    {
        return f;
    }
    tracing_subscriber::EnvFilter::new(match verbose {
        ..=0 => "info,postgres::config=warn",
        1 => "debug,postgres::config=warn",
        _ => "trace",
    })
}

fn init_logging(state_dir: &Path) {
    let _ = std::fs::create_dir_all(state_dir);
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("ripcord.log"))
    else {
        return;
    };
    let file = std::sync::Mutex::new(ScrubFile(file));
    let env = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("RIPCORD_LOG"))
        .ok();
    let filter = log_filter(env.as_deref(), verbosity());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(file)
        .try_init();
}

pub fn open(plan: Plan, actor: String) -> Result<Ctx> {
    init_logging(&plan.state_dir);
    let state = SqliteState::open(&plan.state_dir.join("state.db"))?;
    let store = Store::open(plan.state_dir.join("store"));
    crate::console::started();
    let events = Bus::default();
    events.persist_to(state.reopen()?);
    if verbosity() >= 0 {
        events.subscribe(Box::new(Timeline));
    }
    tracing::info!(plan = %plan.path.display(), actor = %actor, "ripcord started");
    for db in plan.databases.values() {
        tracing::info!(database = %db.name, url = %db.url, "plan database");
    }
    Ok(Ctx {
        plan,
        state: Box::new(state) as Box<dyn StateStore>,
        store,
        events,
        actor,
        connector: Box::new(Engines),
    })
}

fn load_plan(path: &Path) -> Result<Plan> {
    ripcord_core::plan::load(path, &crate::registry::kinds()).map_err(|e| {
        let report = miette::Report::new(*e);
        anyhow::Error::new(Error::Usage(format!("{report:?}")))
    })
}

/// The plan's default name, looked for in the current directory and each one above it.
pub const PLAN_FILE: &str = "ripcord.toml";

/// The nearest `ripcord.toml` from `start` upwards, as git and cargo find theirs; `None`
/// when no directory up to the root has one.
pub fn find_plan(start: &Path) -> Option<std::path::PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(PLAN_FILE))
        .find(|p| p.is_file())
}

fn plan_path(given: Option<&Path>) -> std::path::PathBuf {
    match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| find_plan(&d))
            .unwrap_or_else(|| PLAN_FILE.into()),
    }
}

/// The plan given or found; a clear error when there is none.
fn require_plan(given: Option<&Path>) -> Result<Plan> {
    let path = plan_path(given);
    if given.is_none() && !path.is_file() {
        let here = std::env::current_dir().unwrap_or_default();
        return Err(Error::Usage(format!(
            "no {PLAN_FILE} in {} or any directory above it; write one with `ripcord init --example workshop`, or pass --plan PATH (or set RIPCORD_PLAN)",
            here.display()
        ))
        .into());
    }
    load_plan(&path)
}

pub fn dispatch(cli: Cli) -> Result<i32> {
    ripcord_core::words::install(crate::console::WORDS);
    set_verbosity(cli.quiet, cli.verbose);
    let actor = actor(cli.actor);
    match cli.command {
        Command::Demo { keep, url, story } => match story.as_str() {
            "parallel-universe" if url.is_some() => Err(Error::Usage(
                "--story parallel-universe runs on SQLite only (no --url)".into(),
            )
            .into()),
            "parallel-universe" => crate::demo_universe::run(keep),
            _ => crate::demo::run(keep, url),
        },
        // init writes where it is told, or here: never into a plan found further up.
        Command::Init { example, force } => init(cli.plan.as_deref(), &example, force),
        Command::Diff(args) => crate::diff_cmd::run(&plan_path(cli.plan.as_deref()), actor, args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "ripcord", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("write the man page")?;
            Ok(exit::OK)
        }
        Command::Serve(args) => {
            let plan = require_plan(cli.plan.as_deref())?;
            init_logging(&plan.state_dir);
            crate::serve::run(plan, args)
        }
        cmd => {
            let plan = require_plan(cli.plan.as_deref())?;
            let mut ctx = open(plan, actor)?;
            let code = run_command(&mut ctx, cmd);
            // Every event on the console and in the log before main prints an error.
            ctx.events.flush();
            code
        }
    }
}

fn init(given: Option<&Path>, example: &str, force: bool) -> Result<i32> {
    let path = given.unwrap_or(Path::new(PLAN_FILE));
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists; pass --force to overwrite it",
            path.display()
        ))
        .into());
    }
    std::fs::write(path, example_plan(example))
        .with_context(|| format!("write {}", path.display()))?;
    // Found on its own only under its default name; anything else must be named.
    let next = if path.file_name() == Some(PLAN_FILE.as_ref()) {
        "ripcord check".to_string()
    } else {
        format!("ripcord --plan {} check", path.display())
    };
    println!(
        "wrote {} (the {example} example); edit its databases, then run `{next}`",
        path.display()
    );
    if path.file_name() != Some(PLAN_FILE.as_ref()) {
        println!(
            "pass --plan {} to every command (or set RIPCORD_PLAN={}): only a file named {PLAN_FILE} is found without it",
            path.display(),
            path.display()
        );
    }
    Ok(exit::OK)
}

pub fn example_plan(name: &str) -> &'static str {
    match name {
        "payroll" => include_str!("../../../examples/payroll.toml"),
        "switches" => include_str!("../../../examples/switches.toml"),
        "erp-mariadb-to-postgres" => include_str!("../../../examples/erp-mariadb-to-postgres.toml"),
        "guarded-payroll-postgres" => {
            include_str!("../../../examples/guarded-payroll-postgres.toml")
        }
        _ => include_str!("../../../examples/workshop.toml"),
    }
}

fn table() -> Table {
    crate::render::table()
}

/// Prints a value as pretty JSON with every known secret removed.
fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    println!("{}", ripcord_core::redact::scrub(&text));
    Ok(())
}

fn components(ctx: &Ctx, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(ctx.plan.components.iter().map(|c| c.name.clone()).collect());
    }
    for n in names {
        if ctx.plan.component(n).is_none() {
            return Err(Error::Usage(format!("no component named {n:?} in the plan")).into());
        }
    }
    Ok(names.to_vec())
}

pub fn run_command(ctx: &mut Ctx, cmd: Command) -> Result<i32> {
    match cmd {
        Command::Check {
            rehearse,
            json,
            markdown,
        } => check(ctx, rehearse, json, markdown),
        Command::Install { database, dry_run } => {
            Ok(crate::install_cmd::install(ctx, &database, dry_run)?)
        }
        Command::Uninstall {
            database,
            dry_run,
            force,
            reason,
        } => Ok(crate::install_cmd::uninstall(
            ctx,
            &database,
            dry_run,
            force,
            reason.as_deref(),
        )?),
        Command::Checkpoint { component } => {
            let comps = components(ctx, &component)?;
            let m = ripcord_core::checkpoint::take(ctx, &comps)?;
            ctx.events.flush();
            println!("{}", m.id);
            Ok(exit::OK)
        }
        Command::Checkpoints { json } => {
            if json {
                print_json(&ctx.state.checkpoints()?)?;
                return Ok(exit::OK);
            }
            let mut t = table();
            t.set_header([
                "id",
                "taken",
                "age",
                "components",
                "rows",
                "size",
                "new data",
            ]);
            for c in ctx.state.checkpoints()? {
                let age = chrono::DateTime::parse_from_rfc3339(&c.created_at)
                    .map(|d| chrono::Utc::now().signed_duration_since(d))
                    .ok();
                let age = age
                    .map(|a| ripcord_core::check::age_words(a.num_seconds()))
                    .unwrap_or_default();
                t.add_row([
                    c.id,
                    c.created_at,
                    age,
                    c.components.join(", "),
                    c.rows.to_string(),
                    bytes(c.bytes),
                    bytes(c.new_bytes),
                ]);
            }
            println!("{t}");
            Ok(exit::OK)
        }
        Command::Prune(args) => crate::retention_cmd::prune(ctx, args),
        Command::Gc { json } => crate::retention_cmd::gc(ctx, json),
        Command::Capture { action, component } => capture(ctx, &action, &component),
        Command::Run => crate::guard_cmd::run(ctx),
        cmd @ (Command::Stop { .. }
        | Command::Watch { .. }
        | Command::Baseline { .. }
        | Command::Status { .. }
        | Command::Approve { .. }
        | Command::Reject { .. }) => crate::guard_cmd::dispatch(ctx, cmd),
        Command::Rollback(a) => rollback_cmd(ctx, a),
        Command::Switch(a) => crate::switch_cmd::run(ctx, a),
        Command::Notify(a) => crate::notify_cmd::run(ctx, a),
        Command::Ack { incident, level } => crate::notify_cmd::ack(ctx, &incident, level),
        Command::Incidents { json } => crate::notify_cmd::incidents(ctx, json),
        Command::Sync(a) => crate::sync_cmd::run(ctx, a),
        Command::Cutover(a) => crate::sync_cmd::cutover_cmd(ctx, a),
        Command::Verify {
            component,
            against: Some(against),
            fk,
            json,
        } => {
            let comps = components(ctx, &component)?;
            crate::diff_cmd::verify_against(ctx, &comps, &against, &fk, json)
        }
        Command::Verify {
            component, json, ..
        } => verify(ctx, &component, json),
        Command::Rollbacks { json } => rollbacks(ctx, json),
        Command::Gaps {
            rollback,
            review: true,
            json,
        } => {
            let r = find_rollback(ctx, rollback.as_deref())?;
            if json {
                let rows: Vec<_> = r.to_review().collect();
                print_json(&serde_json::json!({"rollback": r.id, "overlaps": rows}))?;
                return Ok(exit::OK);
            }
            if r.to_review().next().is_none() {
                println!("rollback {}: nothing to review", r.id);
                return Ok(exit::OK);
            }
            let mut t = table();
            t.set_header([
                "table",
                "key",
                "business write",
                "business changed",
                "migration's value left in place (legacy value kept)",
            ]);
            for o in r.to_review() {
                t.add_row([
                    o.table.clone(),
                    o.key.clone(),
                    format!("#{}", o.seq),
                    o.business_columns.join(", "),
                    o.kept_legacy
                        .iter()
                        .map(|(c, v)| format!("{c} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            println!("{t}");
            Ok(exit::OK)
        }
        Command::Gaps { rollback, json, .. } => {
            let r = find_rollback(ctx, rollback.as_deref())?;
            if json {
                crate::console::worded(|| {
                    print_json(&serde_json::json!({"rollback": r.id, "gaps": r.gaps}))
                })?;
                return Ok(if r.gaps.is_empty() {
                    exit::OK
                } else {
                    exit::VERIFY_FAILED
                });
            }
            if r.gaps.is_empty() {
                println!("rollback {}: no data gaps", r.id);
                return Ok(exit::OK);
            }
            let mut t = table();
            t.set_header(["table", "key", "op", "seq", "reason", "suggested action"]);
            for g in &r.gaps {
                t.add_row([
                    g.table.clone(),
                    g.key.clone(),
                    format!("{:?}", g.op),
                    g.seq.to_string(),
                    crate::console::gap_reason(&g.cause),
                    crate::console::gap_suggestion(g),
                ]);
            }
            println!("{t}");
            Ok(exit::VERIFY_FAILED)
        }
        Command::Report {
            kpis: true, json, ..
        } => {
            let k = ripcord_core::report::Kpis::of(&ctx.state.rollbacks()?);
            if json {
                print_json(&k)?;
            } else {
                print!(
                    "{}",
                    crate::render::kpis_console(&k, &crate::render::Term::detect())
                );
            }
            Ok(exit::OK)
        }
        Command::Report {
            rollback,
            format,
            lang,
            postmortem: true,
            ..
        } => {
            if !matches!(format.as_str(), "md" | "html") {
                return Err(Error::Usage(format!(
                    "--postmortem is written as md or html, not {format}"
                ))
                .into());
            }
            postmortem(ctx, rollback.as_deref(), &format, &lang)
        }
        Command::Report {
            rollback,
            format,
            lang,
            json,
            ..
        } => {
            let r =
                ripcord_core::report::RollbackReport::of(&find_rollback(ctx, rollback.as_deref())?);
            let lang =
                crate::serve::i18n::Lang::parse(&lang).unwrap_or(crate::serve::i18n::Lang::En);
            if format == "html" && !json {
                let pm = ripcord_core::report::PostMortem::gather(r, &event_log(ctx)?);
                print!("{}", crate::report_html::rollback(&pm, lang));
            } else if json || format == "json" {
                println!("{}", crate::render::rollback_json(&r));
            } else if format == "console" {
                println!(
                    "{}",
                    crate::render::rollback_console(&r, &crate::render::Term::detect())
                );
            } else {
                println!("{}", crate::render::rollback_markdown_in(&r, lang));
                // What the notifier told whom about this rollback's incident, if any.
                if let Some(inc) = ctx
                    .state
                    .incidents()?
                    .into_iter()
                    .find(|i| i.rollbacks.contains(&r.id))
                {
                    let sent = ctx.state.deliveries(Some(&inc.id))?;
                    println!(
                        "{}",
                        crate::render::notifications_markdown_in(&inc, &sent, lang)
                    );
                }
            }
            Ok(exit::OK)
        }
        Command::Postmortem {
            rollback,
            format,
            lang,
        } => postmortem(ctx, rollback.as_deref(), &format, &lang),
        Command::Audit { action, json } => audit(ctx, &action, json),
        Command::Events {
            after,
            follow,
            json,
        } => events(ctx, after, follow, json),
        Command::Demo { .. }
        | Command::Init { .. }
        | Command::Diff(_)
        | Command::Serve(_)
        | Command::Completions { .. }
        | Command::Man => {
            unreachable!("handled before the plan is loaded")
        }
    }
}

/// The whole event log, read a page at a time.
pub fn event_log(ctx: &mut Ctx) -> Result<Vec<ripcord_core::events::Envelope>> {
    let mut log: Vec<ripcord_core::events::Envelope> = Vec::new();
    loop {
        let after = log.last().and_then(|e| e.seq).unwrap_or(0);
        let page = ctx.state.events_after(after, 1000)?;
        let full = page.len() == 1000;
        log.extend(page);
        if !full {
            break;
        }
    }
    Ok(log)
}

/// `ripcord postmortem` (and `report --postmortem`): pre-filled from the record and the log.
fn postmortem(ctx: &mut Ctx, rollback: Option<&str>, format: &str, lang: &str) -> Result<i32> {
    let r = ripcord_core::report::RollbackReport::of(&find_rollback(ctx, rollback)?);
    let pm = ripcord_core::report::PostMortem::gather(r, &event_log(ctx)?);
    let lang = crate::serve::i18n::Lang::parse(lang).unwrap_or(crate::serve::i18n::Lang::En);
    if format == "html" {
        print!("{}", crate::report_html::postmortem_html(&pm, lang));
    } else {
        print!("{}", crate::report_html::postmortem_md(&pm, lang));
    }
    Ok(exit::OK)
}

fn find_rollback(ctx: &mut Ctx, id: Option<&str>) -> Result<rollback::RollbackRecord> {
    let all = ctx.state.rollbacks()?;
    let r = match id {
        Some(id) => all.into_iter().find(|r| r.id == id || r.id.starts_with(id)),
        None => all.into_iter().next(),
    };
    r.ok_or_else(|| {
        Error::Usage("no such rollback; `ripcord report` with no argument shows the newest".into())
            .into()
    })
}

fn capture(ctx: &mut Ctx, action: &str, names: &[String]) -> Result<i32> {
    let comps = components(ctx, names)?;
    let mut t = table();
    t.set_header(["component", "database", "table", "capture", "frozen"]);
    for name in &comps {
        let c = ctx.plan.component(name).expect("checked").clone();
        match action {
            "start" => {
                ripcord_core::checkpoint::ensure_capture(ctx, &c)?;
                ctx.audit(
                    "capture.start",
                    serde_json::json!({"component": name}),
                    "ok",
                )?;
            }
            "stop" => {
                ctx.engine(&c.capture_database)?
                    .capture_remove(&c.captured_tables())?;
                ctx.audit("capture.stop", serde_json::json!({"component": name}), "ok")?;
            }
            _ => {}
        }
        ctx.events.flush();
        let mut e = ctx.engine(&c.capture_database)?;
        let on = e.captured_tables()?;
        let frozen = e.frozen_tables()?;
        for tb in c.captured_tables() {
            t.add_row([
                name.clone(),
                c.capture_database.clone(),
                tb.clone(),
                if on.contains(&tb) { "on" } else { "off" }.into(),
                if frozen.contains(&tb) { "FROZEN" } else { "" }.into(),
            ]);
        }
    }
    println!("{t}");
    Ok(exit::OK)
}

fn verify(ctx: &mut Ctx, names: &[String], json: bool) -> Result<i32> {
    let comps = components(ctx, names)?;
    let r = ripcord_core::verify::report(ctx, &comps)?;
    ctx.events.flush();
    if json {
        print_json(&crate::render::verify_json(&r))?;
    } else {
        println!(
            "{}",
            crate::render::verify_console(&r, &crate::render::Term::detect())
        );
    }
    let broken = r.broken();
    ctx.audit(
        "verify",
        serde_json::json!({"components": comps}),
        &if broken == 0 {
            "ok".to_string()
        } else {
            format!("{broken} invariants broken")
        },
    )?;
    Ok(if r.ok() {
        exit::OK
    } else {
        exit::VERIFY_FAILED
    })
}

/// `ripcord rollbacks`: every rollback, newest first.
fn rollbacks(ctx: &mut Ctx, json: bool) -> Result<i32> {
    use ripcord_core::status::RollbackSummary;
    let all: Vec<RollbackSummary> = ctx
        .state
        .rollbacks()?
        .iter()
        .map(RollbackSummary::of)
        .collect();
    if json {
        print_json(&all)?;
        return Ok(exit::OK);
    }
    if all.is_empty() {
        println!("no rollbacks yet");
        return Ok(exit::OK);
    }
    let term = crate::render::Term::detect();
    let mut t = term.table();
    t.set_header([
        "id",
        "components",
        "state",
        "started",
        "took",
        "at risk",
        "recovered",
        "lost",
    ]);
    for r in &all {
        use ripcord_core::status::RollbackState as S;
        let good = match r.state {
            S::Verified => Some(true),
            S::Abandoned => None,
            _ => Some(false),
        };
        let state = match &r.phase {
            Some(p) => format!("{} ({p})", r.state.name()),
            None => r.state.name().to_string(),
        };
        t.add_row(vec![
            comfy_table::Cell::new(&r.id),
            comfy_table::Cell::new(r.components.join(", ")),
            term.cell(state, good),
            comfy_table::Cell::new(&r.started_at),
            comfy_table::Cell::new(format!("{:.1}s", r.took_seconds)),
            comfy_table::Cell::new(r.at_risk),
            comfy_table::Cell::new(r.recovered),
            term.cell(r.lost.to_string(), Some(r.lost == 0)),
        ]);
    }
    println!("{t}");
    Ok(exit::OK)
}

fn rollback_cmd(ctx: &mut Ctx, a: crate::cli::RollbackArgs) -> Result<i32> {
    let crate::cli::RollbackArgs {
        component,
        to,
        resume,
        abandon,
        accept_uncaptured,
        dry_run,
        yes,
        reason,
    } = a;
    let why = || {
        reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                Error::Usage(
                    "say why with --reason \"…\" (it goes into the audit log and the report)"
                        .into(),
                )
            })
    };
    let _interrupts = announce_interrupts(ctx)?;
    if let Some(id) = abandon {
        let rec = rollback::abandon(ctx, &id, &why()?)?;
        ctx.events.flush();
        println!("{}", crate::render::rollback_record_markdown(&rec));
        return Ok(exit::STOPPED);
    }
    let rec = if let Some(id) = resume {
        rollback::resume(ctx, id.as_deref(), yes.then(|| ctx.actor.clone()))?
    } else {
        let comps = components(ctx, &component)?;
        let req = Request {
            components: comps,
            to,
            reason: reason.clone().unwrap_or_default(),
            accept_uncaptured,
        };
        if dry_run {
            let plan = rollback::assess(ctx, &req)?;
            ctx.events.flush();
            print_plan(&plan);
            println!("dry run: nothing was changed");
            if !plan.breaks.is_empty() {
                let e = rollback::uncaptured_error(&plan.breaks);
                eprintln!("{e}");
                return Ok(e.exit_code());
            }
            return Ok(exit::OK);
        }
        let reason = why()?;
        let req = Request { reason, ..req };
        let actor = ctx.actor.clone();
        let bus = ctx.events.clone();
        let mut approve = |plan: &rollback::RollbackPlan| -> Option<String> {
            bus.flush();
            print_plan(plan);
            if yes {
                return Some(actor.clone());
            }
            if !std::io::stdin().is_terminal() {
                eprintln!("not approved: pass --yes to approve without a prompt");
                return None;
            }
            let names: Vec<&str> = plan.components.iter().map(|c| c.name.as_str()).collect();
            eprint!("Type {:?} to approve this rollback: ", names.join(","));
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).ok()?;
            (line.trim() == names.join(",")).then(|| actor.clone())
        };
        rollback::start(ctx, &req, &mut approve)?
    };
    ctx.events.flush();
    println!("{}", crate::render::rollback_record_markdown(&rec));
    Ok(match rec.status {
        Status::Completed { ok: true } => exit::OK,
        _ => exit::VERIFY_FAILED,
    })
}

/// On Ctrl-C or SIGTERM during a rollback: say where it stopped, that its tables stay
/// frozen, and the exact command that continues it; then end like a kill would. Every phase
/// records its intent and result, so stopping anywhere is safe to resume.
fn announce_interrupts(ctx: &Ctx) -> Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Internal(format!("cannot watch signals: {e}")))?;
    let handle = signals.handle();
    let mut state = ctx.state.reopen()?;
    let bus = ctx.events.clone();
    std::thread::spawn(move || {
        if let Some(n) = signals.forever().next() {
            bus.flush();
            let name = if n == SIGINT { "SIGINT" } else { "SIGTERM" };
            let current = state
                .rollbacks()
                .ok()
                .and_then(|all| all.into_iter().find(|r| r.unfinished()));
            match current {
                Some(r) => {
                    let phase = match &r.status {
                        Status::Running { phase } | Status::Failed { phase, .. } => phase.name(),
                        _ => "finish",
                    };
                    let frozen = r
                        .phase_times
                        .iter()
                        .any(|p| p.phase == rollback::Phase::Freeze);
                    eprintln!(
                        "\nripcord: {name}: rollback {} stopped in its {phase} phase.",
                        r.id
                    );
                    if frozen {
                        eprintln!(
                            "The tables of {} stay frozen (business writes are refused) until it finishes.",
                            r.components.join(", ")
                        );
                    }
                    eprintln!(
                        "Continue it with:  ripcord rollback --resume {}\nor give it up with: ripcord rollback --abandon {} --reason \"…\"",
                        r.id, r.id
                    );
                }
                None => eprintln!(
                    "\nripcord: {name}: stopped before the rollback began; nothing was changed."
                ),
            }
            std::process::exit(exit::STOPPED);
        }
    });
    Ok(handle)
}

fn print_plan(plan: &rollback::RollbackPlan) {
    let mut t = table();
    t.set_header([
        "component",
        "checkpoint",
        "taken",
        "tables (rows)",
        "business writes at risk",
    ]);
    for c in &plan.components {
        t.add_row([
            c.name.clone(),
            c.checkpoint.clone(),
            c.checkpoint_taken.clone(),
            c.tables
                .iter()
                .map(|(n, r)| format!("{n} ({r})"))
                .collect::<Vec<_>>()
                .join(", "),
            c.writes_at_risk.to_string(),
        ]);
    }
    eprintln!("{t}");
    eprintln!(
        "phases: assess → approve → freeze → drain → restore → replay → verify → switch back → unfreeze → report"
    );
    eprintln!(
        "expected duration about {:.1}s (a rough estimate), target {:.0}s",
        plan.expected_seconds, plan.rto_seconds
    );
}

fn check(ctx: &mut Ctx, rehearse: bool, json: bool, markdown: bool) -> Result<i32> {
    use ripcord_core::check::{CheckItem, Decision, ItemKind};
    let mut report = ripcord_core::check::run(ctx, chrono::Utc::now())?;
    if rehearse {
        for c in ctx.plan.components.clone() {
            report.push(match ripcord_core::rehearse::rehearse(ctx, &c) {
                Ok(r) => CheckItem::ok(ItemKind::Rehearsal, &c.name, r.ok, r.detail)
                    .figure("checkpoint", r.checkpoint)
                    .figure("rows", r.rows)
                    .figure("seconds", r.seconds)
                    .figure("rto_seconds", r.rto_seconds)
                    .figure("verified", r.verified),
                Err(e) => CheckItem::ok(ItemKind::Rehearsal, &c.name, false, e.to_string()),
            });
        }
    }
    // A go decision pins the pre-migration baseline the rules will compare against.
    if !ctx.plan.probes.is_empty() {
        match ripcord_guard::baseline::take(ctx, std::sync::Arc::new(Engines), None) {
            Ok(pinned) => {
                for b in pinned {
                    report.push(
                        CheckItem::ok(
                            ItemKind::Probe,
                            &b.probe,
                            true,
                            format!(
                                "baseline pinned: median {:.3}, p95 {:.3} over {} samples ({} could not measure)",
                                b.median,
                                b.p95,
                                b.samples.len(),
                                b.errors
                            ),
                        )
                        .figure("median", b.median)
                        .figure("p95", b.p95),
                    );
                }
            }
            Err(e) => report.push(CheckItem::ok(ItemKind::Probe, "*", false, e.to_string())),
        }
    }
    ctx.events.flush();
    if json {
        print_json(&crate::render::check_json(&report))?;
    } else if markdown {
        println!("{}", crate::render::check_markdown(&report));
    } else {
        println!(
            "{}",
            crate::render::check_console(&report, &crate::render::Term::detect())
        );
    }
    let go = report.decision() == Decision::Go;
    ctx.audit(
        "check",
        serde_json::json!({}),
        if go { "go" } else { "no-go" },
    )?;
    Ok(if go { exit::OK } else { exit::VERIFY_FAILED })
}

/// `ripcord events`: the event log from a sequence number on; with `--follow`, polls for
/// more (a second process reading while a rollback writes is what the log is for).
fn events(ctx: &mut Ctx, mut after: i64, follow: bool, json: bool) -> Result<i32> {
    const PAGE: usize = 1000;
    loop {
        let page = ctx.state.events_after(after, PAGE)?;
        let mut out = std::io::stdout().lock();
        for e in &page {
            after = e.seq.unwrap_or(after);
            let written = if json {
                writeln!(out, "{}", serde_json::to_string(e)?)
            } else {
                writeln!(
                    out,
                    "{:>6}  {}  {:<8}  {}",
                    after,
                    e.at,
                    e.severity,
                    crate::console::describe(&e.event)
                )
            };
            // The reader went away (`| head`): not an error of ours.
            if written.and_then(|()| out.flush()).is_err() {
                return Ok(exit::OK);
            }
        }
        drop(out);
        if page.len() == PAGE {
            continue;
        }
        if !follow {
            return Ok(exit::OK);
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

fn audit(ctx: &mut Ctx, action: &str, json: bool) -> Result<i32> {
    let entries = ctx.state.audit_entries()?;
    match action {
        "show" if json => {
            print_json(&entries)?;
            Ok(exit::OK)
        }
        "show" => {
            let mut t = table();
            t.set_header(["seq", "at", "actor", "action", "args", "result"]);
            for e in &entries {
                t.add_row([
                    e.seq.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.args.to_string(),
                    e.result.clone(),
                ]);
            }
            println!("{t}");
            Ok(exit::OK)
        }
        "export" => {
            let mut out = std::io::stdout().lock();
            for e in &entries {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            Ok(exit::OK)
        }
        _ => {
            let head = ctx.state.audit_head()?;
            match ripcord_core::audit::verify(&entries, head.clone()) {
                Ok(n) => {
                    println!(
                        "audit chain intact: {n} entries, head {}",
                        head.map(|h| h.1[..16].to_string()).unwrap_or_default()
                    );
                    Ok(exit::OK)
                }
                Err(b) => {
                    println!("audit chain BROKEN: {b}");
                    Ok(exit::VERIFY_FAILED)
                }
            }
        }
    }
}
