//! Who is asking: the signed-in person ([`Staff`]) from the session cookie or, from a trusted
//! reverse proxy only, its SSO header; a POST's CSRF token ([`Posted`]); login and logout.
//!
//! Sessions live in the database (only the SHA-256 of the cookie's token), so a restart keeps
//! people signed in and `spdesk users disable` ends their sessions at once. The cookie is
//! HttpOnly and SameSite=Strict, Secure when the console is served over TLS or behind a proxy
//! that says https. Every POST carries the session's CSRF token in a form field `csrf`; the
//! login form, which has no session yet, carries a double-submit token of its own.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::WebState;
use super::page::{WebError, render};
use crate::users::{self, Role};

/// The session cookie's name over plain HTTP.
pub const SESSION_COOKIE: &str = "spdesk_session";
/// Its name over https: the `__Host-` prefix makes browsers refuse one set by a sibling
/// subdomain or without Secure.
pub const SESSION_COOKIE_HTTPS: &str = "__Host-spdesk_session";

/// The session cookie's name for a request over https or not.
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        SESSION_COOKIE_HTTPS
    } else {
        SESSION_COOKIE
    }
}
/// The login form's double-submit cookie (there is no session to hold its token yet).
const LOGIN_COOKIE: &str = "spdesk_login";
/// Failed logins for one name within [`THROTTLE_WINDOW_MINUTES`] before that name waits.
pub const MAX_FAILURES_PER_NAME: i64 = 5;
/// Failed logins from one address within the window before that address waits.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;

/// The signed-in person a page is for.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The login name, as the order history records it.
    pub name: String,
    pub role: Role,
    /// The token every POST form of this person carries.
    pub csrf: String,
}

impl Staff {
    /// Whether this person may act on orders (operator or admin).
    pub fn acts(&self) -> bool {
        self.role.acts_on_orders()
    }

    /// `Ok` when the person may act on orders, else the 403 page.
    pub fn require_operator(&self) -> Result<(), WebError> {
        if self.acts() {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!(
                "{} har rollen {} og kan kun læse; en administrator kan give rollen operator",
                self.name, self.role
            )))
        }
    }

    /// `Ok` when the person manages people (admin), else the 403 page.
    pub fn require_admin(&self) -> Result<(), WebError> {
        if self.role.manages_users() {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!(
                "{} har rollen {}; kun en administrator kan det",
                self.name, self.role
            )))
        }
    }
}

