//! The blank order forms as Word documents, written from THE field table (`fields`), so the
//! form people fill in and the reader that reads it back can never disagree about a label.
//!
//! Layout, chosen so that `read::docx` reads a filled form back exactly:
//! - the Danish title as the first paragraph (the reader tells the form kind from it) and
//!   short instructions as plain paragraphs (no colons, no leading tick marks, so they stay
//!   free text);
//! - one 2-column table, `label | value`, one row per field of the form in table order. The
//!   value is a plain-text content control tagged with the label; while empty it shows the
//!   field's hint as Word placeholder text (`w:showingPlcHdr`), which the reader treats as
//!   empty. Clicking the grey text selects it, so typing replaces it;
//! - tick-box rows ("Ændringer", "Overvågning") hold one `w14:checkbox` control per option,
//!   each followed by the option's label, one per line, and the hint in small grey text
//!   underneath (a line without a tick mark, which tick parsing ignores).
//!
//! Everything is pure: the XML is built with a small string builder and the zip is written to
//! memory.

use std::io::{Cursor, Write};

use crate::forms::fields::{CHANGES, FieldDef, FormKind, Required, ValueType, fields_for};
use crate::forms::raw::{TICKED, UNTICKED};

/// The blank order form of `kind` as a .docx file.
pub fn blank_docx(kind: FormKind) -> Vec<u8> {
    filled_docx(kind, &[], &[])
}

/// The order form of `kind` with `values` (field code, value as a person would write it)
/// filled in and the `ticked` boxes ticked (change codes from `CHANGES`, or `"til"`/`"fra"`
/// for "Overvågning"). Fields not given, or given an empty value, keep their placeholder.
/// Values for tick-box rows (`changes`, `monitoring`) and for codes that are not on this form
/// are ignored; for a code given twice the first value counts. Used by tests, examples and
/// benchmarks to make forms that go through the real reading pipeline.
pub fn filled_docx(kind: FormKind, values: &[(&str, &str)], ticked: &[&str]) -> Vec<u8> {
    let document = document_xml(kind, values, ticked);
    // Writing fixed part names into memory cannot fail short of a >4 GiB value; an empty
    // result would be read as a damaged file, never as a form.
    package(kind, &document).unwrap_or_default()
}

// ------------------------------------------------------------------------------------ XML

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const W14_NS: &str = "http://schemas.microsoft.com/office/word/2010/wordml";
const MC_NS: &str = "http://schemas.openxmlformats.org/markup-compatibility/2006";

/// Widths in twentieths of a point: A4 with 2 cm margins gives 9638 for the text.
const LABEL_WIDTH: u32 = 3402;
const VALUE_WIDTH: u32 = 6236;

/// First `w:id` of the content controls; any unique numbers do.
const FIRST_SDT_ID: u32 = 0x5D00_0000;

/// Escapes text for XML content and attribute values, dropping characters XML 1.0 forbids
/// (control characters other than tab and line breaks), which no form value needs.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `s` with its first letter in upper case (hints are written to follow a label).
fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The runs that show `text`: line breaks become `w:br`, tabs `w:tab`.
fn runs(text: &str, rpr: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut inner = String::new();
        if i > 0 {
            inner.push_str("<w:br/>");
        }
        for (j, piece) in line.split('\t').enumerate() {
            if j > 0 {
                inner.push_str("<w:tab/>");
            }
            if !piece.is_empty() {
                inner.push_str(&format!(
                    r#"<w:t xml:space="preserve">{}</w:t>"#,
                    esc(piece)
                ));
            }
        }
        out.push_str(&format!("<w:r>{rpr}{inner}</w:r>"));
    }
    out
}

