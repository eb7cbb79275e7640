use super::*;
use crate::engine::TypeQuirks;
use miette::{GraphicalReportHandler, GraphicalTheme};

/// The engines a built ripcord has (the engine crates declare them; core cannot depend on
/// those crates, so the plan tests describe them here).
const ENGINES: &[EngineKind] = &[
    EngineKind {
        name: "sqlite",
        schemes: &["sqlite"],
        url_example: "sqlite:PATH",
        file_urls: true,
        keyword_strings: false,
        schemas: false,
        types: TypeQuirks {
            timestamp_fraction_digits: 0,
            bool_as_int: false,
        },
    },
    EngineKind {
        name: "postgres",
        schemes: &["postgres", "postgresql"],
        url_example: "postgres://…",
        file_urls: false,
        keyword_strings: true,
        schemas: true,
        types: TypeQuirks {
            timestamp_fraction_digits: 6,
            bool_as_int: false,
        },
    },
    EngineKind {
        name: "mysql",
        schemes: &["mysql", "mariadb"],
        url_example: "mysql://…",
        file_urls: false,
        keyword_strings: false,
        schemas: false,
        types: TypeQuirks {
            timestamp_fraction_digits: 0,
            bool_as_int: true,
        },
    },
];

fn env(k: &str) -> Option<String> {
    match k {
        "LEGACY_URL" => Some("postgres://payroll:secret@127.0.0.1/legacy".into()),
        "NEW_URL" => Some("postgres://payroll:secret@127.0.0.1/new".into()),
        "PAYROLL_URL" => Some("postgres://payroll:secret@127.0.0.1/payroll".into()),
        "GATEWAY_TOKEN" => Some("tok-very-secret".into()),
        "SLACK_WEBHOOK_URL" => Some("https://hooks.slack.com/services/T000/B000/XXXX".into()),
        _ => None,
    }
}

fn render(text: &str) -> String {
    let err =
        parse(Path::new("ripcord.toml"), text, &env, ENGINES).expect_err("the plan is broken");
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, &*err)
        .unwrap();
    out
}

const GOOD: &str = r#"
[databases.main]
url = "sqlite:shop.db"

[components.billing]
database = "main"
tables = ["invoices"]
rto = "15m"
"#;

#[test]
fn every_example_plan_parses() {
    for (name, text) in [
        (
            "workshop",
            include_str!("../../../../examples/workshop.toml"),
        ),
        ("payroll", include_str!("../../../../examples/payroll.toml")),
        (
            "erp",
            include_str!("../../../../examples/erp-mariadb-to-postgres.toml"),
        ),
        (
            "guarded",
            include_str!("../../../../examples/guarded-payroll-postgres.toml"),
        ),
        (
            "switches",
            include_str!("../../../../examples/switches.toml"),
        ),
    ] {
        let plan = parse(
            Path::new(&format!("/plans/{name}.toml")),
            text,
            &env,
            ENGINES,
        )
        .unwrap_or_else(|e| panic!("{name}: {:?}", miette::Report::new(*e)));
        assert!(!plan.components.is_empty(), "{name}");
        if name == "guarded" {
            assert_eq!(
                plan.databases["payroll"].ripcord_schema.as_deref(),
                Some("ripcord")
            );
            // Its commented wording, ack link and dashboard tokens are valid uncommented.
            let (head, tail) = text.split_once("\n# The plan's own wording").unwrap();
            let tail: Vec<&str> = tail
                .lines()
                .skip(1)
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .collect();
            let head = head.replace("# ack_url = ", "ack_url = ");
            let plan = parse(
                Path::new("/plans/guarded.toml"),
                &format!("{head}\n{}\n", tail.join("\n")),
                &env,
                ENGINES,
            )
            .unwrap_or_else(|e| panic!("guarded, uncommented: {:?}", miette::Report::new(*e)));
            assert!(
                plan.notify
                    .wording("emergency-detected", Language::En)
                    .is_some()
            );
            assert!(plan.notify.ack_url.is_some());
            assert_eq!(plan.dashboard.tokens.len(), 1);
        }
        assert!(name == "erp" || !plan.steps.is_empty(), "{name}");
        if name != "guarded" {
            // The commented `[notify]` section `init --example` writes is a valid plan
            // once uncommented.
            let (head, tail) = text
                .split_once("\n# [notify]\n")
                .unwrap_or_else(|| panic!("{name} has a commented [notify] section"));
            let uncommented: String = format!("# [notify]\n{tail}")
                .lines()
                .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
                .collect::<Vec<_>>()
                .join("\n");
            let plan = parse(
                Path::new(&format!("/plans/{name}.toml")),
                &format!("{head}\n{uncommented}\n"),
                &env,
                ENGINES,
            )
            .unwrap_or_else(|e| panic!("{name} notify: {:?}", miette::Report::new(*e)));
            assert_eq!(plan.notify.levels.len(), 3, "{name}");
            assert!(plan.notify.channels.contains_key("mail"), "{name}");
        }
    }
}

