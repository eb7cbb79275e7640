//! Table introspection from the catalogs: enough DDL to recreate a table exactly.
//!
//! `create_sql` holds the sequences the table owns (a `serial` column's sequence is dropped
//! with the table), the table with its columns and non-FK constraints, and the sequences'
//! ownership. `post_sql` holds what must come after the rows: foreign keys (so load order
//! and self-references do not matter), indexes, user triggers, comments, grants and the
//! owned sequences' current values.

use crate::text::Kind;
use crate::{err, q};
use postgres::Client;
use ripcord_core::engine::{EngineError, EngineResult};
use ripcord_core::schema::{Column, TableSchema};

#[derive(Clone, Debug)]
pub struct ColInfo {
    pub name: String,
    /// `format_type` output, usable as a cast target.
    pub decl: String,
    pub kind: Kind,
    /// `GENERATED ALWAYS AS (...) STORED`: never written, always computed.
    pub generated: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: inserts need `OVERRIDING SYSTEM VALUE`.
    pub identity_always: bool,
    pub collatable: bool,
    /// The type, or a domain's base type.
    pub base_oid: u32,
    attnum: i16,
}

/// The table's oid; `table` as the plan writes it (`s.t` or `t` in `schema`).
pub fn table_oid(c: &mut Client, schema: &str, table: &str) -> EngineResult<Option<u32>> {
    let (schema, name) = crate::split(schema, table);
    let row = c
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &name],
        )
        .map_err(err(format!("look up table {table}")))?;
    Ok(row.map(|r| r.get(0)))
}

pub fn columns(c: &mut Client, oid: u32) -> EngineResult<Vec<ColInfo>> {
    Ok(column_rows(c, oid)?.into_iter().map(|(ci, _)| ci).collect())
}

/// The columns of `schema` a load writes into the table `oid` (every one but those the
/// table generates), as indexes into a row and as quoted names.
pub fn loaded_columns(
    c: &mut Client,
    oid: u32,
    schema: &TableSchema,
) -> EngineResult<(Vec<usize>, Vec<String>)> {
    let cols = columns(c, oid)?;
    let load: Vec<usize> = schema
        .columns
        .iter()
        .enumerate()
        .filter(|(_, col)| !cols.iter().any(|ci| ci.name == col.name && ci.generated))
        .map(|(i, _)| i)
        .collect();
    let names = load.iter().map(|&i| q(&schema.columns[i].name)).collect();
    Ok((load, names))
}

struct ColDdl {
    not_null: bool,
    default: Option<String>,
    identity: String,
    collate: Option<String>,
}

fn column_rows(c: &mut Client, oid: u32) -> EngineResult<Vec<(ColInfo, ColDdl)>> {
    let rows = c
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
                    CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                         THEN format('%I.%I', cn.nspname, co.collname) END,
                    (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::oid,
                    a.attcollation <> 0, a.attnum
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             LEFT JOIN pg_collation co ON co.oid = a.attcollation
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(err("read columns"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let identity: String = r.get(4);
            let generated: String = r.get(5);
            (
                ColInfo {
                    name: r.get(0),
                    decl: r.get(1),
                    kind: Kind::of_oid(r.get(7)),
                    base_oid: r.get(7),
                    generated: !generated.is_empty(),
                    identity_always: identity == "a",
                    collatable: r.get(8),
                    attnum: r.get(9),
                },
                ColDdl {
                    not_null: r.get(2),
                    default: r.get(3),
                    identity,
                    collate: r.get(6),
                },
            )
        })
        .collect())
}

/// A sequence owned by a column: (attnum, sequence name, deptype `a` serial or `i`
/// identity, options text, type).
type OwnedSeq = (i16, String, String, String, String);

