//! `ripcord switch status | to-new | to-legacy`, and the Redis and HTTP switch drivers
//! core does not carry (`ripcord_core::switch` runs the flips and persists them).

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ripcord_core::context::Ctx;
use ripcord_core::http::{Call, Client};
use ripcord_core::plan::{HttpCall, SwitchAction, SwitchKind, SwitchRead};
use ripcord_core::switch::{self, FlipRequest, Side, SwitchDriver};
use ripcord_core::{Error, exit};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct SwitchArgs {
    #[command(subcommand)]
    pub action: SwitchOp,
}

#[derive(clap::Subcommand, Debug)]
pub enum SwitchOp {
    /// Each switch's real position (its read) beside the persisted state and any
    /// unfinished flip. Exit 3 when one disagrees, cannot be read or is unfinished.
    Status(SwitchSel),
    /// Move the switches to the new side (completing any unfinished flip).
    ToNew(SwitchSel),
    /// Move the switches back to legacy and run their cache invalidations.
    ToLegacy(SwitchSel),
}

#[derive(clap::Args, Debug)]
pub struct SwitchSel {
    /// Components whose switches to act on (default: all).
    #[arg(short, long)]
    pub component: Vec<String>,
    /// Only this switch.
    #[arg(long)]
    pub switch: Vec<String>,
    /// For switches with stages: the stage to move to (default: the last).
    #[arg(long)]
    pub stage: Option<u32>,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Move traffic even onto a side that refuses writes (frozen legacy behind a sync, a
    /// fenced new side). Needs `--reason`; audited as `switch.forced`.
    #[arg(long)]
    pub force: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &mut Ctx, a: SwitchArgs) -> Result<i32> {
    match a.action {
        SwitchOp::Status(s) => status(ctx, &s),
        SwitchOp::ToNew(s) => flip(ctx, &s, Side::New),
        SwitchOp::ToLegacy(s) => flip(ctx, &s, Side::Legacy),
    }
}

fn selected(ctx: &Ctx, s: &SwitchSel) -> Result<Vec<ripcord_core::plan::Switch>> {
    ctx.components(&s.component)?;
    for name in &s.switch {
        if ctx.plan.switch(name).is_none() {
            return Err(Error::Usage(format!("no switch named {name:?} in the plan")).into());
        }
    }
    let out: Vec<_> = ctx
        .plan
        .switches_of(&s.component)
        .into_iter()
        .filter(|w| s.switch.is_empty() || s.switch.contains(&w.name))
        .cloned()
        .collect();
    if out.is_empty() {
        return Err(Error::Usage(
            "no switches selected: the plan has no [switches.NAME] for these components".into(),
        )
        .into());
    }
    Ok(out)
}

fn status(ctx: &mut Ctx, s: &SwitchSel) -> Result<i32> {
    let names: Vec<String> = selected(ctx, s)?.into_iter().map(|w| w.name).collect();
    let all = switch::status(ctx, &s.component)?;
    let rows: Vec<_> = all
        .into_iter()
        .filter(|r| names.contains(&r.name))
        .collect();
    let ok = rows.iter().all(|r| r.agrees());
    if s.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "switch",
            "component",
            "kind",
            "recorded",
            "reads now",
            "unfinished flip",
        ]);
        for r in &rows {
            t.add_row([
                r.name.clone(),
                r.component.clone(),
                r.kind.name().to_string(),
                r.persisted
                    .as_ref()
                    .map_or("never flipped".into(), |p| p.to_string()),
                match (&r.position, &r.read_error) {
                    (Some(p), _) => p.to_string(),
                    (None, Some(e)) => format!("cannot read: {e}"),
                    (None, None) => "?".into(),
                },
                r.pending.as_ref().map_or(String::new(), |f| {
                    format!(
                        "to {} by {} at {}{}",
                        f.target(),
                        f.actor,
                        f.started_at,
                        f.error
                            .as_ref()
                            .map_or(" (interrupted)".into(), |e| format!(": {e}"))
                    )
                }),
            ]);
        }
        println!("{t}");
        if rows.iter().any(|r| r.pending.is_some()) {
            println!(
                "A flip did not finish: run `ripcord switch to-new` or `to-legacy` to complete it, or a rollback."
            );
        }
    }
    Ok(if ok { exit::OK } else { exit::VERIFY_FAILED })
}

