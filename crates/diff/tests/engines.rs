//! The diff engine against real PostgreSQL, MariaDB and SQLite: the row encoding computed
//! in each engine's SQL equals Rust's, the reladiff collisions cannot happen, the same rows
//! give the same checksum on every engine, and diffs between every pair find exactly the
//! differences made.

mod common;

use common::{Db, invoice};
use ripcord_diff::canon::{self, Checksum};
use ripcord_diff::{DiffSource, Options, Range, TableSpec, diff_table};

fn engines() -> Vec<Db> {
    vec![Db::pg(), Db::my(), Db::lite()]
}

fn spec(s: &mut dyn DiffSource, table: &str) -> TableSpec {
    let schema = s.schema(table).unwrap();
    TableSpec::from_schema(&schema, &[], &[]).unwrap()
}

fn one(id: i64) -> Range {
    Range {
        lo: Some(vec![id.to_string()]),
        hi: Some(vec![(id + 1).to_string()]),
    }
}

#[test]
fn sql_row_hash_equals_rust_and_reladiff_collisions_cannot_happen() {
    for db in engines() {
        let text = db.types().text;
        db.exec(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, a {text}, b {text})"
        ));
        db.exec(
            "INSERT INTO t VALUES (1, NULL, 'x'), (2, '<null>', 'x'), (3, 'p|q', 'r'), \
             (4, 'p', 'q|r'), (5, 'مرحبا', NULL), (6, '', 'x'), (7, '1:a', NULL)",
        );
        let mut s = db.source();
        let sp = spec(s.as_mut(), "t");
        let rows = s.rows(&sp, &Range::all()).unwrap();
        assert_eq!(rows.len(), 7, "{}", db.kind());
        let mut sums = Vec::new();
        for id in 1..=7i64 {
            let got = s.checksums(&sp, &one(id), &[]).unwrap()[0];
            let row = rows
                .iter()
                .find(|r| r[0].as_deref() == Some(&id.to_string()))
                .unwrap();
            let mut want = Checksum::default();
            want.add(canon::row_hash(row));
            assert_eq!(
                got,
                want,
                "{}: row {id} hashes differently in SQL",
                db.kind()
            );
            sums.push(got.sum);
        }
        assert_ne!(
            sums[0],
            sums[1],
            "{}: NULL collides with '<null>'",
            db.kind()
        );
        assert_ne!(sums[0], sums[5], "{}: NULL collides with ''", db.kind());
        assert_ne!(
            sums[2],
            sums[3],
            "{}: ('p|q','r') collides with ('p','q|r')",
            db.kind()
        );
        // The rows of a whole range add up to the range's checksum.
        let all = s.checksums(&sp, &Range::all(), &[]).unwrap()[0];
        let mut want = Checksum::default();
        for r in &rows {
            want.add(canon::row_hash(r));
        }
        assert_eq!(all, want, "{}", db.kind());
    }
}

#[test]
fn the_same_rows_give_the_same_checksum_on_every_engine() {
    let dbs = engines();
    let mut seen = Vec::new();
    for db in &dbs {
        invoice(db, 400);
        let mut s = db.source();
        let sp = spec(s.as_mut(), "invoice");
        let whole = ripcord_diff::table_checksum(s.as_mut(), &sp).unwrap();
        let bounds = vec![vec!["100".to_string()], vec!["250".to_string()]];
        let parts = s.checksums(&sp, &Range::all(), &bounds).unwrap();
        assert_eq!(parts.iter().map(|c| c.count).sum::<u64>(), 400);
        assert_eq!(parts[0].count, 99);
        seen.push((db.kind(), whole, parts, s.rows(&sp, &one(5)).unwrap()));
    }
    for w in seen.windows(2) {
        assert_eq!(
            w[0].3, w[1].3,
            "canonical row 5 differs between {} and {}",
            w[0].0, w[1].0
        );
        assert_eq!(w[0].1, w[1].1, "{} vs {}", w[0].0, w[1].0);
        assert_eq!(w[0].2, w[1].2, "{} vs {}", w[0].0, w[1].0);
    }
}

