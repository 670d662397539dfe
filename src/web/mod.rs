//! The daemon's HTTP server (`[web]`): `/healthz` for a load balancer or monitoring, and
//! `/metrics` (Prometheus) when `[web] metrics = true`. Every response carries the security
//! headers ([`security_headers`]) and is counted per status for `/metrics`. It runs beside the
//! intake and the outbox in `spdesk run` and stops with them.

pub mod health;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::info;

use crate::config::Web;
use crate::daemon::health::Health;
use crate::store::Store;

/// What every handler reads: the settings, the database and the daemon's own state.
#[derive(Clone)]
pub struct WebState {
    pub web: Web,
    pub store: Store,
    pub health: Arc<Health>,
}

/// The headers on every response: no script but our own, no framing, no referrer to other
/// sites, no content-type guessing.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
];

/// Binds `[web] listen`, so a port in use stops `spdesk run` at start rather than later.
pub async fn bind(web: &Web) -> anyhow::Result<TcpListener> {
    TcpListener::bind(web.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "[web] listen: cannot listen on {}: {e}; choose a free address and port, or remove listen",
            web.listen
        )
    })
}

/// All routes with their layers.
pub fn router(state: WebState) -> Router {
    let mut app = Router::new().route("/healthz", get(health::healthz));
    if state.web.metrics {
        app = app.route("/metrics", get(metrics::metrics));
    }
    let app = app
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, count_response));
    security_headers(app)
}

fn security_headers(mut app: Router) -> Router {
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app
}

/// Counts each response by status for `spdesk_web_requests_total`.
async fn count_response(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    state.health.web_response(response.status().as_u16());
    response
}

/// A plain-text body with its content type.
pub(crate) fn text(status: axum::http::StatusCode, body: String, kind: &'static str) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

/// Serves on `listener` until `stop` turns true; requests in progress are finished first.
/// Over HTTPS when `[web] tls_cert`/`tls_key` are set.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    let tls = state.web.tls.clone();
    info!(listen = ?addr, metrics = state.web.metrics, https = tls.is_some(), "web server listening");
    let app = router(state);
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped(stop))
                .await?
        }
        Some(tls) => {
            let config = tls::server_config(&tls)?;
            let handle = axum_server::Handle::new();
            let on_stop = handle.clone();
            tokio::spawn(async move {
                stopped(stop).await;
                on_stop.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener.into_std()?, config)
                .handle(handle)
                .serve(app.into_make_service())
                .await?
        }
    }
    info!("web server stopped");
    Ok(())
}

/// Resolves once the daemon's stop signal is set (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}
