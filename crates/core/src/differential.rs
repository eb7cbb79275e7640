//! Differential checkpoints: instead of reading a table again, take the rows that changed
//! since its newest full checkpoint from the capture journal and store only those.
//!
//! Taken only when every condition holds, otherwise the checkpoint is full:
//! - capture runs in the table's own database, and the engine vouches (equal capture
//!   tokens at the base, before and after the new mark) that no write escaped the journal:
//!   the table was not recreated or truncated and its capture trigger not recreated;
//! - the table's schema is the base's;
//! - the journal grew by at most a fifth of the base's rows;
//! - the engine streams the table in ripcord's key order (`Housekeeping::keys_in_byte_order`)
//!   and every changed key is of one orderable shape (integers, text in byte order,
//!   binary), so the merge on read gives the engine's key order;
//! - base rows + inserted − deleted equals the row count read in the new mark's snapshot.

use crate::Result;
use crate::context::Ctx;
use crate::engine::Engine;
use crate::journal::{JournalMark, Op, RowImage};
use crate::plan::Component;
use crate::schema::TableSchema;
use crate::store::{CheckpointId, ChunkWriter, Delta, TableEntry, TableWriter, key_order};
use crate::value::{Key, Row, Value};
use std::collections::{BTreeMap, HashMap};

/// At most this share of the base's rows may have journal entries since it.
const MAX_CHANGED_SHARE: f64 = 0.2;

/// The journal mark and the tables' entries, or why the checkpoint must be full.
pub fn take(
    ctx: &mut Ctx,
    engine: &mut dyn Engine,
    components: &[&Component],
    tables: &[String],
    writer: &ChunkWriter,
) -> Result<std::result::Result<(JournalMark, Vec<TableEntry>), String>> {
    if components.iter().any(|c| c.capture_database != c.database) {
        return Ok(Err("capture runs in another database".into()));
    }
    if tables.is_empty() {
        return Ok(Err("no tables".into()));
    }
    let database = &components[0].database;
    let tokens = engine.capture_tokens(tables)?;
    let mut bases = Vec::new();
    for (t, token) in tables.iter().zip(&tokens) {
        let Some(token) = token else {
            return Ok(Err(format!("{t}: the engine cannot vouch for its capture")));
        };
        if !engine.keys_in_byte_order(t)? {
            return Ok(Err(format!(
                "{t}: the engine does not stream its keys in ripcord's key order"
            )));
        }
        let schema = engine.table_schema(t)?;
        match find_base(ctx, database, t, token, &schema)? {
            Some(b) => bases.push(b),
            None => {
                return Ok(Err(format!(
                    "{t}: no full checkpoint with the same schema since capture last (re)started or the table was recreated or truncated"
                )));
            }
        }
    }
    let Some((mark, counts)) = engine.mark_and_counts(tables)? else {
        return Ok(Err("the engine cannot count rows at a journal mark".into()));
    };
    // A cheap upper bound first: sequence numbers cover every captured table.
    let oldest = bases
        .iter()
        .map(|(_, m, _)| m.high)
        .min()
        .unwrap_or(mark.high);
    let base_rows: u64 = bases.iter().map(|(_, _, b)| b.rows).sum();
    if (mark.high - oldest) as f64 > base_rows as f64 * MAX_CHANGED_SHARE {
        return Ok(Err(
            "the journal grew by more than a fifth of the tables' rows".into(),
        ));
    }
    if engine.capture_tokens(tables)? != tokens {
        return Ok(Err("capture changed while the journal was read".into()));
    }
    let mut out = Vec::new();
    for (((id, base_mark, base), count), t) in bases.into_iter().zip(counts).zip(tables) {
        let seen: Vec<_> = engine.read_journal(&base_mark, mark.high, std::slice::from_ref(t))?;
        let unseen: std::collections::HashSet<i64> = engine
            .read_journal(&mark, mark.high, std::slice::from_ref(t))?
            .into_iter()
            .map(|e| e.seq)
            .collect();
        let entries = seen.into_iter().filter(|e| !unseen.contains(&e.seq));
        let Some(net) = NetChanges::from_entries(&base.schema, entries) else {
            return Ok(Err(format!(
                "{t}: a journal image lacks a column or a key cannot be ordered"
            )));
        };
        let rows = (base.rows + net.inserted).checked_sub(net.deleted);
        if rows != Some(count) {
            return Ok(Err(format!(
                "{t}: base and journal give {rows:?} rows, the table holds {count}"
            )));
        }
        let mut w = TableWriter::new(writer, base.schema.clone());
        for change in &net.changes {
            w.push(change)?;
        }
        let stream = w.finish()?;
        ctx.emit(crate::events::Event::Progress {
            what: crate::events::Operation::Differential {
                table: t.to_string(),
                base: id.to_string(),
                changed: net.changes.len() as u64,
            },
            done: count,
            total: count,
        });
        out.push(TableEntry {
            rows: count,
            bytes: base.bytes + stream.bytes,
            fingerprint: String::new(),
            capture_token: base.capture_token.clone(),
            delta: Some(Delta {
                base: id,
                base_rows: base.rows,
                changes: net.changes.len() as u64,
                chunks: stream.chunks,
            }),
            chunks: base.chunks,
            schema: base.schema,
        });
    }
    Ok(Ok((mark, out)))
}

