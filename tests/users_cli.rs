//! `spdesk users add|list|passwd|disable`: the real binary against a database in a temp
//! folder, with a config whose mail servers are never contacted (the users commands use only
//! `[database]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spdesk::store::Store;
use spdesk::users::{Role, verify_password};

const BIN: &str = env!("CARGO_BIN_EXE_spdesk");

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"[imap]
host = "127.0.0.1"
port = 1
tls = "none"
username = "helpdesk@example.test"
password = "unused"

[smtp]
host = "127.0.0.1"
port = 1
tls = "none"
auth = "none"
from = "helpdesk@example.test"

[database]
url = "sqlite://{db}?mode=rwc"

[helpdesk]
address = "helpdesk@example.test"
review_to = ["staff@example.test"]
digest_to = ["staff@example.test"]
incident_to = ["staff@example.test"]
billing_to = ["staff@example.test"]

[billing]
prices = {{ webservice = 4500.0, sftp = 2500.0 }}
currency = "DKK"
"#,
            db = dir.path().join("spdesk.db").display()
        );
        std::fs::write(dir.path().join("spdesk.toml"), config).unwrap();
        Setup { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(self.dir.path().join("spdesk.toml"))
            .args(args)
            .env_remove("SPDESK_CONFIG")
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn password_file(&self, name: &str, password: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, password).unwrap();
        path
    }

    fn add(&self, name: &str, role: &str, password: &str) -> Output {
        let file = self.password_file(&format!("{name}.pw"), password);
        self.run(&[
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-file",
            path(&file),
        ])
    }

    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["users", "list", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn store(&self) -> Store {
        let url = format!(
            "sqlite://{}?mode=rwc",
            self.dir.path().join("spdesk.db").display()
        );
        Store::open(&url).await.unwrap()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_person_is_added_with_a_password_file_and_listed() {
    let s = Setup::new();
    let out = s.add("Anna.Holm", "operator", "en lang adgangskode\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("added Anna.Holm (operator)"),
        "{}",
        stdout(&out)
    );
    let out = s.add("kim", "ADMIN", "en anden lang kode");
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let list = s.list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "Anna.Holm");
    assert_eq!(list[0]["role"], "operator");
    assert_eq!(list[0]["active"], true);
    assert!(list[0]["disabled_at"].is_null());
    assert!(list[0]["created_at"].as_str().unwrap().starts_with("20"));
    assert_eq!(list[1]["name"], "kim");
    assert_eq!(list[1]["role"], "admin");

    let table = stdout(&s.run(&["users", "list"]));
    assert!(
        table.contains("Anna.Holm") && table.contains("active"),
        "{table}"
    );

    // The hash is argon2id and the file's final line break is not part of the password.
    let anna = s
        .store()
        .await
        .find_user("anna.holm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anna.role, Role::Operator);
    assert!(
        anna.password_hash.starts_with("$argon2id$"),
        "{}",
        anna.password_hash
    );
    assert!(verify_password("en lang adgangskode", &anna.password_hash));
    assert!(!verify_password(
        "en lang adgangskode\n",
        &anna.password_hash
    ));
}

#[test]
fn a_taken_name_is_refused_in_any_case() {
    let s = Setup::new();
    assert_eq!(code(&s.add("anna", "viewer", "en lang adgangskode")), 0);
    let out = s.add("ANNA", "admin", "en anden lang kode");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("exists already") && e.contains("users passwd"),
        "{e}"
    );
    let list = s.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["role"], "viewer", "the first one is kept");
}

#[test]
fn wrong_input_is_a_usage_error() {
    let s = Setup::new();
    let out = s.add("anna", "root", "en lang adgangskode");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("viewer, operator or admin"),
        "{}",
        stderr(&out)
    );

    let out = s.add("anna", "viewer", "kort");
    assert_eq!(code(&out), 2);
    let e = stderr(&out);
    assert!(
        e.contains("at least 12") && e.contains("mindst 12 tegn"),
        "{e}"
    );

    let out = s.add("an na", "viewer", "en lang adgangskode");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("may not contain"), "{}", stderr(&out));

    // No terminal to ask on and no file: said so, nothing added.
    let out = s.run(&["users", "add", "anna", "--role", "viewer"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--password-file"), "{}", stderr(&out));
    assert!(s.list().is_empty());
}

#[tokio::test]
async fn passwd_sets_a_new_password() {
    let s = Setup::new();
    assert_eq!(code(&s.add("kim", "admin", "den gamle kode!")), 0);
    let file = s.password_file("new.pw", "den helt nye kode\r\n");
    let out = s.run(&["users", "passwd", "KIM", "--password-file", path(&file)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let kim = s.store().await.find_user("kim").await.unwrap().unwrap();
    assert!(verify_password("den helt nye kode", &kim.password_hash));
    assert!(!verify_password("den gamle kode!", &kim.password_hash));

    let out = s.run(&["users", "passwd", "nobody", "--password-file", path(&file)]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no user \"nobody\""),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn disable_keeps_the_person_and_ends_the_sessions() {
    let s = Setup::new();
    assert_eq!(code(&s.add("bo", "operator", "en lang adgangskode")), 0);
    let store = s.store().await;
    let id = store.find_user("bo").await.unwrap().unwrap().id;
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(8);
    let token = spdesk::users::new_token();
    let hash = spdesk::users::token_hash(&token);
    store
        .create_session(&hash, id, "csrf", now, later)
        .await
        .unwrap();
    assert!(store.live_session(&hash, now).await.unwrap().is_some());

    let out = s.run(&["users", "disable", "Bo"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 session(s) ended"),
        "{}",
        stdout(&out)
    );
    assert!(
        !store.end_session(&hash).await.unwrap(),
        "the session is gone"
    );

    let list = s.list();
    assert_eq!(list[0]["active"], false);
    assert!(list[0]["disabled_at"].is_string());
    assert!(stdout(&s.run(&["users", "list"])).contains("disabled"));

    assert_eq!(
        code(&s.run(&["users", "disable", "bo"])),
        0,
        "again: no change"
    );
    let out = s.run(&["users", "disable", "nobody"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("users list"), "{}", stderr(&out));
}

/// Runs `spdesk users ARGS` on a terminal (a pseudo-terminal from util-linux `script`), typing
/// `input`.
fn on_terminal(s: &Setup, args: &str, input: &str) -> Output {
    use std::io::Write as _;
    let config = s.dir.path().join("spdesk.toml");
    let command = format!("{BIN} --config {} users {args}", config.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("SPDESK_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_password_is_asked_twice_on_a_terminal() {
    let s = Setup::new();
    let out = on_terminal(
        &s,
        "add eva --role viewer",
        "et godt kodeord\net godt kodeord\n",
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("New password for eva") && text.contains("again"),
        "{text}"
    );
    let eva = s.store().await.find_user("eva").await.unwrap().unwrap();
    assert!(verify_password("et godt kodeord", &eva.password_hash));

    let out = on_terminal(&s, "passwd eva", "et nyt kodeord!\net nyt kodeord?\n");
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("differ"), "{}", stdout(&out));
    let eva = s.store().await.find_user("eva").await.unwrap().unwrap();
    assert!(
        verify_password("et godt kodeord", &eva.password_hash),
        "unchanged"
    );
}
