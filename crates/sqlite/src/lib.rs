//! SQLite for ripcord: the embedded engine, and the default state store.

mod diff;
mod engine;
mod state;

pub use diff::{SqliteDiff, register_diff_functions};
#[doc(hidden)] // for the fuzz targets (fuzz/)
pub use engine::decode_image;
pub use engine::{SqliteEngine, to_sql, to_value};
pub use state::SqliteState;
