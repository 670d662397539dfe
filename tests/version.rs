//! `spdesk --version` names the version and the git commit the binary was built from, and a
//! build outside a git checkout (a source tarball) says "unknown" instead of failing.

use std::path::Path;
use std::process::Command;

fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_commit_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_spdesk"))
        .arg("--version")
        .output()
        .expect("run spdesk --version");
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    let commit = std::env::var("SPDESK_GIT_COMMIT")
        .ok()
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        shown.trim(),
        format!("spdesk {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}

/// build.rs compiled on its own and run where there is no git checkout, as in an unpacked
/// source tarball: it still sets the version, with the commit "unknown".
#[test]
fn a_build_without_git_says_unknown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = dir.path().join("build-script");
    let build_rs = Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let compiled = Command::new(rustc)
        .args(["--edition", "2024", "-o"])
        .arg(&exe)
        .arg(&build_rs)
        .output()
        .expect("run rustc");
    assert!(
        compiled.status.success(),
        "rustc build.rs: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let tarball = dir.path().join("spdesk-0.1.0");
    std::fs::create_dir(&tarball).expect("mkdir");
    let out = Command::new(&exe)
        .current_dir(&tarball)
        .env("CARGO_PKG_VERSION", "0.1.0")
        .env("CARGO_MANIFEST_DIR", &tarball)
        .env("GIT_CEILING_DIRECTORIES", dir.path())
        .env_remove("SPDESK_GIT_COMMIT")
        .output()
        .expect("run the build script");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("cargo:rustc-env=SPDESK_VERSION=0.1.0 (commit unknown)"),
        "{said}"
    );
}
