//! One way to speak SQL to either engine: [`Conn`] runs a statement on SQLite or
//! PostgreSQL, binding [`ToParam`] values and reading [`Row`] columns as [`FromValue`]
//! types.
//!
//! Statements are written once, in the form both engines accept, with SQLite's numbered
//! parameters (`?1`, `?2`, or `?` in order). On PostgreSQL they are rewritten to `$1`,
//! `$2` ([`to_pg`]) and prepared once per connection. Where the dialects differ (JSON
//! functions, `max(a, b)` against `GREATEST`), a module picks its text with
//! [`Conn::is_pg`].
//!
//! Values are SQLite's: integers (booleans are 0/1), reals, text and blobs. On PostgreSQL
//! an integer binds to any integer or boolean column, text to text or JSON columns, and a
//! column reads back as the same few kinds whatever its exact type.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

use crate::{IndexError, Result};

/// A value as both engines hold it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A borrowed [`Value`], as a parameter is bound. The arrays bind on PostgreSQL only
/// (`= ANY(?1)`, `unnest(?1, ?2)`), for statements that take a whole list in one round
/// trip; SQLite statements loop instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
    IntArray(&'a [i64]),
    TextArray(&'a [Option<&'a str>]),
}

/// A list of integers bound as one PostgreSQL `BIGINT[]` parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct IntArray(pub Vec<i64>);

/// A list of (nullable) texts bound as one PostgreSQL `TEXT[]` parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextArray<'a>(pub Vec<Option<&'a str>>);

impl ToParam for IntArray {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::IntArray(&self.0)
    }
}

impl ToParam for TextArray<'_> {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::TextArray(&self.0)
    }
}

impl Value {
    fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// A value that can be bound to a statement parameter.
pub(crate) trait ToParam {
    fn to_value_ref(&self) -> ValueRef<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn to_value_ref(&self) -> ValueRef<'_> {
                ValueRef::Int(i64::from(*self))
            }
        }
    )*};
}
int_param!(i64, i32, u32, i16, u16, u8);

