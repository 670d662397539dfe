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
    main_page(&dir.join("spdesk.1")).map_err(|e| fail("cannot write spdesk.1", e))?;
    let mut count = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| fail("cannot list", e))? {
        let path = entry.map_err(|e| fail("cannot list", e))?.path();
        gzip(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        count += 1;
    }
    Ok(count)
}

/// spdesk(1) as clap_mangen writes it, with what an operator looks for in the main page
/// besides the options: the files, the environment, the logs and where to read on.
fn main_page(path: &Path) -> std::io::Result<()> {
    let mut cmd = spdesk::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend_from_slice(OPERATOR_SECTIONS.as_bytes());
    man.render_version_section(&mut page)?;
    std::fs::write(path, page)
}

/// roff: the sections of spdesk(1) that are not in the clap definitions.
const OPERATOR_SECTIONS: &str = r#".SH FILES
.TP
\fI/etc/spdesk/spdesk.toml\fR
The configuration. Fill in the keys marked FILL IN, then run
\fBspdesk config check \-\-config /etc/spdesk/spdesk.toml\fR, which names every key still
missing with its line. Every key is described in
\fI/usr/share/doc/spdesk/examples/spdesk.toml\fR.
.TP
\fI/etc/spdesk/templates/\fR
The texts of the receipts and staff mails (Danish), read when spdesk starts.
.TP
\fI/var/lib/spdesk/\fR
The SQLite database (\fIspdesk.db\fR) with every mail, order and receipt.
.TP
\fI/lib/systemd/system/spdesk.service\fR
The systemd unit: \fBsystemctl enable \-\-now spdesk\fR once the configuration is complete.
.SH ENVIRONMENT
.TP
\fBSPDESK_CONFIG\fR
The configuration file when \fB\-\-config\fR is not given (else \fIconfig/spdesk.toml\fR).
.TP
\fBSPDESK_LOG\fR
The log filter: \fBdebug\fR, or per module such as \fBspdesk=debug,sqlx=warn\fR (default \fBinfo\fR).
.TP
\fBNO_COLOR\fR
No colour in the log, even on a terminal.
.SH LOGS
spdesk logs to standard error, in English. Colour only on a terminal, never under systemd or
in a file. Under systemd the lines go to the journal with their priority:
.PP
.nf
journalctl \-u spdesk \-f
journalctl \-u spdesk \-p warning \-\-since today
journalctl \-u spdesk \-g SP\-2026\-00042
.fi
.PP
The lines about a mail name its order reference and Message\-ID as fields
(\fBreference=\fR, \fBmessage_id=\fR). \fB\-\-log\-json\fR writes one JSON object per line.
.SH SEE ALSO
\fBspdesk\-run\fR(1), \fBspdesk\-config\-check\fR(1), \fBspdesk\-check\fR(1),
\fBspdesk\-orders\fR(1), \fBjournalctl\fR(1), \fBsystemctl\fR(1);
\fI/usr/share/doc/spdesk/README.md\fR, and \fI/usr/share/doc/spdesk/rules.md\fR for every rule
id with its severity and meaning.
"#;

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