#[test]
fn a_good_plan_resolves_paths_defaults_and_hides_secrets() {
    let plan = parse(Path::new("/srv/plans/ripcord.toml"), GOOD, &env, ENGINES).unwrap();
    assert_eq!(
        plan.databases["main"].url.expose(),
        "sqlite:/srv/plans/shop.db"
    );
    assert_eq!(plan.state_dir, Path::new("/srv/plans/.ripcord"));
    let c = &plan.components[0];
    assert_eq!(
        (c.priority, c.rto.as_secs(), c.capture_database.as_str()),
        (Priority::Important, 900, "main")
    );
    let p = parse(
        Path::new("p.toml"),
        "[databases.x]\nurl = \"${LEGACY_URL}\"\n",
        &env,
        ENGINES,
    )
    .unwrap();
    assert_eq!(
        p.databases["x"].url.to_string(),
        "postgres://payroll:***@127.0.0.1/legacy"
    );
    assert!(!format!("{:?}", p.databases["x"]).contains("secret"));
}

#[test]
fn plan_error_unknown_key() {
    insta::assert_snapshot!(render(&GOOD.replace("tables =", "tabels =")));
}

#[test]
fn plan_error_unknown_database_and_bad_duration() {
    insta::assert_snapshot!(render(
        &GOOD
            .replace("database = \"main\"", "database = \"mian\"")
            .replace("\"15m\"", "\"15 minutes!\"")
    ));
}

#[test]
fn plan_error_missing_environment_variable() {
    insta::assert_snapshot!(render(
        &GOOD.replace("sqlite:shop.db", "postgres://app:${APP_PASSWORD}@db/erp")
    ));
}

#[test]
fn plan_error_toml_syntax() {
    insta::assert_snapshot!(render(
        &GOOD.replace("tables = [\"invoices\"]", "tables = [\"invoices\"")
    ));
}

#[test]
fn plan_error_invariant_and_step_problems() {
    let text = format!(
        "{GOOD}\n[[components.billing.invariants]]\nname = \"both\"\nsql = \"SELECT 1\"\nexpect = 1\nequals = \"SELECT 1\"\n\n[[steps]]\nname = \"s\"\ncomponent = \"biling\"\nforward = \"SELECT 1\"\nforward_command = \"true\"\n"
    );
    insta::assert_snapshot!(render(&text));
}

