//! Orders: the state machine and references, who may change an order, the hourly limits on
//! what an order sends, the receipts, and the summary of orders to review.

pub mod ownership;
pub mod rate;
pub mod receipts;
pub mod review_summary;
pub mod state;