fn owned_sequences(c: &mut Client, oid: u32) -> EngineResult<Vec<OwnedSeq>> {
    let rows = c
        .query(
            "SELECT dp.refobjsubid::int2, s.relname::text, dp.deptype::text,
                    format('START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s',
                           q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache,
                           CASE WHEN q.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END),
                    format_type(q.seqtypid, NULL)
             FROM pg_depend dp
             JOIN pg_class s ON s.oid = dp.objid AND s.relkind = 'S'
             JOIN pg_sequence q ON q.seqrelid = s.oid
             WHERE dp.classid = 'pg_class'::regclass AND dp.refclassid = 'pg_class'::regclass
               AND dp.refobjid = $1 AND dp.refobjsubid > 0 AND dp.deptype IN ('a', 'i')
             ORDER BY dp.refobjsubid",
            &[&oid],
        )
        .map_err(err("read owned sequences"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// Current value of a sequence in the given schema: (last_value, is_called).
pub fn sequence_value(c: &mut Client, schema: &str, seq: &str) -> EngineResult<(i64, bool)> {
    let r = c
        .query_one(
            &format!("SELECT last_value, is_called FROM {}.{}", q(schema), q(seq)),
            &[],
        )
        .map_err(err(format!("read sequence {seq}")))?;
    Ok((r.get(0), r.get(1)))
}

/// Owned sequences of a table by column name: (column, sequence).
pub fn sequences_by_column(c: &mut Client, oid: u32) -> EngineResult<Vec<(String, String)>> {
    let cols = columns(c, oid)?;
    Ok(owned_sequences(c, oid)?
        .into_iter()
        .filter_map(|(attnum, seq, ..)| {
            cols.iter()
                .find(|ci| ci.attnum == attnum)
                .map(|ci| (ci.name.clone(), seq))
        })
        .collect())
}

fn strings(c: &mut Client, sql: &str, oid: u32, what: &str) -> EngineResult<Vec<String>> {
    Ok(c.query(sql, &[&oid])
        .map_err(err(format!("read {what}")))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

pub fn read_schema(
    c: &mut Client,
    schema: &str,
    table: &str,
) -> EngineResult<(TableSchema, Vec<ColInfo>)> {
    let oid =
        table_oid(c, schema, table)?.ok_or_else(|| EngineError::NoSuchTable(table.to_string()))?;
    let cols = column_rows(c, oid)?;
    let pk: Vec<i16> = c
        .query(
            "SELECT conkey FROM pg_constraint WHERE conrelid = $1 AND contype = 'p'",
            &[&oid],
        )
        .map_err(err("read primary key"))?
        .first()
        .map(|r| r.get(0))
        .unwrap_or_default();
    if pk.is_empty() {
        return Err(EngineError::NoPrimaryKey(table.to_string()));
    }
    let primary_key = pk
        .iter()
        .map(|n| {
            cols.iter()
                .position(|(ci, _)| ci.attnum == *n)
                .ok_or_else(|| EngineError::sql("read primary key", "key column not found"))
        })
        .collect::<EngineResult<Vec<usize>>>()?;
    let seqs = owned_sequences(c, oid)?;
    let t = crate::qn(table);
    // A qualified table's sequences live in its schema; an unqualified one's in the
    // default schema, written unqualified as before.
    let qualified = table.contains('.');
    let (schema, _) = crate::split(schema, table);
    let qs = |seq: &str| {
        if qualified {
            format!("{}.{}", q(schema), q(seq))
        } else {
            q(seq)
        }
    };

    let (persistence, reloptions): (String, Option<String>) = {
        let r = c
            .query_one(
                "SELECT relpersistence::text, array_to_string(reloptions, ', ') FROM pg_class WHERE oid = $1",
                &[&oid],
            )
            .map_err(err("read table options"))?;
        (r.get(0), r.get(1))
    };

    let mut create = String::new();
    for (_, seq, dep, opts, ty) in &seqs {
        if dep == "a" {
            create.push_str(&format!(
                "CREATE SEQUENCE IF NOT EXISTS {} AS {ty} {opts};\n",
                qs(seq)
            ));
        }
    }
    let mut defs = Vec::new();
    for (ci, d) in &cols {
        let mut s = format!("    {} {}", q(&ci.name), ci.decl);
        if let Some(coll) = &d.collate {
            s.push_str(&format!(" COLLATE {coll}"));
        }
        if ci.generated {
            s.push_str(&format!(
                " GENERATED ALWAYS AS ({}) STORED",
                d.default.as_deref().unwrap_or("NULL")
            ));
        } else if !d.identity.is_empty() {
            let opts = seqs
                .iter()
                .find(|(n, _, dep, ..)| *n == ci.attnum && dep == "i")
                .map(|(_, seq, _, opts, _)| format!(" (SEQUENCE NAME {} {opts})", qs(seq)))
                .unwrap_or_default();
            s.push_str(&format!(
                " GENERATED {} AS IDENTITY{opts}",
                if d.identity == "a" {
                    "ALWAYS"
                } else {
                    "BY DEFAULT"
                }
            ));
        } else if let Some(def) = &d.default {
            s.push_str(&format!(" DEFAULT {def}"));
        }
        if d.not_null {
            s.push_str(" NOT NULL");
        }
        defs.push(s);
    }
    let mut post = Vec::new();
    for r in c
        .query(
            "SELECT conname::text, contype::text, pg_get_constraintdef(oid), convalidated
             FROM pg_constraint WHERE conrelid = $1 AND contype IN ('p', 'u', 'c', 'x', 'f')
             ORDER BY contype = 'f', conname",
            &[&oid],
        )
        .map_err(err("read constraints"))?
    {
        let (name, kind, def, valid): (String, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if kind == "f" || !valid {
            post.push(format!("ALTER TABLE {t} ADD CONSTRAINT {} {def}", q(&name)));
        } else {
            defs.push(format!("    CONSTRAINT {} {def}", q(&name)));
        }
    }
    create.push_str(&format!(
        "CREATE {}TABLE {t} (\n{}\n)",
        if persistence == "u" { "UNLOGGED " } else { "" },
        defs.join(",\n")
    ));
    if let Some(o) = reloptions.filter(|o| !o.is_empty()) {
        create.push_str(&format!(" WITH ({o})"));
    }
    create.push(';');
    for (attnum, seq, dep, ..) in &seqs {
        if dep == "a"
            && let Some((ci, _)) = cols.iter().find(|(ci, _)| ci.attnum == *attnum)
        {
            create.push_str(&format!(
                "\nALTER SEQUENCE {} OWNED BY {t}.{};",
                qs(seq),
                q(&ci.name)
            ));
        }
    }

    post.extend(strings(
        c,
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
         WHERE i.indrelid = $1 AND NOT EXISTS (
             SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid
               AND k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
         ORDER BY i.indexrelid::regclass::text",
        oid,
        "indexes",
    )?);
    post.extend(strings(
        c,
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger
         WHERE tgrelid = $1 AND NOT tgisinternal AND tgname NOT LIKE '\\_ripcord\\_%'
         ORDER BY tgname",
        oid,
        "triggers",
    )?);
    for r in c
        .query(
            "SELECT tgname::text, tgenabled::text FROM pg_trigger
             WHERE tgrelid = $1 AND NOT tgisinternal AND tgname NOT LIKE '\\_ripcord\\_%'
               AND tgenabled <> 'O' ORDER BY tgname",
            &[&oid],
        )
        .map_err(err("read triggers"))?
    {
        let (name, state): (String, String) = (r.get(0), r.get(1));
        let how = match state.as_str() {
            "D" => "DISABLE TRIGGER",
            "R" => "ENABLE REPLICA TRIGGER",
            _ => "ENABLE ALWAYS TRIGGER",
        };
        post.push(format!("ALTER TABLE {t} {how} {}", q(&name)));
    }
    post.extend(strings(
        c,
        &format!(
            "SELECT format('COMMENT ON TABLE %s IS %L', {lit}, d) FROM obj_description($1, 'pg_class') d WHERE d IS NOT NULL
             UNION ALL
             SELECT format('COMMENT ON COLUMN %s.%I IS %L', {lit}, a.attname, col_description($1, a.attnum))
             FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
               AND col_description($1, a.attnum) IS NOT NULL",
            lit = crate::lit(&t)
        ),
        oid,
        "comments",
    )?);
    post.extend(strings(
        c,
        &format!(
            "SELECT format('GRANT %s ON TABLE %s TO %s%s', x.privilege_type, {lit},
                           CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) END,
                           CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
             FROM pg_class c, aclexplode(c.relacl) x
             WHERE c.oid = $1 AND x.grantee <> c.relowner ORDER BY 1",
            lit = crate::lit(&t)
        ),
        oid,
        "grants",
    )?);
    for (_, seq, ..) in &seqs {
        let (v, called) = sequence_value(c, schema, seq)?;
        post.push(format!(
            "SELECT setval({}, {v}, {called})",
            crate::lit(&qs(seq))
        ));
    }

    let schema_out = TableSchema {
        name: table.to_string(),
        columns: cols
            .iter()
            .map(|(ci, d)| Column {
                name: ci.name.clone(),
                decl_type: ci.decl.clone(),
                not_null: d.not_null,
            })
            .collect(),
        primary_key,
        create_sql: create,
        post_sql: post,
    };
    Ok((schema_out, cols.into_iter().map(|(ci, _)| ci).collect()))
}

/// True for the foreign-key statements [`read_schema`] puts in `post_sql`.
pub fn is_foreign_key(sql: &str) -> bool {
    sql.starts_with("ALTER TABLE ")
        && sql.contains(" ADD CONSTRAINT ")
        && sql.contains(" FOREIGN KEY ")
}
