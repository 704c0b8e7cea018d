//! Flow Profiles: immutable documents of technical metadata, listed by insertion order.

use rusqlite::{params, OptionalExtension};

use super::listing::{paginate, Order, Page, PageKey, Sql};
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
        self.conn
            .prepare_cached("INSERT INTO profiles (id, doc) VALUES (?1, ?2)")?
            .execute(params![id, doc])
            .map_err(|e| conflict_on_unique(e, || format!("profile {id} already exists")))?;
        Ok(())
    }
}

impl Index {
    /// The document of Profile `id`, if any.
    pub async fn get_profile(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT doc FROM profiles WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
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
        for (path, v) in [
            ("$.flow_metadata.format", &filter.format),
            ("$.flow_metadata.codec", &filter.codec),
            ("$.label", &filter.label),
        ] {
            if let Some(v) = v {
                q.push(&format!(" AND json_extract(p.doc, '{path}') = "))
                    .bind(v.clone());
            }
        }
        order.push_after(&mut q, after);
        order.push_order_limit(&mut q, limit);
        let rows = self
            .read(move |c| {
                q.query(c, |r| {
                    Ok((
                        r.get::<_, String>(1)?,
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
