//! Service settings: the store's name, description and other key -> JSON value settings.

use rusqlite::params;

use crate::sqlite::Tx;
use crate::{Index, Result};

impl Index {
    /// Every stored setting as (key, JSON text).
    pub async fn service_settings(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT key, value FROM service_settings ORDER BY key")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}

impl Tx<'_> {
    /// Sets each (key, JSON text).
    pub fn set_service_settings(&self, settings: &[(&str, String)]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO service_settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?;
        for (key, value) in settings {
            st.execute(params![key, value])?;
        }
        Ok(())
    }
}
