//! `ripcord diff A B --table T` and `ripcord verify -c C --against DB|CHECKPOINT`: the
//! cross-engine diff engine (crate `ripcord-diff`) behind a table for people and JSON for
//! scripts. Exit code 3 when anything differs, is missing, or points at a missing parent.

use anyhow::Result;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ripcord_core::context::Ctx;
use ripcord_core::plan::Plan;
use ripcord_core::store::CheckpointId;
use ripcord_core::{Error, exit};
use ripcord_diff::aggregate::AggregateReport;
use ripcord_diff::fk::Orphans;
use ripcord_diff::{Decimal, DiffSource, ForeignKey, Gap, MemorySource, Options, TableDiff};
use serde::Serialize;
use std::path::Path;

#[derive(Args, Clone, Debug)]
pub struct DiffArgs {
    /// Side A: sqlite:PATH, postgres://…, mysql://…, a plan database name, or checkpoint:ID.
    pub a: String,
    /// Side B, written the same way.
    pub b: String,
    /// Table to compare (repeat for several).
    #[arg(long, short = 't', required = true)]
    pub table: Vec<String>,
    /// Key columns (default: A's primary key).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Columns to compare (default: every column both sides have).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Allowed variance, COLUMN=AMOUNT. No column has one unless set here (every value is
    /// compared exactly); differences within it are still listed and counted.
    #[arg(long)]
    pub tolerance: Vec<String>,
    /// An aggregate query run on both sides, compared group by group (last column = figure).
    #[arg(long)]
    pub aggregate: Vec<String>,
    /// Tolerance for --aggregate figures (default 0: exact).
    #[arg(long, default_value = "0", value_parser = ripcord_diff::exact::parse_tolerance)]
    pub aggregate_tolerance: Decimal,
    /// A foreign key to check on B besides the declared ones: child(col)->parent(col).
    #[arg(long)]
    pub fk: Vec<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize, Default)]
struct Outcome {
    tables: Vec<TableDiff>,
    gaps: Vec<Gap>,
    aggregates: Vec<AggregateReport>,
    orphans: Vec<Orphans>,
    /// Gaps and aggregate groups beyond tolerance, plus orphan groups (filled by `count`).
    beyond_tolerance: usize,
    /// Gaps and aggregate groups within a tolerance the operator set.
    within_tolerance: usize,
}

impl Outcome {
    /// Fills the two totals; call once everything is collected.
    fn count(&mut self) {
        let within = self.gaps.iter().filter(|g| g.within_tolerance).count();
        self.within_tolerance = within
            + self
                .aggregates
                .iter()
                .map(AggregateReport::within)
                .sum::<usize>();
        self.beyond_tolerance = self.gaps.len() - within
            + self
                .aggregates
                .iter()
                .map(AggregateReport::broken)
                .sum::<usize>()
            + self.orphans.len();
    }

    fn failed(&self) -> bool {
        self.tables.iter().any(TableDiff::has_differences)
            || self.gaps.iter().any(|g| !g.within_tolerance)
            || self.aggregates.iter().any(|a| a.broken() > 0)
            || !self.orphans.is_empty()
    }
}

