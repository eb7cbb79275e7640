//! The Universal Workshop database used by the demo and the tests: customers with Arabic
//! and English names, vehicles, service orders, invoices with 5% Oman VAT in baisa
//! (1/1000 rial, so money is exact), and payments.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};

pub const SCHEMA: &str = "
CREATE TABLE customers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name_ar TEXT NOT NULL,
  name_en TEXT NOT NULL,
  phone TEXT,
  created_at TEXT NOT NULL);
CREATE TABLE vehicles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  plate TEXT NOT NULL UNIQUE,
  make TEXT NOT NULL, model TEXT NOT NULL, year INTEGER NOT NULL);
CREATE TABLE service_orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vehicle_id INTEGER NOT NULL REFERENCES vehicles(id),
  opened_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'done')),
  description TEXT NOT NULL);
CREATE TABLE invoices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id INTEGER NOT NULL REFERENCES service_orders(id),
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  net_baisa INTEGER NOT NULL CHECK (net_baisa >= 0),
  vat_baisa INTEGER NOT NULL,
  total_baisa INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'void')),
  issued_at TEXT NOT NULL);
CREATE INDEX invoices_customer ON invoices(customer_id);
CREATE TABLE payments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  invoice_id INTEGER NOT NULL REFERENCES invoices(id),
  amount_baisa INTEGER NOT NULL,
  method TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer')),
  paid_at TEXT NOT NULL);
CREATE INDEX payments_invoice ON payments(invoice_id);
";

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

pub fn vat(net: i64) -> i64 {
    (net * 5 + 50) / 100
}

pub struct Sizes {
    pub customers: i64,
}

/// Creates the schema and fills it; returns the number of rows written.
pub fn create(conn: &Connection, customers: i64, seed: u64) -> rusqlite::Result<i64> {
    conn.execute_batch(SCHEMA)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let tx = conn.unchecked_transaction()?;
    let mut rows = 0;
    for i in 1..=customers {
        let (f, l) = (
            rng.random_range(0..FIRST_AR.len()),
            rng.random_range(0..LAST_AR.len()),
        );
        tx.execute(
            "INSERT INTO customers (name_ar, name_en, phone, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                format!("{} {}", FIRST_AR[f], LAST_AR[l]),
                format!("{} {}", FIRST_EN[f], LAST_EN[l]),
                if i % 9 == 0 {
                    None
                } else {
                    Some(format!("+968 9{:07}", rng.random_range(0..10_000_000)))
                },
                format!("2025-{:02}-{:02}T08:00:00Z", 1 + i % 12, 1 + i % 28)
            ],
        )?;
        rows += 1;
    }
    let vehicles = customers * 5 / 4;
    for v in 1..=vehicles {
        let (make, model) = MAKES[rng.random_range(0..MAKES.len())];
        tx.execute(
            "INSERT INTO vehicles (customer_id, plate, make, model, year) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![1 + (v - 1) % customers, format!("{} {}", 10000 + v, ["أ ب", "ر س", "م ن"][v as usize % 3]), make, model, rng.random_range(2008..2026)],
        )?;
        rows += 1;
    }
    let orders = customers * 2;
    for o in 1..=orders {
        let status = ["open", "in_progress", "done", "done"][rng.random_range(0..4)];
        tx.execute(
            "INSERT INTO service_orders (vehicle_id, opened_at, status, description) VALUES (?1, ?2, ?3, ?4)",
            params![1 + (o - 1) % vehicles, format!("2026-{:02}-{:02}T09:30:00Z", 1 + o % 10, 1 + o % 28), status, JOBS[rng.random_range(0..JOBS.len())]],
        )?;
        rows += 1;
    }
    for o in 1..=orders {
        let net: i64 = rng.random_range(5_000..450_000);
        let status = if o % 3 == 0 { "open" } else { "paid" };
        let customer = 1 + ((o - 1) % vehicles) % customers;
        tx.execute(
            "INSERT INTO invoices (order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![o, customer, net, vat(net), net + vat(net), status, format!("2026-{:02}-{:02}T12:00:00Z", 1 + o % 10, 1 + o % 28)],
        )?;
        rows += 1;
        if status == "paid" {
            tx.execute(
                "INSERT INTO payments (invoice_id, amount_baisa, method, paid_at) VALUES (?1, ?2, ?3, ?4)",
                params![o, net + vat(net), ["cash", "card", "transfer"][rng.random_range(0..3)], format!("2026-{:02}-{:02}T15:00:00Z", 1 + o % 10, 1 + o % 28)],
            )?;
            rows += 1;
        }
    }
    tx.commit()?;
    Ok(rows)
}

/// What the business did after cutover, so a test or the demo can check every write came
/// back.
#[derive(Default, Debug)]
pub struct BusinessWrites {
    pub new_customers: Vec<i64>,
    /// (id, net) of invoices issued after cutover.
    pub new_invoices: Vec<(i64, i64)>,
    pub new_payments: Vec<(i64, i64, i64)>,
    pub paid_invoices: Vec<i64>,
    pub voided_invoices: Vec<i64>,
    pub deleted_payments: Vec<i64>,
    /// (invoice id, discount) where the business changed a discount the migration had set.
    pub discount_changes: Vec<(i64, i64)>,
    pub statements: u64,
}