/// The newest full checkpoint entry of `table` in `database` with this capture token and
/// schema, with its component's journal mark.
fn find_base(
    ctx: &mut Ctx,
    database: &str,
    table: &str,
    token: &str,
    schema: &TableSchema,
) -> Result<Option<(CheckpointId, JournalMark, TableEntry)>> {
    for rec in ctx.state.checkpoints()? {
        let Ok(m) = ctx.store.manifest(&CheckpointId(rec.id.clone())) else {
            continue;
        };
        for c in &m.components {
            if c.database != database {
                continue;
            }
            if let Some(t) = c.tables.iter().find(|t| t.schema.name == table) {
                if t.delta.is_none()
                    && t.capture_token.as_deref() == Some(token)
                    && &t.schema == schema
                {
                    return Ok(Some((m.id.clone(), c.journal_mark.clone(), t.clone())));
                }
                // The newest checkpoint holding the table decides: an older base would
                // not be newer than a capture change this one already saw.
                if t.capture_token.as_deref() != Some(token) {
                    return Ok(None);
                }
            }
        }
    }
    Ok(None)
}

/// Each changed key's last state, in key order, as delta rows.
struct NetChanges {
    changes: Vec<Row>,
    inserted: u64,
    deleted: u64,
}

impl NetChanges {
    fn from_entries(
        schema: &TableSchema,
        entries: impl Iterator<Item = crate::journal::JournalEntry>,
    ) -> Option<NetChanges> {
        let key_names = schema.key_names();
        let key_of = |img: &RowImage| -> Option<Vec<Value>> {
            key_names.iter().map(|k| img.get(k).cloned()).collect()
        };
        let row_of = |img: &RowImage| -> Option<Row> {
            schema
                .columns
                .iter()
                .map(|c| img.get(&c.name).cloned())
                .collect()
        };
        // key → (existed in the base, current row)
        let mut state: HashMap<Key, (Vec<Value>, bool, Option<Row>)> = HashMap::new();
        let mut touch = |key: Vec<Value>, existed: bool, now: Option<Row>| {
            let k = Key(key.iter().map(Into::into).collect());
            let slot = state.entry(k).or_insert((key, existed, None));
            slot.2 = now;
        };
        for e in entries {
            match e.op {
                Op::Insert => {
                    let new = e.new.as_ref()?;
                    touch(key_of(new)?, false, Some(row_of(new)?));
                }
                Op::Update => {
                    let (old, new) = (e.old.as_ref()?, e.new.as_ref()?);
                    let (k0, k1) = (key_of(old)?, key_of(new)?);
                    if k0 != k1 {
                        touch(k0, true, None);
                        touch(k1, false, Some(row_of(new)?));
                    } else {
                        touch(k1, true, Some(row_of(new)?));
                    }
                }
                Op::Delete => touch(key_of(e.old.as_ref()?)?, true, None),
            }
        }
        let mut sorted: BTreeMap<OrderedKey, Row> = BTreeMap::new();
        let (mut inserted, mut deleted) = (0, 0);
        // Every key must order against every other (same value kinds part by part), or
        // the sort below could not be total.
        let shape = |k: &[Value]| -> Vec<std::mem::Discriminant<Value>> {
            k.iter().map(std::mem::discriminant).collect()
        };
        let first = state.values().next().map(|(k, ..)| shape(k));
        for (_, (key, existed, now)) in state {
            key_order(&key, &key)?;
            if Some(shape(&key)) != first {
                return None;
            }
            let row = match (existed, now) {
                (false, None) => continue,
                (true, None) => {
                    deleted += 1;
                    std::iter::once(Value::Bool(false))
                        .chain(key.clone())
                        .collect()
                }
                (existed, Some(r)) => {
                    inserted += u64::from(!existed);
                    std::iter::once(Value::Bool(true)).chain(r).collect()
                }
            };
            sorted.insert(OrderedKey(key), row);
        }
        Some(NetChanges {
            changes: sorted.into_values().collect(),
            inserted,
            deleted,
        })
    }
}

/// A key of orderable parts (checked before it is built), ordered as engines stream rows.
struct OrderedKey(Vec<Value>);

impl PartialEq for OrderedKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrderedKey {}

impl Ord for OrderedKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        key_order(&self.0, &other.0).expect("keys checked orderable")
    }
}

impl PartialOrd for OrderedKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