/// The client's address: the TCP peer (a proxy's own address when behind one).
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The address a login attempt is counted for: the TCP peer, or behind a trusted proxy the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (what a client
/// writes further left is not believed). IPv6 counts per /64: one subscriber's whole block.
pub fn client_address(state: &WebState, parts: &Parts) -> String {
    let trusted = |ip: IpAddr| state.web.trusted_proxies.iter().any(|n| n.contains(ip));
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    counted_address(peer(parts), &forwarded, trusted)
}

/// [`client_address`] from the peer, the `X-Forwarded-For` entries (left to right) and which
/// addresses are trusted proxies.
fn counted_address(
    peer: Option<IpAddr>,
    forwarded: &[&str],
    trusted: impl Fn(IpAddr) -> bool,
) -> String {
    let mut ip = peer;
    if ip.is_some_and(&trusted)
        && let Some(client) = forwarded
            .iter()
            .rev()
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .find(|a| !trusted(*a))
    {
        ip = Some(client);
    }
    match ip {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(ip) => ip.to_string(),
        None => String::new(),
    }
}

/// Whether the request came through one of `[web] trusted_proxies`.
fn from_trusted_proxy(state: &WebState, parts: &Parts) -> bool {
    peer(parts).is_some_and(|ip| state.web.trusted_proxies.iter().any(|n| n.contains(ip)))
}

/// Whether the browser reached us over https (our own TLS, or a trusted proxy saying so).
pub fn over_https(state: &WebState, parts: &Parts) -> bool {
    state.web.tls.is_some()
        || (from_trusted_proxy(state, parts)
            && parts
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")))
}

/// The value of cookie `name` in the request, if any.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, Secure over https.
fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let mut c = Cookie::build((name.to_string(), value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    c = match max_age {
        Some(age) => c.max_age(cookie::time::Duration::seconds(age.num_seconds())),
        None => c.max_age(cookie::time::Duration::ZERO),
    };
    HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The CSRF token of a person signed in by the proxy header: derived from the daemon's random
/// key and the name, so it needs no stored session and dies with the daemon.
fn proxy_csrf(state: &WebState, name: &str) -> String {
    users::token_hash(&format!("{}\u{0}{}", state.csrf_key, users::name_key(name)))
}

/// The person named by the trusted proxy's header, when the request came through one.
async fn proxy_person(state: &WebState, parts: &Parts) -> Result<Option<Staff>, WebError> {
    let Some(header_name) = &state.web.trusted_proxy_header else {
        return Ok(None);
    };
    if !from_trusted_proxy(state, parts) {
        return Ok(None);
    }
    let mut values = parts.headers.get_all(header_name.as_str()).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        // None, or several: a proxy that adds rather than replaces would let the client's
        // own value through, so several are no one.
        return Ok(None);
    };
    let Some(name) = std::str::from_utf8(value.as_bytes())
        .ok()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    match state.store.find_user(name).await? {
        Some(u) if u.disabled_at.is_none() => Ok(Some(Staff {
            csrf: proxy_csrf(state, &u.name),
            name: u.name,
            role: u.role,
        })),
        _ => Err(WebError::Forbidden(format!(
            "{name} er logget ind hos proxyen, men er ikke en aktiv bruger af spdesk; \
             en administrator opretter brugeren med spdesk users add"
        ))),
    }
}

/// The person behind the request: the trusted proxy's header, else a live session.
pub async fn person(state: &WebState, parts: &Parts) -> Result<Option<Staff>, WebError> {
    if let Some(staff) = proxy_person(state, parts).await? {
        return Ok(Some(staff));
    }
    let secure = over_https(state, parts);
    let Some(token) = cookie_value(&parts.headers, session_cookie(secure)) else {
        return Ok(None);
    };
    let session = state
        .store
        .live_session(&users::token_hash(&token), Utc::now())
        .await?;
    Ok(session.map(|s| Staff {
        name: s.user.name,
        role: s.user.role,
        csrf: s.csrf_token,
    }))
}

/// A page for signed-in people only: without a session the browser goes to `/login`.
impl FromRequestParts<WebState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        match person(state, parts).await {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) if arrived_from_another_site(parts) => Err(render(
                state,
                None,
                "arrive.html",
                minijinja::context! { url => own_path(parts) },
            )),
            Ok(None) => {
                let back = own_path(parts);
                let query = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
                let to = format!("/login?{query}");
                Err(Redirect::to(&to).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A top-level GET from a link on another site (a staff mail in webmail, a chat): the
/// browser held the SameSite=Strict cookie back, so the person would meet the login page
/// although signed in. Such a request gets a page that reloads the same address from our own
/// site, which sends the cookie.
fn arrived_from_another_site(parts: &Parts) -> bool {
    parts.method == Method::GET
        && parts
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        && parts
            .headers
            .get("sec-fetch-mode")
            .is_some_and(|v| v.as_bytes() == b"navigate")
}

/// The request's own path and query (for a reload or the way back after login).
fn own_path(parts: &Parts) -> String {
    safe_next(parts.uri.path_and_query().map(|p| p.as_str()))
}

/// The form field every POST carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Compares two tokens in time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A browser's `Origin` of another site (a cross-site POST), when it sends one: ours is the
/// request's `Host`, or `[web] public_url` (a proxy may rewrite `Host`).
fn foreign_origin(state: &WebState, parts: &Parts) -> bool {
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return parts.headers.contains_key(header::ORIGIN);
    };
    let public = state
        .web
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'));
    if public.is_some_and(|p| p.eq_ignore_ascii_case(origin)) {
        return false;
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    match (host, origin_host) {
        (Some(h), Some(o)) => !h.eq_ignore_ascii_case(o),
        _ => true,
    }
}

/// A POST from a signed-in person whose form carries their CSRF token: every POST handler
/// takes its form through this, so none can forget the check. The form may come URL-encoded
/// or as multipart/form-data (a file attached to "Svar"); its fields read the same either way.
pub struct Posted<T> {
    pub staff: Staff,
    pub form: T,
    /// The files of a multipart form (none for a URL-encoded one; an empty file input is none).
    pub files: Vec<Upload>,
}

/// A file a person attached to a form.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The field it came in.
    pub field: String,
    /// Its name without any folder the browser may have sent.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The largest multipart form (a reply's text and its file): what a receipt may carry.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The fields (as URL-encoded text, so the form type reads them as from any form) and the
/// files of a multipart body.
async fn multipart_fields(
    bytes: axum::body::Bytes,
    boundary: String,
) -> Result<(String, Vec<Upload>), String> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut files = Vec::new();
    while let Some(field) = parts.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| e.to_string())?;
        match file_name {
            Some(f) => {
                let base = f.rsplit(['/', '\\']).next().unwrap_or_default().trim();
                if !base.is_empty() || !data.is_empty() {
                    files.push(Upload {
                        field: name,
                        name: base.to_string(),
                        bytes: data.to_vec(),
                    });
                }
            }
            None => pairs.push((name, String::from_utf8_lossy(&data).into_owned())),
        }
    }
    let text = serde_urlencoded::to_string(&pairs).map_err(|e| e.to_string())?;
    Ok((text, files))
}

impl<T: DeserializeOwned + Send> FromRequest<WebState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let staff = Staff::from_request_parts(&mut parts, state).await?;
        if parts.method != Method::POST || foreign_origin(state, &parts) {
            return Err(WebError::Csrf.into_response());
        }
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok());
        let limit = if boundary.is_some() {
            MAX_UPLOAD_BYTES
        } else {
            super::MAX_FORM_BYTES
        };
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            WebError::BadRequest(format!(
                "formularen er for stor (højst {} MB) eller blev afbrudt",
                limit / (1024 * 1024)
            ))
            .into_response()
        })?;
        let unreadable =
            || WebError::BadRequest("formularen kunne ikke læses".into()).into_response();
        let (bytes, files) = match boundary {
            Some(b) => {
                let (text, files) = multipart_fields(bytes, b).await.map_err(|_| unreadable())?;
                (axum::body::Bytes::from(text), files)
            }
            None => (bytes, Vec::new()),
        };
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| unreadable())?;
        if !same_token(&field.csrf, &staff.csrf) {
            warn!(person = %staff.name, path = %parts.uri.path(), "POST refused: CSRF token missing or wrong");
            return Err(WebError::Csrf.into_response());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            WebError::BadRequest(format!(
                "formularen mangler et felt eller har et forkert: {e}"
            ))
            .into_response()
        })?;
        Ok(Posted { staff, form, files })
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after logging in: only a path on this site (never `//host` or a full URL).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.into()
        }
        _ => "/".into(),
    }
}

