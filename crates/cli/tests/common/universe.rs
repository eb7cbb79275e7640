//! The parallel universe's parts the sync and crash-harness tests share: a plan with
//! component `orders` on legacy, captured on a separate new database, and a switch; the
//! `orders` table; the `sync start` loop as a child process.

use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A switch that routes by the flag file `flags/orders_v2`.
pub const FILE_SWITCH: &str = "kind = \"file\"\npath = \"flags/orders_v2\"\n";

/// The plan: databases `legacy` and `new`, critical component `orders` on legacy captured
/// on new, its section followed by `more` (invariants, a reverse mapping), and switch
/// `orders_route` whose kind and settings are `switch`.
pub fn orders_plan(legacy_url: &str, new_url: &str, more: &str, switch: &str) -> String {
    format!(
        r#"
[databases.legacy]
url = "{legacy_url}"

[databases.new]
url = "{new_url}"

[components.orders]
database = "legacy"
capture_database = "new"
tables = ["orders"]
priority = "critical"
{more}
[switches.orders_route]
component = "orders"
{switch}"#
    )
}

/// Runs a business statement, panicking with it when it fails.
pub fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Table `orders` with `count` seed rows: order `sign * i` for i in 1..=count, amount
/// `i.25`, an Arabic note.
pub fn create_orders(e: &mut dyn Engine, engine: &str, count: i64, sign: i64) {
    let amount = match engine {
        "postgres" => "numeric(12,2)",
        _ => "decimal(12,2)",
    };
    exec(
        e,
        &format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, side varchar(10) NOT NULL, amount {amount} NOT NULL, note varchar(100))"
        ),
    );
    let rows: Vec<String> = (1..=count)
        .map(|i| format!("({}, 'seed', {i}.25, 'نقطة {i}')", sign * i))
        .collect();
    exec(e, &format!("INSERT INTO orders VALUES {}", rows.join(", ")));
}

/// `ripcord sync start` every 50 ms in `dir` as `actor`, its output piped; `env` may set
/// `RIPCORD_CRASH_AT`.
pub fn spawn_sync(dir: &Path, actor: &str, env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    c.current_dir(dir)
        .args(["-q", "sync", "start", "--interval", "50ms"])
        .env_remove("RIPCORD_CRASH_AT")
        .env("RIPCORD_ACTOR", actor)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}
