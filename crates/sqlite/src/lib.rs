//! SQLite for ripcord: the embedded engine, and the default state store.

mod engine;
mod state;

pub use engine::SqliteEngine;
pub use state::SqliteState;
