//! Logging setup: how log lines look depends on where stderr goes.
//!
//! A person at a terminal gets colour; a file, a pipe or journald gets none (escape codes
//! there are noise: `grep` misses words, `less` shows `ESC[2m`). Under systemd, with stderr
//! connected to the journal, lines carry no timestamp (journald stamps every line itself)
//! and start with a syslog priority such as `<4>`, which journald reads as the line's priority
//! (`journalctl -p warning`) and strips. `--log-json` gives JSON lines anywhere.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// async-imap traces every command it writes, LOGIN and AUTHENTICATE included: that target
/// (which logs only at trace level) is switched off whatever SPDESK_LOG says, so no password
/// or token reaches the log.
const NO_WIRE_TRACE: &str = "async_imap::imap_stream=off";

/// How the log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A person's terminal: timestamps and colour.
    Terminal,
    /// A file or a pipe: timestamps, no colour.
    Plain,
    /// The systemd journal: a syslog priority prefix, no timestamp, no colour.
    Journal,
    /// `--log-json`: one JSON object per line.
    Json,
}

/// What decides the style: the process's surroundings, read once by [`Surroundings::read`].
#[derive(Debug, Clone, Default)]
pub struct Surroundings {
    /// `--log-json` was given.
    pub json: bool,
    /// stderr is a terminal.
    pub terminal: bool,
    /// `$JOURNAL_STREAM` (`DEVICE:INODE` of the stream systemd connected to the journal).
    pub journal_stream: Option<String>,
    /// stderr's own `DEVICE:INODE`.
    pub stderr_id: Option<String>,
    /// `$INVOCATION_ID` is set: systemd started this process (whatever stderr is).
    pub under_systemd: bool,
    /// `$NO_COLOR` is set and not empty (https://no-color.org).
    pub no_color: bool,
}

impl Surroundings {
    /// Reads stderr and the environment.
    pub fn read(json: bool) -> Surroundings {
        use std::io::IsTerminal;
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        Surroundings {
            json,
            terminal: std::io::stderr().is_terminal(),
            journal_stream: std::env::var("JOURNAL_STREAM").ok(),
            stderr_id: stderr_id(),
            under_systemd: set("INVOCATION_ID"),
            no_color: set("NO_COLOR"),
        }
    }

    /// The style for these surroundings. Colour only for a terminal, never under systemd; the
    /// journal format only when stderr really is the journal's stream (a unit that sends
    /// stderr to a file gets plain lines with timestamps).
    pub fn style(&self) -> Style {
        let journal = self.journal_stream.is_some() && self.journal_stream == self.stderr_id;
        if self.json {
            Style::Json
        } else if journal {
            Style::Journal
        } else if self.terminal
            && !self.under_systemd
            && self.journal_stream.is_none()
            && !self.no_color
        {
            Style::Terminal
        } else {
            Style::Plain
        }
    }
}

/// stderr's `DEVICE:INODE`, as systemd writes it into `$JOURNAL_STREAM`.
fn stderr_id() -> Option<String> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some(format!("{}:{}", meta.dev(), meta.ino()))
}

/// The log filter: `spec` (`$SPDESK_LOG`) when it parses, else `info`; never the IMAP wire.
pub fn filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let filter = spec
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    match NO_WIRE_TRACE.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Installs the global subscriber writing to stderr in `style`.
pub fn init(style: Style, spec: Option<&str>) {
    let registry = tracing_subscriber::registry().with(filter(spec));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match style {
        Style::Json => registry.with(layer.json()).try_init(),
        Style::Terminal => registry.with(layer.with_ansi(true)).try_init(),
        Style::Plain => registry.with(layer.with_ansi(false)).try_init(),
        Style::Journal => {
            let format = tracing_subscriber::fmt::format().without_time();
            let layer = layer.with_ansi(false).event_format(Priority(format));
            registry.with(layer).try_init()
        }
    };
}

/// The syslog priority journald reads from a line's `<N>` prefix (sd-daemon(3)).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// A line format with the event's syslog priority in front.
struct Priority<F>(F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(terminal: bool) -> Surroundings {
        Surroundings {
            terminal,
            ..Surroundings::default()
        }
    }

    #[test]
    fn colour_only_on_a_terminal_outside_systemd() {
        assert_eq!(at(true).style(), Style::Terminal);
        assert_eq!(at(false).style(), Style::Plain);
        let systemd = Surroundings {
            under_systemd: true,
            ..at(true)
        };
        assert_eq!(systemd.style(), Style::Plain);
        let no_color = Surroundings {
            no_color: true,
            ..at(true)
        };
        assert_eq!(no_color.style(), Style::Plain);
    }

    #[test]
    fn journal_format_only_when_stderr_is_the_journal_stream() {
        let journal = Surroundings {
            journal_stream: Some("8:1234".into()),
            stderr_id: Some("8:1234".into()),
            under_systemd: true,
            ..at(false)
        };
        assert_eq!(journal.style(), Style::Journal);
        // A unit with StandardError=file: keeps JOURNAL_STREAM for stdout only.
        let file = Surroundings {
            stderr_id: Some("8:99".into()),
            ..journal.clone()
        };
        assert_eq!(file.style(), Style::Plain);
        // A terminal started from a journal-connected shell is still no place for colour.
        let inherited = Surroundings {
            terminal: true,
            under_systemd: false,
            ..file
        };
        assert_eq!(inherited.style(), Style::Plain);
        let json = Surroundings {
            json: true,
            ..journal
        };
        assert_eq!(json.style(), Style::Json);
    }

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
        assert_eq!(priority(Level::TRACE), 7);
    }

    #[test]
    fn imap_wire_trace_is_off_whatever_the_log_spec() {
        for spec in [
            None,
            Some("trace"),
            Some("async_imap=trace"),
            Some("not a filter["),
        ] {
            let shown = filter(spec).to_string();
            assert!(
                shown.contains("async_imap::imap_stream=off"),
                "{spec:?}: {shown}"
            );
        }
        assert!(filter(Some("trace")).to_string().contains("trace"));
    }
}
