//! The daily digest for the Helpdesk (RECEIPTS.md "Daglig oversigt"): what needs attention
//! today, as counts first and then one table per section.
//!
//! Pure: orders + the clock → [`Digest`] → Danish text and HTML through the templates
//! `digest.txt.j2` and `digest.html.j2` → a mail. Reading the orders and queueing the mail is
//! the shell's job (`jobs`).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::mail::header_value::{
    self, AutoSubmitted, Envelope, HeaderText, own_message_id, sender_and_recipients,
};
use crate::orders::order::OrderRow;
use crate::orders::receipts::Templates;
use crate::orders::state::State;
use crate::rules::calendar::{Calendar, TZ, danish_date, danish_date_short, danish_datetime};

/// The text template of the digest.
pub const TEXT_TEMPLATE: &str = "digest.txt.j2";
/// The HTML template of the digest (real tables; values are HTML-escaped).
pub const HTML_TEMPLATE: &str = "digest.html.j2";

/// Failed orders stay in the digest this many days after the failure, so that a failure on a
/// Friday is still seen on Monday, without the section growing forever.
pub const FAILED_SHOWN_DAYS: i64 = 7;

/// The sections, in the order RECEIPTS.md gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// Orders in `review`: a person must decide.
    Review,
    /// Orders with a message from the requester that no person has answered yet (the shell
    /// fills it in, [`with_unanswered`]).
    Unanswered,
    /// Approved orders planned for today, not yet past their time.
    Due,
    /// Approved orders whose planned time has passed.
    Overdue,
    /// Failed orders (an incident is open), the last [`FAILED_SHOWN_DAYS`] days.
    Failed,
    /// Orders with a receipt that could never be sent (refused, an address that does not
    /// parse, older than `limits.outbox_max_age`), the last [`FAILED_SHOWN_DAYS`] days. Not a
    /// state: the shell adds them ([`with_unsent_receipts`]).
    UnsentReceipts,
    /// Approved orders planned for the next [`UPCOMING_WORKING_DAYS`] working days after
    /// today, by day.
    Upcoming,
    /// Rejected orders without a corrected version for more than `stale_rejected_days`.
    StaleRejected,
}

impl SectionKind {
    /// In RECEIPTS.md's order.
    pub const ALL: [SectionKind; 8] = [
        SectionKind::Review,
        SectionKind::Unanswered,
        SectionKind::Due,
        SectionKind::Overdue,
        SectionKind::Failed,
        SectionKind::UnsentReceipts,
        SectionKind::Upcoming,
        SectionKind::StaleRejected,
    ];

    /// The Danish heading.
    pub fn title(self, stale_days: u32) -> String {
        match self {
            SectionKind::Review => "Til vurdering".into(),
            SectionKind::Unanswered => "Ubesvarede beskeder".into(),
            SectionKind::Due => "Skal gennemføres i dag".into(),
            SectionKind::Overdue => "Overskredet".into(),
            SectionKind::Failed => "Fejlet / incident".into(),
            SectionKind::UnsentReceipts => "Kvitteringer der ikke kunne sendes".into(),
            SectionKind::Upcoming => {
                format!("Kommende ændringer (de næste {UPCOMING_WORKING_DAYS} arbejdsdage)")
            }
            SectionKind::StaleRejected => {
                format!("Afvist uden rettelse i mere end {stale_days} dage")
            }
        }
    }
}

/// One order in a section's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    #[serde(rename = "ref")]
    pub reference: String,
    pub bestillings_id: String,
    pub org_name: String,
    pub system_name: String,
    /// "mandag den 7. december 2026 kl. 10.00", or empty.
    pub planned_at: String,
    /// Whole days (Copenhagen dates) since the order entered its state; for overdue orders,
    /// since the planned time.
    pub days_waiting: i64,
    /// "0 dage", "1 dag", "12 dage".
    pub days_text: String,
    /// No readable form (no form kind): the templates show the sender and subject instead of
    /// the form's empty columns.
    pub formless: bool,
    /// Who wrote: the order's requester, or the sender of an unanswered message.
    pub sender: String,
    /// The subject of the order's first mail, or of the unanswered message.
    pub subject: String,
}

/// The approved orders of one working day in "Kommende ændringer".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    /// "tirsdag den 1. december 2026".
    pub date_long: String,
    pub lines: Vec<Line>,
}

/// A message from a requester about an order that no person has answered yet: the input of
/// "Ubesvarede beskeder" ([`with_unanswered`]).
#[derive(Debug, Clone)]
pub struct Unanswered {
    pub order: OrderRow,
    /// The message's From.
    pub sender: String,
    pub subject: String,
    pub received_at: DateTime<Utc>,
}