/// The business keeps working on the new version: new customers, invoices and payments,
/// invoices paid and voided, a mistaken payment removed.
pub fn business_day(conn: &Connection, seed: u64, scale: i64) -> rusqlite::Result<BusinessWrites> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = BusinessWrites::default();
    for i in 0..scale {
        let tx = conn.unchecked_transaction()?;
        if i % 3 == 0 {
            let f = rng.random_range(0..FIRST_AR.len());
            tx.execute(
                "INSERT INTO customers (name_ar, name_en, phone, created_at) VALUES (?1, ?2, '+968 9555 0101', '2026-11-21T10:00:00Z')",
                params![format!("{} بن سالم", FIRST_AR[f]), format!("{} bin Salim", FIRST_EN[f])],
            )?;
            w.new_customers.push(tx.last_insert_rowid());
            w.statements += 1;
        }
        let net: i64 = rng.random_range(1_000..300_000);
        let order: i64 = tx.query_row(
            "SELECT id FROM service_orders ORDER BY random() LIMIT 1",
            [],
            |r| r.get(0),
        )?;
        let customer: i64 = tx.query_row(
            "SELECT customer_id FROM invoices ORDER BY random() LIMIT 1",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO invoices (order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', '2026-11-21T11:00:00Z')",
            params![order, customer, net, vat(net), net + vat(net)],
        )?;
        let inv = tx.last_insert_rowid();
        w.new_invoices.push((inv, net));
        w.statements += 1;
        if i % 2 == 0 {
            let total: i64 = tx.query_row(
                "SELECT total_baisa FROM invoices WHERE id = ?1",
                [inv],
                |r| r.get(0),
            )?;
            tx.execute("INSERT INTO payments (invoice_id, amount_baisa, method, paid_at) VALUES (?1, ?2, 'card', '2026-11-21T11:05:00Z')", params![inv, total])?;
            w.new_payments.push((tx.last_insert_rowid(), inv, total));
            tx.execute("UPDATE invoices SET status = 'paid' WHERE id = ?1", [inv])?;
            w.statements += 2;
        }
        if i % 4 == 1 {
            // An old open invoice gets paid.
            if let Ok(old) = tx.query_row("SELECT id FROM invoices WHERE status = 'open' AND id % 10 <> 0 AND id < 1000000 ORDER BY id LIMIT 1 OFFSET ?1", [i], |r| r.get::<_, i64>(0)) {
                tx.execute("UPDATE invoices SET status = 'paid' WHERE id = ?1", [old])?;
                w.paid_invoices.push(old);
                w.statements += 1;
            }
        }
        if i % 7 == 3 {
            // A draft issued in error is voided.
            tx.execute("UPDATE invoices SET status = 'void' WHERE id = ?1", [inv])?;
            w.voided_invoices.push(inv);
            w.statements += 1;
        }
        if i % 11 == 5
            && let Some(&(pid, _, _)) = w.new_payments.last()
        {
            tx.execute("DELETE FROM payments WHERE id = ?1", [pid])?;
            w.deleted_payments.push(pid);
            w.statements += 1;
        }
        if i % 13 == 0 {
            // The cashier corrects a loyalty discount the migration had set.
            if let Ok(id) = tx.query_row(
                "SELECT id FROM invoices WHERE discount_baisa > 0 ORDER BY id LIMIT 1 OFFSET ?1",
                [i / 13],
                |r| r.get::<_, i64>(0),
            ) {
                tx.execute("UPDATE invoices SET discount_baisa = 0 WHERE id = ?1", [id])?;
                w.discount_changes.push((id, 0));
                w.statements += 1;
            }
        }
        tx.commit()?;
    }
    Ok(w)
}

/// Checks, independently of ripcord, that every business write is in the legacy tables in
/// its final form. Returns (writes checked, problems).
pub fn check_business_writes(
    conn: &Connection,
    w: &BusinessWrites,
) -> rusqlite::Result<(u64, Vec<String>)> {
    let mut checked = 0;
    let mut problems = Vec::new();
    let deleted: std::collections::BTreeSet<i64> = w.deleted_payments.iter().copied().collect();
    for &(id, net) in &w.new_invoices {
        checked += 1;
        let r: Option<(i64, i64, i64)> = conn
            .query_row(
                "SELECT net_baisa, vat_baisa, total_baisa FROM invoices WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok();
        match r {
            None => problems.push(format!("invoice {id} is missing")),
            Some((n, v, t)) if n != net || v != vat(net) || t != net + vat(net) => {
                problems.push(format!("invoice {id}: net {n}, vat {v}, total {t}"))
            }
            _ => {}
        }
    }
    for &(pid, inv, amount) in &w.new_payments {
        checked += 1;
        let r: Option<(i64, i64)> = conn
            .query_row(
                "SELECT invoice_id, amount_baisa FROM payments WHERE id = ?1",
                [pid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        match (r, deleted.contains(&pid)) {
            (Some(_), true) => problems.push(format!(
                "payment {pid} was deleted by the business but is back"
            )),
            (None, false) => problems.push(format!("payment {pid} is missing")),
            (Some((i, a)), false) if i != inv || a < amount - 50 || a > amount + 50 => {
                problems.push(format!("payment {pid}: invoice {i}, amount {a}"))
            }
            _ => {}
        }
    }
    for &id in w.paid_invoices.iter() {
        checked += 1;
        let s: String = conn.query_row("SELECT status FROM invoices WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        if s != "paid" {
            problems.push(format!("invoice {id} should be paid, is {s}"));
        }
    }
    for &id in &w.voided_invoices {
        checked += 1;
        let s: String = conn.query_row("SELECT status FROM invoices WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        if s != "void" {
            problems.push(format!("invoice {id} should be void, is {s}"));
        }
    }
    checked += w.new_customers.len() as u64;
    for &id in &w.new_customers {
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM customers WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        if n != 1 {
            problems.push(format!("customer {id} is missing"));
        }
    }
    Ok((checked, problems))
}
