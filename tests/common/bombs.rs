//! Hostile documents, made here once for every test and benchmark that needs them: each is
//! small on the wire and ruins a reader that runs inside the daemon's own process.
//!
//! - [`deep_pdf`]: 100,000 nested arrays behind a `%(` comment, which blinds the PDF reader's
//!   nesting pre-scan (it takes the `(` for a string that never ends); lopdf's recursive
//!   parser then overflows the stack, which no `catch_unwind` catches.
//! - [`inflating_pdf`]: a page whose content stream is FlateDecode twice and inflates to
//!   `inflated` bytes (1 GiB from a few kB); [`flate_pdf`] with any number of layers.
//! - [`slow_docx`]: a valid .docx of many paragraphs, which takes a reader long enough to hit
//!   a short `reader_timeout`.
//! - [`quadratic_html`]: `<a` without `>` over and over, which a tag scanner that rescans to
//!   the end for every `<a` reads in quadratic time.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// A PDF with `objects` (after the catalog and the page tree), with a correct xref table;
/// a `%(` comment after the header.
fn pdf(objects: &[Vec<u8>], page: bool) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%(\n".to_vec();
    let pages: &[u8] = if page {
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    } else {
        b"<< /Type /Pages /Kids [] /Count 0 >>"
    };
    let mut all: Vec<&[u8]> = vec![b"<< /Type /Catalog /Pages 2 0 R >>", pages];
    all.extend(objects.iter().map(Vec::as_slice));
    let mut offsets = Vec::new();
    for (i, o) in all.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(*o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", all.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            all.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// 100,000 nested arrays in one object, the pre-scan blinded by a `%(` comment.
pub fn deep_pdf() -> Vec<u8> {
    let depth = 100_000;
    let mut nested = vec![b'['; depth];
    nested.extend(std::iter::repeat_n(b']', depth));
    pdf(&[nested], false)
}

fn zlib(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    for c in chunks {
        z.write_all(&c).expect("compressing in memory");
    }
    z.finish().expect("compressing in memory")
}

/// One page whose content stream (`/Filter [/FlateDecode /FlateDecode]`) inflates to
/// `inflated` spaces.
pub fn inflating_pdf(inflated: usize) -> Vec<u8> {
    flate_pdf(inflated, 2)
}

/// One page whose content stream is FlateDecode `layers` times and inflates to `inflated`
/// spaces: with one layer the PDF reader's own chain rule does not refuse it, so only the
/// inflation budget (`max_pdf_inflated_bytes`) or the reader child's memory stops it.
pub fn flate_pdf(inflated: usize, layers: usize) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let chunks = (0..inflated.div_ceil(CHUNK)).map(|i| {
        let len = CHUNK.min(inflated - i * CHUNK);
        vec![b' '; len]
    });
    let mut data = zlib(chunks);
    for _ in 1..layers {
        data = zlib(std::iter::once(data));
    }
    let filters = vec!["/FlateDecode"; layers].join(" ");
    let page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec();
    let mut stream =
        format!("<< /Length {} /Filter [{filters}] >>\nstream\n", data.len()).into_bytes();
    stream.extend(&data);
    stream.extend(b"\nendstream");
    pdf(&[page, stream], true)
}

/// A valid .docx of `paragraphs` ordinary paragraphs.
pub fn slow_docx(paragraphs: usize) -> Vec<u8> {
    let body =
        "<w:p><w:r><w:t>Ændring af teknisk konfiguration</w:t></w:r></w:p>".repeat(paragraphs);
    super::fixtures::docx_package(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    ))
}

/// An HTML document of `bytes` bytes of `<a` without `>`.
pub fn quadratic_html(bytes: usize) -> Vec<u8> {
    let mut html = b"<html><body>".to_vec();
    html.extend(b"<a".repeat(bytes / 2));
    html
}
