//! Pages: the console's HTML templates (built into the binary, so an installed daemon needs no
//! template folder), rendered by minijinja with HTML autoescape — everything a mail brought is
//! text on the page, never markup — and the error pages.
//!
//! Every page extends `base.html`, which shows the navigation, the signed-in person and the
//! logout button. A page module adds its template to [`TEMPLATES`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment, Value, context};
use tracing::error;

use super::WebState;
use super::auth::Staff;

/// The shared templates, by name (`src/web/templates/NAME`); each page module lists its own.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("arrive.html", include_str!("templates/arrive.html")),
    ("queue.html", include_str!("templates/queue.html")),
];

/// Every template of the console.
fn all_templates() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    [
        TEMPLATES,
        super::order::TEMPLATES,
        super::order_actions::TEMPLATES,
        super::calendar::TEMPLATES,
        super::post::TEMPLATES,
        super::billing::TEMPLATES,
        super::users::TEMPLATES,
    ]
    .into_iter()
    .flatten()
}

/// The console's stylesheet, served at `/static/spdesk.css` (no inline styles: the CSP
/// allows only our own files).
pub const CSS: &str = include_str!("templates/spdesk.css");

/// The template environment: autoescape for every template (they are all HTML), strict
/// undefined so a misspelt variable fails the render, not silently shows nothing.
pub fn environment() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in all_templates() {
        env.add_template(name, source)
            .map_err(|e| anyhow::anyhow!("src/web/templates/{name}: {e}"))?;
    }
    Ok(env)
}

/// Renders `template` with `ctx` plus `me` (the signed-in person: name, role, csrf, acts) as
/// a 200 HTML page; a template error is logged and answered with 500.
pub fn render(state: &WebState, staff: Option<&Staff>, template: &str, ctx: Value) -> Response {
    let me = staff.map(|s| {
        context! {
            name => s.name,
            role => s.role.as_str(),
            csrf => s.csrf,
            acts => s.acts(),
            admin => s.role.manages_users(),
        }
    });
    let full = context! { me => me, ..ctx };
    let html = state
        .pages
        .get_template(template)
        .and_then(|t| t.render(full));
    match html {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(e) => {
            error!(template, error = %format!("{e:#}"), "page could not be rendered");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = Response::new(axum::body::Body::from(html));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn plain_error(status: StatusCode) -> Response {
    super::text(
        status,
        "Der skete en fejl på serveren; se daemonens log.\n".into(),
        "text/plain; charset=utf-8",
    )
}

/// `GET /static/spdesk.css`.
pub async fn stylesheet() -> Response {
    let mut r = super::text(StatusCode::OK, CSS.into(), "text/css; charset=utf-8");
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// What a handler answers instead of its page. The message is shown to the person (Danish);
/// an internal error is logged in full and shown only as "see the log".
#[derive(Debug)]
pub enum WebError {
    NotFound(String),
    Forbidden(String),
    BadRequest(String),
    /// The POST's CSRF token was missing or wrong, or it came from another site.
    Csrf,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> WebError {
        WebError::Internal(e)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> WebError {
        WebError::Internal(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Findes ikke", m),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Ikke tilladt", m),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Kunne ikke udføres", m),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Siden var for gammel",
                "Formularen kom ikke fra en side, du har åbnet nu. Gå tilbage, genindlæs siden, og prøv igen."
                    .into(),
            ),
            WebError::Internal(e) => {
                error!(error = %format!("{e:#}"), "web request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Fejl på serveren",
                    "Der skete en fejl på serveren; se daemonens log.".into(),
                )
            }
        };
        error_page(status, title, &message)
    }
}

/// The error page, rendered on its own environment (no state at hand here): the title and
/// message as text, a link back to the queue.
fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    static ENV: std::sync::OnceLock<Option<Environment<'static>>> = std::sync::OnceLock::new();
    let env = ENV.get_or_init(|| environment().ok());
    let html = env.as_ref().and_then(|env| {
        let ctx = context! { me => Value::from(()), title => title, message => message };
        env.get_template("error.html")
            .and_then(|t| t.render(ctx))
            .ok()
    });
    match html {
        Some(html) => html_response(status, html),
        None => plain_error(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment().unwrap();
        for (name, _) in all_templates() {
            env.get_template(name).unwrap();
        }
    }

    #[test]
    fn what_a_mail_brought_is_text_on_the_page() {
        let env = environment().unwrap();
        let html = env
            .get_template("error.html")
            .unwrap()
            .render(context! { me => Value::from(()), title => "t", message => "<script>alert(1)</script>" })
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
    }
}
