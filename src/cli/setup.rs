//! Builds the parts the daemon and the CLI run with from the loaded config, checking
//! everything that can be checked before start (trust store, templates, register files).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config};
use crate::daemon::executor::ExecutorSettings;
use crate::daemon::intake::{ImapAuth, ImapSettings, Pipeline};
use crate::daemon::net::TlsMode;
use crate::daemon::outbox::{SmtpAuth, SmtpSettings};
use crate::daemon::process::HelpdeskSettings;
use crate::daemon::{Parts, Shared};
use crate::forms::extract::ExtractLimits;
use crate::forms::reader::DocumentReader;
use crate::mail::HeaderLimits;
use crate::orders::receipts::Templates;
use crate::rules::RuleSettings;
use crate::rules::calendar::Calendar;
use crate::rules::it_systems::{self, Register, RegisterError};
use crate::rules::time::TimeRules;
use crate::sandbox::Sandbox;
use crate::store::Store;
use crate::store::actions::Actions;

/// The rules' settings from `[rules]`, the register read from `rules.systems_file`.
pub fn rule_settings(r: &config::RulesConfig) -> anyhow::Result<RuleSettings> {
    rule_settings_with(r, register(r)?)
}

/// The register of `rules.systems_file`, when one is configured.
pub fn register(r: &config::RulesConfig) -> anyhow::Result<Option<Arc<Register>>> {
    match &r.systems_file {
        Some(p) => {
            Ok(Some(Arc::new(load_register(p).map_err(|e| {
                anyhow::anyhow!("rules.systems_file: {e}")
            })?)))
        }
        None => Ok(None),
    }
}

/// The rules' settings from `[rules]` with the register already loaded.
pub fn rule_settings_with(
    r: &config::RulesConfig,
    register: Option<Arc<Register>>,
) -> anyhow::Result<RuleSettings> {
    let calendar = Calendar::from_days(&r.extra_closed_days);
    let trust = crate::cli::trust::trust_store(r.trusted_ca_file.as_deref())?;
    let known_ids = match &r.known_orders_file {
        Some(p) => Some(read_known_ids(p)?),
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
        spam_headers: Default::default(),
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

/// Reads the it-system register file (at most [`it_systems::MAX_FILE_BYTES`] + 1 bytes, so an
/// over-size file is refused without being read whole); its format is checked first, from
/// the extension, and every problem names the file and line.
pub fn load_register(path: &Path) -> Result<Register, RegisterError> {
    Register::parser_for(path)?;
    let cannot_read =
        |e: std::io::Error| RegisterError::whole(Some(path), format!("cannot read it: {e}"));
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    file.take(it_systems::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    Register::from_file_bytes(path, bytes)
}

/// Loads the receipt and digest templates once, for the daemon and the CLI alike: an edited
/// copy in [`templates_dir`] wins over the built-in one. A template that cannot be read or
/// does not compile stops here, naming its file (and the line, where minijinja knows it).
pub fn load_templates(cfg: &Config) -> anyhow::Result<Arc<Templates>> {
    let dir = templates_dir(cfg);
    let mut unreadable: Option<anyhow::Error> = None;
    let built = Templates::build(|name| {
        let path = dir.join(name);
        if !path.exists() {
            return None;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                unreadable.get_or_insert(anyhow::anyhow!(
                    "{}: cannot read template: {e}",
                    path.display()
                ));
                None
            }
        }
    });
    if let Some(e) = unreadable {
        return Err(e);
    }
    let console = cfg.web.as_ref().and_then(|w| w.public_url.as_deref());
    built
        .map(|t| match console {
            Some(url) => t.with_console_url(url),
            None => t,
        })
        .map(Arc::new)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: template {}: {}",
                dir.join(&e.name).display(),
                e.name,
                e.message
            )
        })
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
        max_age: cfg.limits.outbox_max_age,
    }
}

/// What is read from files once and shared by everything that composes mails or checks the
/// register: the templates and the it-system register.
#[derive(Clone)]
pub struct Loaded {
    pub templates: Arc<Templates>,
    pub register: Option<Arc<Register>>,
}

/// Loads the templates and the register (see [`load_templates`], [`load_register`]).
pub fn loaded(cfg: &Config) -> anyhow::Result<Loaded> {
    Ok(Loaded {
        templates: load_templates(cfg)?,
        register: register(&cfg.rules)?,
    })
}