/// `GET /login`: the form, with a fresh double-submit token in a cookie and a hidden field.
pub async fn login_page(
    State(state): State<WebState>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
    parts: axum::http::request::Parts,
) -> Response {
    login_form(&state, &parts, q.next.as_deref(), None, "")
}

fn login_form(
    state: &WebState,
    parts: &Parts,
    next: Option<&str>,
    error: Option<&str>,
    username: &str,
) -> Response {
    let token = users::new_token();
    let ctx = minijinja::context! {
        csrf => token,
        next => safe_next(next),
        error => error,
        username => username,
    };
    let status = if error.is_some() {
        axum::http::StatusCode::UNAUTHORIZED
    } else {
        axum::http::StatusCode::OK
    };
    let mut r = render(state, None, "login.html", ctx);
    *r.status_mut() = status;
    let cookie = set_cookie(
        LOGIN_COOKIE,
        &token,
        Some(Duration::hours(1)),
        over_https(state, parts),
    );
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// What the throttle says about one more attempt: `None` when it may go ahead.
pub fn throttled(failures: crate::store::sessions::Failures) -> Option<&'static str> {
    if failures.by_name >= MAX_FAILURES_PER_NAME {
        Some("For mange forkerte forsøg for denne bruger. Vent 15 minutter, og prøv igen.")
    } else if failures.by_address >= MAX_FAILURES_PER_ADDRESS {
        Some("For mange forkerte forsøg fra denne adresse. Vent 15 minutter, og prøv igen.")
    } else {
        None
    }
}

