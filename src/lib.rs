//! spdesk: the Serviceplatformen Helpdesk's daemon for orders to change the technical
//! configuration of an it-system.
//!
//! # Layout
//!
//! Pure core (no I/O, unit-tested):
//! - [`raw`]: the seam between document readers and the field table.
//! - [`read`]: readers that turn .docx, PDF and mail text into [`raw::RawForm`]s.

pub mod finding;
pub mod raw;
pub mod read;
