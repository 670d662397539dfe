//! The order forms: the raw form seam, the readers (docx, PDF, mail text, HTML, winmail.dat),
//! the field table, value normalisation, the blank forms, and finding every form in a mail.

pub mod blank;
pub mod extract;
pub mod fields;
pub mod form;
pub mod raw;
pub mod read;
pub mod reader;
pub mod values;
