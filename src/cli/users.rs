//! `spdesk users add|list|passwd|disable`: the web console's people. Exit 0 done, 1 refused
//! (the name is taken, no such person), 2 usage (a bad name, a short password, no way to ask
//! for one).

use std::io::IsTerminal;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::Serialize;

use crate::cli::UsersCommand;
use crate::cli::check::EXIT_USAGE;
use crate::cli::terminal;
use crate::store::Store;
use crate::store::users::{Disabled, UserRow};
use crate::users::{Role, hash_password, password_from_file_text, validate_name};

/// Refused: the command was understood but cannot be done as asked.
pub const EXIT_REFUSED: i32 = 1;

/// One person in `users list --json`.
#[derive(Debug, Serialize)]
pub struct UserJson {
    pub name: String,
    pub role: &'static str,
    pub active: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&UserRow> for UserJson {
    fn from(u: &UserRow) -> UserJson {
        UserJson {
            name: u.name.clone(),
            role: u.role.as_str(),
            active: u.disabled_at.is_none(),
            disabled_at: u.disabled_at,
            created_at: u.created_at,
        }
    }
}

/// Runs one `spdesk users` command against the store.
pub async fn users(cmd: &UsersCommand, store: &Store) -> anyhow::Result<i32> {
    match cmd {
        UsersCommand::Add {
            name,
            role,
            password_file,
        } => add(store, name, *role, password_file.as_deref()).await,
        UsersCommand::List { json } => list(store, *json).await,
        UsersCommand::Passwd {
            name,
            password_file,
        } => passwd(store, name, password_file.as_deref()).await,
        UsersCommand::Disable { name } => disable(store, name).await,
    }
}

fn usage(message: &str) -> i32 {
    eprintln!("{}", terminal::line(message));
    EXIT_USAGE
}

fn refused(message: &str) -> i32 {
    eprintln!("{}", terminal::line(message));
    EXIT_REFUSED
}

async fn add(store: &Store, name: &str, role: Role, file: Option<&Path>) -> anyhow::Result<i32> {
    if let Err(e) = validate_name(name) {
        return Ok(usage(&e));
    }
    if store.find_user(name).await?.is_some() {
        return Ok(refused(&format!(
            "user \"{name}\" exists already; choose another name, or change the password with `spdesk users passwd {name}`"
        )));
    }
    let hash = match new_password_hash(name, file) {
        Ok(h) => h,
        Err(e) => return Ok(usage(&e)),
    };
    if !store.add_user(name, role, &hash, Utc::now()).await? {
        return Ok(refused(&format!(
            "user \"{name}\" was added by someone else meanwhile; see `spdesk users list`"
        )));
    }
    println!("{}", terminal::line(&format!("added {name} ({role})")));
    Ok(0)
}

async fn list(store: &Store, json: bool) -> anyhow::Result<i32> {
    let users = store.list_users().await?;
    if json {
        let rows: Vec<UserJson> = users.iter().map(UserJson::from).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if users.is_empty() {
        println!("no users; add one with `spdesk users add NAME --role admin`");
        return Ok(0);
    }
    println!("{:<24} {:<9} {:<9} CREATED", "NAME", "ROLE", "STATE");
    for u in &users {
        let state = if u.disabled_at.is_some() {
            "disabled"
        } else {
            "active"
        };
        let created = u.created_at.with_timezone(&Copenhagen);
        let line = format!(
            "{:<24} {:<9} {:<9} {}",
            u.name,
            u.role.as_str(),
            state,
            created.format("%Y-%m-%d %H:%M %:z")
        );
        println!("{}", terminal::line(&line));
    }
    Ok(0)
}

async fn passwd(store: &Store, name: &str, file: Option<&Path>) -> anyhow::Result<i32> {
    if store.find_user(name).await?.is_none() {
        return Ok(unknown(name));
    }
    let hash = match new_password_hash(name, file) {
        Ok(h) => h,
        Err(e) => return Ok(usage(&e)),
    };
    if !store.set_password(name, &hash, Utc::now()).await? {
        return Ok(unknown(name));
    }
    println!(
        "{}",
        terminal::line(&format!(
            "password of {name} changed; their sessions have ended"
        ))
    );
    Ok(0)
}

async fn disable(store: &Store, name: &str) -> anyhow::Result<i32> {
    match store.disable_user(name, Utc::now()).await? {
        Disabled::Unknown => Ok(unknown(name)),
        Disabled::Already => {
            println!(
                "{}",
                terminal::line(&format!("{name} was disabled already"))
            );
            Ok(0)
        }
        Disabled::Now { sessions_ended } => {
            let line = format!("disabled {name}; {sessions_ended} session(s) ended");
            println!("{}", terminal::line(&line));
            Ok(0)
        }
    }
}

fn unknown(name: &str) -> i32 {
    refused(&format!(
        "no user \"{name}\"; see `spdesk users list`, or add one with `spdesk users add {name} --role viewer`"
    ))
}

/// The new password, from the file or asked twice on the terminal, checked and hashed.
fn new_password_hash(name: &str, file: Option<&Path>) -> Result<String, String> {
    let password = match file {
        Some(f) => read_password_file(f)?,
        None => prompt_twice(name)?,
    };
    hash_password(&password)
}

/// The password file's text without its final line break.
fn read_password_file(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "--password-file {}: cannot read it: {e}; give a readable UTF-8 file holding the password",
            file.display()
        )
    })?;
    Ok(password_from_file_text(&text).to_owned())
}

/// Asks for the password twice without echo. Without a terminal there is nobody to ask.
fn prompt_twice(name: &str) -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "no terminal to ask for the password on: give --password-file FILE (the file holds the password)"
                .into(),
        );
    }
    let ask = |prompt: String| {
        rpassword::prompt_password(terminal::line(&prompt).into_owned()).map_err(|e| {
            format!("cannot read the password from the terminal: {e}; give --password-file FILE")
        })
    };
    let first = ask(format!("New password for {name}: "))?;
    crate::users::validate_password(&first)?;
    let second = ask("The same password again: ".into())?;
    if first != second {
        return Err("the two passwords differ; run the command again".into());
    }
    Ok(first)
}
