//! `/brugere` (admins only): the console's people — who they are, their role, whether they
//! are disabled — and the admin's three acts `spdesk users` also offers: add a person, set a
//! new password (their sessions end), disable (the row stays: histories keep naming them).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::WebState;
use super::auth::{Posted, Staff};
use super::page::{WebError, render};
use crate::orders::display;
use crate::store::users::Disabled;
use crate::users::{Role, hash_password, validate_name, validate_password};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/brugere", get(list).post(add))
        .route("/brugere/{name}/adgangskode", post(passwd))
        .route("/brugere/{name}/deaktiver", post(disable))
}

pub const TEMPLATES: &[(&str, &str)] = &[("users.html", include_str!("templates/users.html"))];

#[derive(Serialize)]
struct Person {
    name: String,
    role: &'static str,
    created: String,
    disabled: Option<String>,
}

async fn list(State(state): State<WebState>, staff: Staff) -> Result<Response, WebError> {
    staff.require_admin()?;
    page(&state, &staff, None).await
}

/// The page, with a message (an error of the last act) when there is one.
async fn page(state: &WebState, staff: &Staff, error: Option<&str>) -> Result<Response, WebError> {
    let people: Vec<Person> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| Person {
            name: u.name,
            role: u.role.as_str(),
            created: display::local_time(u.created_at),
            disabled: u.disabled_at.map(display::local_time),
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let mut r = render(
        state,
        Some(staff),
        "users.html",
        context! { people => people, roles => roles, error => error },
    );
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

#[derive(Deserialize)]
struct NewPerson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn add(
    State(state): State<WebState>,
    Posted { staff, form, .. }: Posted<NewPerson>,
) -> Result<Response, WebError> {
    staff.require_admin()?;
    let name = form.name.trim();
    let checked = validate_name(name)
        .map_err(|e| format!("Navnet kan ikke bruges: {e}"))
        .and_then(|()| {
            form.role
                .parse::<Role>()
                .map_err(|_| "Vælg en rolle: viewer, operator eller admin".to_string())
        })
        .and_then(|role| {
            validate_password(&form.password)
                .map_err(|e| format!("Adgangskoden kan ikke bruges: {e}"))
                .map(|()| role)
        });
    let role = match checked {
        Ok(role) => role,
        Err(e) => return page(&state, &staff, Some(&e)).await,
    };
    let hash = hash_password(&form.password).map_err(|e| anyhow::anyhow!(e))?;
    if !state.store.add_user(name, role, &hash, Utc::now()).await? {
        let e = format!(
            "Der findes allerede en bruger med navnet {name} (store og små bogstaver tæller ikke)"
        );
        return page(&state, &staff, Some(&e)).await;
    }
    info!(person = %staff.name, added = %name, role = %role, "person added in the web console");
    Ok(Redirect::to("/brugere").into_response())
}

#[derive(Deserialize)]
struct NewPassword {
    #[serde(default)]
    password: String,
}

async fn passwd(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Posted { staff, form, .. }: Posted<NewPassword>,
) -> Result<Response, WebError> {
    staff.require_admin()?;
    if let Err(e) = validate_password(&form.password) {
        return page(
            &state,
            &staff,
            Some(&format!("Adgangskoden kan ikke bruges: {e}")),
        )
        .await;
    }
    let hash = hash_password(&form.password).map_err(|e| anyhow::anyhow!(e))?;
    if !state.store.set_password(&name, &hash, Utc::now()).await? {
        return Err(WebError::NotFound(format!("Der er ingen bruger {name}")));
    }
    info!(person = %staff.name, of = %name, "password set in the web console");
    Ok(Redirect::to("/brugere").into_response())
}

#[derive(Deserialize)]
struct Nothing {}

async fn disable(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Posted { staff, .. }: Posted<Nothing>,
) -> Result<Response, WebError> {
    staff.require_admin()?;
    if crate::users::name_key(&name) == crate::users::name_key(&staff.name) {
        return page(
            &state,
            &staff,
            Some("Du kan ikke deaktivere dig selv; bed en anden administrator"),
        )
        .await;
    }
    match state.store.disable_user(&name, Utc::now()).await? {
        Disabled::Unknown => Err(WebError::NotFound(format!("Der er ingen bruger {name}"))),
        Disabled::Already | Disabled::Now { .. } => {
            info!(person = %staff.name, disabled = %name, "person disabled in the web console");
            Ok(Redirect::to("/brugere").into_response())
        }
    }
}