/// "Kommende ændringer" covers this many working days after today.
pub const UPCOMING_WORKING_DAYS: u32 = 5;

/// One section: a heading and its table (empty: the templates say "Ingen").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub kind: SectionKind,
    pub title: String,
    pub lines: Vec<Line>,
    /// "Kommende ændringer" only: the same lines by working day, every day listed.
    pub days: Vec<Day>,
}

/// The digest of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// The day (Copenhagen) the digest is for.
    pub date: NaiveDate,
    /// "mandag den 30. november 2026".
    pub date_long: String,
    pub subject: String,
    pub n_review: usize,
    /// Orders in "Ubesvarede beskeder".
    pub n_unanswered: usize,
    pub n_due: usize,
    pub n_overdue: usize,
    pub n_failed: usize,
    pub n_stale: usize,
    /// Receipts waiting in the outbox for an hourly limit to allow them (deferred, never
    /// dropped). Not an order's state: [`build`] leaves it 0 and the shell fills it in from
    /// the outbox.
    pub n_deferred: usize,
    /// Orders in [`SectionKind::UnsentReceipts`].
    pub n_unsent: usize,
    /// Orders in "Kommende ændringer".
    pub n_upcoming: usize,
    pub stale_rejected_days: u32,
    pub sections: Vec<Section>,
    /// "Post uden svar": mails stored but never answered in the last [`NO_REPLY_PERIOD`], counted
    /// by reason (the shell fills it in, [`with_no_reply`]); empty: none.
    pub no_reply: Vec<NoReplyCount>,
}

/// How many mails of one kind were stored but never answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoReplyCount {
    /// "Spam", "Lister", "Autosvar", ...
    pub reason: String,
    pub count: i64,
}

/// The period "Post uden svar" counts: the day since the previous digest.
pub const NO_REPLY_PERIOD: TimeDelta = TimeDelta::days(1);

/// The Danish name of why a mail was not answered (the `why` of `daemon::process`'s ignored
/// event: "a bounce", "an auto-reply", "a mailing-list mail", "our own mail", "spam", ...).
pub fn no_reply_reason(why: &str) -> String {
    let why = why.trim();
    let lower = why.to_lowercase();
    let name = if lower.contains("spam") {
        "Spam"
    } else if lower.contains("list") {
        "Lister"
    } else if lower.contains("auto-reply") {
        "Autosvar"
    } else if lower.contains("bounce") {
        "Returmeldinger (bounces)"
    } else if lower.contains("our own") {
        "Egne mails"
    } else {
        return why.to_string();
    };
    name.to_string()
}

/// Fills in "Post uden svar" from the ignored mails' reasons and counts, merged by their
/// Danish name, largest first.
pub fn with_no_reply(d: &mut Digest, counted: &[(String, i64)]) {
    let mut merged: Vec<NoReplyCount> = Vec::new();
    for (why, n) in counted {
        let reason = no_reply_reason(why);
        match merged.iter_mut().find(|c| c.reason == reason) {
            Some(c) => c.count = c.count.saturating_add(*n),
            None => merged.push(NoReplyCount { reason, count: *n }),
        }
    }
    merged.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    d.no_reply = merged;
}

/// Fills in "Kvitteringer der ikke kunne sendes": each order with the time its last receipt
/// failed, the failures of the last [`FAILED_SHOWN_DAYS`] days, oldest first.
pub fn with_unsent_receipts(
    d: &mut Digest,
    failed: &[(OrderRow, DateTime<Utc>)],
    now: DateTime<Utc>,
) {
    let mut recent: Vec<&(OrderRow, DateTime<Utc>)> = failed
        .iter()
        .filter(|(_, at)| now.signed_duration_since(*at) <= TimeDelta::days(FAILED_SHOWN_DAYS))
        .collect();
    recent
        .sort_by(|(a, at_a), (b, at_b)| at_a.cmp(at_b).then_with(|| a.reference.cmp(&b.reference)));
    let lines: Vec<Line> = recent.iter().map(|(o, at)| line(o, *at, now)).collect();
    d.n_unsent = lines.len();
    if let Some(s) = d.section_mut(SectionKind::UnsentReceipts) {
        s.lines = lines;
    }
}

/// An order's line in a section, waiting since `since`.
fn line(o: &OrderRow, since: DateTime<Utc>, now: DateTime<Utc>) -> Line {
    let days = days_between(since, now);
    Line {
        reference: o.reference.clone(),
        bestillings_id: o.bestillings_id.clone().unwrap_or_default(),
        org_name: o.org_name.clone().unwrap_or_default(),
        system_name: o.system_name.clone().unwrap_or_default(),
        planned_at: o
            .planned_at
            .map(|p| danish_datetime(&p))
            .unwrap_or_default(),
        days_waiting: days,
        days_text: days_text(days),
        formless: o.kind.is_none(),
        sender: o.requester.clone().unwrap_or_default(),
        subject: o.thread_subject.clone(),
    }
}

