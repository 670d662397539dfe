//! `spdesk db copy|check`: moving an installation's database into PostgreSQL, and what a
//! database holds (schema version, integrity, rows per table). Exit 0 done and all well, 1
//! refused or a problem found (a copy whose counts differ commits nothing), 2 usage.

use std::path::Path;

use crate::cli::DbCommand;
use crate::cli::check::EXIT_USAGE;
use crate::cli::terminal;
use crate::config::{Config, redact_url};
use crate::store::copy::{Report, copy, rows_in_target, sqlite_in_use_by};
use crate::store::{Backend, Store};

/// Refused, or a problem found.
pub const EXIT_PROBLEM: i32 = 1;

/// Runs one `spdesk db` command on the config's database.
pub async fn db(cmd: &DbCommand, cfg: &Config) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Copy {
            to,
            to_password_env,
            to_password_file,
        } => {
            let password = match target_password(to_password_env, to_password_file.as_deref()) {
                Ok(p) => p,
                Err(e) => return Ok(usage(&e)),
            };
            let target = match target_url(to, password.as_deref()) {
                Ok(t) => t,
                Err(e) => return Ok(usage(&e)),
            };
            copy_to(cfg, &target).await
        }
        DbCommand::Check { json } => check(cfg, *json).await,
    }
}

fn usage(message: &str) -> i32 {
    eprintln!("{}", terminal::line(message));
    EXIT_USAGE
}

fn refused(message: &str) -> i32 {
    eprintln!("{}", terminal::line(message));
    EXIT_PROBLEM
}

fn say(message: &str) {
    println!("{}", terminal::line(message));
}

/// The target's password from `--to-password-env` or `--to-password-file`, if given.
fn target_password(env: &Option<String>, file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(name) = env {
        return std::env::var(name).map(Some).map_err(|_| {
            format!("--to-password-env {name}: the variable is not set; export it, or give --to-password-file FILE")
        });
    }
    let Some(file) = file else { return Ok(None) };
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "--to-password-file {}: cannot read it: {e}; give a readable file holding the password",
            file.display()
        )
    })?;
    Ok(Some(
        crate::users::password_from_file_text(&text).to_owned(),
    ))
}

/// `--to` checked (PostgreSQL only), with the password put in when given apart.
fn target_url(to: &str, password: Option<&str>) -> Result<String, String> {
    if Backend::of_url(to) != Some(Backend::Postgres) {
        return Err(format!(
            "--to \"{}\": db copy goes into PostgreSQL; give postgres://USER@HOST/DB",
            redact_url(to)
        ));
    }
    let Some(password) = password else {
        return Ok(to.to_string());
    };
    let mut url =
        url::Url::parse(to).map_err(|e| format!("--to \"{}\": not a URL: {e}", redact_url(to)))?;
    url.set_password(Some(password))
        .map_err(|()| format!("--to \"{}\": no host to log in to", redact_url(to)))?;
    Ok(url.to_string())
}

/// `db copy`: refuses a source in use and a target holding data, migrates the target and
/// copies.
async fn copy_to(cfg: &Config, target_url: &str) -> anyhow::Result<i32> {
    let shown_target = redact_url(target_url);
    if let Some(file) = cfg.database.sqlite_path()
        && let Some(pid) = sqlite_in_use_by(&file)
    {
        return Ok(refused(&format!(
            "{} is open in process {pid} (a running `spdesk run`?): stop the daemon and every other spdesk command on it first, so that the copy holds everything",
            file.display()
        )));
    }
    if let Some(missing) = missing_sqlite(cfg) {
        return Ok(refused(&missing));
    }
    let source = Store::open(&cfg.database.connect_url()?).await?;
    let target = Store::connect(target_url).await?;
    let found = rows_in_target(&target).await?;
    if !found.is_empty() {
        let held: Vec<String> = found.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        return Ok(refused(&format!(
            "{shown_target} already holds data ({}): db copy goes only into a new or empty database; create one with createdb",
            held.join(", ")
        )));
    }
    target.migrate().await?;
    say(&format!(
        "copying {} into {shown_target} (the daemon must stay stopped until its database.url names the copy)",
        cfg.database.redacted_url()
    ));
    let report = copy(&source, &target).await?;
    print_report(&report);
    if report.committed {
        say(&format!(
            "copied and verified: {shown_target} is ready; set database.url to it (its password in password_file or password_env) and start the daemon"
        ));
        Ok(0)
    } else {
        Ok(refused(
            "the copy differs from the source (see above): nothing was committed; is something still writing to the source?",
        ))
    }
}

fn print_report(report: &Report) {
    say(&format!(
        "{:<20} {:>10} {:>10}",
        "TABLE", "SOURCE", "TARGET"
    ));
    for c in &report.counts {
        let mark = if c.source == c.target {
            ""
        } else {
            "  DIFFERS"
        };
        say(&format!(
            "{:<20} {:>10} {:>10}{mark}",
            c.table, c.source, c.target
        ));
    }
    say(&format!(
        "inbound_mail digest: source {} target {}",
        report.source_digest, report.target_digest
    ));
}

/// An SQLite database.url whose file does not exist: nothing to copy or check (opening it
/// would create an empty one).
fn missing_sqlite(cfg: &Config) -> Option<String> {
    let file = cfg.database.sqlite_path()?;
    (!file.exists()).then(|| {
        format!(
            "database.url names {}, which does not exist: check the config's [database] url",
            file.display()
        )
    })
}

/// `db check`: schema, integrity, rows per table.
async fn check(cfg: &Config, json: bool) -> anyhow::Result<i32> {
    if let Some(missing) = missing_sqlite(cfg) {
        return Ok(refused(&missing));
    }
    let store = Store::connect(&cfg.database.connect_url()?).await?;
    let health = crate::store::check::check(&store).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&health)?);
    } else {
        say(&format!(
            "database: {} ({})",
            cfg.database.redacted_url(),
            health.backend
        ));
        let version = health
            .schema
            .version
            .map_or("none".to_string(), |v| v.to_string());
        say(&format!(
            "schema: version {version}, {} of {} migrations applied",
            health.schema.applied, health.schema.known
        ));
        say(&format!("{:<20} {:>10}", "TABLE", "ROWS"));
        for t in &health.tables {
            say(&format!("{:<20} {:>10}", t.table, t.rows));
        }
        for p in &health.problems {
            say(&format!("problem: {p}"));
        }
        say(if health.ok() { "OK" } else { "problems found" });
    }
    Ok(if health.ok() { 0 } else { EXIT_PROBLEM })
}
