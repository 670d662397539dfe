//! The framing between the daemon and its reader child, over the child's stdin and stdout.
//!
//! A request is `u32 LE` header length, the header ([`ReadJob`] as JSON), `u64 LE` body
//! length and the document's bytes, raw (no base64 of a 25 MB file). An answer is `u32 LE`
//! header length, the header ([`AnswerHeader`] as JSON), `u64 LE` payload length and the
//! payload: the bytes of the files unpacked from a winmail.dat, one after the other, their
//! lengths in the header. Both sides treat what they read as hostile (the child reads what
//! the parent sends, but the parent reads what a child that parsed hostile bytes wrote):
//! every length is capped before anything is read, and buffers grow only with bytes that
//! actually arrived, so a lying length field costs nothing.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::forms::raw::{RawForm, ReadError};
use crate::forms::reader::{ReadJob, ReadOutput, UnpackedFile};

/// Largest request header: a job is a few hundred bytes.
pub const MAX_REQUEST_HEADER: u32 = 64 * 1024;
/// Largest document sent to a reader (above any sensible `max_message_bytes`).
pub const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Largest answer header: the text and fields of one form, or the names of unpacked files.
pub const MAX_ANSWER_HEADER: u32 = 64 * 1024 * 1024;
/// Largest answer payload: the files unpacked from one winmail.dat.
pub const MAX_PAYLOAD: u64 = 256 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the pipe failed: {0}")]
    Io(#[from] io::Error),
    #[error("the frame ended early")]
    Truncated,
    #[error("{what} of {len} bytes is over the limit of {max}")]
    TooLong {
        what: &'static str,
        len: u64,
        max: u64,
    },
    #[error("the frame's header is not valid: {0}")]
    Header(#[from] serde_json::Error),
    #[error("the file lengths ({files} bytes) do not add up to the payload ({payload} bytes)")]
    Lengths { files: u64, payload: u64 },
}

/// A file in an answer's header; its bytes are in the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub len: u64,
}

/// What the child answers, without the files' bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerHeader {
    Form(RawForm),
    Files {
        files: Vec<FileHeader>,
        notes: Vec<String>,
    },
    Error(ReadError),
}

/// A decoded request: the job and the document's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub job: ReadJob,
    pub bytes: Vec<u8>,
}

pub fn write_request<W: Write>(
    out: &mut W,
    job: &ReadJob,
    bytes: &[u8],
) -> Result<(), ProtocolError> {
    let header = serde_json::to_vec(job)?;
    write_frame(out, &header, MAX_REQUEST_HEADER, &[bytes], MAX_BODY)
}

/// Reads the next request; `Ok(None)` when the stream ends cleanly between requests.
pub fn read_request<R: Read>(input: &mut R) -> Result<Option<Request>, ProtocolError> {
    let Some(header) = read_header(input, MAX_REQUEST_HEADER, "the request header")? else {
        return Ok(None);
    };
    let job: ReadJob = serde_json::from_slice(&header)?;
    let bytes = read_body(input, MAX_BODY, "the document")?;
    Ok(Some(Request { job, bytes }))
}

pub fn write_answer<W: Write>(
    out: &mut W,
    answer: &Result<ReadOutput, ReadError>,
) -> Result<(), ProtocolError> {
    let (header, payload): (AnswerHeader, Vec<&[u8]>) = match answer {
        Ok(ReadOutput::Form(raw)) => (AnswerHeader::Form(raw.clone()), Vec::new()),
        Ok(ReadOutput::Files { files, notes }) => (
            AnswerHeader::Files {
                files: files
                    .iter()
                    .map(|f| FileHeader {
                        name: f.name.clone(),
                        content_type: f.content_type.clone(),
                        len: f.bytes.len() as u64,
                    })
                    .collect(),
                notes: notes.clone(),
            },
            files.iter().map(|f| f.bytes.as_slice()).collect(),
        ),
        Err(e) => (AnswerHeader::Error(e.clone()), Vec::new()),
    };
    let header = serde_json::to_vec(&header)?;
    write_frame(out, &header, MAX_ANSWER_HEADER, &payload, MAX_PAYLOAD)
}

