//! Hourly limits on the mail the daemon sends of its own accord (DESIGN.md "Loop safety"):
//! which address a limit counts, and the earliest clock hour a mail fits in.
//!
//! Pure: the counts come from the store, the shell queues the mail with the hour found here as
//! its not-before time. A mail over a limit is deferred to a later hour, never dropped, so an
//! attacker who exhausts a victim's quota delays the victim's receipts but cannot destroy them.

use std::collections::BTreeMap;

/// The key the overall cap on receipts counts under (not an address, so no address can
/// collide with it).
pub const ALL_RECEIPTS: &str = "*receipts";

/// The hourly limits, from `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Receipts to one address (as [`counted_address`] gives it) per hour.
    pub receipts_per_address: i64,
    /// Receipts to anyone per hour.
    pub receipts: i64,
    /// Forms made into orders (or new versions) per sender (as [`counted_address`] gives it)
    /// per hour; the mails beyond it go to a person on one review order.
    pub orders_per_sender: i64,
    /// Review mails to the Helpdesk per hour; the rest are gathered into one summary an hour.
    pub review_mails: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            receipts_per_address: 30,
            receipts: 300,
            orders_per_sender: 20,
            review_mails: 30,
        }
    }
}

/// The address a per-address limit counts: case-folded, without a `+tag` in the local part
/// and without a trailing dot on the domain. `Victim+1@Kommune.test`, `victim@kommune.test.`
/// and `victim@kommune.test` reach the same person (Postfix strips the dot of a fully
/// qualified `kommune.test.`), so they share one quota; otherwise an attacker beats the limit
/// by numbering the tags or adding the dot.
///
/// An address longer than any real one (RFC 5321 allows 254 characters) is counted under the
/// SHA-256 of its folded form: the count stays per address, and a key stays small enough for
/// any database index.
pub fn counted_address(address: &str) -> String {
    let a = address.trim().to_lowercase();
    let folded = match a.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = domain.trim_end_matches('.');
            match local.split_once('+') {
                Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
                _ => format!("{local}@{domain}"),
            }
        }
        None => a,
    };
    if folded.len() > MAX_ADDRESS_LEN {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(folded.as_bytes()))
        )
    } else {
        folded
    }
}

/// The longest address counted as it is (RFC 5321's limit on a path).
pub const MAX_ADDRESS_LEN: usize = 254;

/// The clock hour of a Unix time (the bucket the limits count in).
pub fn hour_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(3600)
}

/// The first second of a clock hour.
pub fn hour_start(hour: i64) -> i64 {
    hour.saturating_mul(3600)
}

/// Mails counted per clock hour for one key.
pub type Counts = BTreeMap<i64, i64>;

/// Whether one more mail fits in `hour` for a key with these counts and this limit: the hour
/// and both its neighbours together stay under the limit, so every sliding hour (which lies
/// inside two adjacent clock hours) holds at most `limit` mails, also when mails were deferred
/// into later hours.
pub fn fits(counts: &Counts, hour: i64, limit: i64) -> bool {
    let n = |h: i64| counts.get(&h).copied().unwrap_or(0);
    n(hour - 1)
        .saturating_add(n(hour))
        .saturating_add(n(hour + 1))
        < limit.max(1)
}

/// The earliest clock hour from `now_hour` on in which one more mail fits every key's limit at
/// once. Always found: past the last counted hour nothing is counted and every limit is at
/// least one.
pub fn earliest_hour(now_hour: i64, keys: &[(&Counts, i64)]) -> i64 {
    let last = keys
        .iter()
        .filter_map(|(c, _)| c.keys().next_back().copied())
        .max()
        .unwrap_or(now_hour);
    let mut hour = now_hour;
    while hour <= last.saturating_add(1) {
        if keys.iter().all(|(c, limit)| fits(c, hour, *limit)) {
            return hour;
        }
        hour += 1;
    }
    hour.max(now_hour)
}

/// The keys one receipt to `to` counts under, with their limits: each address once (as
/// [`counted_address`] gives it) and the overall cap.
pub fn receipt_keys(to: &[String], limits: &RateLimits) -> Vec<(String, i64)> {
    let mut keys: Vec<(String, i64)> = Vec::with_capacity(to.len() + 1);
    for a in to {
        let k = counted_address(a);
        if !keys.iter().any(|(x, _)| *x == k) {
            keys.push((k, limits.receipts_per_address));
        }
    }
    keys.push((ALL_RECEIPTS.to_string(), limits.receipts));
    keys
}

/// The key the review mails to the Helpdesk are counted under.
pub const REVIEW_MAILS: &str = "*review_mails";

/// The key the hourly order cap counts a sender's forms under (apart from its receipts).
pub fn orders_key(sender: &str) -> String {
    format!("orders:{}", counted_address(sender))
}

