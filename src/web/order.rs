//! `/orders/{ref}`: one order — its fields, findings, versions, timeline, mails and attachments.

use axum::Router;

use super::WebState;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
}

/// This page's templates (`templates/web/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[];
