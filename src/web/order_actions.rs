//! The buttons on `/orders/{ref}` and their POSTs: each calls the function `spdesk orders` calls, as the signed-in person.

use axum::Router;

use super::WebState;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
}

/// This page's templates (`templates/web/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[];
