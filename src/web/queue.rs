//! `/`: the queue of orders — counts per state, filters (state, kind, "Kræver handling"), a
//! search, sorted by planned time, one page of [`PER_PAGE`] at a time.
//!
//! The filters are a GET form and plain links, so the page works without JavaScript and a
//! filtered queue is a link a colleague can be sent. The rows are read in SQL
//! ([`store::queue`]): a page costs the same whatever the number of orders.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Serialize;

use super::WebState;
use super::auth::Staff;
use super::page::{WebError, render};
use crate::orders::display;
use crate::orders::state::State as OrderState;
use crate::store::OrderRow;
use crate::store::queue::{self as store_queue, QueueFilter};

/// Orders on one page unless `?per=` asks for another number.
pub const PER_PAGE: u32 = 50;
/// The most orders one page shows, whatever `?per=` says.
pub const MAX_PER_PAGE: u32 = 200;
/// The form kinds the filter offers: (code, label).
pub const KINDS: [(&str, &str); 2] = [("webservice", "Webservice"), ("sftp", "SFTP")];

/// What the address asks for: the filter, the page (from 1) and the page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    pub filter: QueueFilter,
    pub page: u64,
    pub per: u32,
}

impl Default for QueueQuery {
    fn default() -> Self {
        QueueQuery {
            filter: QueueFilter::default(),
            page: 1,
            per: PER_PAGE,
        }
    }
}

impl QueueQuery {
    /// Reads `state`, `kind`, `needs_action`, `q`, `page` and `per` from a query string. A
    /// value that is no state, kind or number is ignored (the whole queue, page 1), never an
    /// error: the address is typed by people and shortened by mail clients.
    pub fn parse(raw: Option<&str>) -> QueueQuery {
        let mut q = QueueQuery::default();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let value = value.trim();
            match key.as_ref() {
                "state" => q.filter.state = value.parse::<OrderState>().ok(),
                "kind" => {
                    q.filter.kind = KINDS
                        .iter()
                        .find(|(code, _)| *code == value)
                        .map(|(code, _)| (*code).to_string())
                }
                "needs_action" => q.filter.needs_action = !value.is_empty() && value != "0",
                "q" => q.filter.search = value.chars().take(200).collect(),
                "page" => q.page = value.parse::<u64>().ok().filter(|p| *p >= 1).unwrap_or(1),
                "per" => {
                    q.per = value
                        .parse::<u32>()
                        .ok()
                        .map_or(PER_PAGE, |n| n.clamp(1, MAX_PER_PAGE))
                }
                _ => {}
            }
        }
        q
    }

    /// The queue's address with this filter on `page` (only what differs from the default).
    pub fn link(&self, page: u64) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(state) = self.filter.state {
            s.append_pair("state", state.as_str());
        }
        if let Some(kind) = &self.filter.kind {
            s.append_pair("kind", kind);
        }
        if self.filter.needs_action {
            s.append_pair("needs_action", "1");
        }
        if !self.filter.search.trim().is_empty() {
            s.append_pair("q", self.filter.search.trim());
        }
        if self.per != PER_PAGE {
            s.append_pair("per", &self.per.to_string());
        }
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        let query = s.finish();
        if query.is_empty() {
            "/".into()
        } else {
            format!("/?{query}")
        }
    }
}

/// Where a page lies among all: the page shown (1 ≤ page ≤ pages), how many pages, and the
/// rows it skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub offset: u64,
}

/// The pager for `total` rows, `per` to a page, with `page` asked for: a page past the end
/// is the last page, an empty queue is one empty page.
pub fn pager(page: u64, per: u32, total: i64) -> Pager {
    let per = u64::from(per.max(1));
    let total = u64::try_from(total).unwrap_or(0);
    let pages = total.div_ceil(per).max(1);
    let page = page.clamp(1, pages);
    Pager {
        page,
        pages,
        offset: (page - 1).saturating_mul(per),
    }
}

/// One order as a row of the queue.
#[derive(Debug, Serialize)]
struct Row {
    reference: String,
    state: String,
    kind: String,
    bestillings_id: String,
    org: String,
    system: String,
    requester: String,
    planned: String,
    /// "Forsinket" (approved, planned before now), "I dag" (approved for today), or empty.
    mark: &'static str,
}

fn row(o: &OrderRow, now: DateTime<Utc>) -> Row {
    let due = crate::cli::orders::order_json(o, now);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Row {
        reference: o.reference.clone(),
        state: display::state_name(o.state.as_str()).to_string(),
        kind: text(&o.kind),
        bestillings_id: text(&o.bestillings_id),
        org: text(&o.org_name),
        system: text(&o.system_name),
        requester: text(&o.requester),
        planned: o.planned_at.map(display::local_time).unwrap_or_default(),
        mark: if due.overdue {
            "Forsinket"
        } else if due.due {
            "I dag"
        } else {
            ""
        },
    }
}

/// A count of the queue's heading: its label, number and the link that filters to it.
#[derive(Debug, Serialize)]
struct Count {
    label: String,
    n: i64,
    link: String,
    current: bool,
}

/// The count per state (every state, zero included, in DESIGN.md's order) and "Kræver
/// handling", each a link to the queue filtered to it.
async fn counts(
    state: &WebState,
    q: &QueueQuery,
    now: DateTime<Utc>,
) -> Result<Vec<Count>, WebError> {
    let per_state = store_queue::state_counts(&state.store.pool).await?;
    let mut out: Vec<Count> = OrderState::ALL
        .iter()
        .map(|s| {
            let only = QueueQuery {
                filter: QueueFilter {
                    state: Some(*s),
                    ..QueueFilter::default()
                },
                ..QueueQuery::default()
            };
            Count {
                label: display::state_name(s.as_str()).to_string(),
                n: per_state
                    .iter()
                    .find(|(code, _)| code == s.as_str())
                    .map_or(0, |(_, n)| *n),
                link: only.link(1),
                current: q.filter == only.filter,
            }
        })
        .collect();
    let action = QueueQuery {
        filter: QueueFilter {
            needs_action: true,
            ..QueueFilter::default()
        },
        ..QueueQuery::default()
    };
    out.push(Count {
        label: "kræver handling".into(),
        n: store_queue::needs_action_count(&state.store.pool, now).await?,
        link: action.link(1),
        current: q.filter == action.filter,
    });
    Ok(out)
}

