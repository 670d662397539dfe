//! What `spdesk config check` prints: the effective configuration as TOML, every default
//! filled in and every secret shown as `"***"`.

use std::path::Path;

use super::reader::toml_str;
use super::types::{
    Billing, CheckConfig, Config, Executors, Helpdesk, Imap, Limits, RulesConfig, Schedule, Secret,
    Smtp, Web,
};
use super::units::format_duration;

impl Config {
    /// The effective configuration as TOML, every default filled in and every secret shown as
    /// `"***"`: the output of `spdesk config check`.
    pub fn redacted_summary(&self) -> String {
        let mut w = Summary::default();
        w.comment(
            "spdesk configuration: effective values, defaults filled in, secrets shown as \"***\"",
        );
        if let Some(p) = &self.path {
            w.comment(&format!("from {}", p.display()));
        }
        w.imap(&self.imap);
        w.smtp(&self.smtp);
        w.section("database");
        w.str("url", &self.database.redacted_url());
        w.secret(self.database.secret.as_ref());
        w.str(
            "lease_timeout",
            &super::format_duration(self.database.lease_timeout),
        );
        w.helpdesk(&self.helpdesk);
        w.limits(&self.limits);
        w.executors(&self.executors, self.rules.systems_file.is_some());
        w.rules(&self.rules);
        w.schedule(&self.schedule);
        w.billing(&self.billing);
        w.web(self.web.as_ref());
        w.verify(&self.verify);
        w.0
    }
}

impl CheckConfig {
    /// The effective `[rules]` and `[limits]` as TOML.
    pub fn redacted_summary(&self) -> String {
        let mut w = Summary::default();
        w.comment("spdesk check configuration: effective [limits] and [rules]");
        if let Some(p) = &self.path {
            w.comment(&format!("from {}", p.display()));
        }
        w.limits(&self.limits);
        w.rules(&self.rules);
        w.0
    }
}

/// Builds the TOML text of [`Config::redacted_summary`].
#[derive(Default)]
struct Summary(String);

