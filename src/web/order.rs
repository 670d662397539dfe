//! `/orders/{ref}`: one order — its fields, findings, versions, timeline, mails and
//! attachments, and the actions its state allows (`order_actions`). The reference is read as
//! the CLI reads it (any case). The downloads `/orders/{ref}/mails/{n}.eml` (the original
//! mail) and `/orders/{ref}/mails/{n}/bilag/{i}` (an attachment) find the bytes by the order
//! and the numbers the page shows; a number the order does not have is 404.
//!
//! Every query is by the order's id, so the page answers as fast with 10,000 orders as with 10.

mod mails;
mod view;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use minijinja::context;
use serde::Serialize;

use super::WebState;
use super::auth::Staff;
use super::page::{WebError, render};
use crate::orders::display;
use crate::store::{self, OrderRow, order_view};

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/orders/{reference}", get(order_page))
        .route("/orders/{reference}/mails/{file}", get(original_mail))
        .route("/orders/{reference}/mails/{n}/bilag/{i}", get(attachment))
}

/// This page's templates (`src/web/templates/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[("order.html", include_str!("templates/order.html"))];

/// The order's summary at the top of the page.
#[derive(Serialize)]
struct Head {
    reference: String,
    state: String,
    kind: String,
    bestillings_id: String,
    organisation: String,
    system: String,
    requester: String,
    subject: String,
    planned: String,
}

fn head(o: &OrderRow) -> Head {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(ikke angivet)".into());
    let organisation = match (&o.org_name, &o.org_cvr) {
        (Some(name), Some(cvr)) => format!("{name} (CVR {cvr})"),
        (name, _) => or_none(name),
    };
    Head {
        reference: o.reference.clone(),
        state: display::state_name(o.state.as_str()).to_string(),
        kind: or_none(&o.kind),
        bestillings_id: or_none(&o.bestillings_id),
        organisation,
        system: or_none(&o.system_name),
        requester: or_none(&o.requester),
        subject: o.thread_subject.clone(),
        planned: o
            .planned_at
            .map_or_else(|| "(ikke planlagt)".into(), display::local_time),
    }
}

/// The order with this reference (any case), or the 404 page saying so.
async fn find(state: &WebState, reference: &str) -> Result<OrderRow, WebError> {
    store::order_by_ref(&state.store.pool, reference)
        .await?
        .ok_or_else(|| {
            WebError::NotFound(format!(
                "Der findes ingen bestilling med referencen {}. Find den i køen.",
                crate::orders::state::canonical_reference(reference)
            ))
        })
}

/// `GET /orders/{ref}`.
pub async fn order_page(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    staff: Staff,
) -> Result<Response, WebError> {
    let order = find(&state, &reference).await?;
    let pool = &state.store.pool;
    let now = Utc::now();
    let versions = store::versions_of(pool, order.id).await?;
    let events = store::events_of(pool, order.id).await?;
    let inbound = order_view::inbound_of(pool, order.id).await?;
    let raws =
        order_view::inbound_raws_of(pool, order.id, mails::MAX_SHOWN, mails::MAX_SHOWN_BYTES)
            .await?;
    let outbox = order_view::outbox_of(pool, order.id, &order.reference).await?;
    let latest = versions.last();
    let cert = match latest {
        Some(v) => order_view::certificate_of(pool, order.id, v).await?,
        None => None,
    };
    let judgement = latest.map_or(serde_json::Value::Null, |v| v.judgement.clone());
    let shown = off_the_workers({
        let inbound = inbound.clone();
        move || mails::shown(&inbound, &raws)
    })
    .await?;
    let ctx = context! {
        order => head(&order),
        version => latest.map(|v| v.version),
        fields => display::field_lines(&judgement, cert.as_ref()),
        findings => view::findings(&judgement),
        versions => view::version_table(&versions),
        timeline => view::timeline(&events, &inbound, &outbox, now),
        mails => shown,
        actions => super::order_actions::forms(&order, &judgement, &staff, now),
    };
    Ok(render(&state, Some(&staff), "order.html", ctx))
}

