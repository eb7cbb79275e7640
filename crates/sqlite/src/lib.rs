//! SQLite for ripcord: the embedded engine, and the default state store.

mod engine;
mod state;

pub use engine::{SqliteEngine, to_sql, to_value};
pub use state::SqliteState;
