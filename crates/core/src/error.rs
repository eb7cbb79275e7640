use crate::engine::EngineError;
use crate::store::StoreError;

/// Exit codes, documented in README.md and distinct per outcome.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const VERIFY_FAILED: i32 = 3;
    pub const STOPPED: i32 = 4;
    pub const LOCKED: i32 = 5;
    /// A rollback was not approved (no `--yes`, no prompt answered): nothing was changed.
    pub const NOT_APPROVED: i32 = 6;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("state store: {0}")]
    State(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Locked(Box<crate::state::LockHeld>),
    /// The component is held by an unfinished rollback (resume or abandon it first).
    #[error("{0}")]
    Held(String),
    #[error("{0}")]
    Verify(String),
    #[error("{0}")]
    Stopped(String),
    /// A rollback nobody approved; it changed nothing.
    #[error("{0}")]
    NotApproved(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            // A table the plan names that is missing or has no key is the plan's fault.
            Error::Usage(_)
            | Error::Engine(EngineError::NoSuchTable(_) | EngineError::NoPrimaryKey(_)) => {
                exit::USAGE
            }
            Error::NotApproved(_) => exit::NOT_APPROVED,
            Error::Verify(_) => exit::VERIFY_FAILED,
            Error::Stopped(_) => exit::STOPPED,
            Error::Locked(_) | Error::Held(_) => exit::LOCKED,
            _ => exit::INTERNAL,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::state::LockHeld> for Error {
    fn from(l: crate::state::LockHeld) -> Self {
        Error::Locked(Box::new(l))
    }
}