/// Which section an order belongs in at `now`, if any (each order in at most one).
pub fn section_of(o: &OrderRow, now: DateTime<Utc>, stale_days: u32) -> Option<SectionKind> {
    let today = now.with_timezone(&TZ).date_naive();
    match o.state {
        State::Review => Some(SectionKind::Review),
        State::Approved => match o.planned_at {
            Some(p) if p < now => Some(SectionKind::Overdue),
            Some(p) if p.with_timezone(&TZ).date_naive() == today => Some(SectionKind::Due),
            _ => None,
        },
        State::Failed => {
            let at = o.incident_at.unwrap_or(o.updated_at);
            (now.signed_duration_since(at) <= TimeDelta::days(FAILED_SHOWN_DAYS))
                .then_some(SectionKind::Failed)
        }
        State::Rejected => TimeDelta::try_days(i64::from(stale_days))
            .is_some_and(|n| now.signed_duration_since(o.updated_at) > n)
            .then_some(SectionKind::StaleRejected),
        State::Received | State::Executed | State::Withdrawn => None,
    }
}

/// Whole calendar days (Copenhagen) from `since` to `now`; never negative.
fn days_between(since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let a = since.with_timezone(&TZ).date_naive();
    let b = now.with_timezone(&TZ).date_naive();
    b.signed_duration_since(a).num_days().max(0)
}

fn days_text(n: i64) -> String {
    if n == 1 {
        "1 dag".into()
    } else {
        format!("{n} dage")
    }
}

/// The counts the subject line gives, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectCounts {
    pub review: usize,
    pub unanswered: usize,
    pub due: usize,
    pub overdue: usize,
    pub failed: usize,
}

/// The subject line (RECEIPTS.md): all five counts, failures and unanswered messages included.
pub fn subject(date: NaiveDate, n: SubjectCounts) -> String {
    format!(
        "Daglig oversigt {}: {} til vurdering, {} ubesvarede beskeder, {} skal gennemføres i dag, {} overskredet, {} fejlet",
        danish_date_short(date),
        n.review,
        n.unanswered,
        n.due,
        n.overdue,
        n.failed
    )
}

impl Digest {
    /// The subject again from the counts, after the shell filled in a section.
    fn refresh_subject(&mut self) {
        self.subject = subject(
            self.date,
            SubjectCounts {
                review: self.n_review,
                unanswered: self.n_unanswered,
                due: self.n_due,
                overdue: self.n_overdue,
                failed: self.n_failed,
            },
        );
    }

    fn section_mut(&mut self, kind: SectionKind) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.kind == kind)
    }
}

/// Fills in "Ubesvarede beskeder": one line per message (its sender, subject and the days
/// since it came), oldest first, and the count in the subject.
pub fn with_unanswered(d: &mut Digest, unanswered: &[Unanswered], now: DateTime<Utc>) {
    let mut items: Vec<&Unanswered> = unanswered.iter().collect();
    items.sort_by(|a, b| {
        a.received_at
            .cmp(&b.received_at)
            .then_with(|| a.order.reference.cmp(&b.order.reference))
    });
    let lines: Vec<Line> = items
        .iter()
        .map(|u| Line {
            sender: u.sender.clone(),
            subject: u.subject.clone(),
            ..line(&u.order, u.received_at, now)
        })
        .collect();
    d.n_unanswered = lines.len();
    if let Some(s) = d.section_mut(SectionKind::Unanswered) {
        s.lines = lines;
    }
    d.refresh_subject();
}

/// The next [`UPCOMING_WORKING_DAYS`] working days after `today`.
fn upcoming_days(today: NaiveDate, calendar: &Calendar) -> Vec<NaiveDate> {
    (1..=UPCOMING_WORKING_DAYS)
        .filter_map(|n| calendar.add_working_days(today, n))
        .collect()
}

/// "Kommende ændringer": the approved orders planned on each of the next working days, by
/// planned time, every day listed (empty days say "Ingen").
fn upcoming(orders: &[OrderRow], now: DateTime<Utc>, calendar: &Calendar) -> Vec<Day> {
    let today = now.with_timezone(&TZ).date_naive();
    let mut planned: Vec<(&OrderRow, DateTime<Utc>)> = orders
        .iter()
        .filter(|o| o.state == State::Approved)
        .filter_map(|o| o.planned_at.map(|p| (o, p)))
        .collect();
    planned.sort_by(|(a, pa), (b, pb)| pa.cmp(pb).then_with(|| a.reference.cmp(&b.reference)));
    upcoming_days(today, calendar)
        .into_iter()
        .map(|date| Day {
            date,
            date_long: danish_date(date),
            lines: planned
                .iter()
                .filter(|(_, p)| p.with_timezone(&TZ).date_naive() == date)
                .map(|(o, _)| line(o, o.updated_at, now))
                .collect(),
        })
        .collect()
}