/// The whole pipeline for the daemon: the rules (with the register), the reader limits, the
/// Helpdesk's settings and the templates.
pub fn pipeline(
    cfg: &Config,
    loaded: &Loaded,
    reader: Arc<dyn DocumentReader>,
) -> anyhow::Result<Arc<Pipeline>> {
    Ok(Arc::new(Pipeline {
        settings: RuleSettings {
            spam_headers: cfg.helpdesk.spam_headers.clone(),
            ..rule_settings_with(&cfg.rules, loaded.register.clone())?
        },
        limits: extract_limits(&cfg.limits, reader),
        max_message_bytes: cfg.limits.max_message_bytes,
        header_limits: header_limits(&cfg.limits),
        max_attempts: i64::from(cfg.limits.max_attempts),
        helpdesk: helpdesk_settings(cfg),
        templates: loaded.templates.clone(),
    }))
}

/// Checks everything `spdesk run` checks before it connects (templates, rules, register,
/// trust store, the reader child), without opening the database: `spdesk config check`.
pub fn check(cfg: &Config) -> anyhow::Result<()> {
    pipeline(cfg, &loaded(cfg)?, sandboxed_reader(&cfg.limits)?)?;
    Ok(())
}

/// Whether opening the database waits for a server that is down (the daemon: a PostgreSQL
/// restarting or failing over as the instance starts), or fails at once (a command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    WaitForServer,
    FailAtOnce,
}

