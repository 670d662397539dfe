//! Hostile documents and mails, made here once for every test and benchmark that needs them
//! (tests/sandbox.rs, benches/bombs.rs): each is small on the wire and ruins a reader that
//! runs inside the daemon's own process, or a reader without bounds. The src unit tests keep
//! small builders of their own, next to the code they test.
//!
//! - Stack: [`deep_pdf`] (`%(` comment), [`deep_pdf_behind_stream_name`] (a `/stream` name),
//!   [`deep_pdf_in_object_stream`] (the nesting packed in a compressed object stream).
//! - Inflation: [`flate_pdf`] (FlateDecode, once or more), [`inflating_pdf`] (twice),
//!   [`lzw_pdf`] (LZWDecode), [`split_inflating_pdf`] (many small streams that add up),
//!   [`object_stream_bomb_pdf`] (an object stream that inflates to a GiB),
//!   [`object_stream_count_pdf`] (an object stream that names a million objects).
//! - Object counts: [`many_objects_pdf`] (with an xref table), [`many_objects_pdf_without_xref`].
//! - Field trees: [`kids_fan_out_pdf`] (each level's /Kids names the next level 1,000 times),
//!   [`shared_kids_array_pdf`] (one /Kids array object shared by every level).
//! - .docx element counts: [`empty_paragraphs_docx`], [`empty_runs_docx`], [`table_cells_docx`],
//!   [`table_rows_docx`]; time: [`slow_docx`].
//! - HTML: [`quadratic_html`] (`<a` without `>`), [`unclosed_quotes_html`].
//! - MIME: [`empty_parts_mail`] (boundary lines as written), with `odd` spacing (trailing
//!   blanks, bare LF).
//! - Forms per mail: [`nested_forwards`] (forwarded mails in forwarded mails), base64-encoded
//!   when asked.
//! - winmail.dat: [`winmail_mail`] (a TNEF holding any bomb file, via
//!   [`super::fixtures::winmail_dat`]).

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use mail_builder::MessageBuilder;

/// A PDF with `objects` (after the catalog and the page tree), with a correct xref table;
/// a `%(` comment after the header.
fn pdf(objects: &[Vec<u8>], page: bool) -> Vec<u8> {
    pdf_with_catalog(b"<< /Type /Catalog /Pages 2 0 R >>", objects, page)
}

/// [`pdf`] with the catalog (object 1) given.
fn pdf_with_catalog(catalog: &[u8], objects: &[Vec<u8>], page: bool) -> Vec<u8> {
    let pages: &[u8] = if page {
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    } else {
        b"<< /Type /Pages /Kids [] /Count 0 >>"
    };
    let mut all: Vec<&[u8]> = vec![catalog, pages];
    all.extend(objects.iter().map(Vec::as_slice));
    pdf_objects(b"%PDF-1.4\n%(\n", &all)
}

/// `objects` as objects 1, 2, ... after `head`, with a correct xref table and object 1 as
/// the root.
fn pdf_objects(head: &[u8], all: &[&[u8]]) -> Vec<u8> {
    let mut out = head.to_vec();
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

/// `depth` nested arrays and their closing brackets.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut nested = vec![b'['; depth];
    nested.extend(std::iter::repeat_n(b']', depth));
    nested
}

/// 100,000 nested arrays in one object, the pre-scan blinded by a `%(` comment.
pub fn deep_pdf() -> Vec<u8> {
    pdf(&[nested_arrays(100_000)], false)
}

/// 100,000 nested arrays after a catalog holding the name `/stream`, which a pre-scan that
/// skips to the next `endstream` takes for a stream's start.
pub fn deep_pdf_behind_stream_name() -> Vec<u8> {
    let catalog = b"<< /Type /Catalog /Pages 2 0 R /stream 1 >>";
    let pages = b"<< /Type /Pages /Kids [] /Count 0 >>";
    let nested = nested_arrays(100_000);
    pdf_objects(b"%PDF-1.4\n", &[catalog, pages, &nested])
}

