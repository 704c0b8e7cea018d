//! The SQLite engine: one writer thread with group commit, and a pool of readers.
//!
//! Every write is a closure over a [`Tx`], sent to the writer thread. The thread takes
//! every closure waiting in its queue (up to [`MAX_BATCH`]), runs them one after the other
//! inside one transaction, each in its own savepoint (a closure that fails is rolled back
//! alone), commits once, and only then answers each caller. Under load many requests
//! share one commit; alone, a request commits at once. Writes are never refused as busy:
//! SQLite admits one writer, and this is it.
//!
//! Reads run on tokio's blocking threads with connections from a small pool, beside the
//! writer (WAL mode). A read sees every write whose `write` call has returned.
//!
//! Checkpoints (copying the WAL back into the database file, with its `fsync`) run on a
//! thread of their own every [`CHECKPOINT_INTERVAL`], never on the writer, so a commit
//! costs an append to the WAL and nothing more.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, watch, Semaphore};

use crate::db::Conn;
use crate::{IndexError, Result};

/// Most write closures committed together.
pub const MAX_BATCH: usize = 256;
/// Most read connections open at once.
const MAX_READERS: usize = 8;
/// How often the checkpointer copies the WAL into the database file.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);
/// WAL length (in pages) past which the checkpointer restarts the WAL (64 MiB of 4 KiB
/// pages).
pub const WAL_RESTART_FRAMES: i64 = 16 * 1024;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// The schema, in order. A database records in `PRAGMA user_version` how many it has.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_store",
        include_str!("../../migrations/sqlite/0001_store.sql"),
    ),
    (
        "0002_catalog_listing_columns",
        include_str!("../../migrations/sqlite/0002_catalog_listing_columns.sql"),
    ),
    (
        "0003_event_delivery",
        include_str!("../../migrations/sqlite/0003_event_delivery.sql"),
    ),
    (
        "0004_auth_classes",
        include_str!("../../migrations/sqlite/0004_auth_classes.sql"),
    ),
];

/// A write transaction, handed to the closures given to [`Index::write`]. The role
/// modules add their statements to it (`impl Tx<'_>` blocks).
pub struct Tx<'c> {
    /// The transaction's connection, through the engine-neutral interface of `db.rs`.
    pub(crate) db: Conn<'c>,
    /// The seq of the last outbox event this transaction inserted (0: none yet).
    pub(crate) last_event: Cell<i64>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

/// What the writer thread runs: the caller's closure, returning whether it succeeded and
/// how to answer the caller once the commit's outcome is known.
pub(crate) type Job = Box<dyn FnOnce(&Tx<'_>) -> (bool, Completion) + Send>;
pub(crate) type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// The metadata index, on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Index {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Where the index is (a file path, or a PostgreSQL URL without its password).
    pub(crate) location: String,
    pub(crate) writer: Mutex<Option<mpsc::Sender<Job>>>,
    pub(crate) writer_thread: Mutex<Option<JoinHandle<()>>>,
    /// A thread beside the writer, stopped at close: the SQLite checkpointer, or the
    /// PostgreSQL event watcher.
    pub(crate) helper: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    pub(crate) readers: Readers,
    pub(crate) reader_slots: Semaphore,
    /// The seq of the last committed outbox event, published by the writer after commit.
    pub(crate) events: watch::Receiver<i64>,
}

