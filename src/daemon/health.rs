//! What the running daemon knows about itself that the database does not: whether IMAP is
//! connected and since when, when the mailbox was last read, whether SMTP accepts mail, and
//! the web server's responses. The intake and the outbox update it; `/healthz` and `/metrics`
//! read it. Shared as one `Arc<Health>`; every field is a lock held for a moment or an atomic.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The daemon's own state, as far as `/healthz` and `/metrics` need it.
#[derive(Debug)]
pub struct Health {
    imap: Mutex<ImapState>,
    /// The outbox's last round stopped on a temporary SMTP failure.
    smtp_failing: AtomicBool,
    /// Web responses per HTTP status code.
    web_responses: Mutex<BTreeMap<u16, u64>>,
}

#[derive(Debug, Clone, Copy)]
struct ImapState {
    connected: bool,
    /// When `connected` last changed (the daemon's start, before the first connection).
    since: Instant,
    /// The end of the last complete read of the mailbox.
    last_poll: Option<SystemTime>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            imap: Mutex::new(ImapState {
                connected: false,
                since: Instant::now(),
                last_poll: None,
            }),
            smtp_failing: AtomicBool::new(false),
            web_responses: Mutex::new(BTreeMap::new()),
        }
    }
}

/// What `/healthz` and `/metrics` read about IMAP.
#[derive(Debug, Clone, Copy)]
pub struct ImapView {
    pub connected: bool,
    /// How long it has been connected, or not.
    pub for_: Duration,
    pub last_poll: Option<SystemTime>,
}

impl Health {
    fn imap_state(&self) -> std::sync::MutexGuard<'_, ImapState> {
        self.imap.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The intake logged in.
    pub fn imap_connected(&self) {
        let mut s = self.imap_state();
        if !s.connected {
            s.connected = true;
            s.since = Instant::now();
        }
    }

    /// The intake lost its connection (or could not make one).
    pub fn imap_disconnected(&self) {
        let mut s = self.imap_state();
        if s.connected {
            s.connected = false;
            s.since = Instant::now();
        }
    }

    /// The intake read the mailbox to the end.
    pub fn imap_polled(&self) {
        self.imap_state().last_poll = Some(SystemTime::now());
    }

    pub fn imap(&self) -> ImapView {
        let s = *self.imap_state();
        ImapView {
            connected: s.connected,
            for_: s.since.elapsed(),
            last_poll: s.last_poll,
        }
    }

    /// The outbox's last round: `true` when a temporary SMTP failure stopped it.
    pub fn set_smtp_failing(&self, failing: bool) {
        self.smtp_failing.store(failing, Ordering::Relaxed);
    }

    pub fn smtp_failing(&self) -> bool {
        self.smtp_failing.load(Ordering::Relaxed)
    }

    /// Counts one web response with `status`.
    pub fn web_response(&self, status: u16) {
        let mut m = self.web_responses.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(status).or_default() += 1;
    }

    /// Web responses so far per status code, in order.
    pub fn web_responses(&self) -> Vec<(u16, u64)> {
        let m = self.web_responses.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_state_follows_the_intake() {
        let h = Health::default();
        assert!(!h.imap().connected);
        h.imap_connected();
        h.imap_polled();
        let v = h.imap();
        assert!(v.connected);
        assert!(v.last_poll.is_some());
        h.imap_disconnected();
        assert!(!h.imap().connected);
    }

    #[test]
    fn web_responses_are_counted_per_status() {
        let h = Health::default();
        h.web_response(200);
        h.web_response(404);
        h.web_response(200);
        assert_eq!(h.web_responses(), vec![(200, 2), (404, 1)]);
    }
}
