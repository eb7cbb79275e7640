//! Each probe kind against real parts on loopback: "could not measure" stays apart from a
//! measured bad value.

mod common;

use common::*;
use mysql::prelude::Queryable;
use ripcord_guard::probe::{Outcome, Prober};
use std::sync::Arc;
use std::time::Duration;

fn prober(setup: &Setup, name: &str) -> Prober {
    let ctx = setup.ctx();
    let p = ctx.plan.probe(name).unwrap().clone();
    Prober::new(&p, &ctx.plan, Arc::new(Engines))
}

fn measured(o: &Outcome) -> (f64, bool) {
    match o {
        Outcome::Measured { value, ok, .. } => (*value, *ok),
        Outcome::Unmeasured { reason } => panic!("expected a value, got: {reason}"),
    }
}

fn unmeasured(o: &Outcome) -> String {
    match o {
        Outcome::Unmeasured { reason } => reason.clone(),
        Outcome::Measured { value, .. } => panic!("expected could-not-measure, got {value}"),
    }
}

#[test]
fn http_probe_measures_status_latency_and_body_and_tells_errors_apart() {
    let srv = HttpServer::start();
    let plan = format!(
        r#"
[[probe]]
name = "latency"
kind = "http"
url = "{u}"
interval = "2s"
timeout = "500ms"

[[probe]]
name = "arabic"
kind = "http"
url = "{u}"
value = "status"
body_match = "قسيمة الراتب"
interval = "2s"

[[probe]]
name = "gone"
kind = "http"
url = "http://127.0.0.1:1/health"
interval = "2s"
"#,
        u = srv.url("/health")
    );
    let s = Setup::new(&plan);
    let mut lat = prober(&s, "latency");
    let (v, ok) = measured(&lat.measure().outcome);
    assert!(ok && v < 400.0, "{v}");

    srv.set(|r| r.delay = Duration::from_millis(150));
    let (v, ok) = measured(&lat.measure().outcome);
    assert!(ok && v >= 150.0, "a slow answer is a measured latency: {v}");

    srv.set(|r| {
        r.delay = Duration::ZERO;
        r.status = 503;
    });
    let (v, ok) = measured(&lat.measure().outcome);
    assert!(!ok, "503 is a measured bad value ({v} ms)");

    srv.set(|r| r.delay = Duration::from_millis(900));
    let why = unmeasured(&lat.measure().outcome);
    assert!(why.contains("GET"), "a timeout could not measure: {why}");

    srv.set(|r| {
        r.delay = Duration::ZERO;
        r.status = 200;
        r.body = "<h1>قسيمة الراتب</h1>".into();
    });
    let mut ar = prober(&s, "arabic");
    assert_eq!(measured(&ar.measure().outcome), (200.0, true));
    srv.set(|r| r.body = "<h1>Payslip ????</h1>".into());
    assert_eq!(
        measured(&ar.measure().outcome),
        (200.0, false),
        "a page without its Arabic title is a bad value"
    );

    let why = unmeasured(&prober(&s, "gone").measure().outcome);
    assert!(why.contains("127.0.0.1:1"), "{why}");
}

#[test]
fn prometheus_probe_reads_an_instant_query() {
    let srv = HttpServer::start();
    let plan = format!(
        r#"
[[probe]]
name = "locked"
kind = "prometheus"
url = "{}"
query = "sum(rate(login_failures_total[5m]))"
interval = "2s"
"#,
        srv.url("")
    );
    let s = Setup::new(&plan);
    let mut p = prober(&s, "locked");
    srv.set(|r| {
        r.body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"12.5"]}]}}"#.into()
    });
    assert_eq!(measured(&p.measure().outcome).0, 12.5);
    srv.set(|r| {
        r.body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.into()
    });
    assert!(unmeasured(&p.measure().outcome).contains("empty"));
    srv.set(|r| {
        r.status = 400;
        r.body = r#"{"status":"error","error":"bad query"}"#.into()
    });
    assert!(unmeasured(&p.measure().outcome).contains("400"));
}

