//! Document readers: each turns one file format into [`crate::raw::RawForm`]s.