impl ToParam for u64 {
    /// Values past `i64::MAX` bind as `i64::MAX` (no stored count comes near it).
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToParam for usize {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToParam for bool {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToParam for f64 {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToParam for str {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToParam for String {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToParam for [u8] {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToParam for Vec<u8> {
    fn to_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToParam for Value {
    fn to_value_ref(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl<T: ToParam + ?Sized> ToParam for &T {
    fn to_value_ref(&self) -> ValueRef<'_> {
        (**self).to_value_ref()
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn to_value_ref(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_value_ref(),
            None => ValueRef::Null,
        }
    }
}

/// The parameters of a statement, as `rusqlite::params!` gives them:
/// `p![a, b, c]` is `&[&dyn ToParam]`.
macro_rules! p {
    () => { &[] as &[&dyn $crate::db::ToParam] };
    ($($v:expr),+ $(,)?) => { &[$(&$v as &dyn $crate::db::ToParam),+] as &[&dyn $crate::db::ToParam] };
}
pub(crate) use p;

/// A type a column can be read as.
pub(crate) trait FromValue: Sized {
    fn from_value(v: Value) -> std::result::Result<Self, String>;
}

fn wrong(want: &str, v: &Value) -> String {
    format!("expected {want}, found {}", v.kind())
}

impl FromValue for Value {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        Ok(v)
    }
}

impl FromValue for i64 {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(wrong("an integer", &other)),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("integer {i} out of range"))
            }
        }
    )*};
}
narrow_int!(i32, u32, u64, usize, u16, u8);

impl FromValue for bool {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(f),
            // Both engines may give an integer for a whole real.
            Value::Int(i) => Ok(i as f64),
            other => Err(wrong("a real", &other)),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(wrong("text", &other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            other => Err(wrong("a blob", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row, of either engine.
pub(crate) enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `idx` (from 0) as `T`.
    pub(crate) fn get<T: FromValue>(&self, idx: usize) -> Result<T> {
        let v = match self {
            Row::Lite(r) => match r.get_ref(idx)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                rusqlite::types::ValueRef::Text(t) => Value::Text(
                    std::str::from_utf8(t)
                        .map_err(|_| IndexError::Corrupt(format!("column {idx}: invalid UTF-8")))?
                        .to_owned(),
                ),
                rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            },
            Row::Pg(r) => r.try_get::<_, PgValue>(idx)?.0,
        };
        T::from_value(v).map_err(|m| IndexError::Corrupt(format!("column {idx}: {m}")))
    }
}

/// A PostgreSQL connection with its prepared statements and its deferred statements.
///
/// The client is tokio-postgres on a runtime of the connection's own (current-thread),
/// driven only while a call blocks on it; callers are blocking threads, never async tasks.
///
/// **Deferred statements.** A write whose outcome the caller does not read
/// ([`Conn::execute_later`], [`Conn::batch_later`]) is queued and sent with the next
/// statement that needs an answer, in one pipeline: the server runs them in order, and
/// their round trips are shared. An error of a deferred statement is the error of the
/// call that sent it (the transaction is aborted from there on, as it would have been).
pub struct PgConn {
    /// Always `Some` until the connection is dropped (see `Drop`).
    inner: RefCell<Option<PgInner>>,
    statements: RefCell<HashMap<String, Statement>>,
    pending: RefCell<Vec<Deferred>>,
}

struct PgInner {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

/// A statement queued to be sent with the next one.
enum Deferred {
    Execute(Statement, Vec<OwnedParam>),
    Batch(String),
}

/// A parameter value kept until a deferred statement is sent.
enum OwnedParam {
    Scalar(Value),
    IntArray(Vec<i64>),
    TextArray(Vec<Option<String>>),
}

impl OwnedParam {
    fn of(v: ValueRef<'_>) -> OwnedParam {
        match v {
            ValueRef::Null => OwnedParam::Scalar(Value::Null),
            ValueRef::Int(i) => OwnedParam::Scalar(Value::Int(i)),
            ValueRef::Real(f) => OwnedParam::Scalar(Value::Real(f)),
            ValueRef::Text(t) => OwnedParam::Scalar(Value::Text(t.to_owned())),
            ValueRef::Blob(b) => OwnedParam::Scalar(Value::Blob(b.to_vec())),
            ValueRef::IntArray(a) => OwnedParam::IntArray(a.to_vec()),
            ValueRef::TextArray(a) => {
                OwnedParam::TextArray(a.iter().map(|t| t.map(str::to_owned)).collect())
            }
        }
    }
}

type Statement = tokio_postgres::Statement;

/// One request to the server.
enum Op<'a> {
    Prepare(&'a str),
    Query(&'a Statement, &'a [&'a (dyn ToSql + Sync)]),
    Execute(&'a Statement, &'a [&'a (dyn ToSql + Sync)]),
    Batch(&'a str),
}

/// What a request answered.
enum OpOut {
    Statement(Statement),
    Rows(Vec<tokio_postgres::Row>),
    Count(u64),
    Done,
}

impl<'a> Op<'a> {
    async fn run(
        self,
        client: &'a tokio_postgres::Client,
    ) -> std::result::Result<OpOut, tokio_postgres::Error> {
        Ok(match self {
            Op::Prepare(sql) => OpOut::Statement(client.prepare(sql).await?),
            Op::Query(st, params) => OpOut::Rows(client.query(st, params).await?),
            Op::Execute(st, params) => OpOut::Count(client.execute(st, params).await?),
            Op::Batch(sql) => {
                client.batch_execute(sql).await?;
                OpOut::Done
            }
        })
    }
}

impl Drop for PgConn {
    /// Dropping a runtime (and closing the connection on it) blocks, which panics inside
    /// an async task; a connection dropped there (e.g. with the index) closes on a thread
    /// of its own.
    fn drop(&mut self) {
        if let Some(inner) = self.inner.get_mut().take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("rushes-pg-close".into())
                    .spawn(move || drop(inner));
            } else {
                drop(inner);
            }
        }
    }
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgConn")
    }
}

impl PgConn {
    /// Connects with `config` (no TLS).
    pub(crate) fn connect(config: &tokio_postgres::Config) -> Result<PgConn> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| IndexError::Unavailable(format!("cannot start a runtime: {e}")))?;
        let (client, connection) = runtime.block_on(config.connect(tokio_postgres::NoTls))?;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(PgConn {
            inner: RefCell::new(Some(PgInner { runtime, client })),
            statements: RefCell::new(HashMap::new()),
            pending: RefCell::new(Vec::new()),
        })
    }

    /// True once the connection to the server is lost; the connection must be replaced.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner
            .borrow()
            .as_ref()
            .is_none_or(|i| i.client.is_closed())
    }

    /// Runs `op` on the client together with every deferred statement (sent first, in
    /// one pipeline). The first error wins: a deferred statement's, else `op`'s.
    fn send(&self, op: Op<'_>) -> Result<OpOut> {
        let inner = self.inner.borrow();
        let inner = inner.as_ref().ok_or(IndexError::Closed)?;
        let client = &inner.client;
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(inner.runtime.block_on(op.run(client))?);
        }
        // The borrowed forms of the deferred statements' parameters.
        let texts: Vec<Vec<Vec<Option<&str>>>> = pending
            .iter()
            .map(|d| match d {
                Deferred::Execute(_, ps) => ps
                    .iter()
                    .map(|p| match p {
                        OwnedParam::TextArray(a) => a.iter().map(Option::as_deref).collect(),
                        _ => Vec::new(),
                    })
                    .collect(),
                Deferred::Batch(_) => Vec::new(),
            })
            .collect();
        let wrapped: Vec<Vec<PgParam<'_>>> = pending
            .iter()
            .zip(&texts)
            .map(|(d, t)| match d {
                Deferred::Execute(_, ps) => ps
                    .iter()
                    .zip(t)
                    .map(|(p, t)| {
                        PgParam(match p {
                            OwnedParam::Scalar(v) => v.as_ref(),
                            OwnedParam::IntArray(a) => ValueRef::IntArray(a),
                            OwnedParam::TextArray(_) => ValueRef::TextArray(t),
                        })
                    })
                    .collect(),
                Deferred::Batch(_) => Vec::new(),
            })
            .collect();
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> = wrapped
            .iter()
            .map(|w| w.iter().map(|p| p as &(dyn ToSql + Sync)).collect())
            .collect();
        let deferred = pending.iter().zip(&refs).map(|(d, r)| match d {
            Deferred::Execute(st, _) => Op::Execute(st, r).run(client),
            Deferred::Batch(sql) => Op::Batch(sql).run(client),
        });
        let (earlier, now) = inner.runtime.block_on(futures::future::join(
            futures::future::join_all(deferred),
            op.run(client),
        ));
        for r in earlier {
            r.map_err(|e| {
                crate::error::conflict_on_unique(e, || {
                    "a write conflicts with what is stored".to_owned()
                })
            })?;
        }
        Ok(now?)
    }

    /// The prepared form of `sql` (SQLite form), prepared on first use when `cache`.
    fn statement(&self, sql: &str, cache: bool) -> Result<Statement> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let text = to_pg(sql);
        let OpOut::Statement(st) = self.send(Op::Prepare(&text))? else {
            return Err(IndexError::Corrupt("prepare answered no statement".into()));
        };
        if cache {
            self.statements
                .borrow_mut()
                .insert(sql.to_owned(), st.clone());
        }
        Ok(st)
    }

    /// Sends `sql` with `params` (deferred statements first): as a query when `rows`, else
    /// as a statement whose changed-row count is wanted.
    fn request(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        cache: bool,
        rows: bool,
    ) -> Result<OpOut> {
        let st = self.statement(sql, cache)?;
        let wrapped: Vec<PgParam<'_>> = params.iter().map(|p| PgParam(p.to_value_ref())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            wrapped.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.send(if rows {
            Op::Query(&st, &refs)
        } else {
            Op::Execute(&st, &refs)
        })
    }

    fn run(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        cache: bool,
    ) -> Result<Vec<tokio_postgres::Row>> {
        match self.request(sql, params, cache, true)? {
            OpOut::Rows(rows) => Ok(rows),
            _ => Err(IndexError::Corrupt("a query answered no rows".into())),
        }
    }

    fn execute(&self, sql: &str, params: &[&dyn ToParam], cache: bool) -> Result<usize> {
        match self.request(sql, params, cache, false)? {
            OpOut::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(IndexError::Corrupt("a statement answered no count".into())),
        }
    }

    /// Queues a statement to be sent with the next one (see the type's documentation).
    fn execute_later(&self, sql: &str, params: &[&dyn ToParam]) -> Result<()> {
        let st = self.statement(sql, true)?;
        let owned = params
            .iter()
            .map(|p| OwnedParam::of(p.to_value_ref()))
            .collect();
        self.pending.borrow_mut().push(Deferred::Execute(st, owned));
        Ok(())
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        self.send(Op::Batch(sql)).map(|_| ())
    }

    /// Queues statements without parameters to be sent with the next statement.
    fn batch_later(&self, sql: &str) {
        self.pending
            .borrow_mut()
            .push(Deferred::Batch(sql.to_owned()));
    }
}

/// A connection of either engine.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'a> {
    Lite(&'a rusqlite::Connection),
    Pg(&'a PgConn),
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_pg() {
            "Conn(pg)"
        } else {
            "Conn(sqlite)"
        })
    }
}

impl<'a> Conn<'a> {
    /// True on PostgreSQL.
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }

