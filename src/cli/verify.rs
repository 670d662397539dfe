//! `spdesk verify REF` and `spdesk probe URL`: the step-8 check of a webservice change, for
//! an order (recorded as an event on it) or for any URL without an order (staff, e.g. before
//! they tell a requester the change is made). Exit 0 every check passed, 1 one failed, 2 a
//! usage error (DESIGN.md "Contracts").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::check::EXIT_USAGE;
use crate::cli::terminal;
use crate::daemon::Shared;
use crate::orders::verification::{self, Expected, Report, Subject};
use crate::verify::{self, VerifySettings, probe};

/// Exit status of a check that failed.
pub const EXIT_FAILED: i32 = 1;

/// Prints a report as text or JSON; its exit status.
fn print(r: &Report, json: bool) -> anyhow::Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print!("{}", terminal::text(&verification::text(r)));
    }
    Ok(if r.passed { 0 } else { EXIT_FAILED })
}

/// `spdesk verify REF [--json]`: one attempt (a person is waiting), recorded on the order.
pub async fn verify(
    shared: &Shared,
    reference: &str,
    json: bool,
    who: Option<&str>,
) -> anyhow::Result<i32> {
    let settings = VerifySettings {
        retries: 0,
        ..VerifySettings::from_config(&shared.config)?
    };
    let Some((o, _, subject)) = verify::order_subject(&shared.store, reference).await? else {
        eprintln!(
            "no order {}; see `spdesk orders list`",
            terminal::line(reference)
        );
        return Ok(EXIT_USAGE);
    };
    let target = match subject {
        Subject::Nothing => {
            eprintln!(
                "{}: not a webservice change of url or ssl_certificate; there is nothing to check by machine",
                o.reference
            );
            return Ok(EXIT_USAGE);
        }
        Subject::Monitoring => {
            println!(
                "{}: a monitoring change (sftp) has no endpoint to probe; nothing to check",
                o.reference
            );
            return Ok(0);
        }
        Subject::Endpoint(t) => t,
    };
    let r = verify::check(&target, &settings).await;
    let actor = crate::cli::orders::operator(who);
    verify::record(&shared.store, o.id, &actor, &r).await?;
    print(&r, json)
}

/// What `spdesk probe` was asked.
pub struct ProbeRequest<'a> {
    pub url: &'a str,
    pub cert: Option<&'a Path>,
    pub ca: Option<&'a Path>,
    pub json: bool,
    /// The config, when one was found: `rules.trusted_ca_file` and `[verify] timeout`.
    pub config: Option<&'a crate::config::Config>,
}

/// `spdesk probe URL [--cert FILE.pem] [--ca FILE.pem] [--json]`: one attempt, no order.
pub async fn probe(p: &ProbeRequest<'_>) -> anyhow::Result<i32> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(c) = p.config.and_then(|c| c.rules.trusted_ca_file.clone()) {
        files.push(c);
    }
    files.extend(p.ca.map(Path::to_path_buf));
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let roots = match verify::tls::roots(&refs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "{}",
                terminal::text(&format!("--ca / trusted_ca_file: {e:#}"))
            );
            return Ok(EXIT_USAGE);
        }
    };
    let expected = match p.cert.map(ordered_certificate).transpose() {
        Ok(e) => e.unwrap_or(Expected::Any),
        Err(why) => {
            eprintln!("{}", terminal::text(&why));
            return Ok(EXIT_USAGE);
        }
    };
    let settings = probe::ProbeSettings {
        timeout: p.config.map_or_else(
            || crate::config::Verify::default().timeout,
            |c| c.verify.timeout,
        ),
        roots: Arc::new(roots),
    };
    let o = probe::probe(p.url, &settings).await;
    if let Some((verification::Step::Url, why)) = &o.failed {
        eprintln!("{}: {}", terminal::line(p.url), terminal::line(why));
        return Ok(EXIT_USAGE);
    }
    print(&verification::report(&o, &expected, None, 1), p.json)
}

/// The fingerprint of the leaf in `--cert FILE.pem`, or why there is none.
fn ordered_certificate(path: &Path) -> Result<Expected, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--cert {}: {e}", path.display()))?;
    let der = crate::rules::cert::leaf_der(&bytes).ok_or_else(|| {
        format!(
            "--cert {}: holds no certificate that can be read; give the ordered certificate as PEM or DER",
            path.display()
        )
    })?;
    Ok(Expected::Fingerprint {
        sha256: verification::fingerprint(&der),
    })
}
