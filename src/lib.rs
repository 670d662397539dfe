//! spdesk: the Serviceplatformen Helpdesk's daemon for orders to change the technical
//! configuration of an it-system (DESIGN.md, FORMS.md, PROCESS.md).
//!
//! # Layout
//!
//! Pure core (no I/O, unit-tested):
//! - [`mail`]: a received mail's facts (sender, threading, bodies, attachments) and its
//!   loop-safety flags (bounce, auto-reply, list).
//! - [`read`]: readers that turn .docx, PDF and mail text into [`raw::RawForm`]s, and unpack
//!   Outlook's winmail.dat (TNEF) into files; [`raw`] is the seam between them and the field
//!   table. Each reader bounds its own work ([`raw::ReadLimits`]): a PDF is lexed and its
//!   objects counted before lopdf loads it and its streams inflate under one budget, a .docx
//!   keeps a bounded number of XML elements, HTML is scanned in linear time.
//! - [`fields`]: THE field table of both order forms; [`values`] normalises what people write;
//!   [`form`] turns a raw form into an [`form::OrderForm`] with reading findings.
//! - [`extract`]: finds every form in a mail (attachments, forwarded mails, winmail.dat, the
//!   text), each document read through a [`reader::DocumentReader`].
//! - [`calendar`], [`dates`]: Danish working days, holidays, the change window, written dates.
//! - [`register`]: the optional it-system register (who may order for which system).
//! - [`rules`]: the rules of FORMS.md; [`finding`]: rule ids, severities and decisions.
//! - [`judge`]: the one pipeline, raw mail + context → judgement.
//! - [`order`]: the order state machine and order references; [`ownership`]: who may change
//!   an order or add to it by mail.
//! - [`rate`]: the hourly limits on receipts (which address counts, the hour a mail fits in).
//! - [`receipts`]: the Danish receipts from templates, as replies in the sender's thread;
//!   [`header_value`]: every value in a header of a mail we send, checked in one place.
//! - [`blank`]: the blank order forms as .docx, written from the field table (and filled
//!   ones for tests and examples).
//! - [`review_summary`]: one mail for a burst of orders to review, past the hourly limit.
//! - [`digest`]: the Helpdesk's daily digest (sections, counts, text + HTML);
//!   [`billing`]: the billing CSV, periods and the billing mail; [`scheduler`]'s
//!   [`scheduler::next_run`]: cron in the configured time zone, DST-correct.
//!
//! Imperative shell:
//! - [`config`]: the TOML config, checked with file and line for every problem;
//!   [`config_warnings`]: what a valid config exposes (plain-text passwords, readable secrets).
//! - [`store`]: SQLite through sqlx; [`process`]: one mail and everything it causes in one
//!   transaction.
//! - [`intake`]: the IMAP loop (IDLE or polling, batched fetches, moves only after the commit,
//!   reconnects, database outages waited out); [`outbox`]: the SMTP sender (one kept
//!   session, backoff, catch-up after an outage); [`executor`]: runs the configured command
//!   for due approved orders; [`net`]: TLS and secrets; [`daemon`]: all of them until a stop
//!   signal.
//! - [`scheduler`]: the daemon's periodic jobs, each run claimed once in the database;
//!   [`jobs`]: the digest and billing runs (read orders, queue mail) for it and the CLI.
//! - [`sandbox`]: the document readers in a child process under memory, CPU, stack and
//!   wall-clock limits ([`reader::DocumentReader`] is the seam the pure [`extract`] reads
//!   through).
//! - [`cli`], [`commands`], [`setup`]: the command line and how it builds the parts
//!   ([`terminal`] escapes what senders wrote in every output meant for a terminal);
//!   [`commands::apply_action`] is the one transaction for a person's or the executor's
//!   action on an order (state, event, receipt, incident mail).

pub mod billing;
pub mod blank;
pub mod calendar;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_warnings;
pub mod daemon;
pub mod dates;
pub mod digest;
pub mod executor;
pub mod extract;
pub mod fields;
pub mod finding;
pub mod form;
pub mod header_value;
pub mod intake;
pub mod jobs;
pub mod judge;
pub mod mail;
pub mod net;
pub mod order;
pub mod outbox;
pub mod ownership;
pub mod process;
pub mod rate;
pub mod raw;
pub mod read;
pub mod reader;
pub mod receipts;
pub mod register;
pub mod review_summary;
pub mod rules;
pub mod sandbox;
pub mod scheduler;
pub mod setup;
pub mod store;
pub mod terminal;
pub mod values;
