//! The time rules of a person's version (`orders edit`): a typo fixed by the Helpdesk must not
//! move or reject an order for the time that has passed since it arrived. The version is
//! judged as of the order's arrival and keeps the planned time (also one `orders reschedule`
//! set) — unless the person edits the desired time itself, which is then a new request judged
//! as of now.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::orders::edit::FieldEdit;

/// Whether the edits change the desired time.
pub fn edits_desired_time(edits: &[FieldEdit]) -> bool {
    edits.iter().any(|e| e.def.code == "desired_at")
}

/// When a staff version is judged to have arrived: the order's first version's arrival
/// (`first_received`) for an order whose agreed time is still ahead (`planned_ahead`: a typo
/// fix must not fail the lead time of a change already agreed), else `now` — a rejected
/// order's old date, or a certificate that expired since, must never pass because the order
/// once arrived in time; also `now` when the desired time is edited or the arrival is unknown.
pub fn judged_at(
    edits: &[FieldEdit],
    first_received: Option<DateTime<Utc>>,
    planned_ahead: bool,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match first_received {
        Some(at) if planned_ahead && !edits_desired_time(edits) => at,
        _ => now,
    }
}

/// The staff version's planned time: the order's current one (`current`, perhaps moved by
/// `orders reschedule`) when the desired time is not edited and the version can be planned at
/// all (`judged` is some), else what the judge planned.
pub fn planned(
    edits: &[FieldEdit],
    current: Option<DateTime<Utc>>,
    judged: Option<DateTime<Tz>>,
) -> Option<DateTime<Tz>> {
    match (judged, current) {
        (Some(j), Some(c)) if !edits_desired_time(edits) => Some(c.with_timezone(&j.timezone())),
        (judged, _) => judged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::edit::parse_set;
    use chrono::TimeZone;
    use chrono_tz::Europe::Copenhagen;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap()
    }

    #[test]
    fn a_typo_fix_is_judged_at_arrival_and_keeps_a_new_time() {
        let phone = [parse_set("contact_phone=12345678").unwrap()];
        assert_eq!(judged_at(&phone, Some(at(1, 9)), true, at(10, 9)), at(1, 9));
        // A rejected order, or one whose time has passed, is judged now: its old date and a
        // certificate expired since never pass.
        assert_eq!(
            judged_at(&phone, Some(at(1, 9)), false, at(10, 9)),
            at(10, 9)
        );
        // The form still says 7 December; reschedule made it 21 December.
        let form_time = Copenhagen.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let kept = planned(&phone, Some(at(21, 9)), Some(form_time)).expect("planned");
        assert_eq!(kept.with_timezone(&Utc), at(21, 9));
        // Not plannable (the version is rejected): nothing to keep.
        assert_eq!(planned(&phone, Some(at(21, 9)), None), None);
        // Never planned before: the judge's time.
        assert_eq!(planned(&phone, None, Some(form_time)), Some(form_time));
    }

    #[test]
    fn an_edited_desired_time_is_judged_now_and_planned_anew() {
        let time = [
            parse_set("contact_phone=12345678").unwrap(),
            parse_set("Ønsket tidspunkt for ændring=21-12-2026 10:00").unwrap(),
        ];
        assert!(edits_desired_time(&time));
        assert_eq!(judged_at(&time, Some(at(1, 9)), true, at(10, 9)), at(10, 9));
        let new = Copenhagen.with_ymd_and_hms(2026, 12, 21, 10, 0, 0).unwrap();
        assert_eq!(planned(&time, Some(at(7, 9)), Some(new)), Some(new));
        // An order without a known arrival is judged now.
        assert_eq!(judged_at(&[], None, true, at(10, 9)), at(10, 9));
    }
}