/// 100,000 nested arrays as object 3, packed (FlateDecode) in the object stream 4, where a
/// pre-scan of the raw bytes does not see them.
pub fn deep_pdf_in_object_stream() -> Vec<u8> {
    let mut packed = b"3 0 ".to_vec();
    packed.extend(nested_arrays(100_000));
    let packed = zlib(std::iter::once(packed));
    let catalog = b"<< /Type /Catalog /Pages 2 0 R /Metadata 3 0 R >>";
    let pages = b"<< /Type /Pages /Kids [] /Count 0 >>";
    let placeholder = b"null";
    let objstm = stream_object("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", &packed);
    pdf_objects(b"%PDF-1.5\n", &[catalog, pages, placeholder, &objstm])
}

fn zlib(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    for c in chunks {
        z.write_all(&c).expect("compressing in memory");
    }
    z.finish().expect("compressing in memory")
}

/// `bytes` spaces, zlib-compressed, made a MiB at a time.
fn zlib_spaces(bytes: usize) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    zlib((0..bytes.div_ceil(CHUNK)).map(|i| vec![b' '; CHUNK.min(bytes - i * CHUNK)]))
}

/// A stream object: `<< dict /Length n >> stream ... endstream`.
fn stream_object(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

/// One page (object 3) whose /Contents are the `streams` (objects 4, 5, ...), each already
/// encoded for `filter`.
fn page_pdf(filter: &str, streams: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<String> = (0..streams.len())
        .map(|i| format!("{} 0 R", i + 4))
        .collect();
    let page = format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [{}] >>",
        refs.join(" ")
    )
    .into_bytes();
    let mut objects = vec![page];
    objects.extend(
        streams
            .iter()
            .map(|s| stream_object(&format!("/Filter {filter}"), s)),
    );
    pdf(&objects, true)
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
    let mut data = zlib_spaces(inflated);
    for _ in 1..layers {
        data = zlib(std::iter::once(data));
    }
    let filters = vec!["/FlateDecode"; layers].join(" ");
    page_pdf(&format!("[{filters}]"), &[data])
}

/// One page whose content stream is LZWDecode (early change, as PDF's default) of
/// `inflated` spaces: a filter other than Flate with a compression ratio in the thousands.
pub fn lzw_pdf(inflated: usize) -> Vec<u8> {
    let mut encoder = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut out = Vec::new();
    let spaces =
        std::io::BufReader::new(std::io::Read::take(std::io::repeat(b' '), inflated as u64));
    encoder
        .into_stream(&mut out)
        .encode_all(spaces)
        .status
        .expect("LZW-compressing in memory");
    page_pdf("/LZWDecode", &[out])
}

/// One page whose /Contents are `streams` FlateDecode streams of `each` spaces: every one
/// small, together over any budget that is counted per stream instead of per document.
pub fn split_inflating_pdf(streams: usize, each: usize) -> Vec<u8> {
    let one = zlib_spaces(each);
    page_pdf("/FlateDecode", &vec![one; streams])
}

/// An object stream (FlateDecode) holding the catalog behind `inflated` spaces.
pub fn object_stream_bomb_pdf(inflated: usize) -> Vec<u8> {
    let head = b"2 0 ".to_vec();
    let spaces = (0..inflated.div_ceil(1 << 20))
        .map(|i| vec![b' '; (1 << 20).min(inflated - i * (1 << 20))]);
    let catalog = b"<< /Type /Catalog >>".to_vec();
    let packed = zlib(
        std::iter::once(head)
            .chain(spaces)
            .chain(std::iter::once(catalog)),
    );
    let mut pdf = b"%PDF-1.5\n1 0 obj ".to_vec();
    pdf.extend(stream_object(
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
        &packed,
    ));
    pdf.extend(b" endobj\ntrailer << /Root 2 0 R >>\n%%EOF\n");
    pdf
}

/// An object stream (FlateDecode; 2.3 MB for a million) whose header names `objects` objects, for
/// a count that looks only at the file's own `obj` headers.
pub fn object_stream_count_pdf(objects: usize) -> Vec<u8> {
    let mut header = String::new();
    for n in 0..objects {
        header.push_str(&format!("{} {n} ", n + 3));
    }
    let mut packed = header.into_bytes();
    let first = packed.len();
    packed.extend(b"null ".repeat(objects));
    let objstm = stream_object(
        &format!("/Type /ObjStm /N {objects} /First {first} /Filter /FlateDecode"),
        &zlib(std::iter::once(packed)),
    );
    let catalog = b"<< /Type /Catalog /Pages 2 0 R >>";
    let pages = b"<< /Type /Pages /Kids [] /Count 0 >>";
    pdf_objects(b"%PDF-1.5\n", &[catalog, pages, &objstm])
}

