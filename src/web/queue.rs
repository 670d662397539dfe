//! `/`: the queue of orders.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use minijinja::context;
use serde::Serialize;

use super::WebState;
use super::auth::Staff;
use super::page::{WebError, render};
use crate::orders::display;
use crate::store;

#[derive(Serialize)]
struct Row {
    reference: String,
    state: String,
    kind: String,
    bestillings_id: String,
    planned: String,
}

pub async fn queue(State(state): State<WebState>, staff: Staff) -> Result<Response, WebError> {
    let _now = Utc::now();
    let orders = store::list_orders(&state.store.pool, None).await?;
    let rows: Vec<Row> = orders
        .iter()
        .map(|o| Row {
            reference: o.reference.clone(),
            state: display::state_name(o.state.as_str()).to_string(),
            kind: o.kind.clone().unwrap_or_default(),
            bestillings_id: o.bestillings_id.clone().unwrap_or_default(),
            planned: o.planned_at.map(display::local_time).unwrap_or_default(),
        })
        .collect();
    Ok(render(
        &state,
        Some(&staff),
        "queue.html",
        context! { orders => rows },
    ))
}
