//! The command line (DESIGN.md "Contracts"): a thin layer that parses arguments, loads the
//! config and calls the library. Logs and messages here are English; mails are Danish.

pub mod check;
pub mod db;
pub mod known;
pub mod logging;
pub mod orders;
pub mod schedule;
pub mod setup;
pub mod terminal;
pub mod trust;
pub mod users;
pub mod verify;

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::forms::fields::FormKind;
use crate::users::Role;

/// spdesk: the Serviceplatformen Helpdesk's daemon for orders to change an it-system's
/// technical configuration.
// `--version` also names the git commit the binary was built from (build.rs).
#[derive(Debug, Parser)]
#[command(name = "spdesk", version = env!("SPDESK_VERSION"), about)]
pub struct Cli {
    /// Config file (else $SPDESK_CONFIG, else config/spdesk.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of plain text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: intake, outbox and scheduler, until SIGTERM or SIGINT.
    Run,
    /// Read mails (.eml) or form files (.docx, .pdf, .txt) and print what was read and the
    /// verdict; needs no servers, and no database unless --db names one.
    ///
    /// Exit 0 approved, 10 rejected, 11 review (form.ambiguous included), 2 not a mail or form.
    Check(CheckArgs),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The order queue and a person's actions on orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// The order forms.
    #[command(subcommand)]
    Form(FormCommand),
    /// The daily digest for the Helpdesk: prints it, or queues it to helpdesk.digest_to.
    Digest {
        /// Queue the digest for sending (once per day) instead of printing it.
        #[arg(long)]
        send: bool,
    },
    /// Billing of executed orders.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// The web console's people: who may log in, with which role.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The step-8 check of an order's webservice change (a new URL or certificate): DNS, TCP,
    /// TLS, the chain valid for the host and today, the served certificate the ordered one
    /// (SHA-256), an HTTP answer; one attempt, recorded in the order's history.
    ///
    /// Exit 0 every check passed, 1 one failed, 2 usage error (no such order, nothing to check).
    Verify {
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        who: Who,
    },
    /// Check any https:// endpoint without an order, as `verify` does: with --cert, that it
    /// serves this certificate. Trusts the system's store, rules.trusted_ca_file and --ca.
    ///
    /// Exit 0 every check passed, 1 one failed, 2 usage error.
    Probe(ProbeArgs),
    /// The database: move it into PostgreSQL, check it.
    #[command(subcommand)]
    Db(DbCommand),
    /// Internal: the sandboxed document reader (`sandbox::child`), started by spdesk itself.
    #[command(name = "reader-child", hide = true)]
    ReaderChild {
        /// Address-space limit in bytes (`limits.reader_memory`).
        #[arg(long)]
        memory: u64,
    },
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The endpoint, https://host[:port]/path.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The certificate the endpoint must serve (PEM or DER; its leaf's SHA-256 is compared).
    #[arg(long, value_name = "FILE.pem")]
    pub cert: Option<PathBuf>,
    /// More CA certificates to trust (PEM bundle), besides the system's and
    /// rules.trusted_ca_file.
    #[arg(long, value_name = "FILE.pem")]
    pub ca: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy this installation's database (the config's database.url) into a new, empty
    /// PostgreSQL database, in one transaction, ids kept, and verify the rows per table. Stop
    /// the daemon first. Exit 0 copied, 1 refused or the copy differs (nothing committed).
    Copy {
        /// The target: postgres://USER@HOST/DB (the password may be in it, or given apart).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Read the target's password from this environment variable.
        #[arg(long, value_name = "NAME", conflicts_with = "to_password_file")]
        to_password_env: Option<String>,
        /// Read the target's password from this file (its final line break is not part of it).
        #[arg(long, value_name = "FILE")]
        to_password_file: Option<PathBuf>,
    },
    /// The database's schema version, integrity and rows per table, on SQLite or PostgreSQL.
    /// Exit 0 all well, 1 a problem found.
    Check {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// Write the blank order form as a Word document (.docx); needs no config.
    Blank {
        /// Which form: webservice or sftp.
        #[arg(long, value_parser = parse_form_kind)]
        kind: FormKind,
        /// The file to write.
        #[arg(long, value_name = "FILE.docx")]
        out: PathBuf,
    },
}