/// A paragraph of one style with the given inline content.
fn para(style: Option<&str>, spacing: Option<(u32, u32)>, inline: &str) -> String {
    let mut ppr = String::new();
    if let Some(s) = style {
        ppr.push_str(&format!(r#"<w:pStyle w:val="{s}"/>"#));
    }
    if let Some((before, after)) = spacing {
        ppr.push_str(&format!(
            r#"<w:spacing w:before="{before}" w:after="{after}"/>"#
        ));
    }
    if ppr.is_empty() {
        format!("<w:p>{inline}</w:p>")
    } else {
        format!("<w:p><w:pPr>{ppr}</w:pPr>{inline}</w:p>")
    }
}

/// Spacing of the paragraphs inside table cells.
const CELL_SPACING: Option<(u32, u32)> = Some((40, 40));

/// Builds `word/document.xml`, numbering the content controls as it goes.
struct Doc {
    body: String,
    next_id: u32,
}

impl Doc {
    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// A plain-text content control tagged `label`, showing `value` or, when there is none,
    /// `placeholder` as Word placeholder text.
    fn text_control(
        &mut self,
        label: &str,
        value: Option<&str>,
        placeholder: &str,
        multi: bool,
    ) -> String {
        let id = self.id();
        let l = esc(label);
        let multi = if multi || value.is_some_and(|v| v.contains('\n')) {
            r#" w:multiLine="1""#
        } else {
            ""
        };
        let (showing, content) = match value {
            Some(v) => ("", runs(v, "")),
            None => (
                "<w:showingPlcHdr/>",
                // The style for Word, direct grey italics for apps that drop the style
                // (LibreOffice 7.4 does).
                runs(
                    placeholder,
                    r#"<w:rPr><w:rStyle w:val="PlaceholderText"/><w:i/><w:color w:val="808080"/></w:rPr>"#,
                ),
            ),
        };
        format!(
            r#"<w:sdt><w:sdtPr><w:alias w:val="{l}"/><w:tag w:val="{l}"/><w:id w:val="{id}"/>{showing}<w:text{multi}/></w:sdtPr><w:sdtContent>{content}</w:sdtContent></w:sdt>"#
        )
    }

    /// A Word 2010 check box control tagged `tag`, followed by the option's text.
    fn check_option(&mut self, tag: &str, text: &str, checked: bool) -> String {
        let id = self.id();
        let t = esc(tag);
        let (val, glyph) = if checked { (1, TICKED) } else { (0, UNTICKED) };
        let font = r#"<w:rFonts w:ascii="MS Gothic" w:eastAsia="MS Gothic" w:hAnsi="MS Gothic" w:hint="eastAsia"/>"#;
        format!(
            r#"<w:sdt><w:sdtPr><w:rPr>{font}</w:rPr><w:alias w:val="{t}"/><w:tag w:val="{t}"/><w:id w:val="{id}"/><w14:checkbox><w14:checked w14:val="{val}"/><w14:checkedState w14:val="2612" w14:font="MS Gothic"/><w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/></w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:rPr>{font}</w:rPr><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>{}"#,
            runs(&format!(" {text}"), "")
        )
    }

    /// One `label | value` row.
    fn row(&mut self, label: &str, value_cell: &str) {
        self.body.push_str(&format!(
            r#"<w:tr><w:trPr><w:cantSplit/></w:trPr><w:tc><w:tcPr><w:tcW w:w="{LABEL_WIDTH}" w:type="dxa"/><w:shd w:val="clear" w:color="auto" w:fill="F2F2F2"/></w:tcPr>{}</w:tc><w:tc><w:tcPr><w:tcW w:w="{VALUE_WIDTH}" w:type="dxa"/></w:tcPr>{value_cell}</w:tc></w:tr>"#,
            para(None, CELL_SPACING, &runs(label, "<w:rPr><w:b/></w:rPr>"))
        ));
    }
}

/// The placeholder text of a field on the blank form: its hint and when it must be filled in.
/// Word marks it as placeholder (read as empty), but apps that drop that mark (LibreOffice 7.4
/// on saving, any PDF export) leave it as plain text, so a reader may compare a value with it.
pub fn placeholder(def: &FieldDef) -> String {
    let hint = capitalise(def.hint);
    match def.required {
        Required::Always => hint,
        Required::Optional => format!("{hint} (valgfrit)"),
        Required::WhenChange(c) => {
            format!("{hint} (udfyldes ved ændring af {})", c.def().danish)
        }
        Required::WhenMonitoringOn => {
            format!("{hint} (udfyldes, når overvågning er slået til)")
        }
    }
}

/// The tick-box options of a field, as (tag, text printed beside the box, code to tick it).
fn options(kind: FormKind, def: &FieldDef) -> Option<Vec<(String, &'static str, &'static str)>> {
    match def.vtype {
        ValueType::Changes => Some(
            CHANGES
                .iter()
                .filter(|c| c.on_forms.contains(&kind))
                .map(|c| (c.label.to_string(), c.label, c.code))
                .collect(),
        ),
        ValueType::Monitoring => Some(
            [("Til", "til"), ("Fra", "fra")]
                .into_iter()
                .map(|(text, code)| (format!("{} {text}", def.label), text, code))
                .collect(),
        ),
        _ => None,
    }
}

/// The instructions printed above the table. Written without colons and without tick marks
/// at the start of a line, so the reader keeps them as free text.
fn instructions(kind: FormKind) -> Vec<String> {
    let mut lines = vec![
        "Udfyld alle felter i tabellen nedenfor. Klik på den grå tekst i et felt og skriv \
         din værdi. Den grå tekst fortæller, hvad feltet skal indeholde. Felter mærket \
         (valgfrit) må stå tomme."
            .to_string(),
        "Sæt kryds ved at klikke i boksen, så den viser ☒. Sæt kun kryds ved det, du bestiller."
            .to_string(),
        "Skriv det BestillingsID, du har fået fra Digitaliseringskataloget, præcis som det står \
         dér."
            .to_string(),
        "Skriv datoer som dag-måned-år og evt. klokkeslæt, fx 14-12-2026 kl. 10.00.".to_string(),
    ];
    if kind == FormKind::Webservice {
        lines.push(
            "Bestiller du et nyt SSL-certifikat, så vedhæft certifikatet som .cer-, .crt- eller \
             .pem-fil i samme mail."
                .to_string(),
        );
    }
    lines.push(
        "Gem formularen som Word-dokument (.docx) og send den som vedhæftet fil i en mail til \
         Helpdesk. Ret ikke i feltnavnene i venstre kolonne."
            .to_string(),
    );
    lines
}

fn document_xml(kind: FormKind, values: &[(&str, &str)], ticked: &[&str]) -> String {
    let mut doc = Doc {
        body: String::new(),
        next_id: FIRST_SDT_ID,
    };
    doc.body
        .push_str(&para(Some("Title"), None, &runs(kind.title(), "")));
    doc.body.push_str(&para(
        Some("Heading2"),
        None,
        &runs("Sådan udfylder du formularen", ""),
    ));
    for line in instructions(kind) {
        doc.body.push_str(&para(None, None, &runs(&line, "")));
    }
    doc.body.push_str(&format!(
        r#"<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="{}" w:type="dxa"/><w:tblLayout w:type="fixed"/><w:tblLook w:val="0000" w:firstRow="0" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" w:noHBand="1" w:noVBand="1"/></w:tblPr><w:tblGrid><w:gridCol w:w="{LABEL_WIDTH}"/><w:gridCol w:w="{VALUE_WIDTH}"/></w:tblGrid>"#,
        LABEL_WIDTH + VALUE_WIDTH
    ));
    let hint_rpr = r#"<w:rPr><w:rStyle w:val="Hint"/></w:rPr>"#;
    for def in fields_for(kind) {
        let cell = match options(kind, def) {
            Some(opts) => {
                let mut cell = String::new();
                for (tag, text, code) in opts {
                    let on = ticked.iter().any(|t| t.trim().eq_ignore_ascii_case(code));
                    let option = doc.check_option(&tag, text, on);
                    cell.push_str(&para(None, CELL_SPACING, &option));
                }
                cell.push_str(&para(
                    None,
                    CELL_SPACING,
                    &runs(&capitalise(def.hint), hint_rpr),
                ));
                cell
            }
            None => {
                let value = values
                    .iter()
                    .find(|(code, _)| *code == def.code)
                    .map(|(_, v)| *v)
                    .filter(|v| !v.trim().is_empty());
                let multi = matches!(def.vtype, ValueType::Text | ValueType::EmailList);
                let control = doc.text_control(def.label, value, &placeholder(def), multi);
                para(None, CELL_SPACING, &control)
            }
        };
        doc.row(def.label, &cell);
    }
    doc.body.push_str("</w:tbl>");
    doc.body.push_str(&para(
        None,
        Some((240, 0)),
        &runs(
            "Tak for din bestilling. Du får en kvittering pr. mail.",
            hint_rpr,
        ),
    ));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W_NS}" xmlns:w14="{W14_NS}" xmlns:mc="{MC_NS}" mc:Ignorable="w14"><w:body>{}<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1134" w:right="1134" w:bottom="1134" w:left="1134" w:header="708" w:footer="708" w:gutter="0"/></w:sectPr></w:body></w:document>"#,
        doc.body
    )
}