/// The read connections of each engine, kept for reuse.
pub(crate) enum Readers {
    Lite {
        path: PathBuf,
        pool: Mutex<Vec<Connection>>,
    },
    Pg(Box<crate::sql::postgres::PgReaders>),
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// Opens (creating if needed) the database file at `path`, brings its schema up to
    /// date and starts the writer thread.
    pub async fn open_sqlite(path: &Path) -> Result<Index> {
        let path = path.to_owned();
        let (conn, path, head) =
            tokio::task::spawn_blocking(move || -> Result<(Connection, PathBuf, i64)> {
                let conn = open_connection(&path, false)?;
                migrate(&conn)?;
                let head = crate::sql::outbox::outbox_head(Conn::Lite(&conn))?;
                // The checkpointer thread does this work; the writer only appends.
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
                Ok((conn, path, head))
            })
            .await
            .map_err(|e| IndexError::Corrupt(format!("index set-up failed: {e}")))??;

        let (tx, rx) = mpsc::channel::<Job>();
        let (events_tx, events) = watch::channel(head);
        let thread = std::thread::Builder::new()
            .name("rushes-index-writer".into())
            .spawn(move || writer_loop(conn, rx, events_tx))
            .map_err(|e| IndexError::Corrupt(format!("cannot start the index writer: {e}")))?;
        let checkpoint_conn = open_connection(&path, false)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("rushes-index-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stopped))
            .map_err(|e| {
                IndexError::Corrupt(format!("cannot start the index checkpointer: {e}"))
            })?;
        Ok(Index {
            inner: Arc::new(Inner {
                location: path.display().to_string(),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                helper: Mutex::new(Some((stop, checkpointer))),
                readers: Readers::Lite {
                    path,
                    pool: Mutex::new(Vec::new()),
                },
                reader_slots: Semaphore::new(MAX_READERS),
                events,
            }),
        })
    }

    /// Runs `f` in a write transaction on the writer thread and answers once it is
    /// committed. If `f` returns an error, everything it wrote is rolled back and the
    /// error is returned; nothing else in the batch is affected.
    ///
    /// `f` runs on the writer thread: it must do nothing but index work (no I/O, no
    /// waiting), since every other write waits for it.
    pub async fn write<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&Tx<'_>) -> std::result::Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<IndexError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<std::result::Result<T, E>>();
        let job: Job = Box::new(move |tx: &Tx<'_>| match f(tx) {
            Ok(value) => {
                let done: Completion = Box::new(move |committed: Result<()>| {
                    let _ = answer.send(committed.map(|()| value).map_err(E::from));
                });
                (true, done)
            }
            Err(e) => {
                let done: Completion = Box::new(move |_| {
                    let _ = answer.send(Err(e));
                });
                (false, done)
            }
        });
        {
            let sender = self.inner.writer.lock().map_err(|_| IndexError::Closed)?;
            let sender = sender.as_ref().ok_or(IndexError::Closed)?;
            sender.send(job).map_err(|_| IndexError::Closed)?;
        }
        answered.await.map_err(|_| {
            E::from(IndexError::Unavailable(
                "the write was not applied; retry".into(),
            ))
        })?
    }

    /// Runs `f` with a read connection on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Conn<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let _slot = self
            .inner
            .reader_slots
            .acquire()
            .await
            .map_err(|_| IndexError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &inner.readers {
            Readers::Lite { path, pool } => {
                let pooled = pool.lock().ok().and_then(|mut r| r.pop());
                let conn = match pooled {
                    Some(c) => c,
                    None => open_connection(path, true)?,
                };
                let out = catch_unwind(AssertUnwindSafe(|| f(Conn::Lite(&conn))));
                if let Ok(mut r) = pool.lock() {
                    r.push(conn);
                }
                out.unwrap_or_else(|_| Err(IndexError::Corrupt("a read panicked".into())))
            }
            Readers::Pg(readers) => readers.run(f),
        })
        .await
        .map_err(|e| IndexError::Corrupt(format!("a read failed: {e}")))?
    }

    /// The seq of the last committed outbox event: changes right after each commit that
    /// wrote events (the writer publishes it before answering the writes' callers). Its
    /// `changed()` fails once the index is closed.
    pub fn committed_events(&self) -> watch::Receiver<i64> {
        self.inner.events.clone()
    }

    /// Stops the writer once the writes already queued are done, and closes the readers.
    pub async fn close(&self) {
        if let Ok(mut w) = self.inner.writer.lock() {
            w.take();
        }
        let thread = self
            .inner
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let helper = self.inner.helper.lock().ok().and_then(|mut c| c.take());
        if let Some((stop, thread)) = helper {
            drop(stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        match &self.inner.readers {
            Readers::Lite { pool, .. } => {
                if let Ok(mut r) = pool.lock() {
                    r.clear();
                }
            }
            Readers::Pg(readers) => readers.clear(),
        }
    }
}

/// The checkpointer thread: a passive checkpoint every [`CHECKPOINT_INTERVAL`] (it never
/// waits for readers or the writer). If the WAL still holds more than
/// [`WAL_RESTART_FRAMES`] after it (the writer outran it), a restarting checkpoint waits
/// for the writer's current batch and the readers, copies the rest and starts the WAL
/// again: a long WAL makes every read slower, since a reader searches all of it. A full
/// checkpoint when the index closes leaves the WAL empty at rest.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    let checkpoint = |mode: &str| -> Option<(i64, i64)> {
        let r: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        match r {
            Ok((_busy, log, done)) => Some((log, done)),
            Err(e) => {
                tracing::warn!(error = %e, "index checkpoint failed; retrying later");
                None
            }
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_INTERVAL) {
        if let Some((log, _)) = checkpoint("PASSIVE") {
            if log > WAL_RESTART_FRAMES {
                checkpoint("RESTART");
            }
        }
    }
    checkpoint("TRUNCATE");
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // When the WAL is reset after a checkpoint, truncate its file to at most 64 MiB.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    }
    // NORMAL in WAL mode: a crash of the process loses nothing committed; a power cut may
    // lose the last commits but never corrupts the database.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// Applies the migrations the database has not seen, each in its own transaction.
fn migrate(conn: &Connection) -> Result<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    apply_migrations(
        Conn::Lite(conn),
        MIGRATIONS,
        applied,
        "BEGIN IMMEDIATE",
        |v| format!("PRAGMA user_version = {v}"),
    )
}

