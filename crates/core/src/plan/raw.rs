//! `ripcord.toml` exactly as written. Nothing here is validated; see `super::validate`.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub project: Option<RawProject>,
    #[serde(default)]
    pub databases: BTreeMap<String, Spanned<RawDatabase>>,
    #[serde(default)]
    pub components: BTreeMap<String, Spanned<RawComponent>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub name: Option<String>,
    pub state_dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub database: Spanned<String>,
    pub capture_database: Option<Spanned<String>>,
    pub tables: Spanned<Vec<Spanned<String>>>,
    pub priority: Option<Spanned<String>>,
    pub rto: Option<Spanned<String>>,
    #[serde(default)]
    pub invariants: Vec<Spanned<RawInvariant>>,
    #[serde(default)]
    pub reverse: BTreeMap<String, Spanned<RawReverse>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvariant {
    pub name: String,
    pub sql: Spanned<String>,
    pub expect: Option<f64>,
    pub equals: Option<Spanned<String>>,
    pub tolerance: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReverse {
    pub table: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    pub component: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub forward: Option<String>,
    pub forward_command: Option<String>,
    pub rollback: Option<String>,
    pub rollback_command: Option<String>,
    pub verify: Option<String>,
    pub verify_command: Option<String>,
    pub timeout: Option<Spanned<String>>,
}