/// Latin-1 reading of UTF-8 bytes: what a client with the wrong character set stores.
fn mojibake(s: &str) -> String {
    s.bytes().map(|b| b as char).collect()
}

fn damage(db: &Db) {
    let note_12 = "تغيير زيت المحرك - oil change";
    db.exec("UPDATE invoice SET net = net + 0.001 WHERE id IN (10, 2000)");
    db.exec("UPDATE invoice SET net = net + 5 WHERE id = 3000");
    db.exec("DELETE FROM invoice WHERE id IN (7, 2999)");
    db.exec("INSERT INTO invoice (id, net, note) VALUES (6000, 1.5, 'new')");
    // One letter: ي (yeh) becomes ى (alef maksura).
    db.exec("UPDATE invoice SET customer_name = 'محمد بن سالم الحارثى 3' WHERE id = 3");
    db.exec(&format!(
        "UPDATE invoice SET note = '{}' WHERE id = 12",
        mojibake(note_12)
    ));
}

fn check(a: &Db, b: &Db) {
    invoice(a, 3000);
    invoice(b, 3000);
    damage(b);
    let (mut sa, mut sb) = (a.source(), b.source());
    let opts = Options {
        leaf_rows: 40,
        fanout: 8,
        first_level_max: 4,
        ..Options::default()
    };
    let mut tolerant = opts.clone();
    tolerant.tolerances.set("net=0.001").unwrap();
    let d = diff_table(sa.as_mut(), sb.as_mut(), "invoice", &tolerant).unwrap();
    let what = format!("{} vs {}", a.kind(), b.kind());
    let keys = |v: &[Vec<String>]| v.iter().map(|k| k[0].clone()).collect::<Vec<_>>();
    assert_eq!(keys(&d.missing_in_b), ["7", "2999"], "{what}");
    assert_eq!(keys(&d.missing_in_a), ["6000"], "{what}");
    let changed: Vec<&str> = d.changed.iter().map(|c| c.key[0].as_str()).collect();
    assert_eq!(changed, ["3", "12", "3000"], "{what}");
    let within: Vec<&str> = d
        .within_tolerance
        .iter()
        .map(|c| c.key[0].as_str())
        .collect();
    assert_eq!(within, ["10", "2000"], "{what}");
    let net = &d.changed[2].columns;
    assert_eq!(net.len(), 1, "{what}: {net:?}");
    assert_eq!(net[0].column, "net");
    assert_eq!(
        net[0].delta.as_ref().map(|d| d.to_string()).as_deref(),
        Some("5")
    );
    let note = &d.changed[1].columns[0];
    assert_eq!(note.column, "note");
    assert!(
        note.text_issues.iter().any(|i| i.contains("mojibake")),
        "{what}: {note:?}"
    );
    assert!(d.has_differences());
    assert!(
        d.stats.levels >= 3,
        "{what}: bisection should go deep: {:?}",
        d.stats
    );
    assert!(
        d.stats.rows_downloaded < 1500,
        "{what}: only differing ranges are downloaded: {:?}",
        d.stats
    );
    assert_eq!(d.rows_a, 3000);
    assert_eq!(d.rows_b, 2999);
    // Without a tolerance (the default, or `=0`) every change is a difference.
    let mut exact = opts.clone();
    exact.tolerances.set("net=0").unwrap();
    for o in [&opts, &exact] {
        let (mut sa, mut sb) = (a.source(), b.source());
        let d = diff_table(sa.as_mut(), sb.as_mut(), "invoice", o).unwrap();
        assert!(d.within_tolerance.is_empty(), "{what}");
        assert_eq!(d.changed.len(), 5, "{what}");
    }
}

#[test]
fn postgres_vs_postgres_with_the_native_digest() {
    check(&Db::pg(), &Db::pg());
}