    /// `lite` on SQLite, `pg` on PostgreSQL.
    pub(crate) fn pick<T>(&self, lite: T, pg: T) -> T {
        if self.is_pg() {
            pg
        } else {
            lite
        }
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn ToParam]) -> Result<usize> {
        self.execute_with(sql, params, true)
    }

    /// As [`Conn::execute`], with `cache` false for a statement text that is built for
    /// this call (not kept prepared).
    pub(crate) fn execute_with(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        cache: bool,
    ) -> Result<usize> {
        match self {
            Conn::Lite(c) => with_lite(c, sql, params, cache, |st| Ok(st.raw_execute()?)),
            Conn::Pg(c) => c.execute(sql, params, cache),
        }
    }

    /// Runs a query, mapping every row with `f`.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query_with(sql, params, true, f)
    }

    /// As [`Conn::query`], with `cache` as in [`Conn::execute_with`].
    pub(crate) fn query_with<T>(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        cache: bool,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Conn::Lite(c) => with_lite(c, sql, params, cache, |st| {
                let mut rows = st.raw_query();
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Lite(r))?);
                }
                Ok(out)
            }),
            Conn::Pg(c) => c
                .run(sql, params, cache)?
                .iter()
                .map(|r| f(&Row::Pg(r)))
                .collect(),
        }
    }

    /// The first row of a query mapped with `f`, or `None` when it returns none.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Conn::Lite(c) => with_lite(c, sql, params, true, |st| match st.raw_query().next()? {
                Some(r) => Ok(Some(f(&Row::Lite(r))?)),
                None => Ok(None),
            }),
            Conn::Pg(c) => match c.run(sql, params, true)?.first() {
                Some(r) => Ok(Some(f(&Row::Pg(r))?)),
                None => Ok(None),
            },
        }
    }

    /// The first row of a query that always returns one (an aggregate, `RETURNING`).
    pub(crate) fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| IndexError::Corrupt("a query that returns a row returned none".into()))
    }

    /// Runs a statement whose outcome the caller does not read. On PostgreSQL it is sent
    /// with the next statement that needs an answer (one round trip for both); its error,
    /// if any, is that statement's error. On SQLite it runs at once.
    pub(crate) fn execute_later(&self, sql: &str, params: &[&dyn ToParam]) -> Result<()> {
        match self {
            Conn::Lite(_) => self.execute(sql, params).map(|_| ()),
            Conn::Pg(c) => c.execute_later(sql, params),
        }
    }

    /// Drops the statements queued by [`Conn::execute_later`] and not sent yet, for a
    /// write that is being rolled back anyway; queued savepoint statements
    /// ([`Conn::batch_later`]) stay, since the rollback names them.
    pub(crate) fn discard_later(&self) {
        if let Conn::Pg(c) = self {
            c.pending
                .borrow_mut()
                .retain(|d| matches!(d, Deferred::Batch(_)));
        }
    }

    /// Drops everything queued and not sent (a new transaction starts from nothing).
    pub(crate) fn discard_all_later(&self) {
        if let Conn::Pg(c) = self {
            c.pending.borrow_mut().clear();
        }
    }

    /// As [`Conn::execute_later`], for statements without parameters (savepoints).
    pub(crate) fn batch_later(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Lite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(c) => {
                c.batch_later(sql);
                Ok(())
            }
        }
    }

    /// Runs statements without parameters (set-up, migrations).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Lite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(c) => c.batch(sql),
        }
    }
}

