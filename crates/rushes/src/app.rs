//! `rushes serve`: builds the store from its settings and serves it until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rushes_api::auth::{cors_layer, Auth};
use rushes_api::{AppState, Limits};
use rushes_core::{Store, StoreSettings};
use rushes_index::{Index, PgSettings};
use rushes_objects::MediaBackends;

use crate::config::{self, Database, Settings};

/// Opens the metadata index the settings name.
pub async fn open_index(database: &Database) -> anyhow::Result<Index> {
    Ok(match database {
        Database::Sqlite(path) => Index::open_sqlite(path)
            .await
            .with_context(|| format!("cannot open the index {}", path.display()))?,
        Database::Postgres { url, max_readers } => Index::open_postgres(
            url,
            PgSettings {
                max_readers: *max_readers,
            },
        )
        .await
        .with_context(|| format!("cannot open the index at {}", rushes_index::redact_url(url)))?,
    })
}

pub async fn serve(args: Settings) -> anyhow::Result<()> {
    // Refuse an open store on a reachable address before touching anything.
    let auth_configured = args.auth.is_configured();
    config::check_exposure(args.listen, auth_configured, args.insecure)?;
    let cors = cors_layer(&args.cors).context("invalid CORS settings")?;
    let auth = if auth_configured {
        Auth::build(args.auth)
            .await
            .context("invalid authentication settings")?
    } else {
        Auth::open()
    };

    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = match args.public_url {
        Some(u) => u,
        None => {
            url::Url::parse(&format!("http://{local}")).context("cannot form the public URL")?
        }
    };

    let index = open_index(&args.database).await?;
    let media = MediaBackends::open(args.storage, args.default_storage, public_url.clone())
        .await
        .context("cannot open the storage backends")?;
    let settings = StoreSettings {
        object_timeout: Duration::from_secs(args.object_timeout),
        gc_grace: Duration::from_secs(args.gc_grace),
        worker_interval: Duration::from_secs(args.worker_interval.max(1)),
        work_lease: Duration::from_secs(args.work_lease),
        events: args.events,
        class_ceilings: args.class_ceilings,
        ..StoreSettings::default()
    };
    let store = Arc::new(Store::new(index, media, settings));
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let mut workers = store.start_workers(workers_stopped.clone());
    workers.push(store.start_gc(workers_stopped));

    let state = AppState {
        store: store.clone(),
        public_url: public_url.clone(),
        limits: Limits {
            max_json_body: args.max_body,
            ..Limits::default()
        },
    };
    let open = auth.is_open();
    // Ingest jobs (docs/JOBS.md) write through this node's own API, behind its auth.
    let jobs = crate::jobs::Jobs::new(
        crate::jobs::base_url_of(local),
        args.data_dir.join("jobs"),
        open,
    );
    // Partial segments of HLS playlists, cut through the same API (docs/HLS.md).
    let parts = crate::hls_parts::Parts::new(
        crate::jobs::base_url_of(local),
        args.data_dir.join("hls-parts"),
        open,
    );
    let extra = rushes_api::media::router_for(store.media())
        .merge(crate::jobs::router(
            jobs.clone(),
            auth.clone(),
            &state.limits,
        ))
        .merge(crate::hls_parts::router(parts, auth.clone()));
    let app = rushes_api::secured_router(state, extra, auth, cors);

    if !open {
        tracing::info!("authentication required on every TAMS path (media URLs are signed)");
    } else if config::is_loopback(local) {
        tracing::warn!(
            "serving without authentication on loopback address {local}: \
             anyone on this machine has full access; see docs/AUTH.md"
        );
    } else {
        tracing::warn!(
            "INSECURE: serving without authentication on {local} (--insecure): \
             anyone who can reach this address has full access"
        );
    }
    // Install the signal handlers before announcing the address, so that a signal sent
    // as soon as the address is known stops the server cleanly.
    let shutdown = shutdown_signal()?;
    // Jobs stop while the server still answers: their last writes go through it.
    let shutdown = async move {
        shutdown.await;
        jobs.shutdown(JOBS_STOP_WAIT).await;
    };
    tracing::info!(data_dir = %args.data_dir.display(), %public_url, "store ready");
    println!("rushes listening on http://{local}");

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error")?;
    let _ = stop_workers.send(true);
    for w in workers {
        let _ = w.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// How long a shutdown waits for ingest jobs to register their last segments and close
/// their flows.
const JOBS_STOP_WAIT: Duration = Duration::from_secs(10);

/// A future that resolves on SIGINT or SIGTERM; the handlers are installed when this is
/// called, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