/// Opens a diff side for a URL (never a checkpoint or a plan name).
pub fn open_url(url: &str) -> Result<Box<dyn DiffSource>, ripcord_diff::DiffError> {
    match crate::registry::for_url(url) {
        Some(e) => (e.diff_source)(url),
        None => Err(ripcord_diff::DiffError::Usage(format!(
            "{}: not a database URL; write {}, a database name from the plan, or checkpoint:ID",
            ripcord_core::redact::redact_url(url),
            crate::registry::ENGINES
                .iter()
                .map(|e| e.kind.url_example)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Usage mistakes exit 2 like every other command; the rest keep their message.
fn core(e: ripcord_diff::DiffError) -> anyhow::Error {
    match e {
        ripcord_diff::DiffError::Usage(m) => Error::Usage(m).into(),
        ripcord_diff::DiffError::Core(c) => c.into(),
        other => anyhow::Error::new(other),
    }
}

fn is_url(s: &str) -> bool {
    crate::registry::looks_like_url(s)
}

/// A checkpoint's manifest and its entry for `table`.
fn checkpoint_table(
    ctx: &mut Ctx,
    id: &str,
    table: &str,
) -> Result<(
    ripcord_core::store::Manifest,
    ripcord_core::store::TableEntry,
)> {
    let list = ctx.state.checkpoints()?;
    let rec = list
        .into_iter()
        .find(|r| r.id == id || r.id.starts_with(id))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no valid checkpoint {id:?}; `ripcord checkpoints` lists them"
            ))
        })?;
    let m = ctx.store.manifest(&CheckpointId(rec.id.clone()))?;
    let entry = m
        .components
        .iter()
        .flat_map(|c| &c.tables)
        .find(|t| t.schema.name == table)
        .cloned()
        .ok_or_else(|| Error::Usage(format!("checkpoint {} holds no table {table:?}", rec.id)))?;
    Ok((m, entry))
}

/// A checkpoint's copy of `table`, loaded into memory (for the range-checksum diff, when
/// the streamed comparison cannot be used).
fn checkpoint_source(ctx: &mut Ctx, id: &str, table: &str) -> Result<Box<dyn DiffSource>> {
    let (m, entry) = checkpoint_table(ctx, id, table)?;
    let rows = ctx
        .store
        .rows(&m.id, &entry)
        .collect::<ripcord_core::Result<Vec<_>>>()?;
    Ok(Box::new(MemorySource::new(
        format!("checkpoint:{}", m.id),
        entry.schema.clone(),
        rows,
    )))
}

/// The checkpoint id a side names, if it names one.
fn as_checkpoint<'s>(ctx: &mut Ctx, spec: &'s str) -> Result<Option<&'s str>> {
    if let Some(id) = spec.strip_prefix("checkpoint:") {
        return Ok(Some(id));
    }
    if is_url(spec) || ctx.plan.databases.contains_key(spec) {
        return Ok(None);
    }
    let known = ctx
        .state
        .checkpoints()?
        .iter()
        .any(|r| r.id == spec || r.id.starts_with(spec));
    Ok(known.then_some(spec))
}

/// The live database a side names (a URL or a plan database), if it names one.
fn as_database(ctx: &Ctx, spec: &str) -> Option<ripcord_core::plan::Database> {
    if is_url(spec) {
        return Some(ripcord_core::plan::Database {
            name: ripcord_core::redact::redact_url(spec),
            url: ripcord_core::plan::SecretUrl::new(spec.to_string()),
            lock_timeout: ripcord_core::plan::DEFAULT_LOCK_TIMEOUT,
            statement_timeout: ripcord_core::plan::DEFAULT_STATEMENT_TIMEOUT,
            ripcord_schema: None,
        });
    }
    ctx.plan.databases.get(spec).cloned()
}

/// A checkpoint (A) against a live table (B), both streamed in key order and merged: the
/// checkpoint is never held in memory. `None` when the sides are not a checkpoint and a
/// database, a key other than the primary key was asked for, or the two sides' key orders
/// differ (an engine collation that is not byte order): then the range-checksum diff runs.
fn streamed(
    ctx: &mut Ctx,
    a: &str,
    b: &str,
    table: &str,
    opts: &Options,
) -> Result<Option<TableDiff>> {
    if !opts.key.is_empty() {
        return Ok(None);
    }
    let (Some(id), Some(db)) = (as_checkpoint(ctx, a)?, as_database(ctx, b)) else {
        return Ok(None);
    };
    let (m, entry) = checkpoint_table(ctx, id, table)?;
    let mut live = ctx.connector.connect(&db)?;
    let held = ripcord_core::verify::HeldRows::default();
    let mut rows = ctx
        .store
        .stored_rows(&m.id, &entry)
        .inspect(|_| held.read())
        .map(|r| r.map(ripcord_diff::ExpectedRow::from));
    let bus = ctx.events.clone();
    let mut meter = ripcord_core::progress::Meter::new(
        &bus,
        ripcord_core::events::Operation::Verify {
            table: table.to_string(),
        },
        entry.rows,
    );
    let mut compared = ripcord_core::verify::Compared::new(&held);
    let r = ripcord_diff::diff_ordered(
        &format!("checkpoint:{}", m.id),
        &entry.schema,
        &mut rows,
        live.as_mut(),
        &db.url.to_string(),
        table,
        opts,
        &mut |n, bytes| {
            compared.add(n);
            meter.add(n, bytes)
        },
    )
    .map_err(core)?;
    meter.finish();
    Ok(match r {
        ripcord_diff::Streamed::Done(mut d) => {
            d.stats.rows_held_peak = held.peak();
            Some(*d)
        }
        ripcord_diff::Streamed::NotOrdered(why) => {
            eprintln!("{table}: {why}; comparing by key ranges instead");
            None
        }
    })
}

