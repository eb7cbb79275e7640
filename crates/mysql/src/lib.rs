//! MariaDB/MySQL for ripcord: the [`MyEngine`] implementation of the `Engine` trait.

mod engine;
mod sql;

pub use engine::MyEngine;
