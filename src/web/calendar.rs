//! `/kalender`: the approved changes planned per working day for the coming weeks, with the
//! change window; overdue ones (planned before now, still approved) first, under "Forsinket".
//!
//! Working days are the rules' calendar (`rules::calendar`: weekends, Danish public holidays,
//! `[rules] extra_closed_days`), so the page shows exactly the days a change may be planned
//! on. A closed day appears only when an order is planned on it anyway (moved by a person).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use minijinja::context;
use serde::Serialize;

use super::WebState;
use super::auth::Staff;
use super::page::{WebError, render};
use crate::orders::display;
use crate::rules::calendar::{Calendar, TZ, danish_date, danish_time, local_datetime};
use crate::store::{self, OrderRow};

/// The weeks one page shows.
pub const WEEKS: u32 = 4;
/// How far ahead `?uge=` may page, in weeks.
pub const MAX_WEEKS_AHEAD: u32 = 104;

/// This page's routes.
pub fn routes() -> Router<WebState> {
    Router::new().route("/kalender", get(calendar))
}

/// This page's templates (`src/web/templates/NAME`).
pub const TEMPLATES: &[(&str, &str)] =
    &[("calendar.html", include_str!("templates/calendar.html"))];

/// One planned change as the calendar lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// "10.00" on a day's list; the whole local time under "Forsinket".
    pub time: String,
    pub reference: String,
    pub kind: String,
    pub system: String,
    pub org: String,
}

/// One day of the calendar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// "mandag den 7. december 2026".
    pub heading: String,
    /// Why no change should be made that day, when it is closed ("lørdag", "Juledag").
    pub closed: Option<String>,
    pub orders: Vec<Entry>,
}

/// The calendar: the overdue changes and the days from `from` for `days` days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub overdue: Vec<Entry>,
    pub days: Vec<Day>,
}

fn entry(o: &OrderRow, time: String) -> Entry {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Entry {
        time,
        reference: o.reference.clone(),
        kind: text(&o.kind),
        system: text(&o.system_name),
        org: text(&o.org_name),
    }
}

/// Sorts approved `orders` (earliest first) into the overdue ones (planned before `now`) and
/// the days from `from` for `days` days: every working day, and a closed day only when a
/// change is planned on it. Orders planned before `from` that are not overdue, or after the
/// last day, are not shown.
pub fn plan(
    orders: &[OrderRow],
    now: DateTime<Utc>,
    from: NaiveDate,
    days: u32,
    calendar: &Calendar,
) -> Plan {
    let mut overdue = Vec::new();
    let mut by_day: Vec<(NaiveDate, Entry)> = Vec::new();
    for o in orders {
        let Some(at) = o.planned_at else { continue };
        if at < now {
            overdue.push(entry(o, display::local_time(at)));
            continue;
        }
        let local = at.with_timezone(&TZ);
        by_day.push((local.date_naive(), entry(o, danish_time(local.time()))));
    }
    let out_days = from
        .iter_days()
        .take(days as usize)
        .filter_map(|date| {
            let orders: Vec<Entry> = by_day
                .iter()
                .filter(|(d, _)| *d == date)
                .map(|(_, e)| e.clone())
                .collect();
            let working = calendar.is_working_day(date);
            (working || !orders.is_empty()).then(|| Day {
                heading: danish_date(date),
                closed: (!working).then(|| calendar.closed_reason(date)).flatten(),
                orders,
            })
        })
        .collect();
    Plan {
        overdue,
        days: out_days,
    }
}

/// `?uge=N`: how many weeks ahead the page starts (0: today), within [`MAX_WEEKS_AHEAD`].
pub fn weeks_ahead(raw: Option<&str>) -> u32 {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "uge")
        .filter_map(|(_, v)| v.trim().parse::<u32>().ok())
        .last()
        .map_or(0, |n| n.min(MAX_WEEKS_AHEAD))
}