/// Parses `--kind` with the field table's form codes.
fn parse_form_kind(s: &str) -> Result<FormKind, String> {
    FormKind::from_code(s.trim()).ok_or_else(|| {
        let codes: Vec<&str> = FormKind::ALL.iter().map(|k| k.code()).collect();
        format!("unknown form \"{s}\"; use one of: {}", codes.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a person who may log in to the web console. Without --password-file the password
    /// is asked twice on the terminal (not shown).
    Add {
        /// The login name, as the order history will record it: 1-64 letters, digits or
        /// . _ - @ (names differing only in case are one person).
        #[arg(value_name = "NAME")]
        name: String,
        /// viewer (reads), operator (also acts on orders) or admin (also manages users).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password (at least 12 characters) from this file; its final line break
        /// is not part of it.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Every person: name, role, active or disabled, created.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a person's password; their sessions end.
    Passwd {
        #[arg(value_name = "NAME")]
        name: String,
        /// Read the password from this file (else asked twice on the terminal).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Disable a person: they can no longer log in, and their sessions end. The order
    /// history keeps their name.
    Disable {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Parses `--role`, naming the roles there are.
fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Bill every executed, unbilled order: mark them billed and queue the CSV mail to
    /// helpdesk.billing_to, in one transaction (what the schedule does).
    Run,
    /// Print (or write) the CSV of the orders executed in a month, with their billed_at.
    /// Read-only.
    Export {
        /// The month, YYYY-MM (Copenhagen time).
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        /// Write the CSV to this file instead of standard output.
        #[arg(long, value_name = "FILE.csv")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files to read.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// One JSON object per file (JSON Lines).
    #[arg(long)]
    pub json: bool,
    /// The moment of receipt to judge against (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Judge against the orders in this database, opened read-only (the daemon's
    /// database.url): a form naming an open order its sender may not change shows
    /// form.ambiguous, and an executed order's BestillingsID is used.
    #[arg(long, value_name = "URL", conflicts_with = "known_orders")]
    pub db: Option<String>,
    /// Judge against the orders listed in this JSON file: an array of
    /// {"reference", "bestillings_id", "state", "requester", "system_uuid"}, newest first
    /// (README "spdesk check with known orders").
    #[arg(long, value_name = "FILE")]
    pub known_orders: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and say exactly what is wrong.
    Check,
}

/// Who acts, for the order's history: `--as NAME`, else `$SUDO_USER`, else `$USER`.
#[derive(Debug, Clone, Args)]
pub struct Who {
    /// The person acting, as the history records it (default: $SUDO_USER, else $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// The queue: state, planned time, due and overdue.
    List {
        /// Only orders in this state.
        #[arg(long)]
        state: Option<String>,
        /// Only orders whose reference, BestillingsID, CVR, organisation, it-system or
        /// requester contains this text (any case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One order with its versions and full history (the reference in any case).
    Show {
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve an order that awaits review; with --override, a rejected one (reason required).
    /// Refused while the order lacks the form's required fields (`orders edit` first).
    Approve {
        #[arg(value_name = "REF")]
        reference: String,
        /// Overrule the rejection of a rejected order; the requester gets "Afgørelse ændret".
        #[arg(long = "override", requires = "reason")]
        override_: bool,
        /// Why (with --override): in the history and to the requester.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Reject an order that awaits review, or an approved one (the requester gets "Afgørelse
    /// ændret"), with the reason the sender will read.
    Reject {
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// Mark an approved order as executed; the requester gets the "gennemført" receipt.
    /// Refused before the planned time without --early --reason, and while the order lacks the
    /// form's required fields. A webservice change of url or ssl_certificate is checked first
    /// (`[verify]`, as `spdesk verify`): a failed check keeps the order approved, unless
    /// --unverified --reason.
    #[command(group(ArgGroup::new("why").args(["early", "unverified"]).multiple(true)))]
    Execute {
        #[arg(value_name = "REF")]
        reference: String,
        /// A note for the requester's receipt (e.g. what was changed).
        #[arg(long)]
        note: Option<String>,
        /// Execute before the planned time, on purpose.
        #[arg(long, requires = "reason")]
        early: bool,
        /// Execute although the check of the change failed (the receipt says it was not
        /// confirmed).
        #[arg(long, requires = "reason")]
        unverified: bool,
        /// Why (with --early or --unverified): in the history.
        #[arg(long, requires = "why")]
        reason: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Mark an approved order as failed: the requester is told, and an incident mail with the
    /// order's details, history and original mail goes to helpdesk.incident_to.
    Fail {
        #[arg(value_name = "REF")]
        reference: String,
        /// What went wrong (for the incident process; not sent to the requester).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// Withdraw an open order (on the requester's request); the requester gets a confirmation.
    Withdraw {
        #[arg(value_name = "REF")]
        reference: String,
        /// Why, as the requester will read it.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// A person's version of an open order: the latest version's fields with these replaced
    /// (field codes as `spdesk check` prints them, or the form's Danish labels), judged like a
    /// mail's form; the requester gets
    /// "Rettet af Helpdesk" and the verdict's receipt.
    Edit {
        #[arg(value_name = "REF")]
        reference: String,
        /// A field and its new value, e.g. --set org_cvr=12345674 (repeat for more).
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Why, as the requester will read it.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// Move the planned time of an approved (or review) order; the requester gets "Nyt
    /// tidspunkt".
    Reschedule {
        #[arg(value_name = "REF")]
        reference: String,
        /// The new time: RFC 3339, or "YYYY-MM-DD HH:MM" in Copenhagen time.
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Why, as the requester will read it.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        who: Who,
    },
    /// Reopen a failed order once the incident is fixed: back to approved, to be executed
    /// again; the requester gets "Genåbnet".
    Reopen {
        #[arg(value_name = "REF")]
        reference: String,
        /// Why, as the requester will read it.
        #[arg(long)]
        reason: String,
        /// The new planned time (as `reschedule --at`): RFC 3339 or "YYYY-MM-DD HH:MM" in
        /// Copenhagen time. Without it a planned time that has passed is not repeated; the
        /// requester reads that the change is made as soon as possible.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Answer the requester in the order's thread (a reply to their last mail, the reference
    /// in the subject), and whoever else wrote the unanswered messages; recorded in the
    /// history, and the order's messages count as answered.
    Reply {
        #[arg(value_name = "REF")]
        reference: String,
        /// The answer, as the requester reads it.
        #[arg(long)]
        text: String,
        /// A file to attach (e.g. a guide or a certificate).
        #[arg(long, value_name = "FILE")]
        attach: Option<std::path::PathBuf>,
        #[command(flatten)]
        who: Who,
    },
    /// Mark the order's unanswered messages handled (answered another way, or nothing to
    /// answer): they leave the digest's "Ubesvarede beskeder".
    Handled {
        #[arg(value_name = "REF")]
        reference: String,
        /// A note for the history (e.g. "ringet op").
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        who: Who,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `users add` needs a role of the three, in any case; a wrong one is a usage error.
    #[test]
    fn users_add_takes_one_of_the_roles() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["spdesk", "users"], args].concat());
        match parse(&["add", "anna", "--role", "Admin"]).unwrap().command {
            Command::Users(UsersCommand::Add {
                name,
                role,
                password_file,
            }) => {
                assert_eq!((name.as_str(), role), ("anna", Role::Admin));
                assert_eq!(password_file, None);
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["add", "anna", "--role", "root"]).unwrap_err();
        assert!(e.use_stderr(), "exit 2");
        assert!(e.to_string().contains("viewer, operator or admin"), "{e}");
        assert!(parse(&["add", "anna"]).is_err(), "no role");
        assert!(parse(&["list", "--json"]).is_ok());
        assert!(parse(&["disable"]).is_err(), "no name");
    }

    /// The flags that overrule come with their reason; a person may be named.
    #[test]
    fn overriding_flags_need_their_reason() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["spdesk", "orders"], args].concat());
        assert!(parse(&["approve", "SP-2026-00001", "--override"]).is_err());
        assert!(parse(&["execute", "SP-2026-00001", "--early"]).is_err());
        assert!(parse(&["execute", "SP-2026-00001", "--reason", "x"]).is_err());
        assert!(parse(&["execute", "SP-2026-00001", "--unverified"]).is_err());
        match parse(&["execute", "SP-1", "--unverified", "--reason", "ok"]).map(|c| c.command) {
            Ok(Command::Orders(OrdersCommand::Execute {
                unverified,
                early,
                reason,
                ..
            })) => {
                assert!(unverified && !early);
                assert_eq!(reason.as_deref(), Some("ok"));
            }
            other => panic!("{other:?}"),
        }
        let probe = Cli::try_parse_from(["spdesk", "probe", "https://x.test/", "--cert", "c.pem"]);
        assert!(matches!(probe.map(|c| c.command), Ok(Command::Probe(p)) if p.cert.is_some()));
        assert!(Cli::try_parse_from(["spdesk", "verify"]).is_err(), "no REF");
        assert!(
            parse(&["edit", "SP-2026-00001", "--reason", "x"]).is_err(),
            "no --set"
        );
        let cli = parse(&[
            "approve",
            "sp-2026-00001",
            "--override",
            "--reason",
            "aftalt",
            "--as",
            "Hanne",
        ])
        .unwrap();
        match cli.command {
            Command::Orders(OrdersCommand::Approve {
                override_,
                reason,
                who,
                ..
            }) => {
                assert!(override_);
                assert_eq!(reason.as_deref(), Some("aftalt"));
                assert_eq!(who.as_name.as_deref(), Some("Hanne"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn form_blank_takes_a_kind_and_a_file() {
        let cli = Cli::try_parse_from([
            "spdesk", "form", "blank", "--kind", "sftp", "--out", "x.docx",
        ])
        .unwrap();
        match cli.command {
            Command::Form(FormCommand::Blank { kind, out }) => {
                assert_eq!(kind, FormKind::Sftp);
                assert_eq!(out, PathBuf::from("x.docx"));
            }
            other => panic!("{other:?}"),
        }
        let err = Cli::try_parse_from(["spdesk", "form", "blank", "--kind", "ftp", "--out", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("use one of: webservice, sftp"), "{err}");
        assert!(Cli::try_parse_from(["spdesk", "form", "blank", "--kind", "sftp"]).is_err());
    }
}
