//! The example mails in examples/ are whole mails `spdesk check` reads as they are, with the
//! verdicts examples/README.md promises as of the day they were written.

use std::path::Path;
use std::process::Command;

const WRITTEN: &str = "2026-12-01T09:00:00+01:00";

fn check(file: &str) -> (Option<i32>, serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let out = Command::new(env!("CARGO_BIN_EXE_spdesk"))
        .args(["check", "--json", "--now", WRITTEN])
        .arg(&path)
        .env_remove("SPDESK_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run spdesk check");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{file}: not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

fn rules(json: &serde_json::Value) -> Vec<String> {
    json["forms"][0]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["rule"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_examples_are_judged_as_their_readme_says() {
    for (file, code, decision, findings) in [
        ("01-sftp-overvaagning-til.eml", 0, "approved", vec![]),
        ("02-webservice-ny-url.eml", 0, "approved", vec![]),
        (
            "03-afvist-cvr-og-dato.eml",
            10,
            "rejected",
            vec!["field.invalid", "time.lead"],
        ),
    ] {
        let (got, json) = check(file);
        assert_eq!(got, Some(code), "{file}: {json}");
        assert_eq!(json["decision"], decision, "{file}: {json}");
        let mut seen = rules(&json);
        seen.sort();
        assert_eq!(seen, findings, "{file}: {json}");
        let raw = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(file),
        )
        .expect("read the example");
        assert!(!raw.contains("{{"), "{file} holds a placeholder");
    }
}