/// Applies `migrations` after the first `applied`, each in a transaction (opened with
/// `begin`) that also records its number with the statement `record(number)`. A database
/// with more migrations than this program knows is refused.
pub(crate) fn apply_migrations(
    db: Conn<'_>,
    migrations: &[(&str, &str)],
    applied: i64,
    begin: &str,
    record: impl Fn(usize) -> String,
) -> Result<()> {
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > migrations.len() {
        return Err(IndexError::Corrupt(format!(
            "the database has schema version {applied}, newer than this program's {}",
            migrations.len()
        )));
    }
    for (i, (name, sql)) in migrations.iter().enumerate().skip(applied) {
        db.batch(&format!("{begin};\n{sql}\n{};\nCOMMIT;", record(i + 1)))
            .map_err(|e| {
                let _ = db.batch("ROLLBACK");
                IndexError::Corrupt(format!("migration {name} failed: {e}"))
            })?;
        tracing::info!(migration = name, "applied index migration");
    }
    Ok(())
}

/// Runs `batch` inside the open transaction of `db`, each job in its own savepoint (a job
/// that fails or panics is rolled back alone), collecting the completions in `done`.
/// Returns false when a savepoint could not be opened or closed: the transaction is broken
/// and must be rolled back.
fn run_jobs(db: Conn<'_>, tx: &Tx<'_>, batch: Vec<Job>, done: &mut Vec<Completion>) -> bool {
    let mut healthy = true;
    for job in batch {
        // On PostgreSQL the savepoint goes with the job's first statement.
        if !healthy || db.batch_later("SAVEPOINT job").is_err() {
            healthy = false;
            continue;
        }
        let events_before = tx.last_event.get();
        let ok = match catch_unwind(AssertUnwindSafe(|| job(tx))) {
            Ok((ok, completion)) => {
                done.push(completion);
                ok
            }
            Err(_) => {
                tracing::error!("an index write panicked; its changes are rolled back");
                false
            }
        };
        // A release goes with the next statement (on PostgreSQL, one round trip for both).
        let closed = if ok {
            db.batch_later("RELEASE job")
        } else {
            tx.last_event.set(events_before);
            db.discard_later();
            db.batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "cannot close an index savepoint");
            healthy = false;
        }
    }
    healthy
}

/// Publishes `seq` as the last committed event if it is newer.
pub(crate) fn publish(events: &watch::Sender<i64>, seq: i64) {
    events.send_if_modified(|head| {
        let newer = seq > *head;
        if newer {
            *head = seq;
        }
        newer
    });
}

/// The writer thread: group commit of every job waiting in the queue.
///
/// A job that cannot run (the transaction could not be started or broke) is dropped
/// unrun, which answers its caller that the write was not applied.
fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>, events: watch::Sender<i64>) {
    let mut done: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        let batch = next_batch(first, &jobs);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot start an index write transaction");
            continue;
        }
        finish_batch(Conn::Lite(&conn), batch, &mut done, &events);
    }
}

/// `first` and every job waiting behind it, up to [`MAX_BATCH`].
pub(crate) fn next_batch(first: Job, jobs: &mpsc::Receiver<Job>) -> Vec<Job> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(j) => batch.push(j),
            Err(_) => break,
        }
    }
    batch
}