/// `objects` one-element arrays after the catalog and the page tree, with an xref table
/// naming every one of them.
pub fn many_objects_pdf(objects: usize) -> Vec<u8> {
    let all: Vec<Vec<u8>> = (0..objects)
        .map(|n| format!("[{n}]").into_bytes())
        .collect();
    pdf(&all, false)
}

/// `objects` one-element arrays and no xref table at all, so a reader must rebuild one by
/// scanning, with a trailer that claims 3 objects.
pub fn many_objects_pdf_without_xref(objects: usize) -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
        2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        .to_vec();
    for n in 3..objects + 3 {
        pdf.extend(format!("{n} 0 obj [{n}] endobj\n").as_bytes());
    }
    pdf.extend(b"trailer << /Size 3 /Root 1 0 R >>\n%%EOF\n");
    pdf
}

/// An AcroForm whose field tree is `levels` deep, each level's /Kids naming the next level's
/// one field `width` times: width^levels fields for a reader that walks every reference.
pub fn kids_fan_out_pdf(levels: usize, width: usize) -> Vec<u8> {
    let catalog = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R] >> >>";
    let mut fields: Vec<Vec<u8>> = (0..levels)
        .map(|l| {
            let next = format!("{} 0 R ", l + 4).repeat(width);
            format!("<< /T (f{l}) /Kids [{next}] >>").into_bytes()
        })
        .collect();
    fields.push(b"<< /T (CVR-nr.) /FT /Tx /V (12345678) >>".to_vec());
    pdf_with_catalog(catalog, &fields, false)
}

/// An AcroForm field (object 3) whose /Kids is one array object (4) that names the field
/// itself `width` times: a cycle behind an indirect array.
pub fn shared_kids_array_pdf(width: usize) -> Vec<u8> {
    let catalog = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R 3 0 R] >> >>";
    let field = b"<< /T (CVR-nr.) /FT /Tx /V (1) /Kids 4 0 R >>".to_vec();
    let kids = format!("[{}]", "3 0 R ".repeat(width)).into_bytes();
    pdf_with_catalog(catalog, &[field, kids], false)
}

/// A .docx whose document body is `body`.
fn docx_body(body: &str) -> Vec<u8> {
    super::fixtures::docx_package(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    ))
}

/// A valid .docx of `paragraphs` ordinary paragraphs.
pub fn slow_docx(paragraphs: usize) -> Vec<u8> {
    docx_body(
        &"<w:p><w:r><w:t>Ændring af teknisk konfiguration</w:t></w:r></w:p>".repeat(paragraphs),
    )
}

/// A .docx of `paragraphs` empty paragraphs (`<w:p/>`): millions of elements from a few KB.
pub fn empty_paragraphs_docx(paragraphs: usize) -> Vec<u8> {
    docx_body(&"<w:p/>".repeat(paragraphs))
}

/// A .docx of one paragraph holding `runs` empty runs: the elements one level deeper.
pub fn empty_runs_docx(runs: usize) -> Vec<u8> {
    docx_body(&format!("<w:p>{}</w:p>", "<w:r/>".repeat(runs)))
}

/// A .docx table of one row with `cells` cells.
pub fn table_cells_docx(cells: usize) -> Vec<u8> {
    docx_body(&format!(
        "<w:tbl><w:tr>{}</w:tr></w:tbl>",
        "<w:tc><w:p/></w:tc>".repeat(cells)
    ))
}

/// A .docx table of `rows` rows of one cell each.
pub fn table_rows_docx(rows: usize) -> Vec<u8> {
    docx_body(&format!(
        "<w:tbl>{}</w:tbl>",
        "<w:tr><w:tc><w:p/></w:tc></w:tr>".repeat(rows)
    ))
}

/// An HTML document of `bytes` bytes of `<a` without `>`.
pub fn quadratic_html(bytes: usize) -> Vec<u8> {
    let mut html = b"<html><body>".to_vec();
    html.extend(b"<a".repeat(bytes / 2));
    html
}

