//! `/post`: mail that made no order or was never answered, each viewable; "Opret ordre" turns one into an order.

use axum::Router;

use super::WebState;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
}

/// This page's templates (`templates/web/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[];