#[test]
fn the_guarded_example_has_a_rule_for_every_seed_trigger() {
    let plan = parse(
        Path::new("/plans/guarded.toml"),
        include_str!("../../../../examples/guarded-payroll-postgres.toml"),
        &env,
        ENGINES,
    )
    .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(*e)));
    let triggers: Vec<String> = plan
        .rules
        .iter()
        .filter_map(|r| r.trigger.clone())
        .collect();
    for seed in [
        "data corruption",
        "business-logic failure",
        "financial calculation error",
        "Arabic interface failure",
        "performance more than 10x slower",
        "more than 10% of users locked out",
        "security breach",
        "manual",
    ] {
        let r = plan
            .rules
            .iter()
            .find(|r| r.trigger.as_deref() == Some(seed))
            .unwrap_or_else(|| panic!("no rule for {seed:?} in {triggers:?}"));
        assert_eq!(r.level, Level::Red, "{seed}");
    }
    let slow = plan
        .rules
        .iter()
        .find(|r| r.name == "API 10x slower than baseline")
        .unwrap();
    assert_eq!(slow.probes, vec!["api_latency_ms".to_string()]);
    assert!(slow.uses_baseline);
    assert_eq!(slow.hold, Duration::from_secs(30));
    let sc = &plan.scenarios["severe_slowdown"];
    assert_eq!(sc.decision, Decision::Evaluate);
    assert_eq!(sc.approvers, vec!["cfo", "cto"]);
    // Defaults from docs/product.md stay for the scenarios the plan does not override.
    assert_eq!(
        plan.scenarios["data_corruption"].decision,
        Decision::RollbackNow
    );
    assert_eq!(plan.scenarios["ui_issues"].decision, Decision::FixForward);
    let api = plan.probe("api_latency_ms").unwrap();
    assert_eq!(api.interval, Duration::from_secs(5));
    assert_eq!(api.timeout, Duration::from_secs(4));
    assert_eq!(
        plan.probe("disk_free_gb").unwrap().interval,
        Duration::from_secs(120)
    );
    assert_eq!(plan.workflows.len(), 2);
    assert_eq!(plan.guard.panic_file, Path::new("/plans/.ripcord/PANIC"));
}

#[test]
fn plan_error_guard_problems() {
    insta::assert_snapshot!(render(
        r#"
[databases.main]
url = "sqlite:shop.db"

[[probe]]
name = "api-latency"
kind = "http"
url = "ftp://example"
interval = "1s"
timeout = "2s"

[[probe]]
name = "orders"
kind = "sql"
database = "nowhere"
sql = "SELECT 1"

[[rule]]
name = "slow"
when = "latency > > 3"
level = "crimson"

[[rule]]
name = "unknown probe"
when = "nope > 1.0"
level = "red"
scenario = "meteor"

[[workflow]]
name = "pay"
probe = "ghost"
"#
    ));
}

#[test]
fn plan_error_probe_field_of_the_wrong_kind() {
    // serde refuses `sql` on an http probe (and reads the probe again without it), so the
    // error points at the field, and the probe's other problems are still found.
    insta::assert_snapshot!(render(
        r#"
[databases.main]
url = "sqlite:shop.db"

[[probe]]
name = "api"
kind = "http"
url = "http://127.0.0.1:8080/health"
sql = "SELECT 1"
interval = "1s"
timeout = "5s"

[[probe]]
name = "pulse"
kind = "smoke"
"#
    ));
}

#[test]
fn keyword_string_urls_select_postgres_hide_their_password_and_lock_timeout_is_read() {
    let p = parse(
        Path::new("p.toml"),
        "[databases.x]\nurl = \"host=db.internal dbname=erp password='s3cr3t pw'\"\nlock_timeout = \"5s\"\n\n[databases.y]\nurl = \"sqlite:y.db\"\n",
        &env,
        ENGINES,
    )
    .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(*e)));
    let x = &p.databases["x"];
    assert_eq!(
        x.url.to_string(),
        "host=db.internal dbname=erp password=***"
    );
    assert_eq!(x.url.scheme(), "");
    assert!(!format!("{x:?}").contains("s3cr3t"));
    assert_eq!(x.lock_timeout, std::time::Duration::from_secs(5));
    assert_eq!(p.databases["y"].lock_timeout, DEFAULT_LOCK_TIMEOUT);
    let bad = render("[databases.x]\nurl = \"sqlite:x.db\"\nlock_timeout = \"soon\"\n");
    assert!(
        bad.contains("lock_timeout \"soon\" is not a duration"),
        "{bad}"
    );
}

#[test]
fn ripcord_schema_must_be_one_schema_name() {
    let e = parse(
        Path::new("p.toml"),
        "[databases.x]\nurl = \"${LEGACY_URL}\"\nripcord_schema = \"a.b\"\n",
        &env,
        ENGINES,
    )
    .unwrap_err();
    let shown = format!("{:?}", miette::Report::new(*e));
    assert!(
        shown.contains("ripcord_schema must be one schema name"),
        "{shown}"
    );
    assert!(shown.contains("p.toml:3"), "{shown}");
}

