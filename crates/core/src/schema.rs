//! What ripcord knows about a table: enough to recreate it exactly and to address rows by key.

use crate::value::{Key, KeyPart, Row, Value};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The type as the engine declares it (e.g. `NUMERIC(12,3)`, `TEXT`).
    pub decl_type: String,
    pub not_null: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns`, in key order.
    pub primary_key: Vec<usize>,
    /// Statement that creates the table (engine dialect, exactly as the engine reports it).
    pub create_sql: String,
    /// Statements recreating indexes and the user's own triggers, run after the rows load.
    pub post_sql: Vec<String>,
}

impl TableSchema {
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn key_names(&self) -> Vec<String> {
        self.primary_key
            .iter()
            .map(|&i| self.columns[i].name.clone())
            .collect()
    }

    pub fn key_of(&self, row: &[Value]) -> Key {
        Key(self
            .primary_key
            .iter()
            .map(|&i| KeyPart::from(&row[i]))
            .collect())
    }

    /// The row as a column-name map, the shape the journal uses.
    pub fn image(&self, row: &Row) -> crate::journal::RowImage {
        self.columns
            .iter()
            .map(|c| c.name.clone())
            .zip(row.iter().cloned())
            .collect()
    }
}