/// `POST /login`: checks the throttle, the password (as long for an unknown name as for a
/// wrong password), then starts a session and sends the browser on.
pub async fn login(State(state): State<WebState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let form = match Form::<LoginForm>::from_request(Request::from_parts(parts.clone(), body), &())
        .await
    {
        Ok(Form(f)) => f,
        Err(_) => {
            return WebError::BadRequest("formularen kunne ikke læses".into()).into_response();
        }
    };
    match try_login(&state, &parts, &form).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// What serialises the logins: one at a time, so a burst of parallel guesses cannot all
/// pass the throttle before the first is counted, and at most one argon2 verification (19 MiB,
/// tens of milliseconds of CPU) runs at once, off the async workers.
#[derive(Default)]
pub struct LoginGate {
    turn: tokio::sync::Mutex<()>,
    /// When the sessions and attempts were last pruned (Unix seconds).
    last_prune: std::sync::atomic::AtomicI64,
}

impl LoginGate {
    /// Whether a prune is due (at most once a minute); claims it when it is.
    fn prune_due(&self, now: chrono::DateTime<Utc>) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.last_prune.load(Ordering::Relaxed);
        now.timestamp() - last >= 60
            && self
                .last_prune
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The login name as the throttle, the lookup and the log see it: without surrounding
/// blanks (so `" kim"` is kim, counted as kim), at most one character past the longest name.
fn typed_name(raw: &str) -> String {
    raw.trim().chars().take(users::MAX_NAME_CHARS + 1).collect()
}

async fn try_login(state: &WebState, parts: &Parts, f: &LoginForm) -> Result<Response, WebError> {
    let next = f.next.as_deref();
    let name = typed_name(&f.username);
    let login_token = cookie_value(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_token(&f.csrf, &login_token) || foreign_origin(state, parts) {
        let why = Some("Siden var for gammel. Prøv igen.");
        return Ok(login_form(state, parts, next, why, &name));
    }
    let address = client_address(state, parts);
    let gate = &state.logins;
    let _turn = gate.turn.lock().await;
    let now = Utc::now();
    if gate.prune_due(now) {
        // Ended sessions and attempts older than a day go: the tables stay small without a
        // job of their own, whatever a guesser sends.
        state
            .store
            .prune_sessions(now, now - Duration::days(1))
            .await?;
    }
    let since = now - Duration::minutes(THROTTLE_WINDOW_MINUTES);
    let failures = state
        .store
        .failed_logins_since(&name, &address, since)
        .await?;
    if let Some(why) = throttled(failures) {
        warn!(name = %crate::cli::terminal::line(&name), %address, "login throttled");
        let mut r = login_form(state, parts, next, Some(why), &name);
        *r.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(r);
    }
    let user = state.store.find_user(&name).await?;
    let (password, hash) = (
        f.password.clone(),
        user.as_ref()
            .filter(|u| u.disabled_at.is_none())
            .map(|u| u.password_hash.clone()),
    );
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => users::verify_password(&password, &h),
        None => users::verify_nobody(&password),
    })
    .await
    .map_err(|e| anyhow::anyhow!("password check: {e}"))?;
    state
        .store
        .record_login_attempt(&name, &address, ok, now)
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        info!(name = %crate::cli::terminal::line(&name), %address, "login failed");
        let why = Some("Forkert brugernavn eller adgangskode.");
        return Ok(login_form(state, parts, next, why, &name));
    };
    start_session(state, parts, &user, next, now).await
}