/// Builds the digest of `orders` at `now`.
pub fn build(
    orders: &[OrderRow],
    now: DateTime<Utc>,
    stale_rejected_days: u32,
    calendar: &Calendar,
) -> Digest {
    let date = now.with_timezone(&TZ).date_naive();
    let mut sections: Vec<Section> = SectionKind::ALL
        .iter()
        .map(|&kind| Section {
            kind,
            title: kind.title(stale_rejected_days),
            lines: Vec::new(),
            days: Vec::new(),
        })
        .collect();
    let mut picked: Vec<(SectionKind, &OrderRow)> = orders
        .iter()
        .filter_map(|o| section_of(o, now, stale_rejected_days).map(|k| (k, o)))
        .collect();
    // Due and overdue by planned time, the rest oldest first; the reference breaks ties.
    picked.sort_by(|(ka, a), (kb, b)| {
        let key = |k: &SectionKind, o: &OrderRow| match k {
            SectionKind::Due | SectionKind::Overdue => o.planned_at.unwrap_or(o.updated_at),
            SectionKind::Failed => o.incident_at.unwrap_or(o.updated_at),
            _ => o.updated_at,
        };
        key(ka, a)
            .cmp(&key(kb, b))
            .then_with(|| a.reference.cmp(&b.reference))
    });
    for (kind, o) in picked {
        let since = match kind {
            SectionKind::Overdue => o.planned_at.unwrap_or(o.updated_at),
            SectionKind::Failed => o.incident_at.unwrap_or(o.updated_at),
            _ => o.updated_at,
        };
        if let Some(s) = sections.iter_mut().find(|s| s.kind == kind) {
            s.lines.push(line(o, since, now));
        }
    }
    let days = upcoming(orders, now, calendar);
    if let Some(s) = sections
        .iter_mut()
        .find(|s| s.kind == SectionKind::Upcoming)
    {
        s.lines = days.iter().flat_map(|d| d.lines.iter().cloned()).collect();
        s.days = days;
    }
    let count = |k: SectionKind| {
        sections
            .iter()
            .find(|s| s.kind == k)
            .map_or(0, |s| s.lines.len())
    };
    let mut d = Digest {
        date,
        date_long: danish_date(date),
        subject: String::new(),
        n_review: count(SectionKind::Review),
        n_unanswered: 0,
        n_due: count(SectionKind::Due),
        n_overdue: count(SectionKind::Overdue),
        n_failed: count(SectionKind::Failed),
        n_stale: count(SectionKind::StaleRejected),
        n_deferred: 0,
        n_unsent: 0,
        n_upcoming: count(SectionKind::Upcoming),
        stale_rejected_days,
        sections,
        no_reply: Vec::new(),
    };
    d.refresh_subject();
    d
}

/// The digest as Danish text and HTML.
pub fn render(templates: &Templates, d: &Digest) -> Result<(String, String), String> {
    Ok((
        templates.render_named(TEXT_TEMPLATE, d)?,
        templates.render_named(HTML_TEMPLATE, d)?,
    ))
}

/// The digest's deterministic Message-ID: one per day, so a second run the same day is
/// recognised as the same mail and not sent again.
pub fn message_id(date: NaiveDate, domain: &str) -> String {
    format!("digest.{}@spdesk.{domain}", date.format("%Y-%m-%d"))
}

