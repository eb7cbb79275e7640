//! The `ripcord` command as a library, so tests and the demo share its pieces.

pub mod cli;
pub mod commands;
pub mod console;
pub mod demo;
pub mod demo_universe;
pub mod diff_cmd;
pub mod guard_cmd;
pub mod install_cmd;
pub mod messages;
pub mod notify_cmd;
pub mod registry;
pub mod render;
pub mod report_html;
pub mod retention_cmd;
pub mod serve;
pub mod switch_cmd;
pub mod sync_cmd;
pub mod workshop;

/// `ripcord --version`: the package version and, when built from git, the commit.
pub const VERSION: &str = env!("RIPCORD_VERSION");
