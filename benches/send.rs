//! courier's executor against bare reqwest, on the same loopback server, with 1 and
//! 64 requests in flight. Both sides do the same work: a GET with a path variable,
//! read the whole JSON answer, take one field out of it. courier also renders the
//! URL template, classifies the outcome, keeps the log and maps the field into a
//! variable: that is the overhead measured. `courier-traced` sends the same with
//! spans recorded by OpenTelemetry's layer (what `--otlp` installs); `courier` has
//! no subscriber, as without `--otlp`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier::request::{CompiledRequest, Cookies, Destinations, Executor, ExecutorOptions};
use courier::{Context, Engine, Variables};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[path = "support/counting.rs"]
mod counting;

const ANSWER: &str =
    r#"{"price": {"amount": 125, "currency": "Euro", "validUntil": "2022-12-31"}, "productId": "123abc"}"#;

/// A keep-alive HTTP/1 server on loopback that answers every request with `ANSWER`.
fn start_server(runtime: &tokio::runtime::Runtime) -> String {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
                    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    format!("http://{address}")
}

struct Courier {
    executor: Executor,
    request: CompiledRequest,
    variables: Variables,
    context: Context,
}

impl Courier {
    async fn send(&self) {
        let mut cookies = Cookies::new();
        let outcome = self.executor.execute(&self.request, &self.variables, &self.context, &mut cookies).await;
        assert_eq!(outcome.status, Some(200));
    }
}

async fn bare(client: &reqwest::Client, base: &str) {
    let response =
        client.get(format!("{base}/products/123/price")).timeout(Duration::from_secs(20)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert!(json["price"]["amount"].is_number());
}

/// Runs `iterations` rounds of `in_flight` concurrent calls of `call` and returns the
/// time per round.
fn rounds<F, Fut>(runtime: &tokio::runtime::Runtime, iterations: u64, in_flight: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..in_flight {
                tasks.spawn(call());
            }
            while let Some(result) = tasks.join_next().await {
                result.unwrap();
            }
        }
        start.elapsed()
    })
}

fn send(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = start_server(&runtime);
    let spec = r#"
        method = "GET"
        url = "${shop_url}/products/${product_id}/price"

        [[mappings]]
        source = "price.amount"
        target = "product_price"
    "#;
    let courier = Arc::new(Courier {
        executor: Executor::with_options(ExecutorOptions {
            destinations: Destinations::allowing_private(),
            ..ExecutorOptions::default()
        }),
        request: CompiledRequest::from_toml(&Engine::new(), spec, std::path::Path::new(".")).unwrap(),
        variables: Variables::from_strings([("shop_url", base.as_str()), ("product_id", "123")]),
        context: Context::default(),
    });
    // The same limits courier applies by default: equivalent work includes the timers.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = Arc::new(base);

    let per_request = |name: &str, run: &dyn Fn(u64)| {
        eprintln!("allocations per request, {name}: {}", counting::allocations_per_call(200, run));
    };
    per_request("courier", &|n| {
        rounds(&runtime, n, 1, || {
            let courier = courier.clone();
            async move { courier.send().await }
        });
    });
    // The same sends with spans recorded: a subscriber with OpenTelemetry's layer
    // (as `--otlp` installs), spans built with ids and attributes, then ended. The
    // export (a batch, on its own thread) is not part of it.
    #[cfg(feature = "otel")]
    let (dispatch, _provider) = recording_dispatch();
    #[cfg(feature = "otel")]
    let traced = |in_flight: usize, iterations: u64| {
        use tracing::instrument::WithSubscriber;
        rounds(&runtime, iterations, in_flight, || {
            let courier = courier.clone();
            async move { courier.send().await }.with_subscriber(dispatch.clone())
        })
    };
    #[cfg(feature = "otel")]
    per_request("courier, spans recorded", &|n| {
        traced(1, n);
    });
    per_request("reqwest", &|n| {
        rounds(&runtime, n, 1, || {
            let (client, base) = (client.clone(), base.clone());
            async move { bare(&client, &base).await }
        });
    });

    let mut group = c.benchmark_group("send");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for in_flight in [1usize, 64] {
        group.bench_function(format!("courier/{in_flight}"), |b| {
            b.iter_custom(|iterations| {
                rounds(&runtime, iterations, in_flight, || {
                    let courier = courier.clone();
                    async move { courier.send().await }
                })
            })
        });
        group.bench_function(format!("reqwest/{in_flight}"), |b| {
            b.iter_custom(|iterations| {
                rounds(&runtime, iterations, in_flight, || {
                    let (client, base) = (client.clone(), base.clone());
                    async move { bare(&client, &base).await }
                })
            })
        });
    }
    #[cfg(feature = "otel")]
    for in_flight in [1usize, 64] {
        group.bench_function(format!("courier-traced/{in_flight}"), |b| {
            b.iter_custom(|iterations| traced(in_flight, iterations))
        });
    }
    group.finish();
}

/// A subscriber recording spans with OpenTelemetry, for the futures it is given to.
#[cfg(feature = "otel")]
fn recording_dispatch() -> (tracing::Dispatch, opentelemetry_sdk::trace::SdkTracerProvider) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_level(false);
    (tracing::Dispatch::new(tracing_subscriber::registry().with(layer)), provider)
}

criterion_group!(benches, send);
criterion_main!(benches);
