//! `/fakturering`: the executed orders per month, billed and not yet billed, with their
//! amounts (`[billing] prices`, `currency`), and per month the CSV download
//! `/fakturering/{YYYY-MM}.csv`.
//!
//! The CSV is `spdesk billing export --period YYYY-MM`'s, written by the one CSV writer of
//! the billing job ([`crate::schedule::billing::csv`] through [`Jobs::export`]), in the
//! configured dialect: what the web gives and what the job mails never differ.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use chrono::Datelike;
use minijinja::context;
use serde::Serialize;

use super::WebState;
use super::auth::Staff;
use super::page::{WebError, render};
use crate::config::Prices;
use crate::daemon::jobs::Jobs;
use crate::rules::calendar::{TZ, month_name};
use crate::schedule::billing::{BillingLine, Period, danish_amount, total};
use crate::store;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/fakturering", get(billing))
        .route("/fakturering/{file}", get(csv))
}

/// This page's templates (`src/web/templates/NAME`).
pub const TEMPLATES: &[(&str, &str)] = &[("billing.html", include_str!("templates/billing.html"))];

/// One month of executed orders as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Month {
    /// "2026-11", the CSV's period.
    pub period: String,
    /// "november 2026".
    pub label: String,
    pub billed: usize,
    pub billed_amount: String,
    pub unbilled: usize,
    pub unbilled_amount: String,
    pub amount: String,
    /// `/fakturering/2026-11.csv`.
    pub csv: String,
}

/// The executed orders' lines by the month (Copenhagen time) they were executed in, newest
/// month first, counted and summed apart for billed and not yet billed.
pub fn months(lines: &[BillingLine], prices: &Prices, currency: &str) -> Vec<Month> {
    type Lines = (Vec<BillingLine>, Vec<BillingLine>);
    let mut by_month: BTreeMap<(i32, u32), Lines> = BTreeMap::new();
    for l in lines {
        let Some(at) = l.executed_at else { continue };
        let local = at.with_timezone(&TZ);
        let (billed, unbilled) = by_month.entry((local.year(), local.month())).or_default();
        if l.billed_at.is_some() {
            billed.push(l.clone());
        } else {
            unbilled.push(l.clone());
        }
    }
    by_month
        .into_iter()
        .rev()
        .map(|((year, month), (billed, unbilled))| {
            let p = Period { year, month };
            let b = total(&billed, prices);
            let u = total(&unbilled, prices);
            Month {
                period: p.to_string(),
                label: format!("{} {}", month_name(p.month), p.year),
                billed: billed.len(),
                billed_amount: danish_amount(b, currency),
                unbilled: unbilled.len(),
                unbilled_amount: danish_amount(u, currency),
                amount: danish_amount(b + u, currency),
                csv: format!("/fakturering/{p}.csv"),
            }
        })
        .collect()
}

/// The month a CSV's file name names: exactly `YYYY-MM.csv`.
pub fn csv_period(file: &str) -> Option<Period> {
    let month = file.strip_suffix(".csv")?;
    if month.len() != 7 {
        return None;
    }
    month.parse().ok()
}

/// `GET /fakturering`.
pub async fn billing(State(state): State<WebState>, staff: Staff) -> Result<Response, WebError> {
    let lines = store::billing::executed_lines(&state.store).await?;
    let b = &state.shared.config.billing;
    let ctx = context! {
        months => months(&lines, &b.prices, &b.currency),
        dialect => b.csv.description(),
    };
    Ok(render(&state, Some(&staff), "billing.html", ctx))
}

/// `GET /fakturering/{YYYY-MM}.csv`: the month's CSV as an attachment; a name that is no
/// month is the 404 page.
pub async fn csv(
    State(state): State<WebState>,
    _staff: Staff,
    Path(file): Path<String>,
) -> Result<Response, WebError> {
    let period = csv_period(&file).ok_or_else(|| {
        WebError::NotFound(
            "Der findes ingen fakturering under den adresse; hent CSV'en fra siden Fakturering (måned som ÅÅÅÅ-MM)."
                .into(),
        )
    })?;
    let body = Jobs::of(&state.shared).export(period).await?;
    let mut r = super::text(StatusCode::OK, body, "text/csv; charset=utf-8");
    let disposition = format!("attachment; filename=\"spdesk-fakturering-{period}.csv\"");
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(anyhow::Error::from)?,
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    const PRICES: Prices = Prices {
        webservice: 4500.0,
        sftp: 2500.5,
    };

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn line(kind: &str, executed: &str, billed: Option<&str>) -> BillingLine {
        BillingLine {
            bestillings_id: Some("BD-1".into()),
            reference: "SP-2026-00001".into(),
            kind: Some(kind.into()),
            org_name: None,
            org_cvr: None,
            system_name: None,
            executed_at: Some(at(executed)),
            billed_at: billed.map(at),
        }
    }

    #[test]
    fn months_count_and_sum_billed_and_unbilled_apart() {
        let lines = [
            line(
                "webservice",
                "2026-11-02T10:00:00+01:00",
                Some("2026-12-01T06:00:00+01:00"),
            ),
            line("sftp", "2026-11-20T10:00:00+01:00", None),
            line("webservice", "2026-11-25T10:00:00+01:00", None),
            // 23:30 UTC on 30 November is December in Copenhagen.
            line("sftp", "2026-11-30T23:30:00Z", None),
            line(
                "other",
                "2025-01-05T10:00:00+01:00",
                Some("2025-02-01T06:00:00+01:00"),
            ),
        ];
        let m = months(&lines, &PRICES, "DKK");
        let periods: Vec<&str> = m.iter().map(|m| m.period.as_str()).collect();
        assert_eq!(periods, ["2026-12", "2026-11", "2025-01"]);
        let nov = &m[1];
        assert_eq!(nov.label, "november 2026");
        assert_eq!((nov.billed, nov.unbilled), (1, 2));
        assert_eq!(nov.billed_amount, "4.500,00 kr.");
        assert_eq!(nov.unbilled_amount, "7.000,50 kr.");
        assert_eq!(nov.amount, "11.500,50 kr.");
        assert_eq!(nov.csv, "/fakturering/2026-11.csv");
        assert_eq!(
            m[2].billed_amount, "0,00 kr.",
            "an unknown kind has no price"
        );
        assert!(months(&[], &PRICES, "DKK").is_empty());
    }

    #[test]
    fn only_a_month_names_a_csv() {
        assert_eq!(
            csv_period("2026-11.csv"),
            Some(Period {
                year: 2026,
                month: 11
            })
        );
        for bad in [
            "2026-11",
            "2026-13.csv",
            " 2026-1.csv",
            "2026-11.csv.csv",
            "../2026-11.csv",
            "2026-11.CSV",
            "",
            ".csv",
            "ææææ-øø.csv",
        ] {
            assert_eq!(csv_period(bad), None, "{bad}");
        }
    }
}
