//! The Debian package as an operator meets it: `scripts/build-deb.sh` packs the binary this
//! test suite built (the debug build: seconds instead of a 10-minute release build; the
//! package's contents are the same), `dpkg -i` installs it on this machine, then
//! `spdesk --version`, `spdesk config check` on the installed config (it names what is left to
//! fill in), `man spdesk` and the files and permissions; `dpkg -r` keeps the config and the
//! data, `dpkg -P` removes everything, leaving no file of the package behind.
//!
//! Needs root, dpkg, man-db and cargo-deb (`scripts/test.sh` and `.ci/run` install them). It
//! refuses to run where an spdesk package is installed already: it would remove it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_spdesk");

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs and insists on success, with the output in the failure message.
fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${Status}", "spdesk"]);
    String::from_utf8_lossy(&out.stdout).contains("installed")
        || String::from_utf8_lossy(&out.stdout).contains("config-files")
}

fn user_exists(name: &str) -> bool {
    run("getent", &["passwd", name]).status.success()
}

/// Purges the package if a failed assertion left it installed.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if installed() {
            let _ = run("dpkg", &["--purge", "spdesk"]);
        }
    }
}

/// Builds the .deb from the test suite's own binary into `dir`; returns its path.
fn build(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb.sh");
    // The script runs cargo (the man pages' example) as a person would: with the variables
    // cargo sets for a test (CARGO_PKG_*, CARGO_TARGET_TMPDIR, ...) left out, so the example
    // built there is the one a plain `cargo build` makes and nothing is built twice.
    let keep = [
        "PATH",
        "HOME",
        "TMPDIR",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ];
    let out = Command::new(&script)
        .args(["--binary", BIN, "--fast", "--out"])
        .arg(dir)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| keep.iter().any(|x| k == x)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/build-deb.sh failed (is cargo-deb installed? cargo install cargo-deb --locked):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the output folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb expected: {debs:?}");
    debs[0].clone()
}

/// The files (not folders) the package ships, as absolute paths.
fn files_of(deb: &Path) -> Vec<PathBuf> {
    let listing = ok("dpkg-deb", &["--contents", &deb.to_string_lossy()]);
    let files: Vec<PathBuf> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| PathBuf::from(p.trim_start_matches('.')))
        .collect();
    assert!(files.len() > 30, "too few files in the package:\n{listing}");
    files
}

fn mode(path: &str) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (meta.permissions().mode() & 0o7777, meta.uid(), meta.gid())
}

fn id(what: &str, name: &str) -> u32 {
    ok("id", &[what, name]).trim().parse().expect("a number")
}

#[test]
fn the_package_installs_documents_itself_and_leaves_nothing_behind() {
    assert!(
        running_as_root(),
        "tests/deb.rs installs a package: run the tests as root"
    );
    assert!(
        !installed() && !user_exists("spdesk"),
        "an spdesk package or user exists on this machine already; this test would remove it"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let deb = build(dir.path());
    let files = files_of(&deb);
    let _purge = Purge;
    // A Docker image's dpkg may drop man pages (path-exclude); this package's are wanted.
    ok(
        "dpkg",
        &[
            "--path-include=/usr/share/man/man1/spdesk*",
            "-i",
            &deb.to_string_lossy(),
        ],
    );
    installed_as_documented();
    the_operator_is_told_what_to_fill_in();
    the_manual_is_there();

    // Remove: the program goes, the config and the data stay.
    std::fs::write("/var/lib/spdesk/spdesk.db", b"the operator's data").expect("write data");
    ok("dpkg", &["-r", "spdesk"]);
    assert!(
        !Path::new("/usr/bin/spdesk").exists(),
        "dpkg -r left the binary"
    );
    for kept in ["/etc/spdesk/spdesk.toml", "/var/lib/spdesk/spdesk.db"] {
        assert!(Path::new(kept).exists(), "dpkg -r removed {kept}");
    }
    assert!(user_exists("spdesk"), "dpkg -r removed the spdesk user");

    // Purge: nothing of it is left.
    ok("dpkg", &["-P", "spdesk"]);
    assert!(!installed(), "dpkg -P left the package known to dpkg");
    let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "dpkg -P left files behind: {left:?}");
    for gone in [
        "/etc/spdesk",
        "/var/lib/spdesk",
        "/etc/systemd/system/spdesk.service",
        "/etc/systemd/system/multi-user.target.wants/spdesk.service",
    ] {
        assert!(
            std::fs::symlink_metadata(gone).is_err(),
            "dpkg -P left {gone}"
        );
    }
    assert!(!user_exists("spdesk"), "dpkg -P left the spdesk user");
    assert!(
        !run("getent", &["group", "spdesk"]).status.success(),
        "dpkg -P left the spdesk group"
    );
}