/// `GET /kalender[?uge=N]`.
pub async fn calendar(
    State(state): State<WebState>,
    staff: Staff,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let uge = weeks_ahead(raw.as_deref());
    let today = now.with_timezone(&TZ).date_naive();
    let from = today + Duration::weeks(i64::from(uge));
    let span = WEEKS * 7;
    let to = from + Duration::days(i64::from(span));
    let until = local_datetime(to, NaiveTime::MIN)
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| anyhow::anyhow!("the calendar's end {to} is no Copenhagen time"))?;
    let orders = store::queue::approved_until(&state.store.pool, until).await?;
    let rules = &state.shared.config.rules;
    let p = plan(
        &orders,
        now,
        from,
        span,
        &Calendar::from_days(&rules.extra_closed_days),
    );
    let last = to.pred_opt().unwrap_or(to);
    let ctx = context! {
        overdue => p.overdue,
        days => p.days,
        window => rules.change_window.config_text(),
        from => danish_date(from),
        to => danish_date(last),
        earlier => (uge > 0).then(|| link(uge.saturating_sub(WEEKS))),
        later => (uge + WEEKS <= MAX_WEEKS_AHEAD).then(|| link(uge + WEEKS)),
    };
    Ok(render(&state, Some(&staff), "calendar.html", ctx))
}

fn link(uge: u32) -> String {
    if uge == 0 {
        "/kalender".into()
    } else {
        format!("/kalender?uge={uge}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::state::State;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn order(reference: &str, planned: &str) -> OrderRow {
        OrderRow {
            reference: reference.into(),
            kind: Some("sftp".into()),
            system_name: Some("FamilieFlow".into()),
            org_name: Some("Borgerdata I/S".into()),
            planned_at: Some(at(planned)),
            ..OrderRow::sample(State::Approved, "fa@x.dk")
        }
    }

    #[test]
    fn working_days_with_their_changes_and_the_overdue_first() {
        let cal = Calendar::new(&["12-24"]).unwrap();
        let now = at("2026-12-21T12:00:00+01:00");
        let orders = [
            order("SP-2026-00001", "2026-12-18T10:00:00+01:00"),
            order("SP-2026-00002", "2026-12-21T10:00:00+01:00"),
            order("SP-2026-00003", "2026-12-21T13:30:00+01:00"),
            order("SP-2026-00004", "2026-12-26T09:00:00+01:00"),
            order("SP-2027-00005", "2027-01-30T09:00:00+01:00"),
        ];
        let from = NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
        let p = plan(&orders, now, from, 14, &cal);
        let overdue: Vec<&str> = p.overdue.iter().map(|e| e.reference.as_str()).collect();
        assert_eq!(overdue, ["SP-2026-00001", "SP-2026-00002"]);
        assert_eq!(p.overdue[0].time, "2026-12-18 10:00 +01:00");
        let headings: Vec<&str> = p.days.iter().map(|d| d.heading.as_str()).collect();
        // 24 (closed), 25, 26 (holidays) are skipped but 26 has a change; weekends skipped.
        assert_eq!(
            headings,
            [
                "mandag den 21. december 2026",
                "tirsdag den 22. december 2026",
                "onsdag den 23. december 2026",
                "lørdag den 26. december 2026",
                "mandag den 28. december 2026",
                "tirsdag den 29. december 2026",
                "onsdag den 30. december 2026",
                "torsdag den 31. december 2026",
            ]
        );
        assert_eq!(p.days[0].orders.len(), 1);
        assert_eq!(p.days[0].orders[0].time, "13.30");
        assert_eq!(p.days[0].orders[0].system, "FamilieFlow");
        assert_eq!(p.days[3].closed.as_deref(), Some("2. juledag"));
        assert_eq!(p.days[0].closed, None);
        assert!(
            p.days
                .iter()
                .all(|d| d.orders.iter().all(|e| e.reference != "SP-2027-00005"))
        );
    }

    #[test]
    fn the_week_offset_is_a_small_number_or_nothing() {
        assert_eq!(weeks_ahead(None), 0);
        assert_eq!(weeks_ahead(Some("uge=4")), 4);
        assert_eq!(weeks_ahead(Some("uge=-1")), 0);
        assert_eq!(weeks_ahead(Some("uge=abc")), 0);
        assert_eq!(weeks_ahead(Some("uge=99999999999")), 0);
        assert_eq!(weeks_ahead(Some("uge=500")), MAX_WEEKS_AHEAD);
        assert_eq!(link(0), "/kalender");
        assert_eq!(link(8), "/kalender?uge=8");
    }
}
