//! MariaDB/MySQL for ripcord: the [`MyEngine`] implementation of the `Engine` trait.

mod diff;
mod engine;
mod sql;

pub use diff::MyDiff;
pub use engine::MyEngine;
#[doc(hidden)] // for the fuzz targets (fuzz/)
pub use sql::decode_image;
