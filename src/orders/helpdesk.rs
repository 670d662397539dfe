//! The Helpdesk's own side of every order: its address and domains (never answered), where
//! review mail goes, and the hourly limits. Both the mail path and a person's action decide
//! with it, so it lives with the order logic.

/// The Helpdesk settings the order logic needs.
#[derive(Debug, Clone)]
pub struct HelpdeskSettings {
    pub address: String,
    pub own_domains: Vec<String>,
    pub review_to: Vec<String>,
    /// The hourly limits on receipts; a receipt over one is deferred, never dropped.
    pub rates: crate::orders::rate::RateLimits,
}

impl HelpdeskSettings {
    /// Our own address or one of our domains: never answered.
    pub fn is_own(&self, address: &str) -> bool {
        let a = address.to_lowercase();
        if a == self.address.to_lowercase() {
            return true;
        }
        let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.own_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// The domain of our own address: our Message-IDs end in `@spdesk.<domain>`.
    pub fn our_domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}