fn flip(ctx: &mut Ctx, s: &SwitchSel, to: Side) -> Result<i32> {
    let switches = selected(ctx, s)?;
    if to == Side::New {
        // Traffic must not move to the new side of a component a rollback still holds.
        let comps: Vec<&String> = switches.iter().map(|w| &w.component).collect();
        if let Some(r) = ctx
            .state
            .rollbacks()?
            .into_iter()
            .find(|r| r.unfinished() && r.components.iter().any(|c| comps.contains(&c)))
        {
            return Err(Error::Held(format!(
                "rollback {} of {} is unfinished: resume or abandon it before moving traffic to the new side",
                r.id,
                r.components.join(", ")
            ))
            .into());
        }
        if s.stage.is_some() && !switches.iter().any(|w| !w.stages.is_empty()) {
            return Err(
                Error::Usage("--stage given, but no selected switch has stages".into()).into(),
            );
        }
    } else if s.stage.is_some() {
        return Err(Error::Usage("--stage is for to-new".into()).into());
    }
    if s.force && s.reason.is_none() {
        return Err(Error::Usage(
            "--force needs --reason: a forced flip is audited with why".into(),
        )
        .into());
    }
    let refusals: Vec<String> = switch::refusals(ctx, &switches, to)?
        .iter()
        .map(ToString::to_string)
        .collect();
    if !refusals.is_empty() {
        if !s.force {
            return Err(Error::Held(format!(
                "switch {} refused, nothing moved:\n  - {}",
                match to {
                    Side::New => "to-new",
                    Side::Legacy => "to-legacy",
                },
                refusals.join("\n  - ")
            ))
            .into());
        }
        ctx.audit(
            "switch.forced",
            serde_json::json!({"to": to, "switches": switches.iter().map(|w| &w.name).collect::<Vec<_>>(), "refusals": refusals}),
            s.reason.as_deref().unwrap_or_default(),
        )?;
        eprintln!("forced past:\n  - {}", refusals.join("\n  - "));
    }
    let reason = s.reason.clone().unwrap_or_else(|| "manual".into());
    let mut done = Vec::new();
    for w in &switches {
        let req = FlipRequest {
            to,
            stage: if w.stages.is_empty() { None } else { s.stage },
            reason: &reason,
            rollback: None,
        };
        let d = switch::flip(ctx, w, &req)?;
        if !s.json {
            println!("{}: {}", w.name, d.position);
            if let Some(u) = &d.completed_unfinished {
                println!("  completed the unfinished flip {u}");
            }
            for r in &d.ran {
                println!("  ran {r}");
            }
            println!(
                "  read back {}",
                d.read_back
                    .as_deref()
                    .map_or("nothing".into(), |v| format!("{v:?}"))
            );
            for r in &d.invalidated {
                println!("  invalidated {r}");
            }
        }
        done.push(serde_json::json!({"switch": w.name, "flip": d}));
    }
    if s.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(exit::OK)
}

/// Redis: SET, DEL, PUBLISH, SCAN+DEL by pattern, GET, over the sync client.
pub struct RedisDriver;

const TIMEOUT: Duration = Duration::from_secs(10);

fn redis_conn(url: &ripcord_core::plan::SecretUrl) -> ripcord_core::Result<redis::Connection> {
    let fail = |e: redis::RedisError| Error::Usage(format!("redis {url}: {e}"));
    let client = redis::Client::open(url.expose()).map_err(fail)?;
    let con = client.get_connection_with_timeout(TIMEOUT).map_err(fail)?;
    con.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
    con.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
    Ok(con)
}

