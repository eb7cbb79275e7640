use super::*;
use miette::{GraphicalReportHandler, GraphicalTheme};

fn env(k: &str) -> Option<String> {
    match k {
        "LEGACY_URL" => Some("postgres://payroll:secret@127.0.0.1/legacy".into()),
        "NEW_URL" => Some("postgres://payroll:secret@127.0.0.1/new".into()),
        _ => None,
    }
}

fn render(text: &str) -> String {
    let err = parse(Path::new("ripcord.toml"), text, &env).expect_err("the plan is broken");
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
    ] {
        let plan = parse(Path::new(&format!("/plans/{name}.toml")), text, &env)
            .unwrap_or_else(|e| panic!("{name}: {:?}", miette::Report::new(*e)));
        assert!(!plan.components.is_empty(), "{name}");
        assert!(name == "erp" || !plan.steps.is_empty(), "{name}");
    }
}

#[test]
fn a_good_plan_resolves_paths_defaults_and_hides_secrets() {
    let plan = parse(Path::new("/srv/plans/ripcord.toml"), GOOD, &env).unwrap();
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