fn running_as_root() -> bool {
    ok("id", &["-u"]).trim() == "0"
}

/// The binary, the unit (not enabled), the config's and the data's owners and modes, the
/// completions.
fn installed_as_documented() {
    let version = ok("spdesk", &["--version"]);
    let built = ok(BIN, &["--version"]);
    assert_eq!(version, built, "the installed binary is not the one built");
    assert!(
        version.starts_with("spdesk 0.") && version.contains("(commit "),
        "--version names the version and the commit: {version}"
    );
    assert!(
        Path::new("/lib/systemd/system/spdesk.service").exists()
            || Path::new("/usr/lib/systemd/system/spdesk.service").exists(),
        "the unit is not installed"
    );
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/spdesk.service")
        .expect("the unit in /usr/lib/systemd/system");
    assert!(unit.contains("ExecStart=/usr/bin/spdesk --config /etc/spdesk/spdesk.toml run"));
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/spdesk.service").exists(),
        "the unit was enabled before the operator filled in the config"
    );
    the_unit_verifies();
    let (spdesk_uid, spdesk_gid) = (id("-u", "spdesk"), id("-g", "spdesk"));
    assert_eq!(mode("/etc/spdesk/spdesk.toml"), (0o640, 0, spdesk_gid));
    assert_eq!(mode("/etc/spdesk"), (0o750, 0, spdesk_gid));
    assert_eq!(mode("/var/lib/spdesk"), (0o700, spdesk_uid, spdesk_gid));
    let conffiles = std::fs::read_to_string("/var/lib/dpkg/info/spdesk.conffiles")
        .expect("the package's conffiles");
    assert!(conffiles.contains("/etc/spdesk/spdesk.toml"));
    assert!(conffiles.contains("/etc/spdesk/templates/modtaget.txt.j2"));
    for completion in [
        "/usr/share/bash-completion/completions/spdesk",
        "/usr/share/zsh/vendor-completions/_spdesk",
        "/usr/share/fish/vendor_completions.d/spdesk.fish",
    ] {
        let text = std::fs::read_to_string(completion).expect(completion);
        assert!(
            text.contains("orders"),
            "{completion} lacks the subcommands"
        );
    }
}

/// `spdesk config check` on the installed config fails and names every key to fill in.
fn the_operator_is_told_what_to_fill_in() {
    let out = run(
        "spdesk",
        &["config", "check", "--config", "/etc/spdesk/spdesk.toml"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "config check: {said}");
    for key in [
        "[imap] host",
        "[imap] username",
        "[smtp] host",
        "[smtp] from",
        "[helpdesk] address",
        "[helpdesk] review_to",
        "[helpdesk] billing_to",
    ] {
        assert!(
            said.contains("/etc/spdesk/spdesk.toml:")
                && said
                    .lines()
                    .any(|l| l.contains(key) && l.contains("missing")),
            "config check does not name {key} as missing:\n{said}"
        );
    }
}

/// `man spdesk` and a subcommand's page, as man-db renders them.
fn the_manual_is_there() {
    let page = |name: &str| {
        let out = Command::new("man")
            .arg(name)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap_or_else(|e| panic!("cannot run man (apt-get install man-db): {e}"));
        assert!(
            out.status.success(),
            "man {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let main = page("spdesk");
    for part in [
        "SYNOPSIS",
        "--config",
        "spdesk-orders(1)",
        "spdesk-run(1)",
        "FILES",
        "/etc/spdesk/spdesk.toml",
        "journalctl -u spdesk",
    ] {
        assert!(main.contains(part), "man spdesk lacks {part}:\n{main}");
    }
    let list = page("spdesk-orders-list");
    assert!(list.contains("--state"), "man spdesk-orders-list:\n{list}");
    assert!(
        !main.contains("reader-child"),
        "an internal command is in the manual"
    );
}

/// The installed unit as systemd reads it (`systemd-analyze`, from the systemd package, works
/// without a running systemd): no error, and its sandbox still rated "OK". Machines without
/// systemd installed (a container) have no unit to run either; the rest of the test holds.
fn the_unit_verifies() {
    let unit = "/lib/systemd/system/spdesk.service";
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the unit is not verified");
        return;
    }
    let verify = run("systemd-analyze", &["verify", unit]);
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify {unit}: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = ok("systemd-analyze", &["security", "--offline=yes", unit]);
    let level = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level:\n{security}"));
    assert!(level.contains(" OK"), "the unit's sandbox: {level}");
}
