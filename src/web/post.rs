//! `/post`: mail that made no order or was never answered — auto-replies, bounces (a bounce of
//! one of our receipts links to its order), list mail, spam, quarantined mail, our own mail,
//! anything else unanswered — each viewable and downloadable; "Opret ordre" turns one into an
//! order for a person to fill in. Which mails these are, and why, is the store's
//! ([`store::mailroom`]); their Danish category is the digest's "Post uden svar" name
//! ([`digest::no_reply_reason`]), so the page and the digest count alike.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::WebState;
use super::auth::{Posted, Staff};
use super::page::{WebError, render};
use crate::mail::Mail;
use crate::orders::display;
use crate::orders::plan::Context;
use crate::orders::staff_files::{MAX_STAFF_FILE_BYTES, parse_for_staff};
use crate::schedule::digest;
use crate::store::apply::Apply;
use crate::store::mailroom::{self, Made, PostMail, QUARANTINED, UNANSWERED};

/// Mails per page of the list.
pub const PER_PAGE: i64 = 50;
/// At most this many characters of a mail's text are shown; the rest is in the .eml.
const SHOWN_TEXT_CHARS: usize = 100_000;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/post", get(list))
        .route("/post/{id}", get(one))
        .route("/post/{id}/opret", post(make_order))
}

/// This page's templates (`src/web/templates/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("post.html", include_str!("templates/post.html")),
    ("post_mail.html", include_str!("templates/post_mail.html")),
];

/// The Danish category of a mailroom mail's `why`: the digest's name for a mail never
/// answered, or quarantined, or other.
pub fn category(why: &str) -> String {
    match why {
        QUARANTINED => "Karantæne (kunne ikke behandles)".to_string(),
        UNANSWERED => "Anden post uden svar".to_string(),
        other => digest::no_reply_reason(other),
    }
}

/// The categories with their counts (by name) and the `why`s each covers.
fn categories(counts: &[(String, i64)]) -> BTreeMap<String, (i64, Vec<String>)> {
    let mut out: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
    for (why, n) in counts {
        let entry = out.entry(category(why)).or_default();
        entry.0 = entry.0.saturating_add(*n);
        entry.1.push(why.clone());
    }
    out
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    kategori: Option<String>,
    #[serde(default)]
    side: Option<String>,
}

#[derive(Serialize)]
struct Row {
    id: i64,
    received: String,
    category: String,
    sender: String,
    subject: String,
    order: Option<String>,
}

#[derive(Serialize)]
struct Count {
    name: String,
    count: i64,
    chosen: bool,
    /// The list of this category.
    link: String,
}

impl Row {
    fn of(m: PostMail) -> Row {
        Row {
            id: m.id,
            received: display::local_time_text(&m.internal_date),
            category: category(&m.why),
            sender: m.sender.unwrap_or_default(),
            subject: m.subject,
            order: m.made.or(m.about),
        }
    }
}

