//! The PostgreSQL engine: the same group-commit writer as on SQLite, over a connection
//! to a PostgreSQL server shared by any number of Rushes nodes.
//!
//! - **Writes.** Each node has one writer thread and one write connection. A batch of
//!   write closures runs in one transaction, each in a savepoint, as on SQLite. Every
//!   write transaction first takes one transaction-scoped advisory lock
//!   ([`WRITE_LOCK`]), so the writes of all nodes are serialized: a closure's
//!   read-then-write sees every write committed before it, and outbox events commit in
//!   the order of their `seq`, which event readers rely on (a reader never passes over a
//!   seq that commits later).
//! - **Reads** run on blocking threads over a pool of connections.
//! - **Events from other nodes.** A watcher thread polls the outbox head every
//!   [`EVENT_POLL`] and publishes it, so event readers (webhook delivery, SSE) on every
//!   node wake for events written by any node. The same thread analyzes the hot tables
//!   when their statistics fall far behind (a fast fill outruns autovacuum).
//! - **Outages.** A lost connection is replaced on next use. While the server is away,
//!   writes and reads fail with [`IndexError::Unavailable`]-class errors (503 with a retry
//!   hint) and nothing acknowledged is lost: a write is answered only after its commit.
//!   The node recovers by itself when the server returns.
//! - **Schema.** Migrations in `migrations/postgres/` are applied at open under a session
//!   advisory lock (nodes starting together apply them once); `rushes_schema` records
//!   how many are applied.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_postgres::Config;

use crate::db::{Conn, PgConn};
use crate::sql::engine::{
    apply_migrations, finish_batch, next_batch, publish, Completion, Index, Inner, Job, Readers,
    MAX_BATCH,
};
use crate::{IndexError, Result};

/// Key of the advisory lock every write transaction holds ("rushesWR").
pub const WRITE_LOCK: i64 = 0x7275_7368_6573_5752;
/// Key of the advisory lock held while migrations are applied ("rushesMG").
const MIGRATE_LOCK: i64 = 0x7275_7368_6573_4d47;
/// How often each node looks for events written by other nodes.
pub const EVENT_POLL: Duration = Duration::from_millis(50);
/// How long to wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, in order; `rushes_schema.version` counts those applied.
const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_store",
    include_str!("../../migrations/postgres/0001_store.sql"),
)];

/// Settings of the PostgreSQL engine.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Most read connections open at once (the node also holds one write connection and
    /// one for the event watcher).
    pub max_readers: usize,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings { max_readers: 8 }
    }
}

/// The read connections of a PostgreSQL index.
pub(crate) struct PgReaders {
    config: Config,
    pool: Mutex<Vec<PgConn>>,
}

impl PgReaders {
    /// Runs `f` on a pooled connection (opening one if none is free); a connection found
    /// broken afterwards is dropped rather than pooled.
    pub(crate) fn run<T>(&self, f: impl FnOnce(Conn<'_>) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => connect(&self.config)?,
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(Conn::Pg(&conn))));
        if !conn.is_closed() {
            if let Ok(mut p) = self.pool.lock() {
                p.push(conn);
            }
        }
        out.unwrap_or_else(|_| Err(IndexError::Corrupt("a read panicked".into())))
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.clear();
        }
    }
}

/// Parses a `postgres://` URL (or key=value string) into connection settings, with this
/// engine's defaults where the URL says nothing.
pub fn parse_url(url: &str) -> Result<Config> {
    let mut config: Config = url
        .parse()
        .map_err(|e| IndexError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("rushes");
    }
    if config.get_options().is_none() {
        // Keep the server's notices (e.g. "already exists, skipping") out of the log.
        config.options("-c client_min_messages=warning");
    }
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    Ok(config)
}

/// `url` without its password, for logs and messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(PostgreSQL settings)".to_owned(),
    }
}

fn connect(config: &Config) -> Result<PgConn> {
    PgConn::connect(config)
}

/// The seq of the last committed event in the outbox (0 when empty): what the watcher
/// publishes. (Unlike the `events_seq` sequence, it never counts a seq allocated by a
/// transaction that has not committed yet, so readers woken by it find the event.)
fn committed_head(conn: Conn<'_>) -> Result<i64> {
    conn.query_one(
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM events",
        crate::db::p![],
        |r| r.get(0),
    )
}

/// Applies the migrations the database has not seen, under a session advisory lock so
/// that nodes starting together apply each once.
fn migrate(conn: &PgConn) -> Result<()> {
    let db = Conn::Pg(conn);
    db.batch(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))?;
    let out = (|| -> Result<()> {
        db.batch("CREATE TABLE IF NOT EXISTS rushes_schema (version BIGINT NOT NULL)")?;
        let applied: Option<i64> =
            db.query_opt("SELECT version FROM rushes_schema", crate::db::p![], |r| {
                r.get(0)
            })?;
        if applied.is_none() {
            db.batch("INSERT INTO rushes_schema (version) VALUES (0)")?;
        }
        apply_migrations(db, MIGRATIONS, applied.unwrap_or(0), "BEGIN", |v| {
            format!("UPDATE rushes_schema SET version = {v}")
        })
    })();
    let unlocked = db.batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"));
    out.and(unlocked)
}