#[test]
fn the_switches_example_has_every_kind_with_its_actions() {
    let plan = parse(
        Path::new("/plans/switches.toml"),
        include_str!("../../../../examples/switches.toml"),
        &env,
        ENGINES,
    )
    .unwrap();
    let kinds: BTreeSet<&str> = plan.switches.iter().map(|s| s.kind.name()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["command", "file", "http", "redis", "sql"])
    );
    let route = plan
        .switches
        .iter()
        .find(|s| s.name == "payruns_route")
        .unwrap();
    assert_eq!(route.stages, [10, 50, 100]);
    assert_eq!(route.invalidate.len(), 2);
    // SET and PUBLISH on to-new; no legacy_value given → DEL is not used, SET legacy.
    assert_eq!(
        route.to_new[0].with_stage(Some(50)).describe(),
        "redis redis://127.0.0.1:6379/0: SET route:payruns \"new:50\""
    );
    assert_eq!(route.to_new.len(), 2);
    let flag = plan
        .switches
        .iter()
        .find(|s| s.name == "v2_enabled_flag")
        .unwrap();
    match &flag.read {
        SwitchRead::File { path } => assert_eq!(path, Path::new("/plans/flags/v2_enabled")),
        other => panic!("{other:?}"),
    }
    assert_eq!(flag.legacy_value, None);
    // The gateway token is used, never shown.
    let gw = plan.switches.iter().find(|s| s.name == "gateway").unwrap();
    let SwitchAction::Http(h) = &gw.to_new[0] else {
        panic!()
    };
    assert_eq!(h.headers[0].1, "Bearer tok-very-secret");
    assert!(!gw.to_new[0].describe().contains("tok-very"));
    assert!(!format!("{plan:?}").contains("tok-very"));
    assert_eq!(plan.switches_of(&["employees".into()]).len(), 2);
    // A step advancing the progressive switch, a rule stepping it back.
    let step = plan.steps.iter().find(|s| s.advance.is_some()).unwrap();
    assert_eq!(step.advance, Some(("payruns_route".into(), Some(50))));
    assert!(step.forward.is_none());
    assert_eq!(plan.rules[0].fallback.as_deref(), Some("payruns_route"));
}

#[test]
fn a_fallback_or_a_step_naming_an_unknown_switch_is_refused_where_written() {
    let bad = format!(
        "{SWITCHED}\n[[probe]]\nname = \"p\"\nkind = \"command\"\ncommand = \"true\"\n\n[[rule]]\nname = \"r\"\nwhen = \"!ok.p\"\nlevel = \"red\"\nfallback = \"nope\"\n\n[[steps]]\nname = \"s\"\nswitch = \"nada\"\n\n[[steps]]\nname = \"t\"\ncomponent = \"billing\"\nforward = \"SELECT 1\"\nstage = 5\n"
    );
    let e = parse(Path::new("p.toml"), &bad, &env, ENGINES).unwrap_err();
    let shown = format!("{:?}", miette::Report::new(*e));
    assert!(shown.contains("falls back switch \"nope\""), "{shown}");
    assert!(shown.contains("advances switch \"nada\""), "{shown}");
    assert!(shown.contains("has a `stage` but no `switch`"), "{shown}");
}

const SWITCHED: &str = r#"
[databases.main]
url = "sqlite:shop.db"

[components.billing]
database = "main"
tables = ["invoices"]

[switches.route]
component = "billing"
kind = "redis"
url = "redis://127.0.0.1:6379"
key = "route:billing"
"#;

#[test]
fn plan_error_switch_problems() {
    let text = SWITCHED.replace(
        "component = \"billing\"\nkind",
        "component = \"biling\"\nkind",
    ) + r#"
[switches.flag]
component = "billing"
kind = "file"
path = "flag"
legacy_value = "off"
database = "main"

[switches.staged]
component = "billing"
kind = "sql"
database = "nowhere"
to_new = ["not", "sql"]
to_legacy = "UPDATE c SET v = 'legacy'"
read = "SELECT v FROM c"
new_value = "new"
stages = [50, 10]

[switches.gw]
component = "billing"
kind = "http"
to_new = { url = "ftp://x", headers = { Authorization = "${NO_SUCH_TOKEN}" } }
to_legacy = { url = "http://x/legacy", method = "YEET" }

[switches.odd]
component = "billing"
kind = "smoke-signal"
"#;
    insta::assert_snapshot!(render(&text));
}