/// Runs `f` on `sql` prepared on `c` (kept in the connection's cache when `cache`) with
/// `params` bound.
fn with_lite<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn ToParam],
    cache: bool,
    f: impl FnOnce(&mut rusqlite::Statement<'_>) -> Result<T>,
) -> Result<T> {
    if cache {
        let mut st = c.prepare_cached(sql)?;
        bind_lite(&mut st, params)?;
        f(&mut st)
    } else {
        let mut st = c.prepare(sql)?;
        bind_lite(&mut st, params)?;
        f(&mut st)
    }
}

fn bind_lite(st: &mut rusqlite::Statement<'_>, params: &[&dyn ToParam]) -> Result<()> {
    let expected = st.parameter_count();
    if params.len() != expected {
        return Err(IndexError::Corrupt(format!(
            "statement takes {expected} parameters, {} given",
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        st.raw_bind_parameter(i + 1, LiteParam(p.to_value_ref()))?;
    }
    Ok(())
}

struct LiteParam<'a>(ValueRef<'a>);

impl rusqlite::ToSql for LiteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as R};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Null => R::Null,
            ValueRef::Int(i) => R::Integer(i),
            ValueRef::Real(f) => R::Real(f),
            ValueRef::Text(s) => R::Text(s.as_bytes()),
            ValueRef::Blob(b) => R::Blob(b),
            ValueRef::IntArray(_) | ValueRef::TextArray(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "array parameters are for PostgreSQL statements only".into(),
                ))
            }
        }))
    }
}

