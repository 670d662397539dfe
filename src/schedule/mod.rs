//! The Helpdesk's scheduled mails: the daily digest and the billing run, and the jobs that
//! read the orders and queue them.

pub mod billing;
pub mod cron;
pub mod digest;
pub mod jobs;