/// The new session's cookie and the way on, after a good password.
async fn start_session(
    state: &WebState,
    parts: &Parts,
    user: &crate::store::users::UserRow,
    next: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<Response, WebError> {
    let token = users::new_token();
    let hours = Duration::hours(i64::from(state.web.session_hours));
    state
        .store
        .create_session(
            &users::token_hash(&token),
            user.id,
            &users::new_token(),
            now,
            now + hours,
        )
        .await?;
    info!(person = %user.name, address = %client_address(state, parts), "logged in");
    let secure = over_https(state, parts);
    let mut r = Redirect::to(&safe_next(next)).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), &token, Some(hours), secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", None, secure),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /logout`: ends the session and forgets the cookie.
pub async fn logout(State(state): State<WebState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let secure = over_https(&state, &parts);
    let cookie = cookie_value(&parts.headers, session_cookie(secure));
    let posted = Posted::<Nothing>::from_request(Request::from_parts(parts, body), &state).await;
    let staff = match posted {
        Ok(p) => p.staff,
        Err(r) => return r,
    };
    if let Some(token) = cookie
        && let Err(e) = state.store.end_session(&users::token_hash(&token)).await
    {
        return WebError::from(e).into_response();
    }
    info!(person = %staff.name, "logged out");
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), "", None, secure),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sessions::Failures;

    #[test]
    fn only_paths_on_this_site_are_followed_after_login() {
        assert_eq!(
            safe_next(Some("/orders/SP-2026-000001")),
            "/orders/SP-2026-000001"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/x\r\nSet-Cookie: a=b")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_throttle_counts_per_name_and_per_address() {
        let f = |by_name, by_address| Failures {
            by_name,
            by_address,
        };
        assert_eq!(throttled(f(4, 19)), None);
        assert!(throttled(f(5, 0)).unwrap().contains("denne bruger"));
        assert!(throttled(f(0, 20)).unwrap().contains("denne adresse"));
    }

    #[test]
    fn attempts_count_for_the_client_behind_a_trusted_proxy_and_per_ipv6_block() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = |ip: IpAddr| ip == proxy;
        let direct: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            counted_address(Some(direct), &["1.2.3.4"], trusted),
            "192.0.2.7"
        );
        // Behind the proxy: its right-most entry that is not a proxy; what the client wrote
        // further left is not believed.
        assert_eq!(
            counted_address(
                Some(proxy),
                &["6.6.6.6", " 198.51.100.9", "10.0.0.5"],
                trusted
            ),
            "198.51.100.9"
        );
        assert_eq!(
            counted_address(Some(proxy), &["garbage"], trusted),
            "10.0.0.5"
        );
        let v6: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(counted_address(Some(v6), &[], trusted), "2001:db8:1:2::/64");
        assert_eq!(
            counted_address(Some(v6), &[], trusted),
            counted_address(Some(v6b), &[], trusted)
        );
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(counted_address(Some(mapped), &[], trusted), "192.0.2.1");
        assert_eq!(counted_address(None, &[], trusted), "");
    }

    #[test]
    fn a_name_with_blanks_is_the_same_name_and_a_huge_one_is_cut() {
        assert_eq!(typed_name("  kim\t"), "kim");
        assert_eq!(typed_name("\u{a0}kim"), "kim");
        assert_eq!(
            typed_name(&"x".repeat(100_000)).chars().count(),
            users::MAX_NAME_CHARS + 1
        );
    }

    #[tokio::test]
    async fn a_multipart_form_reads_as_its_fields_and_its_files_without_folders() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"tekst\"\r\n\r\nHej & farvel\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"bilag\"; filename=\"C:\\\\x\\\\vejledning.txt\"\r\n\r\nTrin 1\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"tom\"; filename=\"\"\r\n\r\n\r\n\
                    --b--\r\n";
        let (text, files) = multipart_fields(body.into(), "b".into()).await.unwrap();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&text).unwrap();
        assert_eq!(
            pairs,
            [
                ("csrf".to_string(), "abc".to_string()),
                ("tekst".to_string(), "Hej & farvel".to_string())
            ]
        );
        assert_eq!(files.len(), 1, "an empty file input is no file: {files:?}");
        assert_eq!(
            (files[0].field.as_str(), files[0].name.as_str()),
            ("bilag", "vejledning.txt")
        );
        assert_eq!(files[0].bytes, b"Trin 1");
        assert!(
            multipart_fields("garbage".into(), "b".into())
                .await
                .is_err()
        );
    }

    #[test]
    fn tokens_compare_whole_and_never_empty() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", ""));
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site_strict() {
        let c = set_cookie(SESSION_COOKIE, "t", Some(Duration::hours(8)), true);
        let c = c.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=28800",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        // Over https the name carries the __Host- prefix, whose rules (Secure, Path=/, no
        // Domain) the cookie meets, so a browser takes it.
        let host = set_cookie(session_cookie(true), "t", Some(Duration::hours(8)), true);
        let host = host.to_str().unwrap();
        assert!(host.starts_with("__Host-spdesk_session=t;"), "{host}");
        assert!(host.contains("Secure") && host.contains("Path=/") && !host.contains("Domain"));
        assert_eq!(session_cookie(false), SESSION_COOKIE);
        let plain = set_cookie(SESSION_COOKIE, "t", None, false);
        assert!(!plain.to_str().unwrap().contains("Secure"));
        assert!(plain.to_str().unwrap().contains("Max-Age=0"));
    }
}