/// The longest pause between tries to reach a database server that is down at start.
const START_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the database (and migrates it), waiting for it as `opening` says.
async fn open_store(cfg: &Config, opening: Opening) -> anyhow::Result<Store> {
    let mut wait = std::time::Duration::from_millis(250);
    loop {
        match Store::open(&cfg.database.connect_url()?).await {
            Ok(store) => return Ok(store),
            Err(e) if opening == Opening::WaitForServer && crate::store::unavailable(&e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "database unavailable at start; retrying"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(START_RETRY_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the database and puts the loaded parts together for the order commands.
async fn open_shared(cfg: Config, loaded: Loaded, opening: Opening) -> anyhow::Result<Shared> {
    let store = open_store(&cfg, opening).await?.with_claimant(
        crate::store::claims::Claimant::for_instance(
            cfg.path.as_deref(),
            cfg.database.lease_timeout,
        ),
    );
    Ok(Shared {
        actions: Arc::new(Actions {
            templates: loaded.templates.clone(),
            helpdesk: helpdesk_settings(&cfg),
            incident_to: cfg.helpdesk.incident_to.clone(),
            register: loaded.register,
        }),
        templates: loaded.templates,
        store,
        config: Arc::new(cfg),
    })
}

/// What every command that works on orders runs with, the CLI's and the daemon's: the config,
/// the database, the templates and the order actions, each loaded once.
pub async fn shared(cfg: Config) -> anyhow::Result<Shared> {
    let loaded = loaded(&cfg)?;
    open_shared(cfg, loaded, Opening::FailAtOnce).await
}

/// The daemon's parts, built once: everything checked before anything connects, then the
/// database opened. `reader` reads the documents (the sandbox of this binary in `spdesk run`).
pub async fn parts(cfg: Config, reader: Arc<dyn DocumentReader>) -> anyhow::Result<Parts> {
    let loaded = loaded(&cfg)?;
    let pipeline = pipeline(&cfg, &loaded, reader)?;
    let executor = ExecutorSettings::for_daemon(&cfg.executors, cfg.rules.systems_file.is_some());
    let imap = imap_settings(&cfg);
    let smtp = smtp_settings(&cfg);
    Ok(Parts {
        imap,
        smtp,
        executor,
        pipeline,
        shared: open_shared(cfg, loaded, Opening::WaitForServer).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    const CVR1: &str = "54921942";

    fn csv(rows: &str) -> String {
        format!("uuid,name,role,org_cvr,senders\n{rows}")
    }

    #[test]
    fn the_register_file_is_read_by_its_extension_and_named_in_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("systems.CSV");
        std::fs::write(&c, csv(&format!("{U1},X,anvender,{CVR1},@a.test"))).unwrap();
        assert_eq!(load_register(&c).unwrap().len(), 1);
        let t = dir.path().join("systems.toml");
        std::fs::write(&t, csv(&format!("{U1},X,anvender,{CVR1},@a.test"))).unwrap();
        let e = load_register(&t).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:", t.display())), "{e}");
        let bad = dir.path().join("systems.csv");
        std::fs::write(&bad, csv("x,X,anvender,1,@a.test")).unwrap();
        let e = load_register(&bad).unwrap_err().to_string();
        assert!(e.contains("systems.csv:2: uuid \"x\""), "{e}");
        let txt = dir.path().join("systems.txt");
        std::fs::write(&txt, "").unwrap();
        assert!(
            load_register(&txt)
                .unwrap_err()
                .to_string()
                .contains(".csv or a .toml")
        );
        let missing = dir.path().join("missing.csv");
        assert!(
            load_register(&missing)
                .unwrap_err()
                .to_string()
                .contains("cannot read it")
        );
        let latin1 = dir.path().join("latin1.csv");
        std::fs::write(&latin1, b"uuid,name\xe6\n").unwrap();
        assert!(
            load_register(&latin1)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    /// A config in `dir` (its templates are looked for in `dir/templates`), with `rules`.
    fn config_in(dir: &Path, rules: &str) -> Config {
        let text = "[imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"h@example.test\"\npassword = \"x\"\n\
             [smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nfrom = \"h@example.test\"\n\
             [database]\nurl = \"sqlite::memory:\"\n[helpdesk]\naddress = \"h@example.test\"\n\
             review_to = [\"staff@example.test\"]\ndigest_to = [\"staff@example.test\"]\n\
             incident_to = [\"staff@example.test\"]\nbilling_to = [\"staff@example.test\"]\n\
             [billing]\nprices = { webservice = 4500.0, sftp = 2500.0 }\n";
        let text = format!("{text}[rules]\n{rules}");
        Config::from_str(&text, Some(&dir.join("spdesk.toml"))).unwrap()
    }

    /// The templates are read once, at start: an edited copy wins over the built-in one, and a
    /// broken edit (also of the digest's, which only the scheduler renders) stops the start
    /// with its file and line.
    #[test]
    fn templates_are_loaded_at_start_and_a_broken_one_is_named_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_in(dir.path(), "");
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(
            templates.join("modtaget.txt.j2"),
            "Modtaget {{ reference }}\n",
        )
        .unwrap();
        let t = load_templates(&cfg).unwrap();
        let text = t
            .render(
                crate::orders::receipts::ReceiptKind::Modtaget,
                &serde_json::json!({"reference": "SP-1"}),
            )
            .unwrap();
        assert_eq!(text.trim(), "Modtaget SP-1");
        let broken = templates.join("digest.txt.j2");
        std::fs::write(&broken, "Emne\n\n{% for x in %}\n").unwrap();
        let e = format!("{:#}", load_templates(&cfg).err().unwrap());
        assert!(e.contains(&broken.display().to_string()), "{e}");
        assert!(e.contains("digest.txt.j2:3"), "{e}");
    }

    /// The daemon's parts hold ONE template set and ONE register: the intake's pipeline, the
    /// order actions (CLI, executor) and the scheduler's jobs all see the same copy.
    #[tokio::test]
    async fn the_parts_share_one_template_set_and_one_register() {
        let dir = tempfile::tempdir().unwrap();
        let systems = dir.path().join("systems.csv");
        std::fs::write(&systems, csv(&format!("{U1},X,anvender,{CVR1},@a.test"))).unwrap();
        let cfg = config_in(dir.path(), "systems_file = \"systems.csv\"\n");
        let reader = Arc::new(crate::forms::reader::InProcess);
        let parts = parts(cfg, reader).await.unwrap();
        let shared = &parts.shared;
        assert!(Arc::ptr_eq(&parts.pipeline.templates, &shared.templates));
        assert!(Arc::ptr_eq(&shared.actions.templates, &shared.templates));
        let judged_with = parts.pipeline.settings.register.as_ref().unwrap();
        let acted_with = shared.actions.register.as_ref().unwrap();
        assert!(Arc::ptr_eq(judged_with, acted_with));
        assert_eq!(judged_with.len(), 1);
    }
}
