//! The SQLite engine: connection set-up and one module of queries per role.

pub(crate) mod deletion;
pub(crate) mod events;
pub(crate) mod flows;
pub(crate) mod listing;
pub(crate) mod objects;
pub(crate) mod profiles;
pub(crate) mod segments;
pub(crate) mod service;
pub(crate) mod sources;
pub(crate) mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Result;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The metadata index on SQLite.
#[derive(Clone, Debug)]
pub struct Index {
    /// One connection: every write goes through it, in order.
    write: SqlitePool,
    /// Readers; WAL lets them run beside the writer.
    read: SqlitePool,
}

impl Index {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Index> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Index { write, read })
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.write
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// Closes both pools, waiting for running queries.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}
