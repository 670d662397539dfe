//! The man pages and shell completions of `spdesk`, written from its clap definitions
//! (`spdesk::cli::Cli`), so they say exactly what the binary accepts.
//!
//!     cargo run --example manpages -- DIR
//!
//! writes `DIR/man/spdesk.1.gz` and one page per subcommand (`spdesk-orders-list.1.gz`, ...),
//! gzipped as Debian ships them, and `DIR/completions/` for bash (`spdesk`), zsh (`_spdesk`)
//! and fish (`spdesk.fish`). `scripts/build-deb.sh` packages them.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> Result<(), String> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: cargo run --example manpages -- DIR")?;
    let pages = man_pages(&dir.join("man"))?;
    let shells = completions(&dir.join("completions"))?;
    println!(
        "{}: {pages} man pages, completions for {shells} shells",
        dir.display()
    );
    Ok(())
}

/// Every page clap_mangen writes (the command and each visible subcommand), gzipped.
fn man_pages(dir: &Path) -> Result<usize, String> {
    let fail = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| fail("cannot empty", e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create", e))?;
    clap_mangen::generate_to(spdesk::cli::Cli::command(), dir)
        .map_err(|e| fail("cannot write the pages", e))?;
    let mut count = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| fail("cannot list", e))? {
        let path = entry.map_err(|e| fail("cannot list", e))?.path();
        gzip(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        count += 1;
    }
    Ok(count)
}

/// `page.1` → `page.1.gz` (maximum compression, as dh_compress does).
fn gzip(path: &Path) -> std::io::Result<()> {
    let text = std::fs::read(path)?;
    let mut gz_path = path.as_os_str().to_owned();
    gz_path.push(".gz");
    let file = std::fs::File::create(&gz_path)?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(&text)?;
    gz.finish()?;
    std::fs::remove_file(path)
}

fn completions(dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let shells = [Shell::Bash, Shell::Zsh, Shell::Fish];
    for shell in shells {
        let mut cmd = spdesk::cli::Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "spdesk", dir)
            .map_err(|e| format!("{}: {shell} completions: {e}", dir.display()))?;
    }
    // bash-completion looks a command's completions up by the command's own name.
    let bash = dir.join("spdesk.bash");
    std::fs::rename(&bash, dir.join("spdesk")).map_err(|e| format!("{}: {e}", bash.display()))?;
    Ok(shells.len())
}
