//! MariaDB/MySQL for ripcord (in progress).