#[test]
fn command_probe_reads_exit_codes_and_numbers() {
    let plan = r#"
[[probe]]
name = "exit_code"
kind = "command"
command = "exit 3"
interval = "2s"

[[probe]]
name = "disk"
kind = "command"
command = "echo starting; echo 41.5"
value = "stdout"
interval = "2s"

[[probe]]
name = "words"
kind = "command"
command = "echo not-a-number"
value = "stdout"
interval = "2s"

[[probe]]
name = "hangs"
kind = "command"
command = "sleep 5"
interval = "2s"
timeout = "200ms"

[[probe]]
name = "leaves_a_child"
kind = "command"
command = "sleep 5 & echo 3"
value = "stdout"
interval = "2s"
timeout = "300ms"
"#;
    let s = Setup::new(plan);
    assert_eq!(
        measured(&prober(&s, "exit_code").measure().outcome),
        (3.0, false)
    );
    assert_eq!(
        measured(&prober(&s, "disk").measure().outcome),
        (41.5, true)
    );
    assert!(unmeasured(&prober(&s, "words").measure().outcome).contains("not a number"));
    let t = std::time::Instant::now();
    assert!(unmeasured(&prober(&s, "hangs").measure().outcome).contains("timed out"));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the process group was ended"
    );
    // The shell exits at once, but its background child holds stdout open: the timeout
    // still applies, or this probe would never deliver another sample.
    let t = std::time::Instant::now();
    let why = unmeasured(&prober(&s, "leaves_a_child").measure().outcome);
    assert!(why.contains("timed out"), "{why}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn sql_probes_on_postgres_and_mariadb() {
    let pg = FreshDb::postgres();
    pg.connect()
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v numeric(10,2)); INSERT INTO t VALUES (1, 2.50), (2, 4.00)")
        .unwrap();
    let my = FreshDb::mysql();
    my.conn()
        .query_drop("CREATE TABLE t (id int PRIMARY KEY, v decimal(10,2)); INSERT INTO t VALUES (1, 2.50), (2, 4.00)")
        .unwrap();
    let plan = format!(
        r#"
[databases.pg]
url = "{pg}"
[databases.my]
url = "{my}"

[[probe]]
name = "pg_sum"
kind = "sql"
database = "pg"
sql = "SELECT sum(v) FROM t"
interval = "2s"

[[probe]]
name = "pg_empty"
kind = "sql"
database = "pg"
sql = "SELECT v FROM t WHERE id = 99"
interval = "2s"

[[probe]]
name = "pg_slow"
kind = "sql"
database = "pg"
sql = "SELECT 1 FROM pg_sleep(5)"
interval = "2s"
timeout = "300ms"

[[probe]]
name = "my_sum"
kind = "sql"
database = "my"
sql = "SELECT sum(v) FROM t"
interval = "2s"

[[probe]]
name = "my_broken"
kind = "sql"
database = "my"
sql = "SELECT sum(v) FROM no_such_table"
interval = "2s"

[[probe]]
name = "my_slow"
kind = "sql"
database = "my"
sql = "SELECT SLEEP(5)"
interval = "2s"
timeout = "300ms"
"#,
        pg = pg.url,
        my = my.url
    );
    let s = Setup::new(&plan);
    assert_eq!(
        measured(&prober(&s, "pg_sum").measure().outcome),
        (6.5, true)
    );
    assert!(unmeasured(&prober(&s, "pg_empty").measure().outcome).contains("empty"));
    let t = std::time::Instant::now();
    assert!(unmeasured(&prober(&s, "pg_slow").measure().outcome).contains("timed out"));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(
        measured(&prober(&s, "my_sum").measure().outcome),
        (6.5, true)
    );
    assert!(unmeasured(&prober(&s, "my_broken").measure().outcome).contains("no_such_table"));
    let t = std::time::Instant::now();
    let why = unmeasured(&prober(&s, "my_slow").measure().outcome);
    assert!(why.contains("timed out"), "{why}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_password_in_a_probe_url_never_shows() {
    let plan = r#"
[[probe]]
name = "private"
kind = "http"
url = "http://monitor:s3cr3t-pw@127.0.0.1:1/health"
interval = "2s"

[[probe]]
name = "tokened"
kind = "prometheus"
url = "http://127.0.0.1:1/prom?token=t0ken-s3cr3t"
query = "up"
interval = "2s"
"#;
    let s = Setup::new(plan);
    let why = unmeasured(&prober(&s, "private").measure().outcome);
    assert!(!why.contains("s3cr3t-pw"), "{why}");
    assert!(why.contains("127.0.0.1:1"), "{why}");
    let why = unmeasured(&prober(&s, "tokened").measure().outcome);
    assert!(!why.contains("t0ken-s3cr3t"), "{why}");
    assert!(why.contains("127.0.0.1:1"), "{why}");
}
