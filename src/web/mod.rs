//! The daemon's HTTP server (`[web]`): the Helpdesk's web console (login, the queue, one
//! order and its actions, ...; DESIGN.md "Web console"), `/healthz` for a load balancer or
//! monitoring, and `/metrics` (Prometheus) when `[web] metrics = true`. Every response
//! carries the security headers ([`security_headers`]) and is counted per status for
//! `/metrics`. It runs beside the intake and the outbox in `spdesk run` and stops with them.
//!
//! The console acts through the same order logic as the CLI (`store::actions`,
//! `store::dialogue`): a page is a view, a button a call of the function `spdesk orders`
//! calls, with the signed-in person's login name as the actor.

pub mod auth;
pub mod billing;
pub mod calendar;
pub mod health;
pub mod metrics;
pub mod order;
pub mod order_actions;
pub mod page;
pub mod post;
pub mod queue;
pub mod tls;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::info;

use crate::config::Web;
use crate::daemon::Shared;
use crate::daemon::health::Health;
use crate::daemon::intake::Pipeline;
use crate::store::Store;

/// What every handler reads: the settings, the database, the daemon's own state, the order
/// logic's parts and the page templates.
#[derive(Clone)]
pub struct WebState {
    pub web: Web,
    pub store: Store,
    pub health: Arc<Health>,
    /// The config, templates and actions `spdesk orders` uses.
    pub shared: Shared,
    /// The rules and limits a person's field edit is judged by, as the intake judges a form.
    pub pipeline: Arc<Pipeline>,
    pub pages: Arc<minijinja::Environment<'static>>,
    /// A random key of this daemon's run: the CSRF tokens of people signed in by the proxy.
    pub csrf_key: String,
    pub logins: Arc<auth::LoginGate>,
}

impl WebState {
    pub fn new(
        web: Web,
        shared: &Shared,
        pipeline: Arc<Pipeline>,
        health: Arc<Health>,
    ) -> anyhow::Result<WebState> {
        Ok(WebState {
            web,
            store: shared.store.clone(),
            health,
            shared: shared.clone(),
            pipeline,
            pages: Arc::new(page::environment()?),
            csrf_key: crate::users::new_token(),
            logins: Arc::default(),
        })
    }
}

/// The largest form a browser may POST (a reply's text, a field edit).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The headers on every response: no script but our own, no framing, no referrer to other
/// sites, no content-type guessing.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
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
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/static/spdesk.css", get(page::stylesheet))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/", get(queue::queue))
        .merge(order::routes())
        .merge(order_actions::routes())
        .merge(calendar::routes())
        .merge(post::routes())
        .merge(billing::routes())
        .merge(users::routes());
    if state.web.metrics {
        app = app.route("/metrics", get(metrics::metrics));
    }
    let https = state.web.tls.is_some();
    let app = app
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(state, count_response));
    let app = security_headers(app);
    if https {
        // Served over our own TLS: browsers keep to https for a year.
        app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
    } else {
        app
    }
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

/// How long a client may take to send a request's headers (a slow sender holds a
/// connection, so it may not hold it long).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request may take, its body included; answered 408 after.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves on `listener` until `stop` turns true; requests in progress are finished first
/// (for up to 10 seconds). Over HTTPS when `[web] tls_cert`/`tls_key` are set.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    let tls = state.web.tls.clone();
    info!(listen = ?addr, metrics = state.web.metrics, https = tls.is_some(), "web server listening");
    let app = router(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        stopped(stop).await;
        on_stop.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let listener = listener.into_std()?;
    match tls {
        None => {
            let mut server = axum_server::from_tcp(listener)
                .acceptor(IdleTimeout)
                .handle(handle);
            limit_header_time(server.http_builder());
            server.serve(app).await?
        }
        Some(tls) => {
            let config = tls::server_config(&tls)?;
            let mut server = axum_server::from_tcp_rustls(listener, config)
                .map(|tls| tls.acceptor(IdleTimeout))
                .handle(handle);
            limit_header_time(server.http_builder());
            server.serve(app).await?
        }
    }
    info!("web server stopped");
    Ok(())
}

/// How long a connection may stay silent (no byte from the client; a keep-alive between
/// requests included) or leave our answer unread before it is closed: a client that connects
/// and says nothing, or stops reading, cannot hold one of the daemon's file descriptors.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Wraps each accepted connection (under TLS too: the handshake counts) in the idle timeout.
#[derive(Clone, Copy)]
struct IdleTimeout;

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for IdleTimeout {
    type Stream = std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>>;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let mut s = tokio_io_timeout::TimeoutStream::new(stream);
        s.set_read_timeout(Some(IDLE_TIMEOUT));
        s.set_write_timeout(Some(IDLE_TIMEOUT));
        std::future::ready(Ok((Box::pin(s), service)))
    }
}

/// Bounds the time to send the headers (hyper needs a timer for that).
fn limit_header_time(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
}

/// Resolves once the daemon's stop signal is set (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}
