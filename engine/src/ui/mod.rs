//! The web console: the live service map, incidents and service features in a browser, served
//! by the job (`aiops run --ui ADDR`) or on its own over stored data (`aiops ui`).
//!
//! It exists because console lines and SQL answer "what happened" only to people who already
//! know where to look. The pages are one HTML file, a script and a stylesheet embedded in the
//! binary (no internet needed, nothing vendored: the map is plain SVG drawn from positions the
//! server computes with [`crate::graph::layout`]), and every figure they show comes from the
//! [`api`] under `/api`, which scripts can call too. The console is read-only, binds loopback
//! unless told otherwise, and asks for `Authorization: Bearer <token>` on `/api` when given a
//! token (the pages take it from the address: `/#token=...`). Pages poll `/api/summary` every
//! few seconds, so a newly closed minute shows within seconds of reaching the store.
//!
//! State: none beyond the [`Store`] it reads; every answer reads the files or the database again.

pub mod api;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::watch;

pub use self::store::Store;
use crate::error::{Error, Result};
use crate::time::Pane;
use api::Failure;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// What the console serves from.
#[derive(Debug)]
pub struct UiConfig {
    /// Where to listen, e.g. `127.0.0.1:9465` (port 0: any free port).
    pub addr: String,
    /// The outputs to show.
    pub store: Store,
    /// When set, `/api` answers only requests carrying it as a bearer token.
    pub token: Option<String>,
    /// Minutes an edge stays on the map after it was last seen (`graph.edge_expiry_minutes`).
    pub expiry_minutes: u64,
}

struct App {
    store: Store,
    token: Option<String>,
    expiry: Pane,
}

/// The running console; dropping it stops the server.
pub struct Ui {
    addr: SocketAddr,
    runtime: Option<Runtime>,
    shutdown: watch::Sender<bool>,
}

impl Ui {
    /// Binds `config.addr` and serves until dropped.
    pub fn start(config: UiConfig) -> Result<Ui> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("web-console")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the web console's runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&config.addr))
            .map_err(|e| Error::Config(format!("ui {:?}: cannot listen: {e}", config.addr)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("ui {:?}: {e}", config.addr)))?;
        let app = Arc::new(App {
            store: config.store,
            token: config.token.filter(|t| !t.is_empty()),
            expiry: config.expiry_minutes as Pane,
        });
        let (shutdown, mut stopped) = watch::channel(false);
        let served = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        runtime.spawn(async move {
            if let Err(error) = served.await {
                tracing::error!(%error, "the web console stopped");
            }
        });
        Ok(Ui {
            addr,
            runtime: Some(runtime),
            shutdown,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/api", get(api_index))
        .route("/api/summary", get(summary))
        .route("/api/graph", get(graph))
        .route("/api/incidents", get(incidents))
        .route("/api/incidents/{id}", get(incident))
        .route("/api/services/{name}", get(service))
        .route("/api/services/{name}/operations", get(operations))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), authorize));
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(SCRIPT, "text/javascript") }),
        )
        .route("/style.css", get(|| async { asset(STYLE, "text/css") }))
        .merge(api)
        .with_state(app)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response()
}

/// Refuses `/api` requests without the configured bearer token.
async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given == Some(token.as_str()) {
        true => next.run(request).await,
        false => error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required".into(),
        ),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn answer(result: std::result::Result<Value, Failure>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(Failure::BadRequest(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(Failure::NotFound(message)) => error(StatusCode::NOT_FOUND, message),
        Err(Failure::Store(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Runs a read of the store off the server's threads.
async fn read<F>(app: Arc<App>, work: F) -> Response
where
    F: FnOnce(&App) -> std::result::Result<Value, Failure> + Send + 'static,
{
    let done = tokio::task::spawn_blocking(move || work(&app)).await;
    match done {
        Ok(result) => answer(result),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

type Params = Query<std::collections::HashMap<String, String>>;

async fn api_index() -> Response {
    let doc = api::PATHS
        .iter()
        .map(|(path, what)| json!({"path": path, "answer": what}));
    Json(Value::Array(doc.collect())).into_response()
}

async fn summary(State(app): State<Arc<App>>) -> Response {
    read(app, |app| Ok(api::summary(&app.store)?)).await
}

async fn graph(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    read(app, move |app| {
        let at = api::minute_param("at", params.get("at").map(String::as_str))?;
        Ok(api::graph(&app.store, at, app.expiry)?)
    })
    .await
}

async fn incidents(State(app): State<Arc<App>>) -> Response {
    read(app, |app| Ok(api::incidents(&app.store)?)).await
}

async fn incident(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    read(app, move |app| api::incident(&app.store, &id)).await
}

async fn service(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Response {
    read(app, move |app| {
        let from = api::minute_param("from", params.get("from").map(String::as_str))?;
        let to = api::minute_param("to", params.get("to").map(String::as_str))?;
        let columns = params.get("columns").map(String::as_str);
        api::service(&app.store, &name, (from, to), columns, app.expiry)
    })
    .await
}

async fn operations(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Response {
    read(app, move |app| {
        let at = api::minute_param("at", params.get("at").map(String::as_str))?;
        api::operations(&app.store, &name, at)
    })
    .await
}
