//! Referential integrity after a rollback: child rows pointing at parents that no longer
//! exist, for every foreign key (declared in the database or named by the operator) that
//! touches the given tables, whichever side of the key they are on.

use crate::DiffError;
use crate::source::{DiffSource, ForeignKey, KeyVals};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Orphans {
    pub foreign_key: ForeignKey,
    pub count: u64,
    /// Up to the limit asked for: the child rows' foreign-key values.
    pub examples: Vec<KeyVals>,
}

/// Foreign keys touching `tables` (as child or parent): the database's own, then
/// `declared`, without repeats.
pub fn relevant(
    source: &mut dyn DiffSource,
    tables: &[String],
    declared: &[ForeignKey],
) -> Result<Vec<ForeignKey>, DiffError> {
    let mut out: Vec<ForeignKey> = Vec::new();
    for fk in source
        .foreign_keys()?
        .into_iter()
        .chain(declared.iter().cloned())
    {
        let touches =
            tables.is_empty() || tables.contains(&fk.child) || tables.contains(&fk.parent);
        let seen = out.iter().any(|o| {
            o.child == fk.child
                && o.parent == fk.parent
                && o.child_columns == fk.child_columns
                && o.parent_columns == fk.parent_columns
        });
        if touches && !seen {
            out.push(fk);
        }
    }
    Ok(out)
}

/// Orphaned child rows for every relevant foreign key; keys without orphans are left out.
pub fn check(
    source: &mut dyn DiffSource,
    tables: &[String],
    declared: &[ForeignKey],
    limit: usize,
) -> Result<Vec<Orphans>, DiffError> {
    let mut out = Vec::new();
    for fk in relevant(source, tables, declared)? {
        let (count, examples) = source.orphans(&fk, limit)?;
        if count > 0 {
            out.push(Orphans {
                foreign_key: fk,
                count,
                examples,
            });
        }
    }
    Ok(out)
}