/// A parameter bound on PostgreSQL: written in the form of the type the server asks for.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(format!("cannot bind a real to a {ty} parameter").into()),
            },
            ValueRef::Text(s) => match *ty {
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
                | Type::JSON => {
                    out.put_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => Err(format!("cannot bind text to a {ty} parameter").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("cannot bind a blob to a {ty} parameter").into()),
            },
            ValueRef::IntArray(a) => match *ty {
                Type::INT8_ARRAY => a.to_sql(ty, out),
                _ => Err(format!("cannot bind an integer list to a {ty} parameter").into()),
            },
            ValueRef::TextArray(a) => match *ty {
                Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => a.to_sql(ty, out),
                _ => Err(format!("cannot bind a text list to a {ty} parameter").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A column read on PostgreSQL, as one of SQLite's kinds.
struct PgValue(Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => match raw.split_first() {
                Some((1, rest)) => Value::Text(std::str::from_utf8(rest)?.to_owned()),
                _ => return Err("unsupported jsonb version".into()),
            },
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
                Value::Text(std::str::from_utf8(raw)?.to_owned())
            }
            _ => return Err(format!("cannot read a column of type {ty}").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Rewrites SQLite parameters (`?N`, `?`) to PostgreSQL's (`$N`), leaving quoted text
/// alone. A bare `?` takes the number after the largest seen so far, as SQLite does.
pub(crate) fn to_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut largest = 0u32;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => largest + 1,
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_rewritten_outside_quotes() {
        assert_eq!(
            to_pg("SELECT a FROM t WHERE a = ?1 AND b = ?12 AND c = '?3' AND d = ?"),
            "SELECT a FROM t WHERE a = $1 AND b = $12 AND c = '?3' AND d = $13"
        );
        assert_eq!(to_pg("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(to_pg("x = \"a?b\" AND y = ?2"), "x = \"a?b\" AND y = $2");
    }

    #[test]
    fn sqlite_connections_bind_and_read_every_kind() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::Lite(&c);
        conn.batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB)")
            .unwrap();
        let none: Option<&str> = None;
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            p![7i64, "x", vec![1u8, 2]],
        )
        .unwrap();
        conn.execute("INSERT INTO t VALUES (?1, ?2, NULL)", p![true, none])
            .unwrap();
        let rows = conn
            .query("SELECT i, s, b FROM t ORDER BY i DESC", p![], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Option<Vec<u8>>>(2)?,
                ))
            })
            .unwrap();
        assert_eq!(
            rows,
            vec![(7, Some("x".into()), Some(vec![1, 2])), (1, None, None)]
        );
        let e = conn
            .query_one("SELECT s FROM t WHERE i = 7", p![], |r| r.get::<i64>(0))
            .unwrap_err();
        assert!(matches!(e, IndexError::Corrupt(_)), "{e}");
        assert_eq!(
            conn.query_opt("SELECT i FROM t WHERE i = ?1", p![99], |r| r.get::<i64>(0))
                .unwrap(),
            None
        );
        assert!(conn.execute("INSERT INTO t VALUES (?1)", p![1, 2]).is_err());
    }
}