#[test]
fn postgres_vs_mariadb() {
    check(&Db::pg(), &Db::my());
}

#[test]
fn mariadb_vs_postgres() {
    check(&Db::my(), &Db::pg());
}

#[test]
fn sqlite_vs_postgres() {
    check(&Db::lite(), &Db::pg());
}

#[test]
fn mariadb_vs_sqlite() {
    check(&Db::my(), &Db::lite());
}

#[test]
fn identical_tables_have_no_differences_and_download_nothing() {
    let (a, b) = (Db::pg(), Db::my());
    invoice(&a, 2000);
    invoice(&b, 2000);
    let d = diff_table(
        a.source().as_mut(),
        b.source().as_mut(),
        "invoice",
        &Options {
            leaf_rows: 100,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(!d.has_differences(), "{d:?}");
    assert!(d.within_tolerance.is_empty());
    assert_eq!(d.stats.rows_downloaded, 0, "{:?}", d.stats);
}

#[test]
fn text_keys_compare_in_binary_order_not_by_collation() {
    // utf8mb4_general_ci (and PostgreSQL's locale collations) order these differently
    // from their bytes: ranges cut by collation would not line up across engines.
    let keys = ["a", "B", "c", "Z", "é", "محمد", "_x", "0", "Ab", "aC"];
    let (pg, my, lite) = (Db::pg(), Db::my(), Db::lite());
    for db in [&pg, &my, &lite] {
        let text = if db.kind() == "mysql" {
            "varchar(20)"
        } else {
            "text"
        };
        let text = if db.kind() == "postgres" {
            "text COLLATE \"en-US-x-icu\""
        } else {
            text
        };
        db.exec(&format!("CREATE TABLE k (code {text} PRIMARY KEY, v int)"));
        let vals: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("('{k}', {i})"))
            .collect();
        db.exec(&format!("INSERT INTO k VALUES {}", vals.join(", ")));
    }
    let opts = Options {
        leaf_rows: 1,
        fanout: 2,
        ..Options::default()
    };
    for (a, b) in [(&pg, &my), (&my, &lite), (&lite, &pg)] {
        let d = diff_table(a.source().as_mut(), b.source().as_mut(), "k", &opts).unwrap();
        assert!(!d.has_differences(), "{} vs {}: {d:?}", a.kind(), b.kind());
        assert_eq!((d.rows_a, d.rows_b), (10, 10));
    }
    my.exec("UPDATE k SET v = 99 WHERE code = 'é'");
    let d = diff_table(pg.source().as_mut(), my.source().as_mut(), "k", &opts).unwrap();
    assert_eq!(d.changed.len(), 1, "{d:?}");
    assert_eq!(d.changed[0].key, ["é"]);
}

#[test]
fn duplicate_and_null_keys_are_reported_before_diffing() {
    for db in engines() {
        let text = db.types().text;
        db.exec(&format!("CREATE TABLE nk (code {text}, v int)"));
        db.exec("INSERT INTO nk VALUES ('a', 1), ('b', 2), ('b', 3), (NULL, 4)");
        let other = Db::lite();
        other.exec("CREATE TABLE nk (code TEXT PRIMARY KEY, v int)");
        other.exec("INSERT INTO nk VALUES ('a', 1), ('b', 2)");
        let opts = Options {
            key: vec!["code".into()],
            ..Options::default()
        };
        let d = diff_table(other.source().as_mut(), db.source().as_mut(), "nk", &opts).unwrap();
        assert!(d.key_trouble(), "{}", db.kind());
        assert_eq!(d.key_problems_b.null_keys, 1, "{}", db.kind());
        assert_eq!(
            d.key_problems_b.duplicates,
            vec![(vec!["b".to_string()], 2)],
            "{}",
            db.kind()
        );
        assert!(d.gaps().iter().any(|g| g.what.contains("NULL key")));
    }
}

#[test]
fn aggregates_compare_with_tolerance() {
    let (a, b) = (Db::pg(), Db::my());
    invoice(&a, 500);
    invoice(&b, 500);
    b.exec("UPDATE invoice SET net = net + 0.004 WHERE id = 2");
    b.exec("UPDATE invoice SET net = net + 1 WHERE id = 3");
    let sql = "SELECT paid, sum(net) FROM invoice GROUP BY paid ORDER BY 1";
    let cent: ripcord_diff::Decimal = "0.01".parse().unwrap();
    let r = ripcord_diff::aggregate::check(a.source().as_mut(), b.source().as_mut(), sql, &cent);
    // PostgreSQL reads the boolean as t/f and MariaDB as 1/0: groups must be written
    // portably, so compare a numeric group.
    let r = r.unwrap();
    assert!(r.groups >= 2);
    let sql = "SELECT CASE WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS g, sum(net) FROM invoice GROUP BY 1";
    let r = ripcord_diff::aggregate::check(a.source().as_mut(), b.source().as_mut(), sql, &cent)
        .unwrap();
    assert_eq!(r.groups, 2, "{r:?}");
    assert_eq!(r.differences.len(), 2, "{r:?}");
    let even = r.differences.iter().find(|d| d.group == "even").unwrap();
    let odd = r.differences.iter().find(|d| d.group == "odd").unwrap();
    assert!(even.within_tolerance, "{r:?}");
    assert!(!odd.within_tolerance, "{r:?}");
    assert_eq!(even.delta.as_ref().unwrap().to_string(), "0.004", "{r:?}");
    assert_eq!(r.broken(), 1);
    assert_eq!(r.within(), 1);
    // No tolerance: every group that differs is broken.
    let zero = ripcord_diff::Decimal::zero();
    let r = ripcord_diff::aggregate::check(a.source().as_mut(), b.source().as_mut(), sql, &zero)
        .unwrap();
    assert_eq!((r.broken(), r.within()), (2, 0), "{r:?}");
}

#[test]
fn checkpoint_rows_in_memory_against_a_live_table() {
    use ripcord_core::engine::Engine;
    let live = Db::pg();
    invoice(&live, 1500);
    let mut e = ripcord_postgres::PgEngine::open(live.url()).unwrap();
    let mut collect = ripcord_core::verify::Collect::default();
    e.snapshot(&["invoice".to_string()], &mut collect).unwrap();
    let (schema, rows) = collect.tables.remove(0);
    live.exec("UPDATE invoice SET note = 'changed' WHERE id = 700");
    live.exec("DELETE FROM invoice WHERE id = 701");
    let mut cp = ripcord_diff::MemorySource::new("checkpoint:test", schema, rows);
    let d = diff_table(
        &mut cp,
        live.source().as_mut(),
        "invoice",
        &Options {
            leaf_rows: 50,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(d.missing_in_b, vec![vec!["701".to_string()]], "{d:?}");
    assert_eq!(d.changed.len(), 1, "{d:?}");
    assert_eq!(d.changed[0].key, ["700"]);
    assert!(d.within_tolerance.is_empty(), "{d:?}");
}

#[test]
fn foreign_key_orphans_are_found_on_every_engine() {
    for db in engines() {
        let text = db.types().text;
        db.exec(&format!(
            "CREATE TABLE customer (id int PRIMARY KEY, name {text})"
        ));
        db.exec(
            "CREATE TABLE invoice_line (id int PRIMARY KEY, customer_id int REFERENCES customer(id), note_id int)",
        );
        db.exec("CREATE TABLE note (id int PRIMARY KEY)");
        db.exec("INSERT INTO customer VALUES (1, 'أحمد'), (2, 'Sara'), (3, 'x')");
        db.exec("INSERT INTO note VALUES (1)");
        db.exec(
            "INSERT INTO invoice_line VALUES (10, 1, 1), (11, 2, 5), (12, 3, NULL), (13, NULL, 1)",
        );
        // What a component rollback does to a parent table other tables point at.
        match db.kind() {
            "postgres" => db.exec(
                "SET session_replication_role = replica; DELETE FROM customer WHERE id IN (2, 3)",
            ),
            "mysql" => {
                db.exec("SET FOREIGN_KEY_CHECKS = 0; DELETE FROM customer WHERE id IN (2, 3)")
            }
            _ => db.exec("PRAGMA foreign_keys = OFF; DELETE FROM customer WHERE id IN (2, 3)"),
        }
        let declared: ripcord_diff::ForeignKey = "invoice_line(note_id)->note(id)".parse().unwrap();
        let mut s = db.source();
        let found = ripcord_diff::fk::check(
            s.as_mut(),
            &["customer".into()],
            std::slice::from_ref(&declared),
            10,
        )
        .unwrap();
        assert_eq!(found.len(), 1, "{}: {found:?}", db.kind());
        assert_eq!(found[0].foreign_key.child, "invoice_line");
        assert_eq!(found[0].count, 2);
        let mut ex = found[0].examples.clone();
        ex.sort();
        assert_eq!(ex, vec![vec!["2".to_string()], vec!["3".to_string()]]);
        // The declared key is only checked when it touches the tables asked about.
        let found = ripcord_diff::fk::check(s.as_mut(), &["note".into()], &[declared], 10).unwrap();
        assert_eq!(found.len(), 1, "{}: {found:?}", db.kind());
        assert_eq!(found[0].count, 1);
        assert_eq!(found[0].examples, vec![vec!["5".to_string()]]);
    }
}

/// The keys of the changed rows, and each one's first column delta as text.
fn changed(d: &ripcord_diff::TableDiff) -> Vec<(String, String)> {
    d.changed
        .iter()
        .map(|c| {
            let delta = c.columns[0].delta.as_ref().map(|x| x.to_string());
            (c.key[0].clone(), delta.unwrap_or_default())
        })
        .collect()
}

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(k, d)| (k.to_string(), d.to_string()))
        .collect()
}

/// Issue #10, finding 4: above 2^53 an f64 holds only every other integer, so n and n + 1
/// read as the same number. Every engine pair, and a checkpoint held in memory (the
/// rollback's proof), must see the change.
#[test]
fn bigint_changed_by_one_above_2_pow_53_is_a_difference() {
    let a_rows = "(1, 9007199254740993), (2, 9223372036854775807), (3, -9007199254740993), (4, 12)";
    let b_rows = "(1, 9007199254740994), (2, 9223372036854775806), (3, -9007199254740993), (4, 12)";
    let make = |db: Db, rows: &str| {
        db.exec("CREATE TABLE big (id int PRIMARY KEY, n bigint NOT NULL)");
        db.exec(&format!("INSERT INTO big VALUES {rows}"));
        db
    };
    let a = [
        make(Db::pg(), a_rows),
        make(Db::my(), a_rows),
        make(Db::lite(), a_rows),
    ];
    let b = [
        make(Db::pg(), b_rows),
        make(Db::my(), b_rows),
        make(Db::lite(), b_rows),
    ];
    // The pushed-down encoding is exact and the same everywhere: equal rows, equal sums.
    let sums: Vec<_> = a
        .iter()
        .chain(&b)
        .map(|db| {
            let mut s = db.source();
            let sp = spec(s.as_mut(), "big");
            ripcord_diff::table_checksum(s.as_mut(), &sp).unwrap()
        })
        .collect();
    assert!(sums[0] == sums[1] && sums[1] == sums[2], "{sums:?}");
    assert!(sums[3] == sums[4] && sums[4] == sums[5], "{sums:?}");
    assert_ne!(sums[0], sums[3]);
    let want = pairs(&[("1", "1"), ("2", "-1")]);
    for (x, y) in [(0, 0), (0, 1), (1, 2), (2, 0), (1, 0)] {
        let what = format!("{} vs {}", a[x].kind(), b[y].kind());
        let d = diff_table(
            a[x].source().as_mut(),
            b[y].source().as_mut(),
            "big",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(changed(&d), want, "{what}: {d:?}");
        assert!(d.within_tolerance.is_empty(), "{what}: {d:?}");
        assert!(d.has_differences(), "{what}");
    }
    use ripcord_core::engine::Engine;
    let mut e = ripcord_postgres::PgEngine::open(a[0].url()).unwrap();
    let mut collect = ripcord_core::verify::Collect::default();
    e.snapshot(&["big".to_string()], &mut collect).unwrap();
    let (schema, rows) = collect.tables.remove(0);
    let mut cp = ripcord_diff::MemorySource::new("checkpoint:test", schema, rows);
    let d = diff_table(&mut cp, b[1].source().as_mut(), "big", &Options::default()).unwrap();
    assert_eq!(changed(&d), want, "checkpoint vs mysql: {d:?}");
}

/// Issue #10, finding 4: near 10^15 consecutive f64 values are 0.125 apart, so a
/// decimal(18,3) changed by 0.02 read as the same number. SQLite cannot store these values
/// (its NUMERIC affinity rounds them to 1e15 on insert), and the diff must say so rather
/// than call the rounded copy identical.
#[test]
fn decimal_18_3_changed_by_002_near_10_pow_15_is_a_difference() {
    let a_rows = "(1, 999999999999999.990), (2, 999999999999999.999), \
                  (3, -999999999999999.990), (4, 0.020)";
    let b_rows = "(1, 999999999999999.970), (2, 999999999999999.999), \
                  (3, -999999999999999.970), (4, 0.000)";
    let make = |db: Db, rows: &str| {
        let decl = if db.kind() == "sqlite" {
            "NUMERIC(18,3)"
        } else {
            "decimal(18,3)"
        };
        db.exec(&format!(
            "CREATE TABLE amounts (id int PRIMARY KEY, amount {decl} NOT NULL)"
        ));
        db.exec(&format!("INSERT INTO amounts VALUES {rows}"));
        db
    };
    let a = [make(Db::pg(), a_rows), make(Db::my(), a_rows)];
    let b = [
        make(Db::pg(), b_rows),
        make(Db::my(), b_rows),
        make(Db::lite(), b_rows),
    ];
    let sums: Vec<_> = a
        .iter()
        .chain(&b[..2])
        .map(|db| {
            let mut s = db.source();
            let sp = spec(s.as_mut(), "amounts");
            ripcord_diff::table_checksum(s.as_mut(), &sp).unwrap()
        })
        .collect();
    assert!(sums[0] == sums[1] && sums[2] == sums[3], "{sums:?}");
    assert_ne!(sums[0], sums[2]);
    let exact = pairs(&[("1", "-0.02"), ("3", "0.02"), ("4", "-0.02")]);
    for (x, y) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let what = format!("{} vs {}", a[x].kind(), b[y].kind());
        let d = diff_table(
            a[x].source().as_mut(),
            b[y].source().as_mut(),
            "amounts",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(changed(&d), exact, "{what}: {d:?}");
        // A tolerance below the change leaves it a difference; one equal to it covers it.
        let mut opts = Options::default();
        opts.tolerances.set("amount=0.01").unwrap();
        let d = diff_table(
            a[x].source().as_mut(),
            b[y].source().as_mut(),
            "amounts",
            &opts,
        )
        .unwrap();
        assert_eq!(changed(&d), exact, "{what}, tolerance 0.01: {d:?}");
        opts.tolerances.set("amount=0.02").unwrap();
        let d = diff_table(
            a[x].source().as_mut(),
            b[y].source().as_mut(),
            "amounts",
            &opts,
        )
        .unwrap();
        assert!(d.changed.is_empty(), "{what}, tolerance 0.02: {d:?}");
        assert_eq!(d.within_tolerance.len(), 3, "{what}, tolerance 0.02: {d:?}");
    }
    // SQLite holds 1e15 for rows 1 to 3 and 0 for row 4.
    let rounded = pairs(&[
        ("1", "0.01"),
        ("2", "0.001"),
        ("3", "-0.01"),
        ("4", "-0.02"),
    ]);
    for x in &a {
        let d = diff_table(
            x.source().as_mut(),
            b[2].source().as_mut(),
            "amounts",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(changed(&d), rounded, "{} vs sqlite: {d:?}", x.kind());
    }
}

/// Issue #10, finding 4: the tolerance is compared in decimal, so its edge is exact (no
/// float slack that lets 0.0050000001 pass for 0.005).
#[test]
fn tolerance_edge_is_exact_in_decimal() {
    let make = |db: Db, rows: &str| {
        let decl = if db.kind() == "sqlite" {
            "NUMERIC(20,10)"
        } else {
            "decimal(20,10)"
        };
        db.exec(&format!(
            "CREATE TABLE edge (id int PRIMARY KEY, v {decl} NOT NULL)"
        ));
        db.exec(&format!("INSERT INTO edge VALUES {rows}"));
        db
    };
    let a_rows = "(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)";
    let b_rows = "(1, 1.005), (2, 1.006), (3, 1.0050000001), (4, 0.995), (5, 0.9949999999)";
    let dbs = [
        (make(Db::pg(), a_rows), make(Db::my(), b_rows)),
        (make(Db::my(), a_rows), make(Db::lite(), b_rows)),
        (make(Db::lite(), a_rows), make(Db::pg(), b_rows)),
    ];
    let mut opts = Options::default();
    opts.tolerances.set("v=0.005").unwrap();
    for (a, b) in &dbs {
        let what = format!("{} vs {}", a.kind(), b.kind());
        let d = diff_table(a.source().as_mut(), b.source().as_mut(), "edge", &opts).unwrap();
        assert_eq!(
            changed(&d),
            pairs(&[
                ("2", "0.006"),
                ("3", "0.0050000001"),
                ("5", "-0.0050000001")
            ]),
            "{what}: {d:?}"
        );
        let within: Vec<&str> = d
            .within_tolerance
            .iter()
            .map(|c| c.key[0].as_str())
            .collect();
        assert_eq!(within, ["1", "4"], "{what}: {d:?}");
    }
}

/// Issue #10, finding 5: no column gets a tolerance it was not given. A 0.005 change in a
/// 3-decimal currency (Omani rial, Kuwaiti dinar) is a difference, not "within tolerance".
#[test]
fn no_default_money_tolerance_three_decimal_currency() {
    let make = |db: Db, rows: &str| {
        db.exec(&format!(
            "CREATE TABLE salary (id int PRIMARY KEY, amount_omr {} NOT NULL)",
            db.types().money
        ));
        db.exec(&format!("INSERT INTO salary VALUES {rows}"));
        db
    };
    let a_rows = "(1, 10.000), (2, 250.125), (3, 7.5)";
    let b_rows = "(1, 10.005), (2, 250.120), (3, 7.5)";
    let dbs = [
        (make(Db::pg(), a_rows), make(Db::pg(), b_rows)),
        (make(Db::pg(), a_rows), make(Db::my(), b_rows)),
        (make(Db::my(), a_rows), make(Db::lite(), b_rows)),
        (make(Db::lite(), a_rows), make(Db::pg(), b_rows)),
    ];
    for (a, b) in &dbs {
        let what = format!("{} vs {}", a.kind(), b.kind());
        let d = diff_table(
            a.source().as_mut(),
            b.source().as_mut(),
            "salary",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(
            changed(&d),
            pairs(&[("1", "0.005"), ("2", "-0.005")]),
            "{what}: {d:?}"
        );
        assert!(d.within_tolerance.is_empty(), "{what}: {d:?}");
        assert!(d.has_differences(), "{what}");
        assert_eq!(d.gaps().len(), 2, "{what}: {:?}", d.gaps());
    }
}