/// Runs `batch` in the transaction just begun on `db` (each job in its savepoint),
/// commits it, or rolls it all back if it broke, then publishes its last event (waking
/// the event readers before the callers hear back) and answers every caller.
pub(crate) fn finish_batch(
    db: Conn<'_>,
    batch: Vec<Job>,
    done: &mut Vec<Completion>,
    events: &watch::Sender<i64>,
) {
    let tx = Tx {
        db,
        last_event: Cell::new(0),
    };
    let healthy = run_jobs(db, &tx, batch, done);
    let outcome = if healthy {
        db.batch("COMMIT")
    } else {
        Err(IndexError::Unavailable(
            "the index could not complete a write transaction".into(),
        ))
    };
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "index write transaction rolled back");
        db.discard_all_later();
        let _ = db.batch("ROLLBACK");
    } else if tx.last_event.get() > 0 {
        publish(events, tx.last_event.get());
    }
    let msg = outcome.err().map(|e| e.to_string());
    for completion in done.drain(..) {
        completion(match &msg {
            None => Ok(()),
            Some(m) => Err(IndexError::Unavailable(m.clone())),
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn index() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        (dir, index)
    }

    /// An index on a fresh database of the PostgreSQL server the test command starts.
    async fn pg_index() -> Index {
        let base = std::env::var("RUSHES_TEST_PG_URL").unwrap_or_else(|_| {
            panic!(
                "RUSHES_TEST_PG_URL is not set: run scripts/test.sh, or `source \
                 scripts/pg-server.sh` in this shell first"
            )
        });
        let name = format!("it_{}", uuid::Uuid::new_v4().simple());
        let create = format!("CREATE DATABASE {name}");
        let admin = base.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute(&create).unwrap();
        })
        .await
        .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        Index::open_postgres(url.as_str(), crate::PgSettings::default())
            .await
            .unwrap()
    }

    fn put(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
        tx.db.execute(
            "INSERT INTO service_settings (key, value) VALUES (?1, ?2)",
            crate::db::p![key, value],
        )?;
        Ok(())
    }

    async fn get(index: &Index, key: &str) -> Option<String> {
        let key = key.to_owned();
        index
            .read(move |c| {
                c.query_opt(
                    "SELECT value FROM service_settings WHERE key = ?1",
                    crate::db::p![key],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit_and_a_failing_one_rolls_back_alone() {
        let (_dir, index) = index().await;
        concurrent_writes(index).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_concurrent_writes_all_commit_and_a_failing_one_rolls_back_alone() {
        concurrent_writes(pg_index().await).await;
    }

    async fn concurrent_writes(index: Index) {
        let mut tasks = Vec::new();
        for i in 0..500 {
            let index = index.clone();
            tasks.push(tokio::spawn(async move {
                index
                    .write(move |tx| {
                        put(tx, &format!("k{i}"), "v")?;
                        if i % 10 == 0 {
                            // Writes, then fails: none of it may remain.
                            put(tx, &format!("k{i}-extra"), "v")?;
                            return Err(IndexError::Conflict(format!("job {i} refused")));
                        }
                        Ok(i)
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, i);
                    ok += 1;
                }
                Err(IndexError::Conflict(m)) => assert_eq!(m, format!("job {i} refused")),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(ok, 450);
        for i in 0..500 {
            let expect = if i % 10 == 0 {
                None
            } else {
                Some("v".to_owned())
            };
            assert_eq!(get(&index, &format!("k{i}")).await, expect, "k{i}");
            assert_eq!(get(&index, &format!("k{i}-extra")).await, None);
        }
    }

    #[tokio::test]
    async fn a_write_is_readable_once_it_returns_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let index = Index::open_sqlite(&path).await.unwrap();
        index.write(|tx| put(tx, "name", "x")).await.unwrap();
        assert_eq!(get(&index, "name").await.as_deref(), Some("x"));
        index.close().await;
        assert!(index.write(|tx| put(tx, "other", "y")).await.is_err());
        let index = Index::open_sqlite(&path).await.unwrap();
        assert_eq!(get(&index, "name").await.as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn a_unique_violation_is_a_conflict() {
        let (_dir, index) = index().await;
        unique_violation(index).await;
    }

    #[tokio::test]
    async fn on_postgres_a_unique_violation_is_a_conflict() {
        unique_violation(pg_index().await).await;
    }

    async fn unique_violation(index: Index) {
        index.write(|tx| put(tx, "k", "1")).await.unwrap();
        let e = index
            .write(|tx| {
                tx.db
                    .execute(
                        "INSERT INTO service_settings (key, value) VALUES ('k', '2')",
                        crate::db::p![],
                    )
                    .map_err(|e| crate::error::conflict_on_unique(e, || "k exists".into()))?;
                Ok::<_, IndexError>(())
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e, IndexError::Conflict(ref m) if m == "k exists"),
            "{e}"
        );
        assert_eq!(get(&index, "k").await.as_deref(), Some("1"));
    }
}