#[test]
fn a_good_switch_parses_with_its_defaults() {
    let plan = parse(Path::new("/p/ripcord.toml"), SWITCHED, &env, ENGINES).unwrap();
    let s = &plan.switches[0];
    assert_eq!(
        (s.new_value.as_str(), s.legacy_value.as_deref()),
        ("new", None)
    );
    assert!(matches!(s.to_legacy[0], SwitchAction::RedisDel { .. }));
}

#[test]
fn statement_timeout_is_read_per_database_with_a_default() {
    let p = parse(
        Path::new("p.toml"),
        "[databases.x]\nurl = \"${LEGACY_URL}\"\nstatement_timeout = \"5s\"\n\n[databases.y]\nurl = \"sqlite:y.db\"\n",
        &env,
        ENGINES,
    )
    .unwrap();
    assert_eq!(
        p.databases["x"].statement_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(
        p.databases["y"].statement_timeout,
        DEFAULT_STATEMENT_TIMEOUT
    );
    let bad = render("[databases.x]\nurl = \"sqlite:x.db\"\nstatement_timeout = \"never\"\n");
    assert!(
        bad.contains("statement_timeout \"never\" is not a duration"),
        "{bad}"
    );
}

/// MariaDB and SQLite have no schemas: `crm.customers` used to pass the plan and fail at
/// connect with a vague "does not exist".
#[test]
fn schema_qualified_tables_on_engines_without_schemas_are_plan_errors() {
    for url in ["mysql://root@127.0.0.1/crm", "sqlite:crm.db"] {
        let text = format!(
            "[databases.crm]\nurl = \"{url}\"\n\n[components.customers]\ndatabase = \"crm\"\ntables = [\"orders\", \"crm.customers\"]\n"
        );
        let e = parse(Path::new("p.toml"), &text, &env, ENGINES).unwrap_err();
        let shown = format!("{:?}", miette::Report::new(*e));
        assert!(shown.contains("which has no schemas"), "{shown}");
        assert!(shown.contains("p.toml:6:"), "{shown}");
        assert!(shown.contains("\"customers\""), "{shown}");
    }
    // PostgreSQL has schemas: the same plan is fine there.
    parse(
        Path::new("p.toml"),
        "[databases.crm]\nurl = \"${LEGACY_URL}\"\n\n[components.customers]\ndatabase = \"crm\"\ntables = [\"crm.customers\"]\n",
        &env,
        ENGINES,
    )
    .unwrap();
}

/// `ripcord_schema` on MariaDB or SQLite was only refused when connecting.
#[test]
fn ripcord_schema_on_engines_without_schemas_is_a_plan_error() {
    for url in ["mysql://root@127.0.0.1/crm", "sqlite:crm.db"] {
        let text = format!("[databases.crm]\nurl = \"{url}\"\nripcord_schema = \"ops\"\n");
        let e = parse(Path::new("p.toml"), &text, &env, ENGINES).unwrap_err();
        let shown = format!("{:?}", miette::Report::new(*e));
        assert!(
            shown.contains("has no schemas, so ripcord_schema does not apply"),
            "{shown}"
        );
        assert!(shown.contains("p.toml:3:"), "{shown}");
    }
}

const NOTIFY: &str = r#"
[notify]
retry_after = "1s"
max_attempts = 3

[notify.channels.mail]
kind = "smtp"
host = "127.0.0.1"
port = 2525
security = "none"
from = "ripcord <ripcord@example.com>"

[notify.channels.team]
kind = "slack"
url = "http://127.0.0.1:9/hook/${GATEWAY_TOKEN}"

[notify.channels.sms]
kind = "command"
argv = ["send-sms", "--to", "{address}", "{text}"]
max_chars = 160

[notify.channels.app]
kind = "in_app"

[[notify.levels]]
recipients = [
  { name = "Huda", language = "ar", channel = "mail", address = "huda@example.com" },
  { name = "ops", channel = "team" },
]

[[notify.levels]]
repeat = "never"
recipients = [{ name = "Omar", language = "en", channel = "sms", address = "+15550100" }]

[notify.users]
recipients = [{ name = "staff", channel = "app" }]
"#;

#[test]
fn notify_section_parses_with_the_seed_defaults() {
    let text = format!("{GOOD}{NOTIFY}");
    let plan = parse(Path::new("ripcord.toml"), &text, &env, ENGINES).unwrap();
    let n = &plan.notify;
    assert!(n.configured());
    assert_eq!(n.channels.len(), 4);
    match &n.channels["mail"].kind {
        ChannelKind::Smtp { port, security, .. } => {
            assert_eq!((*port, *security), (2525, SmtpSecurity::None))
        }
        other => panic!("{other:?}"),
    }
    match &n.channels["team"].kind {
        ChannelKind::Slack { url } => {
            assert_eq!(url.expose(), "http://127.0.0.1:9/hook/tok-very-secret");
            assert!(!url.to_string().contains("tok-very-secret"), "{url}");
        }
        other => panic!("{other:?}"),
    }
    let l1 = &n.levels[0];
    assert_eq!((l1.number, l1.name.as_str()), (1, "technical team"));
    assert_eq!(l1.delay, Duration::ZERO);
    assert_eq!(l1.repeat, Some(Duration::from_secs(15 * 60)));
    assert_eq!(l1.escalate_after, Some(Duration::from_secs(30 * 60)));
    assert_eq!(l1.recipients[0].language, Language::Ar);
    assert_eq!(l1.recipients[1].language, Language::En, "en by default");
    let l2 = &n.levels[1];
    assert_eq!(l2.delay, Duration::from_secs(15 * 60));
    assert_eq!(l2.repeat, None, "never");
    assert_eq!(l2.escalate_after, Some(Duration::from_secs(2 * 3600)));
    assert_eq!(n.retry_after, Duration::from_secs(1));
    assert_eq!(n.max_attempts, 3);
    assert_eq!(n.users.len(), 1);
}

#[test]
fn notify_mistakes_are_named_where_they_are() {
    let bad = r#"
[notify.channels.mail]
kind = "smtp"
host = "127.0.0.1"
security = "ssl"
from = "nobody"

[notify.channels.sms]
kind = "command"
argv = ["send-sms", "{phone}"]

[[notify.levels]]
delay = "soon"
recipients = [
  { name = "Huda", language = "fr", channel = "mail", address = "huda" },
  { name = "Omar", channel = "pager" },
]
"#;
    let out = render(&format!("{GOOD}{bad}"));
    for want in [
        "security \"ssl\" is not one of starttls, tls, none",
        "from \"nobody\" is not an e-mail address",
        "unknown placeholder {phone}",
        "delay \"soon\" is not a duration",
        "language \"fr\" is not en or ar",
        "address \"huda\" is not an e-mail address",
        "no channel named \"pager\"",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

/// `[notify]` channels were one internally tagged enum: serde buffered each channel, so a
/// field of another kind or an unknown kind was reported without a line or column, and
/// every other mistake pointed at the whole channel.
#[test]
fn plan_error_notify_channel_problems() {
    insta::assert_snapshot!(render(&format!(
        r##"{GOOD}
[notify.channels.team]
kind = "slack"
url = "ftp://hooks.example.com/x"
channel = "#ops"

[notify.channels.mail]
kind = "smtp"
host = "127.0.0.1"
security = "ssl"
from = "nobody"
username_env = "SMTP_USER"
timeout = "0s"

[notify.channels.sms]
kind = "command"
argv = ["send-sms", "{{phone}}"]
max_chars = 0
url = "http://x"

[notify.channels.bird]
kind = "pigeon"
"##
    )));
}

/// Cache invalidations were one struct with every kind's fields: a `pattern` on an sql
/// invalidation was accepted and ignored.
#[test]
fn plan_error_invalidation_field_of_the_wrong_kind() {
    insta::assert_snapshot!(render(&format!(
        r#"{SWITCHED}
[[switches.route.invalidate]]
kind = "sql"
database = "main"
sql = "DELETE FROM cache"
pattern = "cache:*"

[[switches.route.invalidate]]
kind = "redis"
url = "redis://127.0.0.1:6379"

[[switches.route.invalidate]]
kind = "carrier-pigeon"
"#
    )));
}

#[test]
fn the_guarded_example_notifies_three_levels_in_both_languages() {
    let plan = parse(
        Path::new("/plans/guarded.toml"),
        include_str!("../../../../examples/guarded-payroll-postgres.toml"),
        &env,
        ENGINES,
    )
    .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(*e)));
    let n = &plan.notify;
    let kinds: BTreeSet<&str> = n.channels.values().map(|c| c.kind.name()).collect();
    assert_eq!(
        kinds,
        ["command", "in_app", "slack", "smtp", "webhook"].into()
    );
    let names: Vec<&str> = n.levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["technical team", "management", "executive"]);
    assert_eq!(n.levels[1].delay, Duration::from_secs(15 * 60));
    assert_eq!(n.levels[2].escalate_after, None);
    let langs: BTreeSet<Language> = n
        .levels
        .iter()
        .flat_map(|l| &l.recipients)
        .map(|r| r.language)
        .collect();
    assert_eq!(langs.len(), 2);
}