/// One choice of a select in the filter form: (value, label, selected).
type Choice = (String, String, bool);

/// The filter form's choices of state and kind.
fn options(q: &QueueQuery) -> (Vec<Choice>, Vec<Choice>) {
    let states = OrderState::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_string(),
                display::state_name(s.as_str()).to_string(),
                q.filter.state == Some(*s),
            )
        })
        .collect();
    let kinds = KINDS
        .iter()
        .map(|(code, label)| {
            (
                (*code).to_string(),
                (*label).to_string(),
                q.filter.kind.as_deref() == Some(*code),
            )
        })
        .collect();
    (states, kinds)
}

/// `GET /`.
pub async fn queue(
    State(state): State<WebState>,
    staff: Staff,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let q = QueueQuery::parse(raw.as_deref());
    let pool = &state.store.pool;
    let asked = pager(q.page, q.per, i64::MAX);
    let mut found = store_queue::queue_page(pool, &q.filter, now, q.per, asked.offset).await?;
    let p = pager(q.page, q.per, found.total);
    if p.page != q.page {
        // Past the last page: the last page instead.
        found = store_queue::queue_page(pool, &q.filter, now, q.per, p.offset).await?;
    }
    let rows: Vec<Row> = found.rows.iter().map(|o| row(o, now)).collect();
    let (states, kinds) = options(&q);
    let first = if rows.is_empty() { 0 } else { p.offset + 1 };
    let ctx = context! {
        counts => counts(&state, &q, now).await?,
        states => states,
        kinds => kinds,
        needs_action => q.filter.needs_action,
        q => q.filter.search,
        per => (q.per != PER_PAGE).then_some(q.per),
        orders => rows,
        total => found.total,
        page => p.page,
        pages => p.pages,
        first => first,
        last => p.offset + found.rows.len() as u64,
        previous => (p.page > 1).then(|| q.link(p.page - 1)),
        next => (p.page < p.pages).then(|| q.link(p.page + 1)),
        filtered => q.filter != QueueFilter::default(),
    };
    Ok(render(&state, Some(&staff), "queue.html", ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_what_people_type_and_ignores_the_rest() {
        assert_eq!(QueueQuery::parse(None), QueueQuery::default());
        assert_eq!(QueueQuery::parse(Some("")), QueueQuery::default());
        let q = QueueQuery::parse(Some(
            "state=review&kind=sftp&needs_action=1&q=+%C3%86r%C3%B8+&page=3&per=10",
        ));
        assert_eq!(q.filter.state, Some(OrderState::Review));
        assert_eq!(q.filter.kind.as_deref(), Some("sftp"));
        assert!(q.filter.needs_action);
        assert_eq!(q.filter.search, "Ærø");
        assert_eq!((q.page, q.per), (3, 10));
        for junk in [
            "state=bogus&kind=ftp&page=0&per=x",
            "state=&kind=&needs_action=&q=&page=-1&per=",
            "page=99999999999999999999999&state=%FF",
            "needs_action=0&&&=&%zz",
        ] {
            assert_eq!(
                QueueQuery::parse(Some(junk)),
                QueueQuery::default(),
                "{junk}"
            );
        }
        assert_eq!(QueueQuery::parse(Some("per=100000")).per, MAX_PER_PAGE);
        assert_eq!(QueueQuery::parse(Some("per=0")).per, 1);
        let long = format!("q={}", "x".repeat(5000));
        assert_eq!(QueueQuery::parse(Some(&long)).filter.search.len(), 200);
    }

    #[test]
    fn links_keep_the_filter_and_change_the_page() {
        assert_eq!(QueueQuery::default().link(1), "/");
        assert_eq!(QueueQuery::default().link(2), "/?page=2");
        let q = QueueQuery::parse(Some(
            "state=approved&q=a%26b c&needs_action=on&per=5&page=2",
        ));
        assert_eq!(
            q.link(3),
            "/?state=approved&needs_action=1&q=a%26b+c&per=5&page=3"
        );
        assert_eq!(QueueQuery::parse(Some(&q.link(3)[2..])).filter, q.filter);
    }

    #[test]
    fn the_pager_counts_pages_and_stays_inside_them() {
        assert_eq!(
            pager(1, 50, 0),
            Pager {
                page: 1,
                pages: 1,
                offset: 0
            }
        );
        assert_eq!(
            pager(1, 50, 50),
            Pager {
                page: 1,
                pages: 1,
                offset: 0
            }
        );
        assert_eq!(
            pager(2, 50, 51),
            Pager {
                page: 2,
                pages: 2,
                offset: 50
            }
        );
        assert_eq!(
            pager(9, 50, 120),
            Pager {
                page: 3,
                pages: 3,
                offset: 100
            }
        );
        assert_eq!(pager(0, 50, 120).page, 1);
        assert_eq!(pager(1, 0, 3).pages, 3);
        assert_eq!(pager(u64::MAX, 1, i64::MAX).page, i64::MAX as u64);
        assert_eq!(
            pager(5, 50, -1),
            Pager {
                page: 1,
                pages: 1,
                offset: 0
            }
        );
    }
}
