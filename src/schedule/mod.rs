//! The Helpdesk's scheduled mails, pure: the daily digest and the billing run (what they
//! contain) and the cron timing (when). The jobs that read the orders and queue the mails
//! are the daemon's (`daemon/jobs.rs`).

pub mod billing;
pub mod cron;
pub mod digest;