/// "line:col" (1-based) of the first `needle` in `text`.
fn line_col(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let col = text[..at].rsplit('\n').next().unwrap().chars().count() + 1;
    format!("{line}:{col}")
}

#[test]
fn a_plans_wording_of_a_message_is_checked_as_fluent_at_load() {
    let notify = NOTIFY.replacen(
        "[notify]\n",
        "[notify]\nack_url = \"https://ripcord.example.com/\"\n",
        1,
    );
    let good = format!(
        "{GOOD}{notify}{}",
        r#"
[notify.messages.emergency-detected]
en = """
Bridge call now: { $incident } ({ cause }), { $components }
{ ack-hint }
    .subject = [payroll] { $incident }
"""
ar = 'طوارئ { $plan }'
"#
    );
    let plan = match parse(Path::new("ripcord.toml"), &good, &env, ENGINES) {
        Ok(p) => p,
        Err(e) => panic!("{:?}", miette::Report::new(*e)),
    };
    assert_eq!(
        plan.notify.ack_url.as_deref(),
        Some("https://ripcord.example.com")
    );
    let w = plan
        .notify
        .wording("emergency-detected", Language::En)
        .unwrap();
    assert!(
        w.ftl
            .starts_with("emergency-detected--plan =\n    Bridge call now"),
        "{}",
        w.ftl
    );
    assert!(
        plan.notify
            .wording("emergency-detected", Language::Ar)
            .is_some()
    );
    assert!(plan.notify.wording("reminder", Language::En).is_none());

    let bad = format!(
        "{GOOD}{NOTIFY}{}",
        r#"
[notify.messages.emergency-detected]
en = """
Bridge call: { $incidnet }
{ -brand }
"""
ar = "{ $minutes }"
fr = "x"

[notify.messages.reminder]
en = """
Still open
and { $plan
"""

[notify.messages.escalated]
en = "{ ack-link } { NUMBER($level) }"

[notify.messages.emergency]
en = "x"
"#
    );
    let out = render(&bad);
    for (want, at) in [
        (
            "[notify.messages.emergency-detected]: unknown placeholder $incidnet",
            "$incidnet",
        ),
        (
            "[notify.messages.emergency-detected]: -brand is not available",
            "-brand",
        ),
        (
            "[notify.messages.emergency-detected]: unknown placeholder $minutes",
            "$minutes",
        ),
        (
            "[notify.messages.emergency-detected]: language \"fr\" is not en or ar",
            "fr = ",
        ),
        (
            "[notify.messages.escalated]: { ack-link } is not available in this message",
            "ack-link }",
        ),
        (
            "[notify.messages.escalated]: NUMBER is not available",
            "NUMBER",
        ),
        (
            "[notify.messages]: there is no message \"emergency\"",
            "emergency]",
        ),
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
        let place = line_col(&bad, at);
        assert!(
            out.contains(&format!("ripcord.toml:{place}]")),
            "{want:?} not at {place}:\n{out}"
        );
    }
    // A syntax error points into the value, at the line it is on.
    assert!(
        out.contains("[notify.messages.reminder]: not Fluent"),
        "{out}"
    );
    let line = line_col(&bad, "and { $plan");
    let line = line.split(':').next().unwrap();
    assert!(
        out.contains(&format!("ripcord.toml:{line}:")),
        "line {line}:\n{out}"
    );
}
