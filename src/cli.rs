//! The command line (DESIGN.md "Contracts"): a thin layer that parses arguments, loads the
//! config and calls the library. Logs and messages here are English; mails are Danish.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// spdesk: the Serviceplatformen Helpdesk's daemon for orders to change an it-system's
/// technical configuration.
#[derive(Debug, Parser)]
#[command(name = "spdesk", version, about)]
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
    /// verdict; needs no servers and no database.
    Check(CheckArgs),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The order queue and a person's actions on orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
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
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and say exactly what is wrong.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// The queue: state, planned time, due and overdue.
    List {
        /// Only orders in this state.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One order with its versions and full history.
    Show {
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve an order that awaits review.
    Approve {
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Reject an order that awaits review, with the reason the sender will read.
    Reject {
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        reason: String,
    },
    /// Mark an approved order as executed; the requester gets the "gennemført" receipt.
    Execute {
        #[arg(value_name = "REF")]
        reference: String,
        /// A note for the requester's receipt (e.g. what was changed).
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark an approved order as failed: the requester is told, and an incident mail with the
    /// order's details, history and original mail goes to helpdesk.incident_to.
    Fail {
        #[arg(value_name = "REF")]
        reference: String,
        /// What went wrong (for the incident process; not sent to the requester).
        #[arg(long)]
        reason: String,
    },
    /// Withdraw an open order (on the requester's request); the requester gets a confirmation.
    Withdraw {
        #[arg(value_name = "REF")]
        reference: String,
        /// Why, as the requester will read it.
        #[arg(long)]
        reason: String,
    },
}
