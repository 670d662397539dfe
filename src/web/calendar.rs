//! `/kalender`: the changes planned per working day for the coming weeks, with the change window.

use axum::Router;

use super::WebState;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
}

/// This page's templates (`templates/web/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[];