/// Why a deferred mail waits, for its order's history: which limits were full.
pub fn deferral_reason(full: &[String], limits: &RateLimits) -> String {
    full.iter()
        .map(|k| {
            if k == ALL_RECEIPTS {
                format!("more than {} receipts an hour in all", limits.receipts)
            } else {
                format!(
                    "more than {} receipts an hour to {k}",
                    limits.receipts_per_address
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_longer_than_any_real_one_is_counted_under_its_hash() {
        let long = format!("{}@kommune.test", "a".repeat(70_000));
        let key = counted_address(&long);
        assert!(key.starts_with("sha256:") && key.len() == 7 + 64, "{key}");
        assert_eq!(key, counted_address(&long.to_uppercase()), "folded first");
        assert_ne!(key, counted_address(&format!("b{long}")));
        assert_eq!(
            counted_address("Victim+1@Kommune.test."),
            "victim@kommune.test"
        );
    }

    #[test]
    fn tags_and_case_count_as_one_address() {
        for a in [
            "victim@kommune.test",
            "victim+1@kommune.test",
            "Victim+2@Kommune.TEST",
            " VICTIM@kommune.test ",
            "victim+a+b@kommune.test",
            "victim@kommune.test.",
            "Victim+3@kommune.test..",
        ] {
            assert_eq!(counted_address(a), "victim@kommune.test", "{a}");
        }
        // A different person, and addresses a tag rule must not empty.
        assert_eq!(
            counted_address("victim2@kommune.test"),
            "victim2@kommune.test"
        );
        assert_eq!(counted_address("+x@kommune.test"), "+x@kommune.test");
        assert_eq!(counted_address("no-at-sign"), "no-at-sign");
        assert_eq!(counted_address(""), "");
    }

    fn counts(pairs: &[(i64, i64)]) -> Counts {
        pairs.iter().copied().collect()
    }

    #[test]
    fn one_more_fits_while_the_hour_and_its_neighbours_are_under_the_limit() {
        let c = counts(&[(9, 1), (10, 1)]);
        assert!(fits(&c, 10, 3));
        assert!(!fits(&c, 10, 2));
        assert!(!fits(&c, 9, 2), "9 sees 10 too");
        assert!(fits(&c, 11, 2), "11 sees 10 only");
        assert!(fits(&c, 12, 1));
        // A limit below one is read as one: nothing is deferred forever.
        assert!(fits(&Counts::new(), 5, 0));
        assert!(fits(&counts(&[(1, i64::MAX)]), 5, 1));
        assert!(!fits(&counts(&[(5, i64::MAX), (6, i64::MAX)]), 5, i64::MAX));
    }

    #[test]
    fn the_earliest_hour_is_now_when_it_fits() {
        assert_eq!(earliest_hour(100, &[]), 100);
        assert_eq!(earliest_hour(100, &[(&Counts::new(), 1)]), 100);
        assert_eq!(earliest_hour(100, &[(&counts(&[(99, 2)]), 3)]), 100);
    }

    #[test]
    fn a_full_hour_defers_to_the_first_that_fits() {
        // 30 receipts this hour: the next hour still sees them, the one after does not.
        let full = counts(&[(100, 30)]);
        assert_eq!(earliest_hour(100, &[(&full, 30)]), 102);
        // Deferred mails fill later hours the same way: a flood is spread out, never lost.
        let flood = counts(&[(100, 30), (102, 30), (104, 29)]);
        assert_eq!(earliest_hour(100, &[(&flood, 30)]), 104);
        let flood = counts(&[(100, 30), (102, 30), (104, 30)]);
        assert_eq!(earliest_hour(100, &[(&flood, 30)]), 106);
        // Last hour's count still holds back this hour.
        assert_eq!(earliest_hour(100, &[(&counts(&[(99, 30)]), 30)]), 101);
    }

    #[test]
    fn every_key_must_fit_in_the_same_hour() {
        // The address is free at 100 and from 104 (receipts deferred into 102); the overall
        // cap is full until 102.
        let address = counts(&[(102, 5)]);
        let all = counts(&[(100, 300)]);
        assert_eq!(earliest_hour(100, &[(&address, 5)]), 100);
        assert_eq!(earliest_hour(100, &[(&all, 300)]), 102);
        assert_eq!(earliest_hour(100, &[(&address, 5), (&all, 300)]), 104);
    }

    #[test]
    fn a_receipt_counts_each_person_once_and_the_overall_cap() {
        let limits = RateLimits::default();
        let to = [
            "Fa+1@Kystby.test".to_string(),
            "fa@kystby.test".to_string(),
            "kontakt@kystby.test".to_string(),
        ];
        assert_eq!(
            receipt_keys(&to, &limits),
            vec![
                ("fa@kystby.test".to_string(), 30),
                ("kontakt@kystby.test".to_string(), 30),
                (ALL_RECEIPTS.to_string(), 300),
            ]
        );
        assert_eq!(
            deferral_reason(&["fa@kystby.test".into(), ALL_RECEIPTS.into()], &limits),
            "more than 30 receipts an hour to fa@kystby.test; more than 300 receipts an hour in all"
        );
    }

    #[test]
    fn hours_and_their_start() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(3599), 0);
        assert_eq!(hour_of(3600), 1);
        assert_eq!(hour_of(-1), -1);
        assert_eq!(hour_start(hour_of(7300)), 7200);
        assert_eq!(hour_start(i64::MAX), i64::MAX);
    }
}
