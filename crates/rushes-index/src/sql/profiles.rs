//! Flow Profiles: immutable documents of technical metadata, listed by insertion order.

use super::listing::{paginate, Order, Page, PageKey, Sql};
use crate::db::p;
use crate::error::conflict_on_unique;
use crate::sql::Tx;
use crate::{Index, Result};

/// Filters of `GET /service/profiles`.
#[derive(Debug, Clone, Default)]
pub struct ProfileFilter {
    pub format: Option<String>,
    pub codec: Option<String>,
    pub label: Option<String>,
}

impl Tx<'_> {
    /// Inserts a Profile; a Profile with the same id is a conflict.
    pub fn insert_profile(&self, id: &str, doc: &str) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO profiles (id, doc) VALUES (?1, ?2)",
                p![id, doc],
            )
            .map_err(|e| conflict_on_unique(e, || format!("profile {id} already exists")))?;
        Ok(())
    }
}

impl Index {
    /// The document of Profile `id`, if any.
    pub async fn get_profile(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_opt("SELECT doc FROM profiles WHERE id = ?1", p![id], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// One page of Profile documents, in insertion order.
    pub async fn list_profiles(
        &self,
        filter: &ProfileFilter,
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Page<String>> {
        let order = Order {
            k1: "(p.pk * 0)",
            k2: "''",
            pk: "p.pk",
            desc: false,
        };
        let mut q = Sql::new("SELECT p.pk, p.doc");
        order.push_select(&mut q);
        q.push(" FROM profiles p WHERE 1=1");
        // The same JSON path for each engine: SQLite's `$.a.b` and PostgreSQL's `{a,b}`.
        for (lite_path, pg_path, v) in [
            (
                "$.flow_metadata.format",
                "{flow_metadata,format}",
                &filter.format,
            ),
            (
                "$.flow_metadata.codec",
                "{flow_metadata,codec}",
                &filter.codec,
            ),
            ("$.label", "{label}", &filter.label),
        ] {
            if let Some(v) = v {
                q.push_pick(
                    &format!(" AND json_extract(p.doc, '{lite_path}') = "),
                    &format!(" AND (p.doc::jsonb #>> '{pg_path}') = "),
                )
                .bind(v);
            }
        }
        order.push_after(&mut q, after);
        order.push_order_limit(&mut q, limit);
        let rows = self
            .read(move |c| {
                q.query(c, |r| {
                    Ok((
                        r.get::<String>(1)?,
                        PageKey {
                            k1: 0,
                            k2: String::new(),
                            pk: r.get(0)?,
                        },
                    ))
                })
            })
            .await?;
        Ok(paginate(rows, limit))
    }
}
