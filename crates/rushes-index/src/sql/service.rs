//! Service settings: the store's name, description and other key -> JSON value settings.

use crate::db::p;
use crate::sql::Tx;
use crate::{Index, Result};

impl Index {
    /// Every stored setting as (key, JSON text).
    pub async fn service_settings(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            c.query(
                "SELECT key, value FROM service_settings ORDER BY key",
                p![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }
}

impl Tx<'_> {
    /// Sets each (key, JSON text).
    pub fn set_service_settings(&self, settings: &[(&str, String)]) -> Result<()> {
        for (key, value) in settings {
            self.db.execute(
                "INSERT INTO service_settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                p![key, value],
            )?;
        }
        Ok(())
    }
}
