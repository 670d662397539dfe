//! Document readers: each turns one file format into [`crate::raw::RawForm`]s. They know
//! document formats but nothing about order forms (that is [`crate::fields`]).

pub mod docx;
pub mod pdf;
pub mod text;
pub mod tnef;