/// A link to page `side` of the list in `kategori`.
fn page_link(kategori: Option<&str>, side: i64) -> String {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(k) = kategori {
        q.push(("kategori", k.to_string()));
    }
    q.push(("side", side.to_string()));
    format!(
        "/post?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

/// `GET /post`: the mails, newest first, 50 a page, optionally of one category.
pub async fn list(
    State(state): State<WebState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let pool = &state.store.pool;
    let cats = categories(&mailroom::counts(pool).await?);
    let chosen = q.kategori.as_deref().filter(|k| !k.is_empty());
    let (total, whys) = match chosen {
        Some(k) => cats.get(k).cloned().unwrap_or_default(),
        None => (cats.values().map(|(n, _)| n).sum(), Vec::new()),
    };
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let side = q
        .side
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let filter = chosen.map(|_| whys.as_slice());
    let rows: Vec<Row> = mailroom::page(pool, filter, PER_PAGE, (side - 1) * PER_PAGE)
        .await?
        .into_iter()
        .map(Row::of)
        .collect();
    let counts: Vec<Count> = cats
        .iter()
        .map(|(name, (count, _))| Count {
            name: name.clone(),
            count: *count,
            chosen: chosen == Some(name.as_str()),
            link: page_link(Some(name), 1),
        })
        .collect();
    let newer = (side > 1).then(|| page_link(chosen, side - 1));
    let older = (side < pages).then(|| page_link(chosen, side + 1));
    Ok(render(
        &state,
        Some(&staff),
        "post.html",
        context! { mails => rows, counts => counts, chosen => chosen, total => total,
        side => side, pages => pages, newer => newer, older => older },
    ))
}

/// A mailroom mail's id from the path; anything else is no such mail.
fn mail_id(text: &str) -> Result<i64, WebError> {
    text.parse::<i64>()
        .map_err(|_| WebError::NotFound("Der er ingen sådan mail i posten.".into()))
}

fn no_such_mail() -> WebError {
    WebError::NotFound(
        "Der er ingen sådan mail i posten. En mail, der blev til en ordre, vises på ordren.".into(),
    )
}

/// Reads a stored mail for a person off the async threads: parsed when it is within the
/// intake's limits, else its headers only (a mail over them is never parsed whole here).
async fn read(raw: Vec<u8>) -> Mail {
    tokio::task::spawn_blocking(move || {
        parse_for_staff(&raw, MAX_STAFF_FILE_BYTES).unwrap_or_else(|| Mail::headers_only(&raw))
    })
    .await
    .unwrap_or_default()
}

#[derive(Serialize)]
struct File {
    name: String,
    content_type: String,
    size: String,
}

/// A size as people read it.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// The mail's text as shown: the plain-text part, cut at [`SHOWN_TEXT_CHARS`].
fn shown_text(mail: &Mail) -> (String, bool) {
    let text = mail.text.as_deref().unwrap_or("");
    let cut = text.chars().count() > SHOWN_TEXT_CHARS;
    (text.chars().take(SHOWN_TEXT_CHARS).collect(), cut)
}

/// `GET /post/{id}`: one mail; `GET /post/{id}.eml`: its bytes.
pub async fn one(
    State(state): State<WebState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if let Some(id) = id.strip_suffix(".eml") {
        return eml(&state, mail_id(id)?).await;
    }
    let id = mail_id(&id)?;
    let pool = &state.store.pool;
    let found = mailroom::mail(pool, id).await?.ok_or_else(no_such_mail)?;
    let raw = mailroom::raw(pool, id).await?.ok_or_else(no_such_mail)?;
    let mail = read(raw).await;
    let (text, cut) = shown_text(&mail);
    let files: Vec<File> = mail
        .attachments
        .iter()
        .map(|a| File {
            name: match (&a.name, &a.message) {
                (Some(name), _) => name.clone(),
                (None, Some(m)) => format!("Vedhæftet mail: {}", m.subject),
                (None, None) => "(uden navn)".into(),
            },
            content_type: a.content_type.clone(),
            size: size(a.bytes.len()),
        })
        .collect();
    let date = mail
        .date
        .map(|d| display::local_time(d.with_timezone(&Utc)));
    let ctx = context! {
        id => found.id,
        received => display::local_time_text(&found.internal_date),
        category => category(&found.why),
        quarantined => found.disposition == "quarantined",
        answerable => found.disposition != "ignored",
        note => found.note,
        from => mail.from.clone().or(found.sender).unwrap_or_default(),
        to => mail.header("To").unwrap_or("").to_string(),
        date => date.unwrap_or_default(),
        subject => if mail.subject.is_empty() { found.subject } else { mail.subject.clone() },
        made => found.made,
        about => found.about,
        text => text,
        cut => cut,
        files => files,
    };
    Ok(render(&state, Some(&staff), "post_mail.html", ctx))
}

/// The raw mail as a download (never shown by the browser itself).
async fn eml(state: &WebState, id: i64) -> Result<Response, WebError> {
    let raw = mailroom::raw(&state.store.pool, id)
        .await?
        .ok_or_else(no_such_mail)?;
    let mut r = (StatusCode::OK, raw).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    let disposition = format!("attachment; filename=\"post-{id}.eml\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The "Opret ordre" form: only its CSRF token.
#[derive(Deserialize)]
pub struct MakeOrder {}

/// `POST /post/{id}/opret` (operator): the mail becomes an order in review — or, made into
/// one before, that order — and the browser goes to it.
pub async fn make_order(
    State(state): State<WebState>,
    Path(id): Path<String>,
    posted: Posted<MakeOrder>,
) -> Result<Response, WebError> {
    let staff = posted.staff;
    staff.require_operator()?;
    let id = mail_id(&id)?;
    let raw = mailroom::raw(&state.store.pool, id)
        .await?
        .ok_or_else(no_such_mail)?;
    let mail = read(raw).await;
    let p = &state.pipeline;
    let ctx = Context {
        helpdesk: &p.helpdesk,
        register: p.settings.register.as_deref(),
        incident_to: &[],
    };
    let apply = Apply {
        templates: &p.templates,
        helpdesk: &p.helpdesk,
        now: Utc::now(),
    };
    let made = mailroom::make_order(&state.store, id, &mail, &staff.name, &ctx, &apply)
        .await?
        .ok_or_else(no_such_mail)?;
    match &made {
        Made::New(r) => {
            info!(person = %staff.name, mail = id, order = %r, "order made from a mail in the mailroom")
        }
        Made::Existing(r) => {
            info!(person = %staff.name, mail = id, order = %r, "mail was made into an order before")
        }
    }
    Ok(Redirect::to(&format!("/orders/{}", made.reference())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_the_digests_names_merged() {
        let counts = vec![
            ("a bounce".to_string(), 2),
            ("an auto-reply".to_string(), 1),
            (QUARANTINED.to_string(), 4),
            ("spam".to_string(), 3),
            (UNANSWERED.to_string(), 1),
        ];
        let cats = categories(&counts);
        assert_eq!(
            cats["Returmeldinger (bounces)"],
            (2, vec!["a bounce".into()])
        );
        assert_eq!(cats["Autosvar"].0, 1);
        assert_eq!(cats["Spam"].0, 3);
        assert_eq!(cats["Karantæne (kunne ikke behandles)"].0, 4);
        assert_eq!(cats["Anden post uden svar"].0, 1);
    }

    #[test]
    fn page_links_keep_the_category() {
        assert_eq!(
            page_link(Some("Returmeldinger (bounces)"), 2),
            "/post?kategori=Returmeldinger+%28bounces%29&side=2"
        );
        assert_eq!(page_link(None, 3), "/post?side=3");
    }
}
