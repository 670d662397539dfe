//! RFC 2047 encoded words split in the middle of a character. RFC 2047 wants every encoded
//! word to decode on its own, but real mailers split long subjects wherever the line ends: a
//! UTF-8 character's bytes over two words, or ISO-2022-JP text whose escape into JIS X 0208
//! is in the first word and its characters in the next. Decoded word by word (as mail-parser
//! does), the first comes out as U+FFFD, the second as ASCII mojibake ("%O%m!<"). Adjacent
//! words of one charset are therefore joined as bytes and decoded together here; for words
//! that do decode on their own that gives the same text.

use super::Encoding;

/// A piece of a header value: text as it stands, or an encoded word's decoded bytes.
enum Piece<'a> {
    Text(&'a str),
    Word { charset: String, bytes: Vec<u8> },
}

/// `value` (one unfolded header value, UTF-8) decoded with adjacent encoded words of one
/// charset joined; `None` when no two such words are adjacent (mail-parser's reading
/// stands) or a charset is one encoding_rs does not know.
pub(super) fn joined(value: &str) -> Option<String> {
    let pieces = pieces(value);
    let mut out = String::new();
    let mut joined_any = false;
    let mut after_word = false;
    let mut i = 0;
    while let Some(piece) = pieces.get(i) {
        i += 1;
        let (charset, first) = match piece {
            Piece::Text(t) => {
                // White space between encoded words is not part of the text (RFC 2047 6.2).
                let between_words = after_word
                    && t.trim().is_empty()
                    && matches!(pieces.get(i), Some(Piece::Word { .. }));
                if !between_words {
                    out.push_str(t);
                }
                after_word = false;
                continue;
            }
            Piece::Word { charset, bytes } => (charset, bytes),
        };
        after_word = true;
        let mut bytes = first.clone();
        while let Some(next) = next_word_of(&pieces, i, charset) {
            bytes.extend_from_slice(next.1);
            i = next.0;
            joined_any = true;
        }
        let encoding = encoding_rs::Encoding::for_label(charset.as_bytes())?;
        out.push_str(&encoding.decode_without_bom_handling(&bytes).0);
    }
    joined_any.then_some(out)
}

/// The index after the encoded word in `charset` that follows at `i` (after white space
/// only), and its bytes.
fn next_word_of<'p>(pieces: &'p [Piece<'_>], i: usize, charset: &str) -> Option<(usize, &'p [u8])> {
    let (skip, at) = match pieces.get(i)? {
        Piece::Text(t) if t.trim().is_empty() => (1, pieces.get(i + 1)?),
        other => (0, other),
    };
    match at {
        Piece::Word { charset: c, bytes } if c == charset => Some((i + skip + 1, bytes)),
        _ => None,
    }
}

/// Splits `value` into text and encoded words (`=?charset?B|Q?text?=`).
fn pieces(value: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let Some((word, len)) = rest.get(start..).and_then(encoded_word) else {
            out.push(Piece::Text(rest.get(..start + 2).unwrap_or(rest)));
            rest = rest.get(start + 2..).unwrap_or("");
            continue;
        };
        if start > 0 {
            out.push(Piece::Text(rest.get(..start).unwrap_or("")));
        }
        out.push(word);
        rest = rest.get(start + len..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The encoded word at the start of `s` and its length in bytes.
fn encoded_word(s: &str) -> Option<(Piece<'static>, usize)> {
    let body = s.strip_prefix("=?")?;
    let mut parts = body.splitn(3, '?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let tail = parts.next()?;
    let end = tail.find("?=")?;
    let text = tail.get(..end)?;
    if charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231: `charset*language`.
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    let bytes = match encoding {
        "B" | "b" => Encoding::Base64.decode(text.as_bytes()),
        "Q" | "q" => Encoding::QuotedPrintable.decode(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    let len = 2 + charset_len(body) + 1 + encoding.len() + 1 + end + 2;
    Some((Piece::Word { charset, bytes }, len))
}

/// The length of the charset (with its language) at the start of an encoded word's body.
fn charset_len(body: &str) -> usize {
    body.find('?').unwrap_or(body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_inside_a_character_are_joined() {
        // ISO-2022-JP: the escape in the first word, its characters in the second.
        assert_eq!(
            joined("=?ISO-2022-JP?B?GyRCJU8lbSE8?= =?ISO-2022-JP?B?ISYlbyE8JWslSRsoQg==?="),
            Some("ハロー・ワールド".to_string())
        );
        // UTF-8: "æ" split over two words, text around them kept.
        assert_eq!(
            joined("Re: =?utf-8?B?QmVzdGlsbGluZyDD?=\r\n =?UTF-8?B?pm5kcmluZw==?= [x]"),
            Some("Re: Bestilling ændring [x]".to_string())
        );
        assert_eq!(
            joined("=?utf-8?Q?Bestilling_=C3?= =?utf-8?Q?=A6ndring?="),
            Some("Bestilling ændring".to_string())
        );
    }

    #[test]
    fn single_words_and_other_charsets_are_left_to_mail_parser() {
        assert_eq!(joined("=?utf-8?Q?Bestilling_=C3=A6ndring?="), None);
        assert_eq!(joined("=?utf-8?Q?a?= =?iso-8859-1?Q?b?="), None);
        assert_eq!(joined("Bestilling =?"), None);
        assert_eq!(joined("=?x-unknown?Q?a?= =?x-unknown?Q?b?="), None);
        // Malformed words are text; nothing panics on cut-off input.
        for s in [
            "=?",
            "=?utf-8",
            "=?utf-8?B",
            "=?utf-8?B?",
            "=?utf-8?X?a?= =?utf-8?X?b?=",
            "=?æ?B?w6Y=?= =?æ?B?w6Y=?=",
        ] {
            assert_eq!(joined(s), None, "{s}");
        }
    }
}