/// Runs `parse` (reading stored mails: up to megabytes each) on the blocking pool, so a page
/// never stalls the async workers the intake and the outbox share.
async fn off_the_workers<T: Send + 'static>(
    parse: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(parse)
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("reading the stored mails: {e}")))
}

/// A mail number from the path: 1.., else the 404 page.
fn number(text: &str) -> Result<i64, WebError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(no_such_mail)
}

fn no_such_mail() -> WebError {
    WebError::NotFound("Bestillingen har ingen mail med det nummer.".into())
}

/// `GET /orders/{ref}/mails/{n}.eml`: the mail as it was stored, byte for byte.
pub async fn original_mail(
    State(state): State<WebState>,
    Path((reference, file)): Path<(String, String)>,
    _staff: Staff,
) -> Result<Response, WebError> {
    let n = number(file.strip_suffix(".eml").ok_or_else(no_such_mail)?)?;
    let order = find(&state, &reference).await?;
    let raw = order_view::inbound_raw_of(&state.store.pool, order.id, n)
        .await?
        .ok_or_else(no_such_mail)?;
    let name = format!("{}-{n}.eml", order.reference);
    Ok(mails::download(raw, "message/rfc822", &name, &name))
}

/// `GET /orders/{ref}/mails/{n}/bilag/{i}`: attachment `i` of the order's mail `n`.
pub async fn attachment(
    State(state): State<WebState>,
    Path((reference, n, i)): Path<(String, String, String)>,
    _staff: Staff,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let order = find(&state, &reference).await?;
    let raw = order_view::inbound_raw_of(&state.store.pool, order.id, n)
        .await?
        .ok_or_else(no_such_mail)?;
    let i = i.parse::<usize>().ok();
    let (name, bytes) = off_the_workers(move || i.and_then(|i| mails::attachment(&raw, i)))
        .await?
        .ok_or_else(|| WebError::NotFound("Mailen har intet bilag med det nummer.".into()))?;
    let fallback = format!("{}-{n}-bilag", order.reference);
    Ok(mails::download(
        bytes,
        crate::mail::header_value::OCTET_STREAM,
        &name,
        &fallback,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::state::State as OrderState;

    /// An order without versions, mails or findings (a mail that made an order for a person)
    /// renders: every section says it has nothing, nothing is undefined.
    #[test]
    fn an_order_with_nothing_yet_renders() {
        let env = super::super::page::environment().unwrap();
        let mut order = OrderRow::sample(OrderState::Review, "a@x.test");
        order.thread_subject = "<script>alert(1)</script>".into();
        let ctx = context! {
            me => context! { name => "kim", role => "viewer", csrf => "t", acts => false, admin => false },
            order => head(&order),
            version => None::<i64>,
            fields => Vec::<crate::orders::values::LabelValue>::new(),
            findings => view::findings(&serde_json::Value::Null),
            versions => view::version_table(&[]),
            timeline => view::timeline(&[], &[], &[], Utc::now()),
            mails => mails::shown(&[], &[]),
            actions => super::super::order_actions::forms(
                &order,
                &serde_json::Value::Null,
                &super::super::auth::Staff {
                    name: "kim".into(),
                    role: crate::users::Role::Viewer,
                    csrf: "t".into(),
                },
                Utc::now(),
            ),
        };
        let html = env.get_template("order.html").unwrap().render(ctx).unwrap();
        assert!(html.contains("<h1>Bestilling SP-2026-00001</h1>"), "{html}");
        assert!(html.contains("<dd>til vurdering</dd>"), "{html}");
        assert!(
            html.contains("Mailen havde ingen læsbar formular."),
            "{html}"
        );
        assert!(
            html.contains("Ingen fund.") && html.contains("Ingen mails."),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert_eq!(html.matches("<h1").count(), 1);
    }
}
