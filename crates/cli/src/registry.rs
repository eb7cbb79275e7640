//! The engines this ripcord is built with: the one place that knows them all. Everything
//! else (plan validation, connecting, `ripcord diff`, the demo) goes through [`ENGINES`], so
//! adding an engine is its crate plus one entry here.

use crate::workshop::Dialect;
use ripcord_core::engine::{Engine, EngineKind, EngineResult};
use ripcord_diff::{DiffError, DiffSource};

/// Connects to a URL with ripcord's own objects in the given schema.
pub type ConnectInSchema = fn(&str, &str) -> EngineResult<Box<dyn Engine>>;

pub struct Entry {
    /// Name, URL schemes and type quirks, as the engine's crate declares them.
    pub kind: EngineKind,
    pub connect: fn(&str) -> EngineResult<Box<dyn Engine>>,
    /// Connects with ripcord's own objects in the given schema, on engines that have
    /// schemas (a plan database's `ripcord_schema`).
    pub connect_in_schema: Option<ConnectInSchema>,
    pub diff_source: fn(&str) -> Result<Box<dyn DiffSource>, DiffError>,
    /// How the demo's Workshop SQL is written for this engine.
    pub dialect: Dialect,
}

pub static ENGINES: &[Entry] = &[
    Entry {
        kind: ripcord_sqlite::KIND,
        connect: |url| Ok(Box::new(ripcord_sqlite::SqliteEngine::open(url)?)),
        connect_in_schema: None,
        diff_source: |url| Ok(Box::new(ripcord_sqlite::SqliteDiff::open(url)?)),
        dialect: Dialect::Sqlite,
    },
    Entry {
        kind: ripcord_postgres::KIND,
        connect: |url| Ok(Box::new(ripcord_postgres::PgEngine::open(url)?)),
        connect_in_schema: Some(|url, schema| {
            Ok(Box::new(
                ripcord_postgres::PgEngine::open(url)?.with_ripcord_schema(schema),
            ))
        }),
        diff_source: |url| Ok(Box::new(ripcord_postgres::PgDiff::open(url)?)),
        dialect: Dialect::Postgres,
    },
    Entry {
        kind: ripcord_mysql::KIND,
        connect: |url| Ok(Box::new(ripcord_mysql::MyEngine::open(url)?)),
        connect_in_schema: None,
        diff_source: |url| Ok(Box::new(ripcord_mysql::MyDiff::open(url)?)),
        dialect: Dialect::Mysql,
    },
];

/// The engine a URL's scheme selects.
pub fn for_url(url: &str) -> Option<&'static Entry> {
    ENGINES.iter().find(|e| e.kind.matches(url))
}

/// The entry of a connected engine, by the name it reports.
pub fn for_engine(engine: &dyn Engine) -> Option<&'static Entry> {
    ENGINES.iter().find(|e| e.kind.name == engine.kind())
}

/// Every engine's kind, for the plan loader.
pub fn kinds() -> Vec<EngineKind> {
    ENGINES.iter().map(|e| e.kind).collect()
}

/// "sqlite:PATH, postgres://… {last} mysql://…".
pub fn url_forms(last: &str) -> String {
    ripcord_core::engine::url_forms(&kinds(), last)
}

/// Whether `s` is written as a database URL rather than a plan name or `checkpoint:ID`:
/// `scheme://…`, one of the engines whose URLs are file paths (`sqlite:PATH`), or a
/// `keyword=value` string for an engine that takes them.
pub fn looks_like_url(s: &str) -> bool {
    s.contains("://")
        || for_url(s).is_some_and(|e| {
            (e.kind.file_urls && s.contains(':'))
                || (e.kind.keyword_strings && ripcord_core::engine::is_keyword_string(s))
        })
}
