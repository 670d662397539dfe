//! Document readers: each turns one file format into [`crate::forms::raw::RawForm`]s. They know
//! document formats but nothing about order forms (that is [`crate::forms::fields`]).

pub mod docx;
mod label;
pub mod pdf;
#[cfg(test)]
mod pdf_office_tests;
mod pdf_rows;
mod pdf_scan;
mod pdf_stream;
pub mod text;
pub mod tnef;
