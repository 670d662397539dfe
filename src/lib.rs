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
//! Pure core (no file, network, process, thread or database I/O, no logging; unit-tested;
//! `tests/layout.rs` checks this on the source, with "no SQL outside [`store`]" and "no
//! function over 80 lines"):
//! - [`mail`]: a received mail's facts (sender, threading, bodies, attachments) and its
//!   loop-safety flags (mail/loops.rs, their word and header lists as tables);
//!   [`mail::header_value`]: every value in a header of a mail we send, checked in one place;
//!   [`mail::own_id`]: the Message-IDs of our own mails;
//!   [`mail::identity`]: a mail's content identity (the hash without trace headers).
//! - [`forms`]: the readers that turn .docx, PDF, HTML and mail text into raw forms and unpack
//!   winmail.dat, each bounding its own work, with one list of tick glyphs
//!   ([`forms::raw::TICK_GLYPHS`]) and one "Label: value" splitter (forms/read/label.rs);
//!   THE field table, value normalisation, the blank forms, and [`forms::extract`], which
//!   finds every form in a mail through a [`forms::reader::DocumentReader`].
//! - [`rules`]: the rules of FORMS.md, one module per family, with the Danish calendar,
//!   written dates, the it-system register's model and the findings.
//! - [`judge`]: the one pipeline, raw mail + context → judgement.
//! - [`orders`]: the order state machine and references, who may change an order, the hourly
//!   limits, the receipts and the review summary; [`orders::plan`]: every order change (a
//!   mail's form, a mail for a person, a person's action, the executor's result) as the
//!   effects it has, with [`orders::recipients`] and the typed [`orders::values`];
//!   [`orders::display`]: an order as a person reads it (Danish labels and history, times in
//!   Copenhagen with offset); [`orders::edit`]: a person's version (`orders edit`) as a form
//!   the reader path reads; [`orders::verification`]: what a step-8 check of an order looks
//!   at, what its facts mean and the words of its event and receipt line.
//! - [`schedule`]: the daily digest and the billing run (what they contain and when).
//!
//! Imperative shell:
//! - [`store`]: the database (all SQL), a file per table family ([`store::mail`],
//!   [`store::inbound`], [`store::known`], [`store::versions`], [`store::outbox`],
//!   [`store::execution`], [`store::jobs`], [`store::billing`], [`store::users`],
//!   [`store::sessions`]; [`store::tables`] lists them all for [`store::copy`], `db copy`
//!   into PostgreSQL, and [`store::check`], `db check`), the console's reads ([`store::queue`], [`store::order_view`],
//!   [`store::mailroom`] with "Opret ordre"); [`store::apply`] performs a plan's effects in the
//!   caller's transaction, [`store::actions`] is a person's or the executor's action end to
//!   end.
//! - [`daemon`]: [`daemon::run`]`(parts, shutdown)`: the intake (IMAP), the processing of one
//!   mail in one transaction, the outbox (SMTP), the executor, the scheduler (with the jobs
//!   that read the orders and queue the digest and billing mails) and TLS, each a struct
//!   holding its context, side by side until the shutdown future resolves;
//!   [`daemon::health`] is what the intake and outbox report for `/healthz` and `/metrics`.
//! - [`web`]: the HTTP server `spdesk run` starts when `[web] listen` is set: the Helpdesk's
//!   web console — [`web::auth`] (login, sessions, CSRF, roles), [`web::page`] (the built-in
//!   templates in src/web/templates/), a module per page ([`web::queue`], [`web::order`],
//!   [`web::order_actions`], [`web::calendar`], [`web::post`], [`web::billing`],
//!   [`web::users`]) acting through [`store::actions`] and [`store::dialogue`] as the CLI
//!   does — plus `/healthz`, `/metrics` (counts read by [`store::metrics`]) and the security
//!   headers on every response.
//! - [`verify`]: the step-8 check of a webservice change over the network (DNS, TCP, TLS
//!   with a recording certificate verifier, an HTTP request), with retries, and its event on
//!   the order; what the facts mean is pure, in [`orders::verification`] (`spdesk verify`,
//!   `spdesk probe`, and every execution of a `url` or `ssl_certificate` change).
//! - [`sandbox`]: the document readers in a child process under memory, CPU, stack and
//!   wall-clock limits (the daemon and `spdesk check` read through it).
//! - [`config`]: the TOML config, checked with file and line for every problem, and what a
//!   valid config exposes.
//! - [`cli`]: the command line, the commands, how they build the parts (templates and register
//!   loaded once, for the daemon and the CLI alike), and terminal escaping.
//! - [`users`]: the web console's people: login names, roles, argon2id password hashes
//!   (their rows in [`store::users`]).

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
pub mod users;
pub mod verify;
pub mod web;