// ------------------------------------------------------------------------------------ package

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#;

const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#;

const DOCUMENT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/></Relationships>"#;

/// Word 2013+ mode: without it Word opens the file in compatibility mode, where the Word 2010
/// check box controls are not clickable.
const SETTINGS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:defaultTabStop w:val="1304"/><w:characterSpacingControl w:val="doNotCompress"/><w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat></w:settings>"#;

const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Calibri" w:eastAsia="Calibri" w:hAnsi="Calibri" w:cs="Calibri"/><w:sz w:val="22"/><w:szCs w:val="22"/><w:lang w:val="da-DK" w:eastAsia="en-US" w:bidi="ar-SA"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after="120" w:line="264" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style><w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:spacing w:after="240"/></w:pPr><w:rPr><w:b/><w:color w:val="1F3864"/><w:sz w:val="34"/><w:szCs w:val="34"/></w:rPr></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:keepNext/><w:spacing w:before="240" w:after="120"/><w:outlineLvl w:val="1"/></w:pPr><w:rPr><w:b/><w:color w:val="1F3864"/><w:sz w:val="26"/><w:szCs w:val="26"/></w:rPr></w:style><w:style w:type="character" w:default="1" w:styleId="DefaultParagraphFont"><w:name w:val="Default Paragraph Font"/><w:uiPriority w:val="1"/><w:semiHidden/></w:style><w:style w:type="character" w:styleId="PlaceholderText"><w:name w:val="Placeholder Text"/><w:basedOn w:val="DefaultParagraphFont"/><w:uiPriority w:val="99"/><w:semiHidden/><w:rPr><w:i/><w:color w:val="808080"/></w:rPr></w:style><w:style w:type="character" w:customStyle="1" w:styleId="Hint"><w:name w:val="Hint"/><w:basedOn w:val="DefaultParagraphFont"/><w:rPr><w:i/><w:color w:val="808080"/><w:sz w:val="18"/><w:szCs w:val="18"/></w:rPr></w:style><w:style w:type="table" w:default="1" w:styleId="TableNormal"><w:name w:val="Normal Table"/><w:uiPriority w:val="99"/><w:semiHidden/><w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/><w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style><w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:basedOn w:val="TableNormal"/><w:uiPriority w:val="39"/><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:left w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:right w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="auto"/></w:tblBorders></w:tblPr></w:style></w:styles>"#;

