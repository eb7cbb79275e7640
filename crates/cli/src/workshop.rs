//! The Universal Workshop database used by the demo and the tests, on any engine:
//! customers with Arabic and English names, vehicles, service orders, invoices with 5% Oman
//! VAT in baisa (1/1000 rial, so money is exact), and payments. Written in SQL every engine
//! accepts; where dialects differ, [`Dialect`] says how.

use anyhow::{Context as _, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    pub fn of(engine: &dyn Engine) -> Dialect {
        crate::registry::for_engine(engine).map_or(Dialect::Sqlite, |e| e.dialect)
    }

    /// Integer division, truncating.
    pub fn idiv(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Mysql => format!("({a}) DIV {b}"),
            _ => format!("({a}) / {b}"),
        }
    }

    /// The migration step that installs the new VAT engine, with its bug: it truncates.
    pub fn vat_engine(self) -> String {
        match self {
            Dialect::Sqlite => "CREATE TRIGGER invoices_vat AFTER INSERT ON invoices BEGIN\n  UPDATE invoices SET vat_baisa = NEW.net_baisa * 5 / 100,\n                      total_baisa = NEW.net_baisa + NEW.net_baisa * 5 / 100\n   WHERE id = NEW.id;\nEND".into(),
            Dialect::Postgres => "CREATE OR REPLACE FUNCTION invoices_vat() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN\n  NEW.vat_baisa := NEW.net_baisa * 5 / 100;\n  NEW.total_baisa := NEW.net_baisa + NEW.net_baisa * 5 / 100;\n  RETURN NEW;\nEND $fn$;\nCREATE TRIGGER invoices_vat BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION invoices_vat()".into(),
            Dialect::Mysql => "CREATE TRIGGER invoices_vat BEFORE INSERT ON invoices FOR EACH ROW SET NEW.vat_baisa = NEW.net_baisa * 5 DIV 100, NEW.total_baisa = NEW.net_baisa + NEW.net_baisa * 5 DIV 100".into(),
        }
    }
}

