//! PostgreSQL for ripcord (in progress).
