//! The Helpdesk's scheduled mails, pure: the daily digest and the billing run (what they
//! contain) and the cron timing (when). The jobs that read the orders and queue them are the
//! daemon's ([`crate::daemon::jobs`]).

pub mod billing;
pub mod cron;
pub mod digest;
