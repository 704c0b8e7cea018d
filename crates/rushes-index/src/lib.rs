//! Metadata index of a Rushes store: SQLite (embedded).