/// The digest as a mail from `from` to `to`: its Message-ID and raw bytes.
pub fn compose(
    templates: &Templates,
    d: &Digest,
    from: &str,
    to: &[String],
    date: i64,
) -> Result<(String, Vec<u8>), String> {
    let (text, html) = render(templates, d)?;
    let (from, to) = sender_and_recipients(from, to, "helpdesk.digest_to")?;
    let id = message_id(d.date, from.domain());
    let raw = header_value::builder(Envelope {
        from: &from,
        to: &to,
        to_names: &[],
        subject: &HeaderText::new(&d.subject),
        message_id: &own_message_id(&id)?,
        date,
        auto_submitted: AutoSubmitted::Generated,
        in_reply_to: None,
        references: &[],
    })
    .text_body(text)
    .html_body(html)
    .write_to_vec()
    .map_err(|e| e.to_string())?;
    Ok((id, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn order(n: u32, state: State, planned: Option<&str>, updated: &str) -> OrderRow {
        OrderRow {
            id: i64::from(n),
            reference: format!("SP-2026-{n:05}"),
            state,
            kind: Some("sftp".into()),
            bestillings_id: Some(format!("BD-{n}")),
            org_name: Some("Borgerdata I/S".into()),
            org_cvr: Some("54921942".into()),
            system_name: Some("FamilieFlow".into()),
            requester: Some("fa@example.test".into()),
            reply_to: None,
            contact_email: None,
            thread_message_id: None,
            thread_subject: String::new(),
            planned_at: planned.map(utc),
            created_at: utc(updated),
            updated_at: utc(updated),
            executed_at: None,
            billed_at: None,
            incident_at: None,
        }
    }

    /// The calendar of the tests: Danish holidays, 24 and 31 December closed.
    fn cal() -> Calendar {
        Calendar::new(&["12-24", "12-31"]).unwrap()
    }

    const NOW: &str = "2026-11-30T07:00:00+01:00";

    fn sample() -> Vec<OrderRow> {
        let mut failed = order(6, State::Failed, None, "2026-11-27T12:00:00+01:00");
        failed.incident_at = Some(utc("2026-11-27T12:00:00+01:00"));
        vec![
            order(1, State::Review, None, "2026-11-26T09:00:00+01:00"),
            order(
                2,
                State::Approved,
                Some("2026-11-30T10:00:00+01:00"),
                "2026-11-20T09:00:00+01:00",
            ),
            order(
                3,
                State::Approved,
                Some("2026-11-27T10:00:00+01:00"),
                "2026-11-10T09:00:00+01:00",
            ),
            order(
                4,
                State::Approved,
                Some("2026-12-07T10:00:00+01:00"),
                "2026-11-10T09:00:00+01:00",
            ),
            order(5, State::Rejected, None, "2026-11-01T09:00:00+01:00"),
            failed,
            order(7, State::Rejected, None, "2026-11-25T09:00:00+01:00"),
            order(8, State::Executed, None, "2026-11-25T09:00:00+01:00"),
            order(9, State::Withdrawn, None, "2026-11-25T09:00:00+01:00"),
            order(10, State::Received, None, "2026-11-25T09:00:00+01:00"),
        ]
    }

    fn refs(d: &Digest, k: SectionKind) -> Vec<String> {
        d.sections
            .iter()
            .find(|s| s.kind == k)
            .unwrap()
            .lines
            .iter()
            .map(|l| l.reference.clone())
            .collect()
    }

    #[test]
    fn orders_go_to_their_sections_with_counts() {
        let d = build(&sample(), utc(NOW), 14, &cal());
        assert_eq!(refs(&d, SectionKind::Review), ["SP-2026-00001"]);
        assert_eq!(refs(&d, SectionKind::Due), ["SP-2026-00002"]);
        assert_eq!(refs(&d, SectionKind::Overdue), ["SP-2026-00003"]);
        assert_eq!(refs(&d, SectionKind::Failed), ["SP-2026-00006"]);
        assert_eq!(refs(&d, SectionKind::StaleRejected), ["SP-2026-00005"]);
        assert_eq!((d.n_review, d.n_due, d.n_overdue), (1, 1, 1));
        assert_eq!((d.n_failed, d.n_stale), (1, 1));
        assert_eq!(
            d.subject,
            "Daglig oversigt 30. november 2026: 1 til vurdering, 0 ubesvarede beskeder, 1 skal gennemføres i dag, 1 overskredet, 1 fejlet"
        );
        let kinds: Vec<SectionKind> = d.sections.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, SectionKind::ALL);
    }

    #[test]
    fn days_waiting_and_planned_time() {
        let d = build(&sample(), utc(NOW), 14, &cal());
        let overdue = &d.sections[3].lines[0];
        assert_eq!(overdue.days_waiting, 3);
        assert_eq!(overdue.days_text, "3 dage");
        assert_eq!(overdue.planned_at, "fredag den 27. november 2026 kl. 10.00");
        assert_eq!(d.sections[0].lines[0].days_waiting, 4);
        assert_eq!(days_text(1), "1 dag");
        assert_eq!(days_text(0), "0 dage");
        // A clock behind the data never gives negative days.
        assert_eq!(
            days_between(utc("2026-12-01T00:00:00Z"), utc("2026-11-01T00:00:00Z")),
            0
        );
    }

    #[test]
    fn due_today_turns_overdue_after_its_time() {
        let o = order(
            2,
            State::Approved,
            Some("2026-11-30T10:00:00+01:00"),
            "2026-11-20T09:00:00+01:00",
        );
        let at = |t| section_of(&o, utc(t), 14);
        assert_eq!(at("2026-11-30T09:59:59+01:00"), Some(SectionKind::Due));
        assert_eq!(at("2026-11-30T10:00:01+01:00"), Some(SectionKind::Overdue));
        assert_eq!(at("2026-11-29T23:00:00+01:00"), None);
        let unplanned = order(11, State::Approved, None, "2026-11-20T09:00:00+01:00");
        assert_eq!(section_of(&unplanned, utc(NOW), 14), None);
    }

    #[test]
    fn stale_and_failed_limits() {
        let r = order(5, State::Rejected, None, "2026-11-16T07:00:00+01:00");
        // Exactly 14 days is not "more than 14 days".
        assert_eq!(section_of(&r, utc(NOW), 14), None);
        assert_eq!(
            section_of(&r, utc("2026-11-30T07:00:01+01:00"), 14),
            Some(SectionKind::StaleRejected)
        );
        assert_eq!(
            section_of(&r, utc(NOW), 0),
            Some(SectionKind::StaleRejected)
        );
        assert_eq!(section_of(&r, utc(NOW), u32::MAX), None);
        let f = order(6, State::Failed, None, "2026-11-20T12:00:00+01:00");
        assert_eq!(section_of(&f, utc(NOW), 14), None);
    }

    #[test]
    fn empty_digest_says_ingen_everywhere() {
        let t = Templates::builtin().unwrap();
        let d = build(&[], utc(NOW), 14, &cal());
        assert_eq!(
            d.subject,
            "Daglig oversigt 30. november 2026: 0 til vurdering, 0 ubesvarede beskeder, 0 skal gennemføres i dag, 0 overskredet, 0 fejlet"
        );
        let (text, html) = render(&t, &d).unwrap();
        // Seven tables, the five days of "Kommende ændringer" and "Post uden svar".
        assert_eq!(text.matches("Ingen").count(), 13, "{text}");
        assert_eq!(html.matches("Ingen").count(), 13, "{html}");
        assert!(!html.contains("<table"), "{html}");
    }

    #[test]
    fn deferred_receipts_are_counted_in_text_and_html() {
        let t = Templates::builtin().unwrap();
        let mut d = build(&[], utc(NOW), 14, &cal());
        d.n_deferred = 6;
        let (text, html) = render(&t, &d).unwrap();
        assert!(
            text.contains("6 kvitteringer udskudt af en grænse pr. time"),
            "{text}"
        );
        assert!(
            html.contains("<strong>6</strong> kvitteringer udskudt af en grænse pr. time"),
            "{html}"
        );
    }

    #[test]
    fn text_and_html_list_counts_then_sections_in_order() {
        let t = Templates::builtin().unwrap();
        let mut d = build(&sample(), utc(NOW), 14, &cal());
        let unsent = order(12, State::Approved, None, "2026-11-28T09:00:00+01:00");
        with_unsent_receipts(
            &mut d,
            &[(unsent, utc("2026-11-29T09:00:00+01:00"))],
            utc(NOW),
        );
        with_no_reply(&mut d, &[("spam".into(), 4), ("an auto-reply".into(), 2)]);
        let message = Unanswered {
            order: order(13, State::Approved, None, "2026-11-20T09:00:00+01:00"),
            sender: "Lars Bæk <fa@example.test>".into(),
            subject: "Kan ændringen rykkes til kl. 13.00?".into(),
            received_at: utc("2026-11-29T09:00:00+01:00"),
        };
        with_unanswered(&mut d, &[message], utc(NOW));
        let (text, html) = render(&t, &d).unwrap();
        let pos = |hay: &str, s: &str| hay.find(s).unwrap_or_else(|| panic!("{s} in {hay}"));
        for body in [&text, &html] {
            let counts = pos(body, "1 til vurdering");
            let titles = [
                "Til vurdering",
                "Ubesvarede beskeder",
                "SP-2026-00013",
                "Kan ændringen rykkes til kl. 13.00?",
                "Skal gennemføres i dag",
                "Overskredet",
                "Fejlet / incident",
                "Kvitteringer der ikke kunne sendes",
                "SP-2026-00012",
                "Kommende ændringer (de næste 5 arbejdsdage)",
                "tirsdag den 1. december 2026",
                "Ingen",
                "mandag den 7. december 2026",
                "SP-2026-00004",
                "Afvist uden rettelse i mere end 14 dage",
                "Post uden svar (spam, lister, autosvar)",
                "Spam",
                "Autosvar",
            ];
            let mut last = counts;
            for title in titles {
                // minijinja's HTML escaping writes "/" as "&#x2f;" (rendered as "/").
                let title = if body.starts_with("<!DOCTYPE") {
                    title.replace('/', "&#x2f;")
                } else {
                    title.to_string()
                };
                let p = last
                    + body[last..]
                        .find(&title)
                        .unwrap_or_else(|| panic!("{title} after counts in {body}"));
                assert!(p >= last);
                last = p;
            }
            assert!(body.contains("SP-2026-00003"));
            // The four empty days before 7 December; every section has lines.
            assert_eq!(body.matches("Ingen").count(), 4, "{body}");
        }
        assert_eq!(html.matches("<table").count(), 8);
        assert!(
            text.contains("SP-2026-00013 | BD-13 | fra Lars Bæk <fa@example.test>: \"Kan ændringen rykkes til kl. 13.00?\" | 1 dag"),
            "{text}"
        );
        assert!(d.subject.contains("1 ubesvarede beskeder"), "{}", d.subject);
        assert!(
            text.contains("1 med kvitteringer der ikke kunne sendes"),
            "{text}"
        );
        assert!(text.contains("Spam: 4\nAutosvar: 2"), "{text}");
        assert!(html.contains("<td>BD-3</td>"), "{html}");
        assert!(text.contains("SP-2026-00003 | BD-3 | Borgerdata I/S | FamilieFlow | fredag den 27. november 2026 kl. 10.00 | 3 dage"), "{text}");
    }

    /// "Kommende ændringer": the next five working days after today, holidays and closed days
    /// skipped, each with the approved orders planned on it, by time; today's and later ones
    /// are not there.
    #[test]
    fn upcoming_changes_by_working_day() {
        let friday = utc("2026-12-18T07:00:00+01:00");
        let days: Vec<String> = upcoming_days(friday.with_timezone(&TZ).date_naive(), &cal())
            .iter()
            .map(|d| d.to_string())
            .collect();
        // 24-26 December and the weekend are closed.
        assert_eq!(
            days,
            [
                "2026-12-21",
                "2026-12-22",
                "2026-12-23",
                "2026-12-28",
                "2026-12-29"
            ]
        );
        let planned = |n, at| order(n, State::Approved, Some(at), "2026-12-01T09:00:00+01:00");
        let orders = [
            planned(1, "2026-12-22T13:00:00+01:00"),
            planned(2, "2026-12-22T09:00:00+01:00"),
            planned(3, "2026-12-18T10:00:00+01:00"),
            planned(4, "2026-12-30T10:00:00+01:00"),
            order(
                5,
                State::Review,
                Some("2026-12-21T10:00:00+01:00"),
                "2026-12-01T09:00:00+01:00",
            ),
        ];
        let d = build(&orders, friday, 14, &cal());
        let s = d
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Upcoming)
            .unwrap();
        let by_day: Vec<(String, Vec<String>)> = s
            .days
            .iter()
            .map(|day| {
                let refs = day.lines.iter().map(|l| l.reference.clone()).collect();
                (day.date_long.clone(), refs)
            })
            .collect();
        assert_eq!(by_day.len(), 5);
        assert_eq!(
            by_day[1],
            (
                "tirsdag den 22. december 2026".to_string(),
                vec!["SP-2026-00002".to_string(), "SP-2026-00001".to_string()]
            )
        );
        assert!(
            by_day
                .iter()
                .enumerate()
                .all(|(i, (_, r))| i == 1 || r.is_empty())
        );
        assert_eq!(d.n_upcoming, 2);
        assert_eq!(refs(&d, SectionKind::Due), ["SP-2026-00003"]);
    }

    /// A review item without a readable form shows who wrote and the subject, not dashes.
    #[test]
    fn formless_review_items_show_sender_and_subject() {
        let t = Templates::builtin().unwrap();
        let mut o = order(1, State::Review, None, "2026-11-26T09:00:00+01:00");
        o.kind = None;
        o.bestillings_id = None;
        o.org_name = None;
        o.system_name = None;
        o.requester = Some("fa@example.test".into());
        o.thread_subject = "Bestilling vedhæftet (odt)".into();
        let d = build(&[o], utc(NOW), 14, &cal());
        let (text, html) = render(&t, &d).unwrap();
        assert!(
            text.contains("SP-2026-00001 | Ingen formular – afsender: fa@example.test, emne: \"Bestilling vedhæftet (odt)\" | - | 4 dage"),
            "{text}"
        );
        assert!(!text.contains("SP-2026-00001 | - | - | -"), "{text}");
        assert!(
            html.contains(
                "afsender: fa@example.test, emne: &#8220;Bestilling vedhæftet (odt)&#8221;"
            ),
            "{html}"
        );
    }

    /// Every count is in the subject, in RECEIPTS.md's order.
    #[test]
    fn the_subject_has_all_five_counts() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
        let n = SubjectCounts {
            review: 1,
            unanswered: 2,
            due: 3,
            overdue: 4,
            failed: 5,
        };
        assert_eq!(
            subject(date, n),
            "Daglig oversigt 14. december 2026: 1 til vurdering, 2 ubesvarede beskeder, 3 skal gennemføres i dag, 4 overskredet, 5 fejlet"
        );
    }

    #[test]
    fn unsent_receipts_of_the_last_week_oldest_first() {
        let mut d = build(&sample(), utc(NOW), 14, &cal());
        let o = |n| order(n, State::Approved, None, "2026-11-20T09:00:00+01:00");
        let failed = [
            (o(21), utc("2026-11-29T09:00:00+01:00")),
            (o(22), utc("2026-11-23T06:59:59+01:00")),
            (o(23), utc("2026-11-27T09:00:00+01:00")),
        ];
        with_unsent_receipts(&mut d, &failed, utc(NOW));
        assert_eq!(
            refs(&d, SectionKind::UnsentReceipts),
            ["SP-2026-00023", "SP-2026-00021"]
        );
        assert_eq!(d.n_unsent, 2);
        let line = &d.sections[5].lines[0];
        assert_eq!((line.days_waiting, line.days_text.as_str()), (3, "3 dage"));
    }

    #[test]
    fn mail_without_a_reply_is_counted_by_reason() {
        assert_eq!(no_reply_reason("spam"), "Spam");
        assert_eq!(no_reply_reason("spam (X-Spam-Flag: YES)"), "Spam");
        assert_eq!(no_reply_reason("a mailing-list mail"), "Lister");
        assert_eq!(no_reply_reason("an auto-reply"), "Autosvar");
        assert_eq!(no_reply_reason("a bounce"), "Returmeldinger (bounces)");
        assert_eq!(no_reply_reason("our own mail"), "Egne mails");
        assert_eq!(no_reply_reason(" something new "), "something new");
        let mut d = build(&[], utc(NOW), 14, &cal());
        let counted = [
            ("a bounce".to_string(), 1),
            ("spam".to_string(), 2),
            ("spam (SCL 9)".to_string(), 3),
            ("an auto-reply".to_string(), 5),
        ];
        with_no_reply(&mut d, &counted);
        let got: Vec<(&str, i64)> = d
            .no_reply
            .iter()
            .map(|c| (c.reason.as_str(), c.count))
            .collect();
        assert_eq!(
            got,
            [
                ("Autosvar", 5),
                ("Spam", 5),
                ("Returmeldinger (bounces)", 1)
            ]
        );
        let t = Templates::builtin().unwrap();
        let (text, _) = render(&t, &build(&[], utc(NOW), 14, &cal())).unwrap();
        let tail = &text[text.find("Post uden svar").unwrap()..];
        assert!(tail.contains("Ingen"), "{tail}");
    }

    #[test]
    fn html_escapes_what_senders_wrote() {
        let t = Templates::builtin().unwrap();
        let mut o = order(1, State::Review, None, "2026-11-26T09:00:00+01:00");
        o.org_name = Some("<script>alert(1)</script> & Co".into());
        let (text, html) = render(&t, &build(&[o], utc(NOW), 14, &cal())).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(text.contains("<script>alert(1)</script> & Co"));
    }

    #[test]
    fn the_digest_header_block_holds_only_our_headers() {
        let t = Templates::builtin().unwrap();
        let mut d = build(&sample(), utc(NOW), 14, &cal());
        d.subject = "Daglig oversigt\r\nBcc: evil@x.test\r\n\r\nbody".into();
        let to = ["digest@example.test".to_string()];
        let (_, raw) = compose(&t, &d, "helpdesk@example.test", &to, 1_800_000_000).unwrap();
        crate::mail::header_value::assert_only_our_headers(
            &raw,
            &crate::mail::header_value::OUR_HEADERS,
        );
        let bad = ["digest@example.test\r\nBcc: evil@x.test".to_string()];
        let err = compose(&t, &d, "helpdesk@example.test", &bad, 0).unwrap_err();
        assert!(err.contains("helpdesk.digest_to"), "{err}");
    }

    #[test]
    fn the_mail_has_a_message_id_per_day() {
        let t = Templates::builtin().unwrap();
        let d = build(&sample(), utc(NOW), 14, &cal());
        let (id, raw) = compose(
            &t,
            &d,
            "helpdesk@example.test",
            &["digest@example.test".to_string()],
            1_800_000_000,
        )
        .unwrap();
        assert_eq!(id, "digest.2026-11-30@spdesk.example.test");
        let m = crate::mail::Mail::parse(&raw, 1).unwrap();
        assert_eq!(m.subject, d.subject);
        assert!(m.loop_flags().auto_reply, "the digest must look automatic");
        assert!(m.html.unwrap().contains("<table"));
        assert!(m.text.unwrap().contains("SP-2026-00001"));
    }
}
