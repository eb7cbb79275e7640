//! SQLite for ripcord: the embedded engine, and the default state store.

mod diff;
mod engine;
mod state;

pub use diff::{SqliteDiff, register_diff_functions};
#[doc(hidden)] // for the fuzz targets (fuzz/)
pub use engine::decode_image;
pub use engine::{SqliteEngine, to_sql, to_value};
use ripcord_core::engine::{EngineKind, TypeQuirks};
pub use state::SqliteState;

/// SQLite as the registry and core know it: `sqlite:PATH` names a file, resolved against
/// the plan's folder when relative.
pub const KIND: EngineKind = EngineKind {
    name: "sqlite",
    schemes: &["sqlite"],
    url_example: "sqlite:PATH",
    file_urls: true,
    keyword_strings: false,
    schemas: false,
    types: TypeQuirks {
        timestamp_fraction_digits: 0,
        bool_as_int: false,
    },
};