impl SwitchDriver for RedisDriver {
    fn act(&self, _: &Ctx, action: &SwitchAction) -> ripcord_core::Result<String> {
        let url = match action {
            SwitchAction::RedisSet { url, .. }
            | SwitchAction::RedisDel { url, .. }
            | SwitchAction::RedisPublish { url, .. }
            | SwitchAction::RedisDelPattern { url, .. } => url,
            _ => return Err(Error::Internal("not a redis action".into())),
        };
        let mut con = redis_conn(url)?;
        let fail = |e: redis::RedisError| Error::Usage(format!("redis {url}: {e}"));
        Ok(match action {
            SwitchAction::RedisSet { key, value, .. } => {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query::<()>(&mut con)
                    .map_err(fail)?;
                "OK".into()
            }
            SwitchAction::RedisDel { key, .. } => {
                let n: i64 = redis::cmd("DEL").arg(key).query(&mut con).map_err(fail)?;
                format!("{n} key(s) deleted")
            }
            SwitchAction::RedisPublish {
                channel, message, ..
            } => {
                let n: i64 = redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(message)
                    .query(&mut con)
                    .map_err(fail)?;
                format!("{n} subscriber(s) received it")
            }
            SwitchAction::RedisDelPattern { pattern, .. } => {
                // SCAN, not KEYS: it does not block the server on a large keyspace.
                let mut cursor: u64 = 0;
                let mut deleted = 0i64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query(&mut con)
                        .map_err(fail)?;
                    if !keys.is_empty() {
                        deleted += redis::cmd("DEL")
                            .arg(&keys)
                            .query::<i64>(&mut con)
                            .map_err(fail)?;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                format!("{deleted} key(s) deleted")
            }
            _ => unreachable!("checked above"),
        })
    }
    fn read(&self, _: &Ctx, read: &SwitchRead) -> ripcord_core::Result<Option<String>> {
        let SwitchRead::Redis { url, key } = read else {
            return Err(Error::Internal("not a redis read".into()));
        };
        let mut con = redis_conn(url)?;
        redis::cmd("GET")
            .arg(key)
            .query(&mut con)
            .map_err(|e| Error::Usage(format!("redis {url}: {e}")))
    }
}

/// HTTP: one call, its status checked against `expect_status` (default: any 2xx).
pub struct HttpDriver;

fn call(h: &HttpCall) -> ripcord_core::Result<(u16, String)> {
    let call = Call::new(&h.method, h.url.expose())
        .headers(&h.headers)
        .body(h.body.as_deref())
        .read_body(1 << 20)
        .shown_as(ripcord_core::plan::describe_http(h));
    let reply = Client::new(TIMEOUT)
        .send(&call)
        .and_then(|r| r.expect(&h.expect_status, 200..300))
        .map_err(|e| Error::Usage(e.to_string()))?;
    Ok((reply.status, reply.body))
}

impl SwitchDriver for HttpDriver {
    fn act(&self, _: &Ctx, action: &SwitchAction) -> ripcord_core::Result<String> {
        let SwitchAction::Http(h) = action else {
            return Err(Error::Internal("not an http action".into()));
        };
        let (status, _) = call(h)?;
        Ok(format!("status {status}"))
    }
    fn read(&self, _: &Ctx, read: &SwitchRead) -> ripcord_core::Result<Option<String>> {
        let SwitchRead::Http(h) = read else {
            return Err(Error::Internal("not an http read".into()));
        };
        Ok(Some(call(h)?.1.trim().to_string()))
    }
}

/// The drivers this binary adds to core's (`Connector::switch_driver`).
pub fn driver(kind: SwitchKind) -> Option<&'static dyn SwitchDriver> {
    match kind {
        SwitchKind::Redis => Some(&RedisDriver),
        SwitchKind::Http => Some(&HttpDriver),
        _ => None,
    }
}