/// Reads one answer; a stream that ends before it is [`ProtocolError::Truncated`].
pub fn read_answer<R: Read>(input: &mut R) -> Result<Result<ReadOutput, ReadError>, ProtocolError> {
    let header = read_header(input, MAX_ANSWER_HEADER, "the answer header")?
        .ok_or(ProtocolError::Truncated)?;
    let header: AnswerHeader = serde_json::from_slice(&header)?;
    let payload = read_body(input, MAX_PAYLOAD, "the answer's files")?;
    match header {
        AnswerHeader::Form(raw) if payload.is_empty() => Ok(Ok(ReadOutput::Form(raw))),
        AnswerHeader::Error(e) if payload.is_empty() => Ok(Err(e)),
        AnswerHeader::Form(_) | AnswerHeader::Error(_) => Err(ProtocolError::Lengths {
            files: 0,
            payload: payload.len() as u64,
        }),
        AnswerHeader::Files { files, notes } => {
            let total = files
                .iter()
                .try_fold(0u64, |sum, f| sum.checked_add(f.len))
                .unwrap_or(u64::MAX);
            if total != payload.len() as u64 {
                return Err(ProtocolError::Lengths {
                    files: total,
                    payload: payload.len() as u64,
                });
            }
            let mut rest = payload.as_slice();
            let mut out = Vec::with_capacity(files.len().min(1024));
            for f in files {
                // The lengths add up to the payload's length, so each fits in what is left.
                let len = usize::try_from(f.len).unwrap_or(usize::MAX).min(rest.len());
                let (bytes, tail) = rest.split_at(len);
                rest = tail;
                out.push(UnpackedFile {
                    name: f.name,
                    content_type: f.content_type,
                    bytes: bytes.to_vec(),
                });
            }
            Ok(Ok(ReadOutput::Files { files: out, notes }))
        }
    }
}

fn write_frame<W: Write>(
    out: &mut W,
    header: &[u8],
    max_header: u32,
    body: &[&[u8]],
    max_body: u64,
) -> Result<(), ProtocolError> {
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&n| n <= max_header)
        .ok_or(ProtocolError::TooLong {
            what: "the header",
            len: header.len() as u64,
            max: u64::from(max_header),
        })?;
    let body_len: u64 = body.iter().map(|b| b.len() as u64).sum();
    if body_len > max_body {
        return Err(ProtocolError::TooLong {
            what: "the body",
            len: body_len,
            max: max_body,
        });
    }
    out.write_all(&header_len.to_le_bytes())?;
    out.write_all(header)?;
    out.write_all(&body_len.to_le_bytes())?;
    for part in body {
        out.write_all(part)?;
    }
    Ok(())
}

/// A `u32` length and that many bytes; `Ok(None)` at a clean end of the stream.
fn read_header<R: Read>(
    input: &mut R,
    max: u32,
    what: &'static str,
) -> Result<Option<Vec<u8>>, ProtocolError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > max {
        return Err(ProtocolError::TooLong {
            what,
            len: u64::from(len),
            max: u64::from(max),
        });
    }
    read_exactly(input, u64::from(len)).map(Some)
}

/// A `u64` length and that many bytes.
fn read_body<R: Read>(
    input: &mut R,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len).map_err(eof_is_truncated)?;
    let len = u64::from_le_bytes(len);
    if len > max {
        return Err(ProtocolError::TooLong { what, len, max });
    }
    read_exactly(input, len)
}

/// Exactly `len` bytes, the buffer growing only as they arrive.
fn read_exactly<R: Read>(input: &mut R, len: u64) -> Result<Vec<u8>, ProtocolError> {
    let mut buf = Vec::new();
    input.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(ProtocolError::Truncated);
    }
    Ok(buf)
}