impl Summary {
    fn comment(&mut self, text: &str) {
        self.0.push_str("# ");
        self.0.push_str(text);
        self.0.push('\n');
    }
    fn section(&mut self, name: &str) {
        self.0.push_str(&format!("\n[{name}]\n"));
    }
    fn raw(&mut self, key: &str, value: &str) {
        self.0.push_str(&format!("{key} = {value}\n"));
    }
    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, &toml_str(value));
    }
    fn list(&mut self, key: &str, items: &[String]) {
        let items = items
            .iter()
            .map(|i| toml_str(i))
            .collect::<Vec<_>>()
            .join(", ");
        self.raw(key, &format!("[{items}]"));
    }
    fn opt_path(&mut self, key: &str, p: Option<&Path>) {
        match p {
            Some(p) => self.str(key, &p.to_string_lossy()),
            None => self.comment(&format!("{key}: not set")),
        }
    }
    fn secret(&mut self, s: Option<&Secret>) {
        match s {
            Some(Secret::Password(_)) => self.str("password", "***"),
            Some(Secret::PasswordFile(p)) => self.str("password_file", &p.to_string_lossy()),
            Some(Secret::PasswordEnv(n)) => self.str("password_env", n),
            Some(Secret::OAuthTokenFile(p)) => self.str("oauth_token_file", &p.to_string_lossy()),
            Some(Secret::OAuthTokenCommand(_)) => self.str("oauth_token_command", "***"),
            None => {}
        }
    }
    fn imap(&mut self, i: &Imap) {
        self.section("imap");
        self.str("host", &i.host);
        self.raw("port", &i.port.to_string());
        self.str("tls", i.tls.as_str());
        self.opt_path("ca_file", i.ca_file.as_deref());
        self.str("username", &i.username);
        self.str("auth", i.auth.as_str());
        self.secret(Some(&i.secret));
        self.str("mailbox", &i.mailbox);
        self.str("processed_folder", &i.processed_folder);
        self.str("quarantine_folder", &i.quarantine_folder);
        self.raw("idle", &i.idle.to_string());
        self.str("poll_interval", &format_duration(i.poll_interval));
    }
    fn smtp(&mut self, s: &Smtp) {
        self.section("smtp");
        self.str("host", &s.host);
        self.raw("port", &s.port.to_string());
        self.str("tls", s.tls.as_str());
        self.opt_path("ca_file", s.ca_file.as_deref());
        self.str("auth", s.auth.as_str());
        match &s.username {
            Some(u) => self.str("username", u),
            None => self.comment("username: not used"),
        }
        self.secret(s.secret.as_ref());
        self.str("from", &s.from);
    }
    fn helpdesk(&mut self, h: &Helpdesk) {
        self.section("helpdesk");
        self.str("address", &h.address);
        self.list("own_domains", &h.own_domains);
        self.list("review_to", &h.review_to);
        self.list("digest_to", &h.digest_to);
        self.list("incident_to", &h.incident_to);
        self.list("billing_to", &h.billing_to);
        self.raw("stale_rejected_days", &h.stale_rejected_days.to_string());
    }
    /// The commands, and a notice when they cannot run by themselves for want of a register.
    fn executors(&mut self, e: &Executors, has_register: bool) {
        self.section("executors");
        for (key, cmd) in [("webservice", &e.webservice), ("sftp", &e.sftp)] {
            match cmd {
                Some(c) => self.str(key, c),
                None => self.comment(&format!("{key}: not set (a person executes)")),
            }
        }
        if (e.webservice.is_some() || e.sftp.is_some()) && !has_register {
            self.comment(
                "notice: no it-system register (rules.systems_file), so these commands do not run by themselves; a person executes approved orders (spdesk orders execute REF)",
            );
        }
        self.str("timeout", &format_duration(e.timeout));
    }
    fn schedule(&mut self, sc: &Schedule) {
        self.section("schedule");
        self.str("timezone", sc.timezone.name());
        self.str("digest", sc.digest.source());
        self.str("billing", sc.billing.source());
    }
    fn web(&mut self, web: Option<&Web>) {
        self.section("web");
        let Some(w) = web else {
            self.comment("listen: not set (no web console, no /healthz, no /metrics)");
            return;
        };
        self.str("listen", &w.listen.to_string());
        match &w.public_url {
            Some(u) => self.str("public_url", u),
            None => self.comment("public_url: not set"),
        }
        self.raw("session_hours", &w.session_hours.to_string());
        let tls = w.tls.as_ref();
        self.opt_path("tls_cert", tls.map(|t| t.cert.as_path()));
        self.opt_path("tls_key", tls.map(|t| t.key.as_path()));
        match &w.trusted_proxy_header {
            Some(h) => self.str("trusted_proxy_header", h),
            None => self.comment("trusted_proxy_header: not set"),
        }
        let nets: Vec<String> = w.trusted_proxies.iter().map(|n| n.to_string()).collect();
        self.list("trusted_proxies", &nets);
        self.raw("metrics", &w.metrics.to_string());
        self.str("health_imap_grace", &format_duration(w.health_imap_grace));
    }
    fn verify(&mut self, v: &super::Verify) {
        self.section("verify");
        self.raw("enabled", &v.enabled.to_string());
        self.str("timeout", &format_duration(v.timeout));
        self.raw("retries", &v.retries.to_string());
        self.str("retry_interval", &format_duration(v.retry_interval));
    }
    fn billing(&mut self, b: &Billing) {
        self.section("billing");
        self.raw(
            "prices",
            &format!(
                "{{ webservice = {}, sftp = {} }}",
                toml::Value::Float(b.prices.webservice),
                toml::Value::Float(b.prices.sftp)
            ),
        );
        self.str("currency", &b.currency);
        self.str("csv", b.csv.name());
    }
    fn limits(&mut self, l: &Limits) {
        self.section("limits");
        self.raw("max_message_bytes", &l.max_message_bytes.to_string());
        self.raw("max_attachments", &l.max_attachments.to_string());
        self.raw(
            "max_docx_unzipped_bytes",
            &l.reader.max_docx_unzipped_bytes.to_string(),
        );
        self.raw("max_docx_entries", &l.reader.max_docx_entries.to_string());
        self.raw("max_xml_depth", &l.reader.max_xml_depth.to_string());
        self.raw("max_pdf_pages", &l.reader.max_pdf_pages.to_string());
        self.raw("max_pdf_objects", &l.reader.max_pdf_objects.to_string());
        self.raw(
            "max_pdf_inflated_bytes",
            &l.reader.max_pdf_inflated_bytes.to_string(),
        );
        self.raw(
            "max_docx_xml_nodes",
            &l.reader.max_docx_xml_nodes.to_string(),
        );
        self.raw("max_forms_per_mail", &l.max_forms_per_mail.to_string());
        self.raw("max_mime_parts", &l.max_mime_parts.to_string());
        self.str("reader_timeout", &format_duration(l.reader_timeout));
        self.raw("reader_memory", &l.reader_memory.to_string());
        self.raw("max_attempts", &l.max_attempts.to_string());
        self.raw(
            "receipts_per_address_per_hour",
            &l.receipts_per_address_per_hour.to_string(),
        );
        self.raw("receipts_per_hour", &l.receipts_per_hour.to_string());
        self.raw(
            "orders_per_sender_per_hour",
            &l.orders_per_sender_per_hour.to_string(),
        );
        self.raw(
            "review_mails_per_hour",
            &l.review_mails_per_hour.to_string(),
        );
        self.raw("max_header_count", &l.max_header_count.to_string());
        self.raw("max_header_bytes", &l.max_header_bytes.to_string());
        self.raw(
            "max_header_field_bytes",
            &l.max_header_field_bytes.to_string(),
        );
        self.str("outbox_max_age", &format_duration(l.outbox_max_age));
    }
    fn rules(&mut self, r: &RulesConfig) {
        self.section("rules");
        self.raw("lead_working_days", &r.lead_working_days.to_string());
        self.str("change_window", &r.change_window.config_text());
        let days = r
            .extra_closed_days
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>();
        self.list("extra_closed_days", &days);
        self.raw("max_days_ahead", &r.max_days_ahead.to_string());
        self.opt_path("systems_file", r.systems_file.as_deref());
        self.opt_path("known_orders_file", r.known_orders_file.as_deref());
        match &r.trusted_ca_file {
            Some(p) => self.str("trusted_ca_file", &p.to_string_lossy()),
            None => self.comment("trusted_ca_file: not set (the system's trust store)"),
        }
        self.list("trusted_authserv_ids", &r.trusted_authserv_ids);
        self.raw(
            "trust_exchange_online",
            &r.trust_exchange_online.to_string(),
        );
        self.list("security_models", &r.security_models);
        self.list("datatypes", &r.datatypes);
        match &r.bestillings_id_pattern {
            Some(p) => self.str("bestillings_id_pattern", p),
            None => self.comment("bestillings_id_pattern: not set"),
        }
    }
}
