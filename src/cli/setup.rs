//! Builds the parts the daemon and the CLI run with from the loaded config, checking
//! everything that can be checked before start (trust store, templates, register files).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{self, Config};
use crate::daemon::intake::{ImapAuth, ImapSettings, Pipeline};
use crate::daemon::net::TlsMode;
use crate::daemon::outbox::{SmtpAuth, SmtpSettings};
use crate::daemon::process::HelpdeskSettings;
use crate::forms::extract::ExtractLimits;
use crate::forms::reader::DocumentReader;
use crate::mail::HeaderLimits;
use crate::orders::receipts::Templates;
use crate::rules::RuleSettings;
use crate::rules::calendar::Calendar;
use crate::rules::cert::TrustStore;
use crate::rules::it_systems::Register;
use crate::rules::time::TimeRules;
use crate::sandbox::Sandbox;

/// The rules' settings from `[rules]`.
pub fn rule_settings(r: &config::RulesConfig) -> anyhow::Result<RuleSettings> {
    let calendar = Calendar::from_days(&r.extra_closed_days);
    let trust = match &r.trusted_ca_file {
        Some(p) => TrustStore::from_pem_file(p).map_err(anyhow::Error::msg)?,
        None => TrustStore::system(),
    };
    let known_ids = match &r.known_orders_file {
        Some(p) => Some(read_known_ids(p)?),
        None => None,
    };
    let register = match &r.systems_file {
        Some(p) => Some(Register::load(p).map_err(|e| anyhow::anyhow!("rules.systems_file: {e}"))?),
        None => None,
    };
    let bestillings_id_pattern = match &r.bestillings_id_pattern {
        Some(p) => Some(
            crate::rules::whole_match_pattern(p)
                .map_err(|e| anyhow::anyhow!("rules.bestillings_id_pattern: {e}"))?,
        ),
        None => None,
    };
    Ok(RuleSettings {
        time: TimeRules {
            lead_working_days: r.lead_working_days,
            window: r.change_window,
            calendar,
            max_days_ahead: i64::from(r.max_days_ahead),
        },
        trust,
        security_models: r.security_models.clone(),
        datatypes: r.datatypes.clone(),
        trusted_authserv_ids: r.trusted_authserv_ids.clone(),
        trust_exchange_online: r.trust_exchange_online,
        known_ids,
        register,
        bestillings_id_pattern,
    })
}

/// Known BestillingsIDs: one per line (the first CSV column), `#` comments and a header
/// line without digits ignored.
fn read_known_ids(path: &std::path::Path) -> anyhow::Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "rules.known_orders_file {}: cannot read it: {e}",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .map(|l| l.split([',', ';', '\t']).next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && l.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect())
}

/// Header limits from `[limits]`.
pub fn header_limits(l: &config::Limits) -> HeaderLimits {
    HeaderLimits {
        max_count: l.max_header_count,
        max_bytes: l.max_header_bytes,
        max_field_bytes: l.max_header_field_bytes,
        max_mime_parts: l.max_mime_parts,
    }
}

/// Reader limits from `[limits]`, the documents read by `reader`.
pub fn extract_limits(l: &config::Limits, reader: Arc<dyn DocumentReader>) -> ExtractLimits {
    ExtractLimits {
        read: l.read_limits(),
        max_attachments: l.max_attachments,
        max_forms_per_mail: l.max_forms_per_mail,
        max_mime_parts: l.max_mime_parts,
        max_attachment_bytes: usize::try_from(l.max_message_bytes).unwrap_or(usize::MAX),
        max_forward_depth: 3,
        reader_timeout: l.reader_timeout,
        deadline: None,
        reader,
    }
}

/// The document readers of the daemon and of `spdesk check`: child processes of this binary
/// under `limits.reader_memory` (see [`crate::sandbox`]). Fails when no child can be started.
pub fn sandboxed_reader(l: &config::Limits) -> anyhow::Result<Arc<dyn DocumentReader>> {
    Ok(Arc::new(
        Sandbox::of_this_binary(l.reader_memory).map_err(anyhow::Error::msg)?,
    ))
}

/// Where the receipt templates are: `templates/` beside the config folder.
pub fn templates_dir(cfg: &Config) -> PathBuf {
    let dir = cfg.dir();
    let beside = dir.join("templates");
    if beside.is_dir() {
        return beside;
    }
    dir.parent().map(|p| p.join("templates")).unwrap_or(beside)
}

pub fn helpdesk_settings(cfg: &Config) -> HelpdeskSettings {
    HelpdeskSettings {
        address: cfg.helpdesk.address.clone(),
        own_domains: cfg.helpdesk.own_domains.clone(),
        review_to: cfg.helpdesk.review_to.clone(),
        rates: crate::orders::rate::RateLimits {
            receipts_per_address: i64::from(cfg.limits.receipts_per_address_per_hour),
            receipts: i64::from(cfg.limits.receipts_per_hour),
            orders_per_sender: i64::from(cfg.limits.orders_per_sender_per_hour),
            review_mails: i64::from(cfg.limits.review_mails_per_hour),
        },
    }
}

fn tls_mode(t: config::Tls) -> TlsMode {
    match t {
        config::Tls::None => TlsMode::None,
        config::Tls::StartTls => TlsMode::StartTls,
        config::Tls::Tls => TlsMode::Tls,
    }
}

pub fn imap_settings(cfg: &Config) -> ImapSettings {
    let i = &cfg.imap;
    ImapSettings {
        host: i.host.clone(),
        port: i.port,
        tls: tls_mode(i.tls),
        ca_file: i.ca_file.clone(),
        username: i.username.clone(),
        auth: match i.auth {
            config::Auth::XOAuth2 => ImapAuth::XOAuth2(i.secret.clone()),
            _ => ImapAuth::Password(i.secret.clone()),
        },
        mailbox: i.mailbox.clone(),
        processed_folder: i.processed_folder.clone(),
        quarantine_folder: i.quarantine_folder.clone(),
        idle: i.idle,
        poll_interval: i.poll_interval,
    }
}

pub fn smtp_settings(cfg: &Config) -> SmtpSettings {
    let s = &cfg.smtp;
    SmtpSettings {
        host: s.host.clone(),
        port: s.port,
        tls: tls_mode(s.tls),
        ca_file: s.ca_file.clone(),
        username: s.username.clone().unwrap_or_default(),
        auth: match (s.auth, &s.secret) {
            (config::Auth::Password, Some(sec)) => SmtpAuth::Password(sec.clone()),
            (config::Auth::XOAuth2, Some(sec)) => SmtpAuth::XOAuth2(sec.clone()),
            _ => SmtpAuth::None,
        },
    }
}

/// The whole pipeline for the daemon.
pub fn pipeline(cfg: &Config) -> anyhow::Result<Arc<Pipeline>> {
    let templates = Templates::load(Some(&templates_dir(cfg))).map_err(anyhow::Error::msg)?;
    Ok(Arc::new(Pipeline {
        settings: rule_settings(&cfg.rules)?,
        limits: extract_limits(&cfg.limits, sandboxed_reader(&cfg.limits)?),
        max_message_bytes: cfg.limits.max_message_bytes,
        header_limits: header_limits(&cfg.limits),
        max_attempts: i64::from(cfg.limits.max_attempts),
        helpdesk: helpdesk_settings(cfg),
        templates,
    }))
}
