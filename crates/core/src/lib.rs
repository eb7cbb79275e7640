//! ripcord's engine-independent core. See ARCHITECTURE.md for the map.

pub mod audit;
pub mod check;
pub mod checkpoint;
pub mod context;
pub mod continuity;
pub mod crash;
pub mod differential;
pub mod engine;
mod error;
pub mod events;
pub mod exact;
pub mod http;
pub mod journal;
pub mod notify;
pub mod plan;
pub mod process;
pub mod progress;
pub mod redact;
pub mod rehearse;
pub mod replay;
pub mod report;
pub mod retention;
pub mod rollback;
pub mod run;
pub mod schedule;
pub mod schema;
pub mod state;
pub mod state_conformance;
pub mod status;
pub mod store;
pub mod switch;
pub mod types;
pub mod value;
pub mod verify;

pub use error::{Error, Result, exit};
