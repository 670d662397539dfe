//! Build script: the git commit `spdesk --version` prints.
//!
//! An operator who reports a problem can then say exactly which source the binary came from.
//! A build from a tarball (no `.git`, or no `git`) says "unknown" rather than failing; a
//! packager who knows the commit can give it as `SPDESK_GIT_COMMIT` at build time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SPDESK_GIT_COMMIT");
    let commit = std::env::var("SPDESK_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=SPDESK_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=SPDESK_VERSION={version} (commit {commit})");
    for path in watched() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The short commit hash of HEAD, when this is a git checkout with git installed.
fn git_commit() -> Option<String> {
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    let hash = hash.trim();
    let ok = !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit());
    ok.then(|| hash.to_string())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The files whose change means a new commit: HEAD, the branch it points to and packed-refs
/// (also in a `git worktree`, whose HEAD lives apart from the shared refs). Without git, only
/// this script, so a tarball build is not rebuilt on every `cargo build`.
fn watched() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("build.rs")];
    let dir = |args: &[&str]| git(args).map(|d| PathBuf::from(d.trim()));
    let (Some(git_dir), Some(common)) = (
        dir(&["rev-parse", "--absolute-git-dir"]),
        dir(&["rev-parse", "--git-common-dir"]),
    ) else {
        return paths;
    };
    let common = if common.is_absolute() {
        common
    } else {
        Path::new(env_dir().as_str()).join(common)
    };
    let head = git_dir.join("HEAD");
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(branch) = text.strip_prefix("ref: ")
    {
        paths.push(common.join(branch.trim()));
    }
    paths.push(head);
    paths.push(common.join("packed-refs"));
    paths.retain(|p| p.exists());
    paths
}

fn env_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string())
}
