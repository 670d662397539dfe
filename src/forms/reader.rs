//! How the pure core asks for a document to be read, without knowing where the reader runs.
//!
//! The document readers (.docx, PDF, winmail.dat, HTML) parse hostile bytes with third-party
//! parsers that can recurse without bound (a stack overflow cannot be caught) or allocate
//! far more than the file's size. [`crate::forms::extract`] therefore never calls them directly: it
//! hands a [`ReadRequest`] to a [`DocumentReader`]. The daemon and `spdesk check` use the
//! sandboxed one (the shell's sandbox: a child process under memory, CPU, stack and wall-clock
//! limits); unit tests, fuzz targets and benches of the pure code use [`InProcess`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::forms::raw::{RawForm, ReadError, ReadLimits};
use crate::forms::read;
use crate::forms::read::tnef::{self, TnefLimits};

/// Which reader a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReaderKind {
    Docx,
    Pdf,
    /// Outlook's winmail.dat: unpacked into files, not read as a form.
    Tnef,
    Html,
}

/// Everything about a request except its bytes (which travel raw, not inside JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadJob {
    pub kind: ReaderKind,
    /// Where the document came from, e.g. `attachment:Bestilling.pdf` (the form's source).
    pub source: String,
    pub limits: ReadLimits,
    /// Files kept from a winmail.dat (the mail's attachment limit).
    pub max_files: usize,
    /// Wall-clock time (and CPU time) the reader may take.
    pub timeout: Duration,
}

/// One document to read.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    pub job: &'a ReadJob,
    pub bytes: &'a [u8],
}

/// A file unpacked from a winmail.dat, owned so it can leave the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedFile {
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// What a reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutput {
    /// A .docx, PDF or HTML document read as a form.
    Form(RawForm),
    /// A winmail.dat's files, and notes on what was skipped (for the Helpdesk log).
    Files {
        files: Vec<UnpackedFile>,
        notes: Vec<String>,
    },
}

/// Runs a reader on one document. Implementations must turn every failure of the reader
/// (panic, crash, time or memory limit) into a [`ReadError`]; they never fail the caller.
pub trait DocumentReader: Send + Sync + std::fmt::Debug {
    fn read(&self, request: ReadRequest<'_>) -> Result<ReadOutput, ReadError>;
}

/// Runs the reader a request names, here and now (no thread, no limit but the readers' own).
/// The sandbox child calls this for each request; [`InProcess`] calls it with panics caught.
pub fn read_document(request: ReadRequest<'_>) -> Result<ReadOutput, ReadError> {
    let ReadRequest { job, bytes } = request;
    match job.kind {
        ReaderKind::Docx => {
            read::docx::read_docx(bytes, &job.source, &job.limits).map(ReadOutput::Form)
        }
        ReaderKind::Pdf => {
            read::pdf::read_pdf(bytes, &job.source, &job.limits).map(ReadOutput::Form)
        }
        ReaderKind::Html => Ok(ReadOutput::Form(read::text::read_html(
            &String::from_utf8_lossy(bytes),
            &job.source,
        ))),
        ReaderKind::Tnef => {
            let limits = TnefLimits {
                max_files: job.max_files,
                ..TnefLimits::default()
            };
            tnef::unpack(bytes, &limits).map(|u| ReadOutput::Files {
                files: u
                    .files
                    .into_iter()
                    .map(|f| UnpackedFile {
                        name: f.name,
                        content_type: f.content_type,
                        bytes: f.bytes.to_vec(),
                    })
                    .collect(),
                notes: u.notes,
            })
        }
    }
}

/// Readers in this process, here and now, a panic caught. There is no time limit but the
/// readers' own bounds, and a stack overflow or an allocation failure still ends the whole
/// process: this is for tests, fuzzing and benches of the pure code, not for hostile mail in
/// the daemon, which reads through the sandbox child under a wall-clock limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

impl DocumentReader for InProcess {
    fn read(&self, request: ReadRequest<'_>) -> Result<ReadOutput, ReadError> {
        std::panic::catch_unwind(|| read_document(request)).unwrap_or_else(|_| Err(reader_failed()))
    }
}

/// The reason given when a reader ran out of time.
pub fn took_too_long(timeout: Duration) -> ReadError {
    ReadError::Limit(format!(
        "reading took longer than {} s",
        timeout.as_secs_f32()
    ))
}

/// The reason given when a reader failed without an answer (panic, crash).
pub fn reader_failed() -> ReadError {
    ReadError::Damaged("the reader failed on this file".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_goes_to_its_reader() {
        let job = |kind| ReadJob {
            kind,
            source: "attachment:x".into(),
            limits: ReadLimits::default(),
            max_files: 5,
            timeout: Duration::from_secs(5),
        };
        let html = job(ReaderKind::Html);
        let got = InProcess.read(ReadRequest {
            job: &html,
            bytes: b"<p>CVR-nr.: 12345678</p>",
        });
        match got {
            Ok(ReadOutput::Form(f)) => assert_eq!(f.source, "attachment:x"),
            other => panic!("{other:?}"),
        }
        for kind in [ReaderKind::Docx, ReaderKind::Pdf, ReaderKind::Tnef] {
            let j = job(kind);
            let got = InProcess.read(ReadRequest {
                job: &j,
                bytes: b"garbage",
            });
            assert!(got.is_err(), "{kind:?}: {got:?}");
        }
    }
}