fn eof_is_truncated(e: io::Error) -> ProtocolError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ProtocolError::Truncated
    } else {
        ProtocolError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::raw::{Entry, ReadLimits};
    use crate::forms::reader::ReaderKind;
    use std::time::Duration;

    fn job() -> ReadJob {
        ReadJob {
            kind: ReaderKind::Pdf,
            source: "attachment:Bestilling æøå.pdf".into(),
            limits: ReadLimits::default(),
            max_files: 20,
            timeout: Duration::from_millis(1500),
        }
    }

    fn files() -> ReadOutput {
        ReadOutput::Files {
            files: vec![
                UnpackedFile {
                    name: Some("a.docx".into()),
                    content_type: None,
                    bytes: b"PK\x03\x04abc".to_vec(),
                },
                UnpackedFile {
                    name: None,
                    content_type: Some("image/png".into()),
                    bytes: Vec::new(),
                },
                UnpackedFile {
                    name: Some("c".into()),
                    content_type: None,
                    bytes: vec![0; 70_000],
                },
            ],
            notes: vec!["skipped one".into()],
        }
    }

    #[test]
    fn requests_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_request(&mut wire, &job(), b"%PDF-1.4 \x00\xff").unwrap();
        write_request(&mut wire, &job(), b"").unwrap();
        let mut input = wire.as_slice();
        let first = read_request(&mut input).unwrap().unwrap();
        assert_eq!(first.job, job());
        assert_eq!(first.bytes, b"%PDF-1.4 \x00\xff");
        assert!(read_request(&mut input).unwrap().unwrap().bytes.is_empty());
        assert!(read_request(&mut input).unwrap().is_none());
    }

    #[test]
    fn answers_round_trip() {
        let answers = [
            Ok(ReadOutput::Form(RawForm {
                source: "body".into(),
                text: "Titel\n".into(),
                entries: vec![Entry::new("CVR-nr.", "12345678")],
            })),
            Ok(files()),
            Err(ReadError::Limit("the PDF has 9 pages (limit 2)".into())),
            Err(ReadError::Damaged("bad".into())),
            Err(ReadError::Unreadable("scan".into())),
        ];
        let mut wire = Vec::new();
        for a in &answers {
            write_answer(&mut wire, a).unwrap();
        }
        let mut input = wire.as_slice();
        for a in &answers {
            assert_eq!(&read_answer(&mut input).unwrap(), a);
        }
        assert!(matches!(
            read_answer(&mut input),
            Err(ProtocolError::Truncated)
        ));
    }

    /// Every cut of a valid frame is an error (or, for requests, a clean end at byte 0).
    #[test]
    fn truncated_frames_are_errors() {
        let mut request = Vec::new();
        write_request(&mut request, &job(), b"0123456789").unwrap();
        for cut in 1..request.len() {
            assert!(
                read_request(&mut &request[..cut]).is_err(),
                "request cut at {cut}"
            );
        }
        assert!(read_request(&mut &request[..0]).unwrap().is_none());
        let mut answer = Vec::new();
        write_answer(&mut answer, &Ok(files())).unwrap();
        for cut in (0..answer.len()).step_by(97) {
            assert!(
                read_answer(&mut &answer[..cut]).is_err(),
                "answer cut at {cut}"
            );
        }
    }

    /// A length field over its cap is refused before anything is allocated or read.
    #[test]
    fn oversize_length_fields_are_refused() {
        let header = u32::MAX.to_le_bytes();
        assert!(matches!(
            read_request(&mut header.as_slice()),
            Err(ProtocolError::TooLong {
                what: "the request header",
                ..
            })
        ));
        assert!(matches!(
            read_answer(&mut header.as_slice()),
            Err(ProtocolError::TooLong {
                what: "the answer header",
                ..
            })
        ));
        let mut wire = Vec::new();
        let json = serde_json::to_vec(&job()).unwrap();
        wire.extend((json.len() as u32).to_le_bytes());
        wire.extend(&json);
        wire.extend((MAX_BODY + 1).to_le_bytes());
        assert!(matches!(
            read_request(&mut wire.as_slice()),
            Err(ProtocolError::TooLong {
                what: "the document",
                ..
            })
        ));
        // Within the cap but lying: only what arrives is buffered, and it is too short.
        let mut wire = Vec::new();
        wire.extend((json.len() as u32).to_le_bytes());
        wire.extend(&json);
        wire.extend(MAX_BODY.to_le_bytes());
        wire.extend(b"short");
        assert!(matches!(
            read_request(&mut wire.as_slice()),
            Err(ProtocolError::Truncated)
        ));
    }

    /// File lengths that do not add up to the payload (or overflow) are refused.
    #[test]
    fn file_lengths_must_match_the_payload() {
        for lens in [vec![5u64], vec![1, 1], vec![u64::MAX, 5]] {
            let header = AnswerHeader::Files {
                files: lens
                    .iter()
                    .map(|&len| FileHeader {
                        name: None,
                        content_type: None,
                        len,
                    })
                    .collect(),
                notes: Vec::new(),
            };
            let json = serde_json::to_vec(&header).unwrap();
            let mut wire = Vec::new();
            write_frame(&mut wire, &json, MAX_ANSWER_HEADER, &[b"abc"], MAX_PAYLOAD).unwrap();
            assert!(
                matches!(
                    read_answer(&mut wire.as_slice()),
                    Err(ProtocolError::Lengths { .. })
                ),
                "{lens:?}"
            );
        }
        let json =
            serde_json::to_vec(&AnswerHeader::Error(ReadError::Damaged("x".into()))).unwrap();
        let mut wire = Vec::new();
        write_frame(&mut wire, &json, MAX_ANSWER_HEADER, &[b"abc"], MAX_PAYLOAD).unwrap();
        assert!(read_answer(&mut wire.as_slice()).is_err());
    }

    #[test]
    fn garbage_headers_are_errors() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{not json", MAX_ANSWER_HEADER, &[], MAX_PAYLOAD).unwrap();
        assert!(matches!(
            read_answer(&mut wire.as_slice()),
            Err(ProtocolError::Header(_))
        ));
        assert!(matches!(
            read_request(&mut wire.as_slice()),
            Err(ProtocolError::Header(_))
        ));
    }
}
