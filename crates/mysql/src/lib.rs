//! MariaDB/MySQL for ripcord: the [`MyEngine`] implementation of the `Engine` trait.

mod diff;
mod engine;
mod sql;

pub use diff::MyDiff;
pub use engine::MyEngine;
use ripcord_core::engine::{EngineKind, TypeQuirks};
#[doc(hidden)] // for the fuzz targets (fuzz/)
pub use sql::decode_image;

/// MariaDB/MySQL as the registry and core know it. A `datetime` without a precision keeps
/// whole seconds, and there is no boolean type (`boolean` is `tinyint(1)`).
pub const KIND: EngineKind = EngineKind {
    name: "mysql",
    schemes: &["mysql", "mariadb"],
    url_example: "mysql://…",
    file_urls: false,
    types: TypeQuirks {
        timestamp_fraction_digits: 0,
        bool_as_int: true,
    },
};
