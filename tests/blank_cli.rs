//! `spdesk form blank` writes a form that `spdesk check` reads back as a form of that kind.

use std::process::Command;

#[test]
fn blank_sftp_form_is_read_back_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tmp.docx");
    let bin = env!("CARGO_BIN_EXE_spdesk");
    let out = Command::new(bin)
        .args(["form", "blank", "--kind", "sftp", "--out"])
        .arg(&path)
        .env_remove("SPDESK_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        path.display().to_string()
    );

    let out = Command::new(bin)
        .args(["check", "--json"])
        .arg(&path)
        .env_remove("SPDESK_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let forms = json["forms"].as_array().expect("forms");
    assert_eq!(forms.len(), 1, "{json}");
    assert_eq!(forms[0]["kind"], "sftp");
    // A blank form is incomplete: the verdict says so, it is not a reading problem.
    assert!(
        json["problems"].as_array().is_some_and(|p| p.is_empty()),
        "{json}"
    );
    assert_ne!(forms[0]["decision"], "approved");
}

#[test]
fn unknown_kind_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spdesk"))
        .args(["form", "blank", "--kind", "ftp", "--out", "x.docx"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("webservice, sftp"));
    assert!(!dir.path().join("x.docx").exists());
}
