//! Shared pieces of keyset-paginated listings: [`PageKey`], [`TagFilter`] and the SQL they add.

use std::fmt;
use std::str::FromStr;

use crate::db::{Conn, Row, ToParam, Value, ValueRef};
use crate::Result;

/// The position after which the next page starts: the row's two sort values and its `pk`.
///
/// Every listing sorts on `(k1, k2, pk)` where `k1` is an integer (a time in ms, or a
/// "value is unset" flag) and `k2` text (a label, or empty). Opaque to clients: the text
/// form is `k1.hex(k2).pk`, safe in headers and URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    pub k1: i64,
    pub k2: String,
    pub pk: i64,
}

impl fmt::Display for PageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.k1)?;
        for b in self.k2.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ".{}", self.pk)
    }
}

impl FromStr for PageKey {
    type Err = String;
    fn from_str(s: &str) -> Result<PageKey, String> {
        let bad = || format!("invalid page key {s:?}: use the value of X-Paging-NextKey");
        let mut parts = s.split('.');
        let (Some(a), Some(b), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let k1 = a.parse::<i64>().map_err(|_| bad())?;
        let pk = c.parse::<i64>().map_err(|_| bad())?;
        if b.len() % 2 != 0 {
            return Err(bad());
        }
        let bytes = (0..b.len())
            .step_by(2)
            .map(|i| b.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let k2 = String::from_utf8(bytes).map_err(|_| bad())?;
        Ok(PageKey { k1, k2, pk })
    }
}

/// A filter on the `tags` of a resource's JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// `tag.{name}=v1,v2`: the tag is one of the values, or a list holding one of them.
    AnyOf { name: String, values: Vec<String> },
    /// `tag_exists.{name}=true|false`.
    Exists { name: String, present: bool },
}

/// One page of a listing and the key of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

/// A statement built from pieces, with its parameters bound in order (`?`).
///
/// The text is kept in two forms, SQLite's and PostgreSQL's, which differ only where a
/// piece is added with [`Sql::push_pick`] (JSON functions): a statement is built before
/// the connection that runs it is known.
///
/// Listings with filters have many shapes. A shape that depends only on which filters are
/// present is prepared once per connection and cached; one whose text depends on the
/// length of a list given by the client (`IN (?, ?, ...)`) is prepared each time, so
/// that such lists cannot crowd the hot statements out of the cache.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    lite: String,
    pg: String,
    params: Vec<Value>,
    cacheable: bool,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        let lite = text.into();
        Sql {
            pg: lite.clone(),
            lite,
            params: Vec::new(),
            cacheable: true,
        }
    }

    /// Appends SQL text (the same for both engines).
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.lite.push_str(text);
        self.pg.push_str(text);
        self
    }

    /// Appends `lite` to the SQLite text and `pg` to the PostgreSQL text. Both must hold
    /// the same parameters in the same order.
    pub(crate) fn push_pick(&mut self, lite: &str, pg: &str) -> &mut Sql {
        self.lite.push_str(lite);
        self.pg.push_str(pg);
        self
    }

    /// Appends a `?` bound to `value`.
    pub(crate) fn bind(&mut self, value: impl ToParam) -> &mut Sql {
        self.push("?");
        self.params.push(owned(value.to_value_ref()));
        self
    }

    /// Appends `?, ?, ...` bound to `values` (a single NULL when empty, which matches
    /// nothing).
    pub(crate) fn list(&mut self, values: &[String]) -> &mut Sql {
        self.cacheable = false;
        if values.is_empty() {
            return self.push("NULL");
        }
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self
    }

    /// The statement text for `conn`'s engine.
    pub(crate) fn text(&self, conn: Conn<'_>) -> &str {
        conn.pick(&self.lite, &self.pg)
    }

    /// Runs the statement on `conn`, mapping each row with `f`.
    pub(crate) fn query<T>(
        &self,
        conn: Conn<'_>,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let params: Vec<&dyn ToParam> = self.params.iter().map(|v| v as &dyn ToParam).collect();
        conn.query_with(self.text(conn), &params, self.cacheable, f)
    }
}

