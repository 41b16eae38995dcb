//! What operators scrape and probe: `GET /metrics` (Prometheus text exposition of
//! the metrics of `request::metrics`), `GET /healthz` (the process runs) and
//! `GET /readyz` (the store answers). `courier serve` answers them on its own
//! listener; `courier worker --metrics ADDR` on one of its own.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::replay::ReplayStore;
use crate::request::metrics;

/// The queue's gauges are read from the store at most this often, however often
/// the page is scraped.
pub const QUEUE_READ_EVERY: Duration = Duration::from_secs(1);

/// The process's Prometheus recorder, installed as the `metrics` facade's global
/// recorder on first use. `None` when another recorder was installed first (a
/// host's own): courier then records into that one.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(metrics::ATTEMPT_DURATION.to_owned()), metrics::DURATION_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            metrics::describe();
            Some(handle)
        })
        .as_ref()
}

struct Probe {
    store: Option<Arc<dyn ReplayStore>>,
    queue_read_at: Mutex<Option<Instant>>,
}

/// The three routes, with the store that `/readyz` asks and the queue's gauges
/// are read from (none for `serve`, which keeps no queue of its own).
pub fn router(store: Option<Arc<dyn ReplayStore>>) -> Router {
    // Installed now, so that the first scrape already has the help texts.
    let _ = prometheus();
    let probe = Arc::new(Probe { store, queue_read_at: Mutex::new(None) });
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(probe)
}

async fn scrape(axum::extract::State(probe): axum::extract::State<Arc<Probe>>) -> Response {
    if let Some(store) = probe.store.clone() {
        let due = {
            let mut read_at = probe.queue_read_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = read_at.is_none_or(|at| at.elapsed() >= QUEUE_READ_EVERY);
            if due {
                *read_at = Some(Instant::now());
            }
            due
        };
        if due {
            // A store that does not answer leaves the last figures.
            let read =
                tokio::task::spawn_blocking(move || (store.queue_counts(chrono::Utc::now()), store.hosts())).await;
            if let Ok((counts, hosts)) = read {
                if let Ok(counts) = counts {
                    metrics::queue(counts.due, counts.waiting);
                }
                if let Ok(hosts) = hosts {
                    metrics::breakers(hosts.iter().map(|host| (host.host.as_str(), host.breaker.gauge())));
                }
            }
        }
    }
    match prometheus() {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics go to the host's own recorder\n").into_response(),
    }
}

async fn ready(axum::extract::State(probe): axum::extract::State<Arc<Probe>>) -> Response {
    let Some(store) = probe.store.clone() else {
        return (StatusCode::OK, "ready\n").into_response();
    };
    match tokio::task::spawn_blocking(move || store.queue_counts(chrono::Utc::now())).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        // Store errors never carry a password (see replay's address handling).
        Ok(Err(error)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("the store does not answer: {error}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the store check failed\n").into_response(),
    }
}
