//! Service settings: the store's name, description and other key -> JSON value settings.

use sqlx::Row;

use crate::{Index, Result};

impl Index {
    /// Every stored setting as (key, JSON text).
    pub async fn service_settings(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT key, value FROM service_settings ORDER BY key")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect()
    }

    /// Sets each (key, JSON text) in one transaction.
    pub async fn set_service_settings(&self, settings: &[(&str, String)]) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for (key, value) in settings {
            sqlx::query("INSERT INTO service_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
