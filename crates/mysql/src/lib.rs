//! MariaDB/MySQL for ripcord: the [`MyEngine`] implementation of the `Engine` trait.

pub mod connect;
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
    keyword_strings: false,
    schemas: false,
    types: TypeQuirks {
        timestamp_fraction_digits: 0,
        bool_as_int: true,
    },
};

/// A driver error in plain words: the server's message and code, or the driver's own
/// sentence, never the driver's `Error { … }` wrapping.
pub(crate) fn describe(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => {
            format!("{} (error {}, SQLSTATE {})", m.message, m.code, m.state)
        }
        mysql::Error::IoError(io) => io.to_string(),
        mysql::Error::CodecError(c) => c.to_string(),
        mysql::Error::DriverError(d) => d.to_string(),
        mysql::Error::UrlError(u) => u.to_string(),
        mysql::Error::TlsError(t) => format!("TLS: {t}"),
        mysql::Error::FromRowError(_) => "a row did not convert".into(),
        mysql::Error::FromValueError(_) => "a value did not convert".into(),
    }
}