/// An HTML document of `bytes` bytes of tags whose attribute quote never closes, for a
/// scanner that looks ahead for the closing quote.
pub fn unclosed_quotes_html(bytes: usize) -> Vec<u8> {
    let mut html = b"<html><body>".to_vec();
    html.extend(b"<a b=\"".repeat(bytes / 6));
    html
}

/// The headers of a mail from the requester to the Helpdesk, up to the blank line.
fn headers(content_type: &str) -> String {
    format!(
        "From: Karin Holm <{}>\r\nTo: <{}>\r\nSubject: Bestilling\r\n\
         Message-ID: <bomb@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n",
        super::FA,
        super::HELPDESK
    )
}

/// A mail whose only text is `html`.
pub fn html_mail(html: &[u8]) -> Vec<u8> {
    MessageBuilder::new()
        .from(("Karin Holm", super::FA))
        .to(("Serviceplatformens Helpdesk", super::HELPDESK))
        .subject("Bestilling")
        .html_body(String::from_utf8_lossy(html).into_owned())
        .write_to_vec()
        .expect("building the mail")
}

/// A mail with a short text and `html` attached as Bestilling.html.
pub fn html_attachment_mail(html: &[u8]) -> Vec<u8> {
    MessageBuilder::new()
        .from(("Karin Holm", super::FA))
        .to(("Serviceplatformens Helpdesk", super::HELPDESK))
        .subject("Bestilling")
        .text_body("Hej\n\nSe vedhæftede.\n")
        .attachment("text/html", "Bestilling.html", html.to_vec())
        .write_to_vec()
        .expect("building the mail")
}

/// A multipart mail of `parts` empty parts, each only a boundary line and a blank line; with
/// `odd`, the boundary lines carry trailing blanks and end in a bare LF (both still
/// boundaries to a parser).
pub fn empty_parts_mail(parts: usize, odd: bool) -> Vec<u8> {
    let mut raw = headers("multipart/mixed; boundary=\"b\"").into_bytes();
    let part: &[u8] = if odd { b"--b \t\n\n" } else { b"--b\r\n\r\n" };
    raw.extend(part.repeat(parts));
    raw
}

/// A mail whose text is a valid form and which forwards `width` such mails, `depth` levels deep:
/// sum(width^k) forms in all, none more than `width` attachments on one level. With
/// `base64`, each forwarded mail is base64-encoded, as some clients send them.
pub fn nested_forwards(width: usize, depth: usize, id: &str, base64: bool) -> Vec<u8> {
    use base64::Engine;
    let boundary = format!("b{}", id.replace('-', ""));
    let mut raw = headers(&format!("multipart/mixed; boundary=\"{boundary}\""));
    raw = raw.replace("Subject: Bestilling", &format!("Subject: Bestilling {id}"));
    raw.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
        super::fixtures::WsForm::new(id, super::FA)
            .as_text()
            .replace('\n', "\r\n")
    ));
    let mut raw = raw.into_bytes();
    if depth > 0 {
        for k in 0..width {
            let inner = nested_forwards(width, depth - 1, &format!("{id}-{k}"), base64);
            raw.extend(
                format!(
                    "--{boundary}\r\nContent-Type: message/rfc822\r\n\
                     Content-Disposition: attachment; filename=\"f{k}.eml\"\r\n{}\r\n",
                    if base64 {
                        "Content-Transfer-Encoding: base64\r\n"
                    } else {
                        ""
                    }
                )
                .as_bytes(),
            );
            if base64 {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&inner);
                for line in b64.as_bytes().chunks(76) {
                    raw.extend(line);
                    raw.extend(b"\r\n");
                }
            } else {
                raw.extend(inner);
            }
        }
    }
    raw.extend(format!("--{boundary}--\r\n").as_bytes());
    raw
}

/// A mail as Outlook sends it in Rich Text mode, its winmail.dat holding `file` as `name`.
pub fn winmail_mail(name: &str, file: &[u8]) -> Vec<u8> {
    super::fixtures::outlook_rtf_mail(
        super::FA,
        super::HELPDESK,
        "Bestilling",
        "<winmail-bomb@example.test>",
        &super::fixtures::winmail_dat(name, file),
    )
}