/// The example plan (`examples/workshop.toml`) for a database URL and its dialect.
pub fn plan_for(url: &str, d: Dialect) -> String {
    let base = crate::commands::example_plan("workshop");
    let mut p = base.replace("url = \"sqlite:workshop.db\"", &format!("url = \"{url}\""));
    if d != Dialect::Sqlite {
        let start = p
            .find("forward = \"\"\"\nCREATE TRIGGER invoices_vat")
            .expect("the example has the VAT step");
        let end = start + p[start..].find("\"\"\"\n").expect("closing quotes") + 4;
        let end = end + p[end..].find("\"\"\"").expect("end of the step SQL") + 3;
        p.replace_range(
            start..end,
            &format!("forward = \"\"\"\n{}\n\"\"\"", d.vat_engine()),
        );
    }
    if d == Dialect::Mysql {
        p = p
            .replace("(net_baisa * 5 + 50) / 100", "(net_baisa * 5 + 50) DIV 100")
            .replace("net_baisa / 20", "net_baisa DIV 20");
    }
    p
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE customers (id BIGINT PRIMARY KEY, name_ar VARCHAR(200) NOT NULL, name_en VARCHAR(200) NOT NULL, phone VARCHAR(40), created_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE vehicles (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, plate VARCHAR(40) NOT NULL UNIQUE, make VARCHAR(40) NOT NULL, model VARCHAR(40) NOT NULL, year INTEGER NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers(id))",
    "CREATE TABLE service_orders (id BIGINT PRIMARY KEY, vehicle_id BIGINT NOT NULL, opened_at VARCHAR(40) NOT NULL, status VARCHAR(20) NOT NULL CHECK (status IN ('open', 'in_progress', 'done')), description VARCHAR(200) NOT NULL, FOREIGN KEY (vehicle_id) REFERENCES vehicles(id))",
    "CREATE TABLE invoices (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, net_baisa BIGINT NOT NULL CHECK (net_baisa >= 0), vat_baisa BIGINT NOT NULL, total_baisa BIGINT NOT NULL, status VARCHAR(10) NOT NULL CHECK (status IN ('open', 'paid', 'void')), issued_at VARCHAR(40) NOT NULL, FOREIGN KEY (order_id) REFERENCES service_orders(id), FOREIGN KEY (customer_id) REFERENCES customers(id))",
    "CREATE INDEX invoices_customer ON invoices(customer_id)",
    "CREATE TABLE payments (id BIGINT PRIMARY KEY, invoice_id BIGINT NOT NULL, amount_baisa BIGINT NOT NULL, method VARCHAR(20) NOT NULL CHECK (method IN ('cash', 'card', 'transfer')), paid_at VARCHAR(40) NOT NULL, FOREIGN KEY (invoice_id) REFERENCES invoices(id))",
    "CREATE INDEX payments_invoice ON payments(invoice_id)",
];

pub const TABLES: &[&str] = &[
    "customers",
    "vehicles",
    "service_orders",
    "invoices",
    "payments",
];

const FIRST_AR: &[&str] = &[
    "محمد",
    "أحمد",
    "سالم",
    "خالد",
    "فاطمة",
    "مريم",
    "عائشة",
    "يوسف",
    "سعيد",
    "نورة",
    "حمد",
    "زينب",
];
const FIRST_EN: &[&str] = &[
    "Mohammed", "Ahmed", "Salim", "Khalid", "Fatma", "Maryam", "Aisha", "Yousef", "Saeed", "Noura",
    "Hamad", "Zainab",
];
const LAST_AR: &[&str] = &[
    "البلوشي",
    "الحارثي",
    "الكندي",
    "الرواحي",
    "السعدي",
    "الهنائي",
    "العبري",
    "المعمري",
];
const LAST_EN: &[&str] = &[
    "Al Balushi",
    "Al Harthy",
    "Al Kindi",
    "Al Rawahi",
    "Al Saadi",
    "Al Hinai",
    "Al Abri",
    "Al Maamari",
];
const MAKES: &[(&str, &str)] = &[
    ("Toyota", "Land Cruiser"),
    ("Nissan", "Patrol"),
    ("Hyundai", "Elantra"),
    ("Kia", "Sportage"),
    ("Mitsubishi", "Pajero"),
];
const JOBS: &[&str] = &[
    "oil change / تغيير الزيت",
    "brake pads / فحمات الفرامل",
    "AC service / صيانة المكيف",
    "tyres / إطارات",
    "inspection / فحص",
];

/// VAT at 5%, rounded to the baisa: the legacy rule.
pub fn vat(net: i64) -> i64 {
    (net * 5 + 50) / 100
}

/// What the buggy new VAT engine stores as the total: it truncates.
pub fn buggy_total(net: i64) -> i64 {
    net + net * 5 / 100
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(s: Option<String>) -> String {
    s.map(|s| q(&s)).unwrap_or_else(|| "NULL".into())
}

/// Inserts rows in multi-row statements of a few hundred rows.
fn insert(e: &mut dyn Engine, table: &str, cols: &str, rows: &[String]) -> Result<()> {
    for chunk in rows.chunks(400) {
        e.execute(
            &format!("INSERT INTO {table} ({cols}) VALUES {}", chunk.join(", ")),
            Origin::Business,
        )
        .with_context(|| format!("load {table}"))?;
    }
    Ok(())
}

pub struct Sizes {
    pub customers: i64,
    pub vehicles: i64,
    pub orders: i64,
}

impl Sizes {
    pub fn for_customers(customers: i64) -> Self {
        Sizes {
            customers,
            vehicles: customers * 5 / 4,
            orders: customers * 2,
        }
    }
}

/// Creates the schema and fills it; returns the number of rows written. The database must
/// not have the Workshop tables yet.
pub fn create(e: &mut dyn Engine, customers: i64, seed: u64) -> Result<i64> {
    let existing = e.list_tables()?;
    if let Some(t) = TABLES.iter().find(|t| existing.iter().any(|x| x == *t)) {
        anyhow::bail!(
            "the database already has a table named {t}; the Workshop needs an empty database"
        );
    }
    for s in SCHEMA {
        e.execute(s, Origin::Business)
            .with_context(|| format!("create schema: {s}"))?;
    }
    let n = Sizes::for_customers(customers);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut cs, mut vs, mut os, mut is, mut ps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 1..=n.customers {
        let (f, l) = (
            rng.random_range(0..FIRST_AR.len()),
            rng.random_range(0..LAST_AR.len()),
        );
        let phone = (i % 9 != 0).then(|| format!("+968 9{:07}", rng.random_range(0..10_000_000)));
        cs.push(format!(
            "({i}, {}, {}, {}, {})",
            q(&format!("{} {}", FIRST_AR[f], LAST_AR[l])),
            q(&format!("{} {}", FIRST_EN[f], LAST_EN[l])),
            opt(phone),
            q(&format!(
                "2025-{:02}-{:02}T08:00:00Z",
                1 + i % 12,
                1 + i % 28
            ))
        ));
    }
    for v in 1..=n.vehicles {
        let (make, model) = MAKES[rng.random_range(0..MAKES.len())];
        let plate = format!("{} {}", 10000 + v, ["أ ب", "ر س", "م ن"][v as usize % 3]);
        vs.push(format!(
            "({v}, {}, {}, {}, {}, {})",
            1 + (v - 1) % n.customers,
            q(&plate),
            q(make),
            q(model),
            rng.random_range(2008..2026)
        ));
    }
    for o in 1..=n.orders {
        let status = ["open", "in_progress", "done", "done"][rng.random_range(0..4)];
        let job = JOBS[rng.random_range(0..JOBS.len())];
        os.push(format!(
            "({o}, {}, {}, {}, {})",
            1 + (o - 1) % n.vehicles,
            q(&format!(
                "2026-{:02}-{:02}T09:30:00Z",
                1 + o % 10,
                1 + o % 28
            )),
            q(status),
            q(job)
        ));
        let net: i64 = rng.random_range(5_000..450_000);
        let paid = o % 3 != 0;
        let customer = 1 + ((o - 1) % n.vehicles) % n.customers;
        let day = format!("2026-{:02}-{:02}", 1 + o % 10, 1 + o % 28);
        is.push(format!(
            "({o}, {o}, {customer}, {net}, {}, {}, {}, {})",
            vat(net),
            net + vat(net),
            q(if paid { "paid" } else { "open" }),
            q(&format!("{day}T12:00:00Z"))
        ));
        if paid {
            let method = ["cash", "card", "transfer"][rng.random_range(0..3)];
            ps.push(format!(
                "({o}, {o}, {}, {}, {})",
                net + vat(net),
                q(method),
                q(&format!("{day}T15:00:00Z"))
            ));
        }
    }
    insert(
        e,
        "customers",
        "id, name_ar, name_en, phone, created_at",
        &cs,
    )?;
    insert(
        e,
        "vehicles",
        "id, customer_id, plate, make, model, year",
        &vs,
    )?;
    insert(
        e,
        "service_orders",
        "id, vehicle_id, opened_at, status, description",
        &os,
    )?;
    insert(
        e,
        "invoices",
        "id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at",
        &is,
    )?;
    insert(
        e,
        "payments",
        "id, invoice_id, amount_baisa, method, paid_at",
        &ps,
    )?;
    Ok((cs.len() + vs.len() + os.len() + is.len() + ps.len()) as i64)
}

/// What the business did after cutover, so a test or the demo can check every write came
/// back.
#[derive(Default, Debug)]
pub struct BusinessWrites {
    pub new_customers: Vec<i64>,
    /// (id, net) of invoices issued after cutover.
    pub new_invoices: Vec<(i64, i64)>,
    /// (id, invoice, amount)
    pub new_payments: Vec<(i64, i64, i64)>,
    pub paid_invoices: Vec<i64>,
    pub voided_invoices: Vec<i64>,
    pub deleted_payments: Vec<i64>,
    /// Invoices whose migrated loyalty discount the cashier set back to 0.
    pub discount_changes: Vec<i64>,
    pub statements: u64,
}

fn scalar_i64(e: &mut dyn Engine, sql: &str) -> Result<Option<i64>> {
    Ok(match e.query_scalar(sql)? {
        Value::Null => None,
        v => Some(v.as_f64().with_context(|| format!("{sql} returned {v}"))? as i64),
    })
}

/// The business keeps working on the new version, one transaction per customer visit: new
/// customers, invoices and payments, old invoices paid, drafts voided, a mistaken payment
/// removed, a loyalty discount corrected. `customers` is the size the database was created
/// with.
pub fn business_day(
    e: &mut dyn Engine,
    customers: i64,
    seed: u64,
    visits: i64,
) -> Result<BusinessWrites> {
    let n = Sizes::for_customers(customers);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = BusinessWrites::default();
    let (mut next_customer, mut next_invoice, mut next_payment) = (
        1_000_000 + seed as i64 * 10_000,
        2_000_000 + seed as i64 * 10_000,
        3_000_000 + seed as i64 * 10_000,
    );
    for i in 0..visits {
        let mut tx: Vec<String> = Vec::new();
        if i % 3 == 0 {
            let f = rng.random_range(0..FIRST_AR.len());
            next_customer += 1;
            tx.push(format!(
                "INSERT INTO customers (id, name_ar, name_en, phone, created_at) VALUES ({next_customer}, {}, {}, '+968 9555 0101', '2026-11-21T10:00:00Z')",
                q(&format!("{} بن سالم", FIRST_AR[f])),
                q(&format!("{} bin Salim", FIRST_EN[f]))
            ));
            w.new_customers.push(next_customer);
        }
        let net: i64 = rng.random_range(1_000..300_000);
        let order = rng.random_range(1..=n.orders);
        let customer = rng.random_range(1..=n.customers);
        next_invoice += 1;
        let inv = next_invoice;
        tx.push(format!(
            "INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES ({inv}, {order}, {customer}, {net}, {}, {}, 'open', '2026-11-21T11:00:00Z')",
            vat(net),
            net + vat(net)
        ));
        w.new_invoices.push((inv, net));
        if i % 2 == 0 {
            next_payment += 1;
            // The till charges what the new system stored as the total.
            let total = buggy_total(net);
            tx.push(format!("INSERT INTO payments (id, invoice_id, amount_baisa, method, paid_at) VALUES ({next_payment}, {inv}, {total}, 'card', '2026-11-21T11:05:00Z')"));
            tx.push(format!(
                "UPDATE invoices SET status = 'paid' WHERE id = {inv}"
            ));
            w.new_payments.push((next_payment, inv, total));
        }
        if i % 4 == 1 {
            let old = scalar_i64(
                e,
                &format!(
                    "SELECT id FROM invoices WHERE status = 'open' AND id % 10 <> 0 AND id < 1000000 ORDER BY id LIMIT 1 OFFSET {i}"
                ),
            )?;
            if let Some(old) = old {
                tx.push(format!(
                    "UPDATE invoices SET status = 'paid' WHERE id = {old}"
                ));
                w.paid_invoices.push(old);
            }
        }
        if i % 7 == 3 {
            tx.push(format!(
                "UPDATE invoices SET status = 'void' WHERE id = {inv}"
            ));
            w.voided_invoices.push(inv);
        }
        if i % 11 == 5
            && let Some(&(pid, _, _)) = w.new_payments.last()
        {
            tx.push(format!("DELETE FROM payments WHERE id = {pid}"));
            w.deleted_payments.push(pid);
        }
        if i % 13 == 0 {
            let id = scalar_i64(
                e,
                &format!(
                    "SELECT id FROM invoices WHERE discount_baisa > 0 ORDER BY id LIMIT 1 OFFSET {}",
                    i / 13
                ),
            );
            if let Ok(Some(id)) = id {
                tx.push(format!(
                    "UPDATE invoices SET discount_baisa = 0 WHERE id = {id}"
                ));
                w.discount_changes.push(id);
            }
        }
        w.statements += tx.len() as u64;
        e.execute(&tx.join(";\n"), Origin::Business)
            .with_context(|| format!("business visit {i}"))?;
    }
    Ok(w)
}

/// Checks, independently of ripcord, that every business write is in the legacy tables in
/// its final form, with VAT computed the legacy way. Returns (writes checked, problems).
pub fn check_business_writes(e: &mut dyn Engine, w: &BusinessWrites) -> Result<(u64, Vec<String>)> {
    let mut checked = 0;
    let mut problems = Vec::new();
    let deleted: std::collections::BTreeSet<i64> = w.deleted_payments.iter().copied().collect();
    let voided: std::collections::BTreeSet<i64> = w.voided_invoices.iter().copied().collect();
    let paid: std::collections::BTreeSet<i64> = w.new_payments.iter().map(|p| p.1).collect();
    for &(id, net) in &w.new_invoices {
        checked += 1;
        let vat_now = scalar_i64(
            e,
            &format!("SELECT vat_baisa FROM invoices WHERE id = {id}"),
        )?;
        let total_now = scalar_i64(
            e,
            &format!("SELECT total_baisa FROM invoices WHERE id = {id}"),
        )?;
        let status = e.query_scalar(&format!("SELECT status FROM invoices WHERE id = {id}"))?;
        let want_status = if voided.contains(&id) {
            "void"
        } else if paid.contains(&id) {
            "paid"
        } else {
            "open"
        };
        match (vat_now, total_now) {
            (None, _) | (_, None) => problems.push(format!("invoice {id} is missing")),
            (Some(v), Some(t)) if v != vat(net) || t != net + vat(net) => {
                problems.push(format!("invoice {id}: vat {v}, total {t} for net {net}"))
            }
            _ if status != Value::Text(want_status.into()) => {
                problems.push(format!("invoice {id} should be {want_status}, is {status}"))
            }
            _ => {}
        }
    }
    for &(pid, inv, amount) in &w.new_payments {
        checked += 1;
        let got = scalar_i64(
            e,
            &format!("SELECT amount_baisa FROM payments WHERE id = {pid} AND invoice_id = {inv}"),
        )?;
        match (got, deleted.contains(&pid)) {
            (Some(_), true) => problems.push(format!(
                "payment {pid} was deleted by the business but is back"
            )),
            (None, false) => problems.push(format!("payment {pid} is missing")),
            (Some(a), false) if a != amount => {
                problems.push(format!("payment {pid}: amount {a}, paid {amount}"))
            }
            _ => {}
        }
    }
    for &id in &w.paid_invoices {
        checked += 1;
        let s = e.query_scalar(&format!("SELECT status FROM invoices WHERE id = {id}"))?;
        if s != Value::Text("paid".into()) {
            problems.push(format!("invoice {id} should be paid, is {s}"));
        }
    }
    for &id in &w.new_customers {
        checked += 1;
        if scalar_i64(
            e,
            &format!("SELECT COUNT(*) FROM customers WHERE id = {id}"),
        )? != Some(1)
        {
            problems.push(format!("customer {id} is missing"));
        }
    }
    Ok((checked, problems))
}