/// One table, A against B: streamed when A is a checkpoint and B a database, else by key
/// ranges.
fn diff_one(
    ctx: Option<&mut Ctx>,
    a: &str,
    b: &str,
    table: &str,
    opts: &Options,
) -> Result<TableDiff> {
    let mut ctx = ctx;
    if let Some(c) = ctx.as_deref_mut()
        && let Some(d) = streamed(c, a, b, table, opts)?
    {
        return Ok(d);
    }
    let mut sa = side(ctx.as_deref_mut(), a, table)?;
    let mut sb = side(ctx, b, table)?;
    let mut d = ripcord_diff::diff_table(sa.as_mut(), sb.as_mut(), table, opts).map_err(core)?;
    if sa.kind() == "checkpoint" {
        d.stats.rows_held_peak = d.rows_a;
    }
    Ok(d)
}

/// Resolves one side: a URL, a plan database, or a checkpoint.
fn side(ctx: Option<&mut Ctx>, spec: &str, table: &str) -> Result<Box<dyn DiffSource>> {
    if let Some(id) = spec.strip_prefix("checkpoint:") {
        let ctx = ctx.ok_or_else(|| {
            Error::Usage(format!(
                "{spec}: checkpoints live in the plan's state folder, and no plan was found (--plan)"
            ))
        })?;
        return checkpoint_source(ctx, id, table);
    }
    if is_url(spec) {
        return open_url(spec).map_err(core);
    }
    let ctx = ctx.ok_or_else(|| {
        Error::Usage(format!(
            "{spec:?} is neither a URL nor checkpoint:ID, and there is no plan to look it up in"
        ))
    })?;
    if let Some(db) = ctx.plan.databases.get(spec) {
        return open_url(db.url.expose()).map_err(core);
    }
    if ctx
        .state
        .checkpoints()?
        .iter()
        .any(|r| r.id == spec || r.id.starts_with(spec))
    {
        return checkpoint_source(ctx, spec, table);
    }
    Err(Error::Usage(format!(
        "{spec:?} is not a URL, a database of the plan ({}) or a checkpoint id",
        ctx.plan
            .databases
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

fn options(key: &[String], columns: &[String], tolerance: &[String]) -> Result<Options> {
    let mut o = Options {
        key: key.to_vec(),
        columns: columns.to_vec(),
        ..Options::default()
    };
    for t in tolerance {
        o.tolerances.set(t).map_err(Error::Usage)?;
    }
    Ok(o)
}

fn declared(fk: &[String]) -> Result<Vec<ForeignKey>> {
    fk.iter()
        .map(|s| s.parse::<ForeignKey>().map_err(|e| Error::Usage(e).into()))
        .collect()
}

fn load_ctx(plan: &Path, actor: String) -> Result<Option<Ctx>> {
    if !plan.exists() {
        return Ok(None);
    }
    let p: Plan = ripcord_core::plan::load(plan, &crate::registry::kinds()).map_err(|e| {
        let report = miette::Report::new(*e);
        anyhow::Error::new(Error::Usage(format!("{report:?}")))
    })?;
    Ok(Some(crate::commands::open(p, actor)?))
}

/// `ripcord diff`.
pub fn run(plan: &Path, actor: String, args: DiffArgs) -> Result<i32> {
    let needs_plan = |s: &str| !is_url(s);
    let mut ctx = if needs_plan(&args.a) || needs_plan(&args.b) || plan.exists() {
        load_ctx(plan, actor)?
    } else {
        None
    };
    let opts = options(&args.key, &args.columns, &args.tolerance)?;
    let fks = declared(&args.fk)?;
    let mut out = Outcome::default();
    for table in &args.table {
        let d = diff_one(ctx.as_mut(), &args.a, &args.b, table, &opts)?;
        out.gaps.extend(d.gaps());
        out.tables.push(d);
        let b_checkpoint = args.b.starts_with("checkpoint:")
            || match ctx.as_mut() {
                Some(c) => as_checkpoint(c, &args.b)?.is_some(),
                None => false,
            };
        if !b_checkpoint {
            let mut b = side(ctx.as_mut(), &args.b, table)?;
            out.orphans.extend(
                ripcord_diff::fk::check(b.as_mut(), std::slice::from_ref(table), &fks, 20)
                    .map_err(core)?,
            );
        }
    }
    if !args.aggregate.is_empty() {
        let t = &args.table[0];
        let mut a = side(ctx.as_mut(), &args.a, t)?;
        let mut b = side(ctx.as_mut(), &args.b, t)?;
        for sql in &args.aggregate {
            out.aggregates.push(
                ripcord_diff::aggregate::check(
                    a.as_mut(),
                    b.as_mut(),
                    sql,
                    &args.aggregate_tolerance,
                )
                .map_err(core)?,
            );
        }
    }
    out.count();
    print(&out, args.json)?;
    let failed = out.failed();
    if let Some(ctx) = ctx.as_mut() {
        ctx.audit(
            "diff",
            serde_json::json!({
                "a": ripcord_core::redact::redact_url(&args.a),
                "b": ripcord_core::redact::redact_url(&args.b),
                "tables": args.table,
            }),
            &summary(&out),
        )?;
    }
    Ok(if failed {
        exit::VERIFY_FAILED
    } else {
        exit::OK
    })
}

/// `ripcord verify -c C --against DB|CHECKPOINT`: each table of each component, live
/// against the reference, then orphans in the component's database.
pub fn verify_against(
    ctx: &mut Ctx,
    components: &[String],
    against: &str,
    fk: &[String],
    json: bool,
) -> Result<i32> {
    let opts = Options::default();
    let fks = declared(fk)?;
    let mut out = Outcome::default();
    let mut broken = 0;
    for name in components {
        let c = ctx
            .plan
            .component(name)
            .cloned()
            .ok_or_else(|| Error::Usage(format!("no component named {name:?} in the plan")))?;
        let live_url = ctx
            .plan
            .databases
            .get(&c.database)
            .map(|d| d.url.expose().to_string())
            .ok_or_else(|| Error::Usage(format!("no database {:?} in the plan", c.database)))?;
        for table in &c.tables {
            let d = diff_one(Some(&mut *ctx), against, &live_url, table, &opts)?;
            out.gaps.extend(d.gaps());
            out.tables.push(d);
        }
        let mut live = open_url(&live_url).map_err(core)?;
        out.orphans
            .extend(ripcord_diff::fk::check(live.as_mut(), &c.tables, &fks, 20).map_err(core)?);
        let mut e = ctx.engine(&c.database)?;
        for r in ripcord_core::verify::invariants(ctx, e.as_mut(), &c)? {
            if !r.ok {
                broken += 1;
                out.gaps.push(Gap {
                    table: String::new(),
                    key: String::new(),
                    what: format!("invariant {} broken: {}", r.name, r.detail),
                    suggested_action: "investigate before switching traffic".into(),
                    within_tolerance: false,
                });
            }
        }
    }
    out.count();
    print(&out, json)?;
    let failed = out.failed() || broken > 0;
    ctx.audit(
        "verify",
        serde_json::json!({"components": components, "against": ripcord_core::redact::redact_url(against)}),
        &summary(&out),
    )?;
    Ok(if failed {
        exit::VERIFY_FAILED
    } else {
        exit::OK
    })
}

fn summary(out: &Outcome) -> String {
    let diffs: usize = out
        .tables
        .iter()
        .map(|t| t.missing_in_a.len() + t.missing_in_b.len() + t.changed.len())
        .sum();
    format!(
        "{diffs} rows differ beyond tolerance, {} within tolerance, {} gaps, {} orphan groups",
        out.within_tolerance,
        out.gaps.len(),
        out.orphans.len()
    )
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".into())
}

/// Rows shown per table in the human output; JSON always has every row.
const SHOW: usize = 50;

fn print(out: &Outcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(out)?);
        return Ok(());
    }
    for d in &out.tables {
        println!("table {}: A = {}, B = {}", d.table, d.a, d.b);
        let mut t = table();
        t.set_header([
            "rows A",
            "rows B",
            "missing in B",
            "only in B",
            "changed",
            "within tolerance",
            "seconds",
        ]);
        t.add_row([
            d.rows_a.to_string(),
            d.rows_b.to_string(),
            d.missing_in_b.len().to_string(),
            d.missing_in_a.len().to_string(),
            d.changed.len().to_string(),
            d.within_tolerance.len().to_string(),
            format!("{:.2}", d.stats.seconds),
        ]);
        println!("{t}");
        if !d.columns_only_in_a.is_empty() || !d.columns_only_in_b.is_empty() {
            println!(
                "columns not compared: only in A [{}], only in B [{}]",
                d.columns_only_in_a.join(", "),
                d.columns_only_in_b.join(", ")
            );
        }
        let mut rows = Vec::new();
        for c in d.changed.iter().chain(&d.within_tolerance) {
            for col in &c.columns {
                let status = if col.within_tolerance {
                    "within tolerance"
                } else {
                    "changed"
                };
                let mut note = col
                    .delta
                    .as_ref()
                    .map(|x| format!("Δ {x}"))
                    .unwrap_or_default();
                if let Some(t) = &col.tolerance {
                    note.push_str(&format!(" (tolerance {t})"));
                }
                if !col.text_issues.is_empty() {
                    note = col.text_issues.join("; ");
                }
                rows.push([
                    ripcord_diff_key(&c.key),
                    status.to_string(),
                    col.column.clone(),
                    opt(&col.a),
                    opt(&col.b),
                    note,
                ]);
            }
        }
        if !rows.is_empty() {
            let mut t = table();
            t.set_header(["key", "status", "column", "A", "B", "note"]);
            let n = rows.len();
            for r in rows.into_iter().take(SHOW) {
                t.add_row(r);
            }
            println!("{t}");
            if n > SHOW {
                println!("… {} more changed columns (--json lists all)", n - SHOW);
            }
        }
    }
    for a in &out.aggregates {
        println!(
            "aggregate ({} groups, tolerance {}): {}",
            a.groups, a.tolerance, a.sql
        );
        if a.differences.is_empty() {
            println!("  every group matches");
            continue;
        }
        let mut t = table();
        t.set_header(["group", "A", "B", "delta", "result"]);
        for x in &a.differences {
            t.add_row([
                x.group.clone(),
                opt(&x.a),
                opt(&x.b),
                x.delta.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                if x.within_tolerance {
                    "within tolerance".into()
                } else {
                    "BROKEN".to_string()
                },
            ]);
        }
        println!("{t}");
        println!(
            "  {} groups differ beyond tolerance, {} within tolerance",
            a.broken(),
            a.within()
        );
    }
    if !out.orphans.is_empty() {
        let mut t = table();
        t.set_header(["foreign key", "orphaned rows", "missing parents (examples)"]);
        for o in &out.orphans {
            t.add_row([
                o.foreign_key.to_string(),
                o.count.to_string(),
                o.examples
                    .iter()
                    .map(|k| ripcord_diff_key(k))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        println!("referential integrity: rows pointing at parents that do not exist");
        println!("{t}");
    }
    if out.gaps.is_empty() {
        println!("no data gaps");
    } else {
        let mut t = table();
        t.set_header(["table", "key", "what", "suggested action"]);
        let n = out.gaps.len();
        for g in out.gaps.iter().take(SHOW * 4) {
            t.add_row([
                g.table.clone(),
                g.key.clone(),
                g.what.clone(),
                g.suggested_action.clone(),
            ]);
        }
        println!("data-gap report");
        println!("{t}");
        if n > SHOW * 4 {
            println!("… {} more gaps (--json lists all)", n - SHOW * 4);
        }
    }
    // Said even when 0, so a clean exit never hides differences a tolerance let through.
    println!(
        "{} differences beyond tolerance, {} within tolerance",
        out.beyond_tolerance, out.within_tolerance
    );
    Ok(())
}

fn ripcord_diff_key(k: &[String]) -> String {
    if k.len() == 1 {
        k[0].clone()
    } else {
        format!("({})", k.join(", "))
    }
}

/// The rollback proof's view of a table diff: every difference counted, 20 described.
fn table_check(d: &TableDiff) -> ripcord_core::verify::TableCheck {
    let mut examples: Vec<String> = Vec::new();
    for k in &d.missing_in_b {
        examples.push(format!("{}: expected row missing", ripcord_diff_key(k)));
    }
    for k in &d.missing_in_a {
        examples.push(format!("{}: unexpected row", ripcord_diff_key(k)));
    }
    for c in d.changed.iter().chain(&d.within_tolerance) {
        let cols: Vec<String> = c
            .columns
            .iter()
            .map(|x| format!("{} expected {} found {}", x.column, opt(&x.a), opt(&x.b)))
            .collect();
        examples.push(format!("{}: {}", ripcord_diff_key(&c.key), cols.join(", ")));
    }
    for g in d
        .gaps()
        .into_iter()
        .filter(|g| g.key == "NULL" || g.what.contains("share"))
    {
        examples.push(format!("{}: {}", g.key, g.what));
    }
    let differences = examples.len() as u64;
    examples.truncate(20);
    ripcord_core::verify::TableCheck {
        rows: d.rows_b,
        differences,
        examples,
        rows_held_peak: d.stats.rows_held_peak,
    }
}

/// The diff engine as the rollback's verify phase sees it (`verify::TableDiffer`).
pub struct DiffEngine;

impl ripcord_core::verify::TableDiffer for DiffEngine {
    fn foreign_keys(
        &self,
        db: &ripcord_core::plan::Database,
    ) -> ripcord_core::Result<Vec<(String, String)>> {
        let mut live = open_url(db.url.expose()).map_err(|e| Error::Verify(e.to_string()))?;
        Ok(live
            .foreign_keys()
            .map_err(|e| Error::Verify(e.to_string()))?
            .into_iter()
            .map(|fk| (fk.child, fk.parent))
            .collect())
    }
    fn compare(
        &self,
        db: &ripcord_core::plan::Database,
        schema: &ripcord_core::schema::TableSchema,
        expected: Vec<ripcord_core::value::Row>,
        columns: &[String],
    ) -> ripcord_core::Result<ripcord_core::verify::TableCheck> {
        let to_core = |e: ripcord_diff::DiffError| match e {
            ripcord_diff::DiffError::Core(c) => c,
            other => Error::Verify(other.to_string()),
        };
        let mut expected = MemorySource::new("expected state", schema.clone(), expected);
        let mut live = open_url(db.url.expose()).map_err(to_core)?;
        // A rollback restores exact values: no tolerance here, ever.
        let opts = Options {
            columns: columns.to_vec(),
            ..Options::default()
        };
        let d = ripcord_diff::diff_table(&mut expected, live.as_mut(), &schema.name, &opts)
            .map_err(to_core)?;
        Ok(table_check(&d))
    }

    fn compare_stream(
        &self,
        db: &ripcord_core::plan::Database,
        schema: &ripcord_core::schema::TableSchema,
        expected: &mut (
                 dyn Iterator<Item = ripcord_core::Result<ripcord_diff::ExpectedRow>> + Send
             ),
        progress: &mut dyn FnMut(u64, u64),
    ) -> ripcord_core::Result<Option<ripcord_core::verify::TableCheck>> {
        use ripcord_core::context::Connector as _;
        let to_core = |e: ripcord_diff::DiffError| match e {
            ripcord_diff::DiffError::Core(c) => c,
            other => Error::Verify(other.to_string()),
        };
        let mut live = crate::commands::Engines.connect(db)?;
        // A rollback restores exact values: no tolerance here, ever.
        let r = ripcord_diff::diff_ordered(
            "expected state",
            schema,
            expected,
            live.as_mut(),
            &db.url.to_string(),
            &schema.name,
            &Options::default(),
            progress,
        )
        .map_err(to_core)?;
        Ok(match r {
            ripcord_diff::Streamed::Done(d) => Some(table_check(&d)),
            ripcord_diff::Streamed::NotOrdered(_) => None,
        })
    }

    fn compare_databases(
        &self,
        a: &ripcord_core::plan::Database,
        b: &ripcord_core::plan::Database,
        table: &str,
    ) -> ripcord_core::Result<Option<ripcord_core::verify::TableCheck>> {
        let to_core = |e: ripcord_diff::DiffError| match e {
            ripcord_diff::DiffError::Core(c) => c,
            other => Error::Verify(other.to_string()),
        };
        let mut sa = open_url(a.url.expose()).map_err(to_core)?;
        let mut sb = open_url(b.url.expose()).map_err(to_core)?;
        // One checksum of the whole table per side, computed in both databases at once:
        // equal, and the sides agree; different, and the ranged diff finds the rows.
        let whole = |s: &mut dyn ripcord_diff::source::DiffSource,
                     other: &ripcord_core::schema::TableSchema,
                     digest: Option<ripcord_diff::source::Digest>|
         -> Result<ripcord_diff::canon::Checksum, ripcord_diff::DiffError> {
            let schema = s.schema(table)?;
            let columns: Vec<String> = schema
                .column_names()
                .into_iter()
                .filter(|c| other.column_index(c).is_some())
                .collect();
            let mut spec = ripcord_diff::source::TableSpec::from_schema(
                &schema,
                &schema.key_names(),
                &columns,
            )?;
            if let Some(d) = digest {
                spec.digest = d;
            }
            ripcord_diff::table_checksum(s, &spec)
        };
        let (schema_a, schema_b) = (
            sa.schema(table).map_err(to_core)?,
            sb.schema(table).map_err(to_core)?,
        );
        let digest = match (sa.fast_digest(), sb.fast_digest()) {
            (Some(x), Some(y)) if x == y => Some(x),
            _ => None,
        };
        let same_classes = {
            let cols: Vec<String> = schema_a
                .column_names()
                .into_iter()
                .filter(|c| schema_b.column_index(c).is_some())
                .collect();
            let spec = |s: &ripcord_core::schema::TableSchema| {
                ripcord_diff::source::TableSpec::from_schema(s, &s.key_names(), &cols)
            };
            matches!((spec(&schema_a), spec(&schema_b)), (Ok(x), Ok(y)) if x.classes == y.classes)
        };
        if same_classes {
            let (ca, cb) = std::thread::scope(|sc| {
                let ha = sc.spawn(|| whole(sa.as_mut(), &schema_b, digest));
                let cb = whole(sb.as_mut(), &schema_a, digest);
                (ha.join().expect("checksum thread panicked"), cb)
            });
            let (ca, cb) = (ca.map_err(to_core)?, cb.map_err(to_core)?);
            if ca.count == cb.count && ca.sum == cb.sum {
                return Ok(Some(ripcord_core::verify::TableCheck {
                    rows: cb.count,
                    ..Default::default()
                }));
            }
        }
        // Exact: legacy must hold what the new side holds, value for value.
        let d = ripcord_diff::diff_table(sa.as_mut(), sb.as_mut(), table, &Options::default())
            .map_err(to_core)?;
        Ok(Some(table_check(&d)))
    }

    fn orphans(
        &self,
        db: &ripcord_core::plan::Database,
        tables: &[String],
    ) -> ripcord_core::Result<Vec<String>> {
        let to_core = |e: ripcord_diff::DiffError| match e {
            ripcord_diff::DiffError::Core(c) => c,
            other => Error::Verify(other.to_string()),
        };
        let mut live = open_url(db.url.expose()).map_err(to_core)?;
        let found = ripcord_diff::fk::check(live.as_mut(), tables, &[], 10).map_err(to_core)?;
        Ok(found
            .into_iter()
            .map(|o| {
                format!(
                    "{} rows of {} point at missing parents (e.g. {})",
                    o.count,
                    o.foreign_key,
                    o.examples
                        .iter()
                        .map(|k| ripcord_diff_key(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect())
    }
}