fn core_properties(kind: FormKind) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>{}</dc:title><dc:creator>Serviceplatformen Helpdesk</dc:creator><dc:language>da-DK</dc:language></cp:coreProperties>"#,
        esc(kind.title())
    )
}

/// Zips the parts (deflate, a fixed timestamp, so the same form gives the same bytes).
fn package(kind: FormKind, document: &str) -> zip::result::ZipResult<Vec<u8>> {
    let core = core_properties(kind);
    let parts: [(&str, &str); 7] = [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", PACKAGE_RELS),
        ("docProps/core.xml", &core),
        ("word/document.xml", document),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS),
        ("word/styles.xml", STYLES),
        ("word/settings.xml", SETTINGS),
    ];
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in parts {
        zw.start_file(name, opts)?;
        zw.write_all(data.as_bytes())?;
    }
    Ok(zw.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::fields::Change;
    use crate::forms::form::{OrderForm, Value, interpret};
    use crate::forms::raw::{RawForm, ReadLimits};
    use crate::forms::read::docx::read_docx;
    use crate::rules::finding::Rule;
    use std::collections::BTreeSet;

    fn read(bytes: &[u8]) -> RawForm {
        read_docx(bytes, "attachment:Bestilling.docx", &ReadLimits::default()).unwrap()
    }

    fn form(bytes: &[u8]) -> OrderForm {
        interpret(&read(bytes)).expect("a form")
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| s.to_string()).collect())
    }

    const COMMON: &[(&str, &str)] = &[
        ("bestillings_id", "BD-7731"),
        ("environment", "Produktion"),
        ("desired_at", "14-12-2026 kl. 10.00"),
        ("org_name", "Nordlys Data A/S"),
        ("org_cvr", "39055414"),
        ("contact_name", "Mette Hansen"),
        ("contact_email", "mh@Nordlys.dk"),
        ("contact_phone", "+45 12 34 56 78"),
        ("system_name", "Ydelse"),
        ("system_uuid", "BC4D13DC-D6C9-4F01-A9F1-8630B9C48CB0"),
        ("comment", "Aftalt med Helpdesk i telefonen."),
    ];

    fn common_expected() -> Vec<(&'static str, Value)> {
        vec![
            ("bestillings_id", text("BD-7731")),
            ("environment", text("produktion")),
            ("desired_at", text("2026-12-14T10:00:00+01:00")),
            ("org_name", text("Nordlys Data A/S")),
            ("org_cvr", text("39055414")),
            ("contact_name", text("Mette Hansen")),
            ("contact_email", text("mh@nordlys.dk")),
            ("contact_phone", text("+4512345678")),
            ("system_name", text("Ydelse")),
            ("system_uuid", text("bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0")),
            ("comment", text("Aftalt med Helpdesk i telefonen.")),
        ]
    }

    fn assert_fields(f: &OrderForm, expected: &[(&'static str, Value)]) {
        let got: Vec<(&str, &Value)> = f.fields.iter().map(|(k, v)| (*k, v)).collect();
        let mut want: Vec<(&str, &Value)> = expected.iter().map(|(k, v)| (*k, v)).collect();
        want.sort_by_key(|(k, _)| *k);
        assert_eq!(got, want);
    }

    #[test]
    fn blank_forms_read_back_empty() {
        for kind in FormKind::ALL {
            let bytes = blank_docx(kind);
            let raw = read(&bytes);
            assert!(raw.text.contains(kind.title()), "{}", raw.text);
            // Every field's row is found, each with an empty value.
            for def in fields_for(kind).filter(|d| options(kind, d).is_none()) {
                let found: Vec<_> = raw
                    .entries
                    .iter()
                    .filter(|e| e.label == def.label)
                    .collect();
                assert!(!found.is_empty(), "{} not found", def.label);
                assert!(found.iter().all(|e| e.value.is_empty()), "{found:?}");
            }
            let f = form(&bytes);
            assert_eq!(f.kind, kind);
            let codes: Vec<&str> = f.fields.keys().copied().collect();
            match kind {
                // Nothing ticked on the sftp form means the monitoring change (FORMS.md).
                FormKind::Sftp => assert_eq!(codes, ["changes"]),
                FormKind::Webservice => assert!(codes.is_empty(), "{codes:?}"),
            }
            assert!(f.invalid.is_empty());
            assert!(f.findings.iter().all(|x| x.rule == Rule::FieldMissing));
            let missing: BTreeSet<_> = f.findings.iter().filter_map(|x| x.field).collect();
            assert!(missing.contains("bestillings_id"));
            assert!(missing.contains("environment"));
            assert_eq!(missing.contains("monitoring"), kind == FormKind::Sftp);
            assert_eq!(missing.contains("changes"), kind == FormKind::Webservice);
        }
    }

    #[test]
    fn blank_forms_show_hints_and_every_box() {
        let doc = document_xml(FormKind::Webservice, &[], &[]);
        assert!(doc.contains("<w:showingPlcHdr/>"));
        assert!(doc.contains("Det BestillingsID, du fik fra Digitaliseringskataloget"));
        assert!(doc.contains("Webservicens UUID (valgfrit)"));
        assert!(doc.contains("(udfyldes ved ændring af URL)"));
        let def = crate::forms::fields::field("service_uuid").unwrap();
        assert_eq!(placeholder(def), "Webservicens UUID (valgfrit)");
        for c in [
            "SSL-certifikat",
            "URL",
            "Datatype (InfRef)",
            "Sikkerhedsmodel",
        ] {
            assert!(doc.contains(&format!(r#"<w:tag w:val="{c}"/>"#)), "{c}");
        }
        assert!(!doc.contains("SSH-nøgle"));
        assert!(!doc.contains("w14:val=\"1\""));
        let doc = document_xml(FormKind::Sftp, &[], &[]);
        for tag in [
            "Overvågning af filafhentning",
            "SSH-nøgle",
            "Overvågning Til",
            "Overvågning Fra",
        ] {
            assert!(doc.contains(&format!(r#"<w:tag w:val="{tag}"/>"#)), "{tag}");
        }
        assert!(doc.contains("(udfyldes, når overvågning er slået til)"));
        assert!(!doc.contains("Sikkerhedsmodel"));
    }

    #[test]
    fn blank_forms_are_the_same_every_time() {
        for kind in FormKind::ALL {
            assert_eq!(blank_docx(kind), blank_docx(kind));
        }
        assert_ne!(blank_docx(FormKind::Webservice), blank_docx(FormKind::Sftp));
    }

    #[test]
    fn filled_webservice_form_reads_back_exactly() {
        let mut values = COMMON.to_vec();
        values.extend([
            ("system_role", "Serviceudbydersystem"),
            ("service_name", "YdelseOpslag"),
            ("service_uuid", "33ba20d2-53c8-4a75-885a-d6ff6546e4be"),
            ("current_url", "https://a.example.dk/ws"),
            ("new_url", "https://b.example.dk/ws?v=2&x=1"),
        ]);
        let f = form(&filled_docx(FormKind::Webservice, &values, &["url"]));
        assert_eq!(f.kind, FormKind::Webservice);
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert_eq!(f.changes, BTreeSet::from([Change::Url]));
        let mut want = common_expected();
        want.extend([
            ("system_role", text("serviceudbydersystem")),
            ("service_name", text("YdelseOpslag")),
            ("service_uuid", text("33ba20d2-53c8-4a75-885a-d6ff6546e4be")),
            ("current_url", text("https://a.example.dk/ws")),
            ("new_url", text("https://b.example.dk/ws?v=2&x=1")),
            ("changes", list(&["url"])),
        ]);
        assert_fields(&f, &want);
    }

    #[test]
    fn every_webservice_change_and_field_reads_back() {
        let mut values = COMMON.to_vec();
        values.extend([
            ("system_role", "Serviceudbydersystem"),
            ("service_name", "YdelseOpslag"),
            ("current_url", "https://a.example.dk/ws"),
            ("new_url", "https://b.example.dk/ws"),
            ("certificate", "ny-ydelse.cer"),
            ("certificate_serial", "4A3F0C"),
            ("datatype", "YdelseListeHent_I_v3"),
            ("security_model", "SAML-token"),
        ]);
        let all = ["ssl_certificate", "url", "datatype", "security_model"];
        let f = form(&filled_docx(FormKind::Webservice, &values, &all));
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert_eq!(f.list("changes"), all.map(String::from).to_vec());
        assert_eq!(f.text("certificate"), Some("ny-ydelse.cer"));
        assert_eq!(f.text("certificate_serial"), Some("4A3F0C"));
        assert_eq!(f.text("datatype"), Some("YdelseListeHent_I_v3"));
        assert_eq!(f.text("security_model"), Some("token"));
    }

    #[test]
    fn filled_sftp_form_reads_back_exactly() {
        let mut values = COMMON.to_vec();
        values.extend([
            ("system_role", "Modtagersystem"),
            ("sftp_user", "bd_nordlys"),
            ("pickup_deadline_hours", "24"),
            ("alert_emails", "drift@nordlys.dk, vagt@nordlys.dk"),
        ]);
        let f = form(&filled_docx(
            FormKind::Sftp,
            &values,
            &["monitoring", "til"],
        ));
        assert_eq!(f.kind, FormKind::Sftp);
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert_eq!(f.monitoring, Some(true));
        let mut want = common_expected();
        want.extend([
            ("system_role", text("modtagersystem")),
            ("sftp_user", text("bd_nordlys")),
            ("monitoring", text("on")),
            ("pickup_deadline_hours", Value::Int(24)),
            (
                "alert_emails",
                list(&["drift@nordlys.dk", "vagt@nordlys.dk"]),
            ),
            ("changes", list(&["monitoring"])),
        ]);
        assert_fields(&f, &want);
    }

    #[test]
    fn sftp_ssh_key_and_monitoring_off() {
        let mut values = COMMON.to_vec();
        values.extend([("system_role", "Modtagersystem"), ("sftp_user", "bd_x")]);
        let f = form(&filled_docx(FormKind::Sftp, &values, &["ssh_key", "FRA"]));
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert_eq!(f.changes, BTreeSet::from([Change::SshKey]));
        assert_eq!(f.monitoring, Some(false));
        assert_eq!(f.text("monitoring"), Some("off"));
        // Both Til and Fra ticked is read as what it is: ambiguous.
        let f = form(&filled_docx(FormKind::Sftp, &values, &["til", "fra"]));
        assert!(f.findings.iter().any(|x| x.rule == Rule::FormAmbiguous));
    }

    #[test]
    fn special_characters_survive() {
        let tricky = r#"A & B <C> "D" 'E' ø/å"#;
        let values = [
            ("bestillings_id", "BD-7731"),
            ("org_name", tricky),
            ("comment", "linje 1\nlinje 2\tmed tab"),
            // XML-forbidden control characters are dropped, not written.
            ("contact_name", "Mette\u{1}Hansen"),
        ];
        let bytes = filled_docx(FormKind::Webservice, &values, &[]);
        let raw = read(&bytes);
        let org = raw
            .entries
            .iter()
            .find(|e| e.label == "Organisation")
            .unwrap();
        assert_eq!(org.value, tricky);
        let f = form(&bytes);
        assert_eq!(f.text("org_name"), Some(tricky));
        assert_eq!(f.text("comment"), Some("linje 1 linje 2 med tab"));
        assert_eq!(f.text("contact_name"), Some("MetteHansen"));
        assert!(
            !f.findings.iter().any(|x| x.rule != Rule::FieldMissing),
            "{:?}",
            f.findings
        );
    }

    #[test]
    fn odd_arguments_are_ignored_not_fatal() {
        let values = [
            ("bestillings_id", "BD-7731"),
            ("bestillings_id", "BD-9999"),
            ("environment", "   "),
            ("no_such_field", "x"),
            ("sftp_user", "not on this form"),
            ("changes", "URL"),
        ];
        let bytes = filled_docx(FormKind::Webservice, &values, &["ssh_key", "bogus", ""]);
        let f = form(&bytes);
        assert_eq!(f.text("bestillings_id"), Some("BD-7731"));
        assert!(!f.fields.contains_key("environment"));
        assert!(!f.fields.contains_key("sftp_user"));
        assert!(f.changes.is_empty());
        assert!(
            !read(&bytes)
                .entries
                .iter()
                .any(|e| e.value == "not on this form")
        );
    }

    #[test]
    fn escaping_and_runs() {
        assert_eq!(esc("a&b<c>\"'"), "a&amp;b&lt;c&gt;&quot;&apos;");
        assert_eq!(esc("x\u{0}\u{1f}\u{FFFF}y\tz"), "xy\tz");
        assert_eq!(runs("", ""), "");
        assert_eq!(
            runs("a\tb\nc", ""),
            r#"<w:r><w:t xml:space="preserve">a</w:t><w:tab/><w:t xml:space="preserve">b</w:t></w:r><w:r><w:br/><w:t xml:space="preserve">c</w:t></w:r>"#
        );
        assert_eq!(capitalise("øl"), "Øl");
        assert_eq!(capitalise(""), "");
    }

    #[test]
    fn the_package_has_the_parts_word_needs() {
        let bytes = blank_docx(FormKind::Sftp);
        let zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let names: BTreeSet<&str> = zip.file_names().collect();
        for part in [
            "[Content_Types].xml",
            "_rels/.rels",
            "word/document.xml",
            "word/_rels/document.xml.rels",
            "word/styles.xml",
            "word/settings.xml",
            "docProps/core.xml",
        ] {
            assert!(names.contains(part), "{part}");
        }
        // Every part is well-formed XML.
        let mut zip = zip;
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut f, &mut s).unwrap();
            let mut r = quick_xml::Reader::from_str(&s);
            loop {
                match r.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{}: {e}", f.name()),
                }
            }
        }
    }
}