fn owned(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Int(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(s) => Value::Text(s.to_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        // Listings bind scalars only (their lists are `IN (?, ?, ...)`, on both engines).
        ValueRef::IntArray(_) | ValueRef::TextArray(_) => {
            debug_assert!(false, "a listing bound an array");
            Value::Null
        }
    }
}

/// How a listing is ordered: SQL expressions of the two sort values and the pk column.
/// A constant integer in ORDER BY names a result column, so "no value" is `(pk * 0)`.
pub(crate) struct Order {
    pub k1: &'static str,
    pub k2: &'static str,
    pub pk: &'static str,
    pub desc: bool,
}

impl Order {
    /// Adds `, k1 AS k1, k2 AS k2` to a select list (which every listing must do before
    /// [`Order::push_order_limit`]).
    pub(crate) fn push_select(&self, q: &mut Sql) {
        q.push(&format!(", {} AS k1, {} AS k2", self.k1, self.k2));
    }

    /// Adds ` AND (k1, k2, pk) > / < (...)` for the rows after `after`.
    pub(crate) fn push_after(&self, q: &mut Sql, after: Option<&PageKey>) {
        let Some(key) = after else { return };
        let op = if self.desc { "<" } else { ">" };
        q.push(&format!(
            " AND ({}, {}, {}) {op} (",
            self.k1, self.k2, self.pk
        ));
        q.bind(key.k1)
            .push(", ")
            .bind(&key.k2)
            .push(", ")
            .bind(key.pk)
            .push(")");
    }

    /// Adds ` ORDER BY ... LIMIT limit+1` (one more row tells whether there is a next page).
    /// PostgreSQL refuses a constant (`''`) in ORDER BY, so there the two sort values are
    /// named by the aliases of [`Order::push_select`].
    pub(crate) fn push_order_limit(&self, q: &mut Sql, limit: u32) {
        let dir = if self.desc { "DESC" } else { "ASC" };
        q.push_pick(
            &format!(
                " ORDER BY {} {dir}, {} {dir}, {} {dir} LIMIT ",
                self.k1, self.k2, self.pk
            ),
            &format!(" ORDER BY k1 {dir}, k2 {dir}, {} {dir} LIMIT ", self.pk),
        );
        q.bind(i64::from(limit) + 1);
    }
}

/// Splits `rows` (fetched with `limit + 1`) into a page, taking the next key from the
/// last row kept.
pub(crate) fn paginate<T>(mut rows: Vec<(T, PageKey)>, limit: u32) -> Page<T> {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|(_, k)| k.clone())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(t, _)| t).collect(),
        next,
    }
}

/// Adds one ` AND ...` clause per tag filter on the JSON column `doc`.
///
/// A tag's value is a string or a list of strings; `AnyOf` matches a string among the
/// values, or a list holding one (elements that are not strings never match).
pub(crate) fn push_tag_filters(q: &mut Sql, doc: &str, filters: &[TagFilter]) {
    let tags_lite = format!(" (SELECT 1 FROM json_each({doc}, '$.tags') t WHERE t.key = ");
    let tags_pg = format!(" (SELECT 1 FROM jsonb_each(({doc})::jsonb -> 'tags') t WHERE t.key = ");
    for f in filters {
        match f {
            TagFilter::Exists { name, present } => {
                q.push(if *present {
                    " AND EXISTS"
                } else {
                    " AND NOT EXISTS"
                });
                q.push_pick(&tags_lite, &tags_pg);
                q.bind(name).push(")");
            }
            TagFilter::AnyOf { name, values } => {
                q.push(" AND EXISTS");
                q.push_pick(&tags_lite, &tags_pg);
                q.bind(name);
                q.push_pick(
                    " AND ((t.type = 'text' AND t.value IN (",
                    " AND ((jsonb_typeof(t.value) = 'string' AND (t.value #>> '{}') IN (",
                );
                q.list(values);
                q.push_pick(
                    ")) OR (t.type = 'array' AND EXISTS (SELECT 1 FROM json_each(t.value) v \
                     WHERE v.value IN (",
                    ")) OR (jsonb_typeof(t.value) = 'array' AND EXISTS (SELECT 1 \
                     FROM jsonb_array_elements(t.value) v(e) \
                     WHERE jsonb_typeof(v.e) = 'string' AND (v.e #>> '{}') IN (",
                );
                q.list(values);
                q.push(")))))");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn page_keys_round_trip_and_refuse_garbage() {
        for key in [
            PageKey {
                k1: 0,
                k2: String::new(),
                pk: 1,
            },
            PageKey {
                k1: -5,
                k2: "label, with. dots é".into(),
                pk: i64::MAX,
            },
        ] {
            let text = key.to_string();
            assert!(text.is_ascii());
            assert_eq!(text.parse::<PageKey>().unwrap(), key);
        }
        for bad in ["", "1", "1..", "1.zz.2", "1.abc.2", "x.00.1", "1.00.1.2"] {
            assert!(bad.parse::<PageKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tag_filters_match_strings_and_lists_of_strings_on_sqlite() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE w (pk INTEGER PRIMARY KEY, doc TEXT NOT NULL); \
             INSERT INTO w (doc) VALUES ('{\"tags\":{\"x\":\"1\",\"y\":[\"2\",\"3\"],\"n\":5}}'), \
             ('{\"tags\":{\"x\":[\"1\"],\"y\":\"3\"}}'), ('{}');",
        )
        .unwrap();
        let run = |filters: &[TagFilter]| {
            let mut q = Sql::new("SELECT w.pk FROM w WHERE 1=1");
            push_tag_filters(&mut q, "w.doc", filters);
            q.push(" ORDER BY w.pk");
            // Both texts hold the same parameters.
            assert_eq!(q.lite.matches('?').count(), q.params.len());
            assert_eq!(q.pg.matches('?').count(), q.params.len());
            q.query(Conn::Lite(&c), |r| r.get::<i64>(0)).unwrap()
        };
        let any = |name: &str, values: &[&str]| TagFilter::AnyOf {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let exists = |name: &str, present| TagFilter::Exists {
            name: name.into(),
            present,
        };
        assert_eq!(run(&[any("x", &["1"])]), vec![1, 2]);
        assert_eq!(run(&[any("y", &["2", "9"])]), vec![1]);
        assert_eq!(run(&[any("n", &["5"])]), Vec::<i64>::new());
        assert_eq!(run(&[any("x", &[])]), Vec::<i64>::new());
        assert_eq!(run(&[exists("n", true)]), vec![1]);
        assert_eq!(run(&[exists("n", false), any("y", &["3"])]), vec![2]);
    }
}
