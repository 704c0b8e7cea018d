//! `rushes objects copy`: copies objects between storage backends through rushes-core.

use std::time::Duration;

use anyhow::{bail, Context};
use rushes_core::ops::objects::CopyOutcome;
use rushes_core::{Store, StoreSettings};
use rushes_model::{FlowId, ObjectId};
use rushes_objects::{MediaBackends, MediaStore};

use crate::cli::CopyArgs;
use crate::config::Settings;

/// Opens the store of `args.store` (index and backends, no server, no workers) and copies
/// the objects asked for to `--to`, one at a time, streaming. Prints one line per object
/// and a summary; fails (after trying every object) if any could not be copied.
pub async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let settings = Settings::from_args(args.store)?;
    let public_url = match &settings.public_url {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("http://{}", settings.listen))
            .context("cannot form the public URL")?,
    };
    let index = crate::app::open_index(&settings.database).await?;
    let media = MediaBackends::open(
        settings.storage.clone(),
        settings.default_storage,
        public_url,
    )
    .await
    .context("cannot open the storage backends")?;
    let to = backend(&media, &args.to)
        .with_context(|| format!("--to {}", args.to))?
        .backend_id();
    let from = match &args.from {
        Some(f) => Some(
            backend(&media, f)
                .with_context(|| format!("--from {f}"))?
                .backend_id(),
        ),
        None => None,
    };
    let store = Store::new(
        index,
        media,
        StoreSettings {
            object_timeout: Duration::from_secs(settings.object_timeout),
            gc_grace: Duration::from_secs(settings.gc_grace),
            ..StoreSettings::default()
        },
    );
    let result = run(&store, &args.object_ids, args.flow.as_deref(), from, to).await;
    store.close().await;
    result
}

async fn run(
    store: &Store,
    object_ids: &[String],
    flow: Option<&str>,
    from: Option<uuid::Uuid>,
    to: uuid::Uuid,
) -> anyhow::Result<()> {
    let ids: Vec<ObjectId> = match flow {
        Some(flow) => {
            let flow = FlowId::parse(flow).map_err(|e| anyhow::anyhow!("--flow {flow}: {e}"))?;
            store.flow_object_ids(&flow).await?
        }
        None => object_ids
            .iter()
            .map(|id| ObjectId::parse(id).map_err(|e| anyhow::anyhow!("object id {id:?}: {e}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let (mut copied, mut present, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for id in &ids {
        match store.copy_object(id, from, to).await {
            Ok(CopyOutcome::Copied { bytes: n }) => {
                copied += 1;
                bytes += n;
                println!("copied {id} ({n} bytes)");
            }
            Ok(CopyOutcome::AlreadyThere) => {
                present += 1;
                println!("already there {id}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("failed {id}: {e}");
            }
        }
    }
    println!(
        "{copied} copied ({bytes} bytes), {present} already there, {failed} failed, to storage backend {to}"
    );
    if failed > 0 {
        bail!("{failed} of {} objects could not be copied", ids.len());
    }
    Ok(())
}

/// The backend named by `name`: an id or a label.
fn backend<'a>(media: &'a MediaBackends, name: &str) -> anyhow::Result<&'a MediaStore> {
    let found = match uuid::Uuid::parse_str(name) {
        Ok(id) => media.get(id),
        Err(_) => media.by_label(name),
    };
    match found {
        Some(m) => Ok(m),
        None => {
            let known: Vec<String> = media
                .iter()
                .map(|m| {
                    let b = m.storage_backend();
                    format!("{} ({})", b.label, b.id)
                })
                .collect();
            bail!(
                "no storage backend with this id or label; known: {}",
                known.join(", ")
            )
        }
    }
}
