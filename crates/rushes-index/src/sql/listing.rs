//! Shared pieces of keyset-paginated listings: [`PageKey`], [`TagFilter`] and the SQL they add.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row, Statement};

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
/// Listings with filters have many shapes. A shape that depends only on which filters are
/// present is prepared once per connection and cached; one whose text depends on the
/// length of a list given by the client (`IN (?, ?, ...)`) is prepared each time, so
/// that such lists cannot crowd the hot statements out of the cache.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    text: String,
    params: Vec<Value>,
    cacheable: bool,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            params: Vec::new(),
            cacheable: true,
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a `?` bound to `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.text.push('?');
        self.params.push(value.into());
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
            self.bind(v.clone());
        }
        self
    }

    /// Runs the statement on `conn`, mapping each row with `f`.
    pub(crate) fn query<T>(
        &self,
        conn: &Connection,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut cached;
        let mut plain;
        let st: &mut Statement<'_> = if self.cacheable {
            cached = conn.prepare_cached(&self.text)?;
            &mut cached
        } else {
            plain = conn.prepare(&self.text)?;
            &mut plain
        };
        let rows = st
            .query_map(params_from_iter(self.params.iter()), f)?
            .collect::<rusqlite::Result<Vec<T>>>()?;
        Ok(rows)
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
    /// Adds `, k1 AS k1, k2 AS k2` to a select list.
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
            .bind(key.k2.clone())
            .push(", ")
            .bind(key.pk)
            .push(")");
    }

    /// Adds ` ORDER BY ... LIMIT limit+1` (one more row tells whether there is a next page).
    pub(crate) fn push_order_limit(&self, q: &mut Sql, limit: u32) {
        let dir = if self.desc { "DESC" } else { "ASC" };
        q.push(&format!(
            " ORDER BY {} {dir}, {} {dir}, {} {dir} LIMIT ",
            self.k1, self.k2, self.pk
        ));
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
pub(crate) fn push_tag_filters(q: &mut Sql, doc: &str, filters: &[TagFilter]) {
    for f in filters {
        match f {
            TagFilter::Exists { name, present } => {
                q.push(if *present {
                    " AND EXISTS"
                } else {
                    " AND NOT EXISTS"
                });
                q.push(&format!(
                    " (SELECT 1 FROM json_each({doc}, '$.tags') t WHERE t.key = "
                ));
                q.bind(name.clone()).push(")");
            }
            TagFilter::AnyOf { name, values } => {
                q.push(&format!(
                    " AND EXISTS (SELECT 1 FROM json_each({doc}, '$.tags') t WHERE t.key = "
                ));
                q.bind(name.clone());
                q.push(" AND ((t.type = 'text' AND t.value IN (");
                q.list(values);
                q.push(")) OR (t.type = 'array' AND EXISTS (SELECT 1 FROM json_each(t.value) v WHERE v.value IN (");
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
}
