//! spdesk: the Serviceplatformen Helpdesk's daemon for orders to change the technical
//! configuration of an it-system (DESIGN.md, FORMS.md, PROCESS.md).
//!
//! # Layout
//!
//! The tree follows the flow of a mail: it arrives ([`mail`]), its forms are read
//! ([`forms`]), judged by the rules ([`rules`], [`judge`]), turned into order changes
//! ([`orders`]), stored ([`store`]) and acted on by the daemon ([`daemon`]); [`schedule`]
//! sends the Helpdesk's periodic mails, [`config`] and [`cli`] are the edges.
//!
//! Pure core (no file, network, process or database I/O; unit-tested):
//! - [`mail`]: a received mail's facts (sender, threading, bodies, attachments) and its
//!   loop-safety flags; [`mail::header_value`]: every value in a header of a mail we send,
//!   checked in one place.
//! - [`forms`]: the readers that turn .docx, PDF, HTML and mail text into raw forms and unpack
//!   winmail.dat, each bounding its own work; THE field table, value normalisation, the blank
//!   forms, and [`forms::extract`], which finds every form in a mail through a
//!   [`forms::reader::DocumentReader`].
//! - [`rules`]: the rules of FORMS.md, one module per family, with the Danish calendar,
//!   written dates, the it-system register's model and the findings.
//! - [`judge`]: the one pipeline, raw mail + context → judgement.
//! - [`orders`]: the order state machine and references, who may change an order, the hourly
//!   limits, the receipts and the review summary; [`orders::plan`]: every order change (a
//!   mail's form, a mail for a person, a person's action, the executor's result) as the
//!   effects it has, with [`orders::recipients`] and the typed [`orders::values`].
//! - [`schedule`]: the daily digest and the billing run (what they contain and when; the
//!   jobs that read the orders and queue them).
//!
//! Imperative shell:
//! - [`store`]: the database (all SQL); [`store::apply`] performs a plan's effects in one
//!   transaction, [`store::actions`] is a person's or the executor's action end to end.
//! - [`daemon`]: the intake (IMAP), the processing of one mail in one transaction, the outbox
//!   (SMTP), the executor, the scheduler and TLS, side by side until a stop signal.
//! - [`sandbox`]: the document readers in a child process under memory, CPU, stack and
//!   wall-clock limits (the daemon and `spdesk check` read through it).
//! - [`config`]: the TOML config, checked with file and line for every problem, and what a
//!   valid config exposes.
//! - [`cli`]: the command line, the commands, how they build the parts, and terminal escaping.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod forms;
pub mod judge;
pub mod mail;
pub mod orders;
pub mod rules;
pub mod sandbox;
pub mod schedule;
pub mod store;