impl Index {
    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL), brings its
    /// schema up to date and starts this node's writer and event watcher. Fails at once
    /// when the server cannot be reached.
    pub async fn open_postgres(url: &str, settings: PgSettings) -> Result<Index> {
        let config = parse_url(url)?;
        let location = redact(url);
        let setup_config = config.clone();
        let (conn, head) = tokio::task::spawn_blocking(move || -> Result<(PgConn, i64)> {
            let conn = connect(&setup_config)?;
            migrate(&conn)?;
            let head = crate::sql::outbox::outbox_head(Conn::Pg(&conn))?;
            Ok((conn, head))
        })
        .await
        .map_err(|e| IndexError::Corrupt(format!("index set-up failed: {e}")))??;

        let (jobs_tx, jobs) = mpsc::channel::<Job>();
        let (events_tx, events) = watch::channel(head);
        let events_tx = Arc::new(events_tx);
        let writer_config = config.clone();
        let writer_events = events_tx.clone();
        let thread = std::thread::Builder::new()
            .name("rushes-index-writer".into())
            .spawn(move || writer_loop(writer_config, Some(conn), jobs, &writer_events))
            .map_err(|e| IndexError::Corrupt(format!("cannot start the index writer: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let watch_config = config.clone();
        let watcher = std::thread::Builder::new()
            .name("rushes-index-events".into())
            .spawn(move || watch_loop(watch_config, stopped, &events_tx))
            .map_err(|e| IndexError::Corrupt(format!("cannot start the event watcher: {e}")))?;
        Ok(Index {
            inner: Arc::new(Inner {
                location,
                writer: Mutex::new(Some(jobs_tx)),
                writer_thread: Mutex::new(Some(thread)),
                helper: Mutex::new(Some((stop, watcher))),
                readers: Readers::Pg(Box::new(PgReaders {
                    config,
                    pool: Mutex::new(Vec::new()),
                })),
                reader_slots: Semaphore::new(settings.max_readers.max(1)),
                events,
            }),
        })
    }
}

/// How often the watcher looks for tables whose statistics are out of date.
const ANALYZE_CHECK: Duration = Duration::from_secs(5);

/// Analyzes the hot tables whose statistics lag far behind their contents.
///
/// PostgreSQL's autovacuum analyzes a table a minute or more after it changed; a store
/// that fills at tens of thousands of segments a second meanwhile runs its segment and
/// object reads on statistics of a much smaller table, and the planner picks scans that
/// read the whole flow. Changes past 10% of the rows (and 1,000) are analyzed here within
/// [`ANALYZE_CHECK`].
fn analyze_if_stale(conn: Conn<'_>) -> Result<()> {
    let stale: Vec<String> = conn.query(
        "SELECT relname::text FROM pg_stat_user_tables \
         WHERE relname IN ('segments', 'objects', 'object_instances', 'events') \
           AND n_mod_since_analyze > 1000 + n_live_tup / 10",
        crate::db::p![],
        |r| r.get(0),
    )?;
    for table in stale {
        // The names come from the fixed list above.
        conn.batch(&format!("ANALYZE {table}"))?;
        tracing::debug!(table, "analyzed");
    }
    Ok(())
}

/// Polls the outbox head and publishes it, so that events committed by other nodes wake
/// this node's event readers; keeps the hot tables' statistics fresh.
fn watch_loop(config: Config, stop: mpsc::Receiver<()>, events: &watch::Sender<i64>) {
    let mut conn: Option<PgConn> = None;
    let mut warned = false;
    let mut analyzed = std::time::Instant::now();
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(EVENT_POLL) {
        if conn.as_ref().is_none_or(PgConn::is_closed) {
            conn = connect(&config).ok();
        }
        let Some(c) = conn.as_ref() else { continue };
        if analyzed.elapsed() >= ANALYZE_CHECK {
            analyzed = std::time::Instant::now();
            if let Err(e) = analyze_if_stale(Conn::Pg(c)) {
                tracing::warn!(error = %e, "cannot refresh table statistics");
            }
        }
        match committed_head(Conn::Pg(c)) {
            Ok(head) => {
                warned = false;
                publish(events, head);
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "cannot read the outbox head; retrying");
                    warned = true;
                }
                conn = None;
            }
        }
    }
}

/// The writer thread: group commit, as on SQLite, under the cluster-wide write lock.
///
/// When the connection is lost, the batch in hand is dropped unrun (its callers hear that
/// the write was not applied) and the next batch reconnects first.
fn writer_loop(
    config: Config,
    mut conn: Option<PgConn>,
    jobs: mpsc::Receiver<Job>,
    events: &watch::Sender<i64>,
) {
    let mut done: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    let mut warned = false;
    while let Ok(first) = jobs.recv() {
        let batch = next_batch(first, &jobs);
        if conn.as_ref().is_none_or(PgConn::is_closed) {
            match connect(&config) {
                Ok(c) => {
                    if warned {
                        tracing::info!("index writer reconnected to PostgreSQL");
                    }
                    warned = false;
                    conn = Some(c);
                }
                Err(e) => {
                    if !warned {
                        tracing::error!(error = %e, "index writer cannot reach PostgreSQL");
                        warned = true;
                    }
                    conn = None;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let db = Conn::Pg(c);
        db.discard_all_later();
        if let Err(e) = db.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        )) {
            tracing::error!(error = %e, "cannot start an index write transaction");
            let _ = db.batch("ROLLBACK");
            if c.is_closed() {
                conn = None;
            }
            continue;
        }
        finish_batch(db, batch, &mut done, events);
        if c.is_closed() {
            conn = None;
        }
    }
}
