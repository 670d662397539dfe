//! The step-8 check of a webservice change over the network (DESIGN.md "Verifying a change"):
//! [`probe`] connects, [`tls`] records what the server presented, and this module runs the
//! probe with the configured retries (a certificate is often installed minutes before DNS or
//! a load balancer follows), loads what an order asks to be checked and records each check
//! as an event on the order. What the facts mean is decided in
//! [`crate::orders::verification`].

pub mod probe;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rustls::RootCertStore;

use crate::orders::order::OrderRow;
use crate::orders::verification::{self, Report, Subject, Target, Verification};
use crate::store::{self, Store};

/// `[verify]` with the trust anchors loaded.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// `false`: executing an order checks nothing (`spdesk verify` still does).
    pub enabled: bool,
    pub timeout: Duration,
    /// Attempts after the first when a check fails.
    pub retries: u32,
    pub retry_interval: Duration,
    pub roots: Arc<RootCertStore>,
}

impl VerifySettings {
    /// From the config: `[verify]`, the system's store plus `rules.trusted_ca_file`.
    pub fn from_config(c: &crate::config::Config) -> anyhow::Result<VerifySettings> {
        let files: Vec<&std::path::Path> = c.rules.trusted_ca_file.as_deref().into_iter().collect();
        Ok(VerifySettings {
            enabled: c.verify.enabled,
            timeout: c.verify.timeout,
            retries: c.verify.retries,
            retry_interval: c.verify.retry_interval,
            roots: Arc::new(
                tls::roots(&files).map_err(|e| anyhow::anyhow!("rules.trusted_ca_file: {e}"))?,
            ),
        })
    }
}

/// Checks `target`, again after `retry_interval` while it fails, up to `retries` times; the
/// old URL (a `url` change) is probed once, at the end, for information.
pub async fn check(target: &Target, s: &VerifySettings) -> Report {
    let Some(url) = &target.url else {
        return verification::no_url(&target.expected);
    };
    let ps = probe::ProbeSettings {
        timeout: s.timeout,
        roots: s.roots.clone(),
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let o = probe::probe(url, &ps).await;
        let r = verification::report(&o, &target.expected, None, attempts);
        if r.passed || attempts > s.retries {
            let old = match &target.old_url {
                Some(u) => Some(probe::probe(u, &ps).await),
                None => None,
            };
            return verification::report(&o, &target.expected, old.as_ref(), attempts);
        }
        tracing::info!(url, attempts, failed = %verification::failures(&r), "verify: retrying");
        tokio::time::sleep(s.retry_interval).await;
    }
}

/// An order and what it asks to be checked (`None`: no such order).
pub async fn order_subject(
    store: &Store,
    reference: &str,
) -> anyhow::Result<Option<(OrderRow, serde_json::Value, Subject)>> {
    let Some(o) = store::order_by_ref(&store.pool, reference).await? else {
        return Ok(None);
    };
    let mut tx = store.begin().await?;
    let latest = store::actions::latest_version(&mut tx, o.id).await?;
    drop(tx);
    let leaf = latest
        .judgement
        .pointer("/fields/certificate")
        .and_then(|n| n.as_str())
        .and_then(|name| {
            latest
                .mail
                .attachments
                .iter()
                .find(|a| a.name.as_deref() == Some(name))
        })
        .and_then(|a| crate::rules::cert::leaf_der(&a.bytes));
    let subject = verification::subject(o.kind.as_deref(), &latest.judgement, leaf.as_deref());
    Ok(Some((o, latest.judgement, subject)))
}

/// Records a check's result as an event on the order.
pub async fn record(store: &Store, order_id: i64, actor: &str, r: &Report) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    let at = store::EventAt {
        order_id: Some(order_id),
        inbound_id: None,
        at: Utc::now(),
    };
    store::event(&mut tx, at, &verification::event(actor, r)).await?;
    tx.commit().await?;
    Ok(())
}

/// Before an execution: the check the order asks for, run and recorded, as the execution
/// carries it (`None`: checking is off, the order asks for none, or the execution will be
/// refused anyway — the plan then says why). `unverified`: `--unverified --reason`.
pub async fn before_execute(
    store: &Store,
    s: &VerifySettings,
    reference: &str,
    actor: &str,
    early: bool,
    unverified: Option<&str>,
) -> anyhow::Result<Option<Verification>> {
    if !s.enabled {
        return Ok(None);
    }
    let Some((o, judgement, subject)) = order_subject(store, reference).await? else {
        return Ok(None);
    };
    if !verification::worth_checking(&o, &judgement, early, Utc::now()) {
        return Ok(None);
    }
    let mut v = match subject {
        Subject::Nothing => return Ok(None),
        Subject::Monitoring => verification::verification(None),
        Subject::Endpoint(target) => {
            let r = check(&target, s).await;
            record(store, o.id, actor, &r).await?;
            verification::verification(Some(&r))
        }
    };
    v.unverified = unverified.map(str::to_string);
    Ok(Some(v))
}
