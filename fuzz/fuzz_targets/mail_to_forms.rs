//! Raw mail → judgement: the content identity, the header limits, parsing (charsets, encoded
//! words, inline parts), every reader, the field table, the spam verdict and the rules must
//! never panic, whatever the bytes.
#![no_main]

use std::sync::OnceLock;

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use spdesk::forms::extract::ExtractLimits;
use spdesk::judge::{Context, judge_mail};
use spdesk::mail::{HeaderLimits, Mail, header_over_limits};
use spdesk::rules::{NoHistory, RuleSettings};

fn settings() -> &'static RuleSettings {
    static S: OnceLock<RuleSettings> = OnceLock::new();
    S.get_or_init(|| {
        spdesk::cli::setup::rule_settings(&spdesk::config::CheckConfig::default().rules)
            .expect("default rule settings")
    })
}

fuzz_target!(|data: &[u8]| {
    // Tight limits, so that both outcomes are reached with small inputs.
    let tight = HeaderLimits {
        max_count: 8,
        max_bytes: 512,
        max_field_bytes: 128,
        max_mime_parts: 16,
    };
    let _ = spdesk::mail::identity::content_sha256(data);
    let _ = header_over_limits(data, &tight);
    let _ = header_over_limits(data, &HeaderLimits::default());
    let Some(mail) = Mail::parse(data, 3) else {
        return;
    };
    let received = chrono_tz::Europe::Copenhagen
        .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .single()
        .expect("a valid time");
    let limits = ExtractLimits::default();
    let ctx = Context {
        received,
        settings: settings(),
        limits: &limits,
        history: &NoHistory,
    };
    let _ = judge_mail(&mail, &ctx);
    let _ = mail.loop_flags();
});
