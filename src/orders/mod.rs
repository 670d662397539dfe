//! Orders: the state machine and references, who may change an order, the hourly limits on
//! what an order sends, the receipts, and the summary of orders to review.

pub mod display;
pub mod edit;
pub mod helpdesk;
pub mod order;
pub mod ownership;
pub mod plan;
pub mod rate;
pub mod receipts;
pub mod recipients;
pub mod review_summary;
pub mod staff_files;
pub mod state;
pub mod values;
pub mod verification;
