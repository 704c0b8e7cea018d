//! Flow Profiles: immutable documents of technical metadata, listed by insertion order.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::listing::{paginate, Order, Page, PageKey};
use crate::error::conflict_on_unique;
use crate::{Index, Result};

/// Filters of `GET /service/profiles`.
#[derive(Debug, Clone, Default)]
pub struct ProfileFilter {
    pub format: Option<String>,
    pub codec: Option<String>,
    pub label: Option<String>,
}

impl Index {
    /// Inserts a Profile; a Profile with the same id is a conflict.
    pub async fn insert_profile(&self, id: &str, doc: &str) -> Result<()> {
        sqlx::query("INSERT INTO profiles (id, doc) VALUES (?, ?)")
            .bind(id)
            .bind(doc)
            .execute(self.writer())
            .await
            .map_err(|e| conflict_on_unique(e, || format!("profile {id} already exists")))?;
        Ok(())
    }

    /// The document of Profile `id`, if any.
    pub async fn get_profile(&self, id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT doc FROM profiles WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await?)
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
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT p.pk, p.doc");
        order.push_select(&mut qb);
        qb.push(" FROM profiles p WHERE 1=1");
        for (path, v) in [
            ("$.flow_metadata.format", &filter.format),
            ("$.flow_metadata.codec", &filter.codec),
            ("$.label", &filter.label),
        ] {
            if let Some(v) = v {
                qb.push(format!(" AND json_extract(p.doc, '{path}') = "))
                    .push_bind(v.clone());
            }
        }
        order.push_after(&mut qb, after);
        order.push_order_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        let rows = rows
            .iter()
            .map(|r| {
                let pk: i64 = r.try_get("pk")?;
                Ok((
                    r.try_get::<String, _>("doc")?,
                    PageKey {
                        k1: 0,
                        k2: String::new(),
                        pk,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, limit))
    }
}
