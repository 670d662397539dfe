//! The buttons on `/orders/{ref}` and their POSTs: each calls the function `spdesk orders`
//! calls, as the signed-in person.

use axum::Router;
use chrono::{DateTime, Utc};

use super::WebState;
use super::auth::Staff;
use crate::store::OrderRow;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
}

/// This page's templates (`templates/web/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[(
    "order_actions.html",
    include_str!("../../templates/web/order_actions.html"),
)];

/// What `order_actions.html` shows for this order and person (the variable `actions`): the
/// order page includes that template and passes this value, knowing nothing of its shape.
/// `judgement` is the latest version's stored judgement (its `fields`).
pub fn forms(
    _order: &OrderRow,
    _judgement: &serde_json::Value,
    _staff: &Staff,
    _now: DateTime<Utc>,
) -> minijinja::Value {
    minijinja::Value::from(())
}
