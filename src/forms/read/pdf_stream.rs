//! Decoding PDF streams under one byte budget for the whole document.
//!
//! lopdf's `decompressed_content()` inflates without a bound (a 1.4 KB stream reached 1.1 GB,
//! and a double FlateDecode tried to allocate 16 GB), so every stream the PDF reader decodes
//! (page contents, form XObjects, ToUnicode maps, object streams) goes through an
//! [`Inflater`]: it stops as soon as the document's budget is spent, and refuses filter
//! chains no real PDF needs (more than 2 filters, or more than one inflating filter).

use std::io::Write;

use lopdf::{Object, Stream};

use crate::forms::raw::ReadError;

/// Most filters in one stream's chain ([/ASCII85Decode /FlateDecode] is the longest real use).
const MAX_FILTERS: usize = 2;

/// The inflation budget of one document.
#[derive(Debug)]
pub(crate) struct Inflater {
    limit: u64,
    used: u64,
    /// Set once a stream was refused for the budget or its filters: the document is refused.
    pub(crate) refused: Option<String>,
}

impl Inflater {
    pub(crate) fn new(limit: u64) -> Self {
        Inflater {
            limit,
            used: 0,
            refused: None,
        }
    }

    /// The decoded bytes of `stream`. `Err` for a stream that cannot be decoded (an image
    /// filter, a broken filter list) and for one that is over the budget or the filter rules;
    /// the latter also sets [`Inflater::refused`].
    pub(crate) fn decode(&mut self, stream: &Stream) -> Result<Vec<u8>, ReadError> {
        if let Some(why) = &self.refused {
            return Err(ReadError::Limit(why.clone()));
        }
        let filters: Vec<Vec<u8>> = match stream.dict.get(b"Filter") {
            Err(_) => return Ok(stream.content.clone()),
            Ok(Object::Name(n)) => vec![n.clone()],
            Ok(Object::Array(a)) => a
                .iter()
                .map(|o| o.as_name().map(<[u8]>::to_vec))
                .collect::<Result<_, _>>()
                .map_err(|_| ReadError::Damaged("a stream's /Filter is not a name".into()))?,
            Ok(_) => return Err(ReadError::Damaged("a stream's /Filter is broken".into())),
        };
        self.check_chain(&filters)?;
        let params = stream
            .dict
            .get(b"DecodeParms")
            .ok()
            .and_then(|p| p.as_dict().ok());
        let mut data = stream.content.clone();
        for f in &filters {
            data = self.apply_filter(f, data, params)?;
        }
        Ok(data)
    }

    /// Refuses a filter chain no real PDF needs: more than [`MAX_FILTERS`] filters, or more
    /// than one inflating filter (each can multiply the bytes a thousandfold).
    fn check_chain(&mut self, filters: &[Vec<u8>]) -> Result<(), ReadError> {
        let inflating = filters
            .iter()
            .filter(|f| matches!(f.as_slice(), b"FlateDecode" | b"Fl" | b"LZWDecode" | b"LZW"))
            .count();
        if filters.len() > MAX_FILTERS || inflating > 1 {
            return Err(self.refuse(format!(
                "a stream of the PDF has the filter chain {} (more than real PDFs use)",
                filters
                    .iter()
                    .map(|f| format!("/{}", String::from_utf8_lossy(f)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        Ok(())
    }

    /// Decodes `data` through one filter, charging what it yields to the budget.
    fn apply_filter(
        &mut self,
        filter: &[u8],
        mut data: Vec<u8>,
        params: Option<&lopdf::Dictionary>,
    ) -> Result<Vec<u8>, ReadError> {
        Ok(match filter {
            b"FlateDecode" | b"Fl" => {
                let inflated = self.bounded(|w| {
                    let mut z = flate2::read::ZlibDecoder::new(data.as_slice());
                    // A truncated or damaged stream gives what was decoded before the damage,
                    // as lopdf does.
                    let _ = std::io::copy(&mut z, w);
                })?;
                match params {
                    Some(p) => png_predictor(inflated, p)?,
                    None => inflated,
                }
            }
            b"LZWDecode" | b"LZW" => {
                let early = params
                    .and_then(|p| p.get(b"EarlyChange").ok())
                    .and_then(|o| o.as_i64().ok())
                    .is_none_or(|v| v != 0);
                self.bounded(|w| {
                    let mut d = if early {
                        weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                    } else {
                        weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8)
                    };
                    let _ = d.into_stream(w).decode_all(data.as_slice());
                })?
            }
            b"ASCII85Decode" | b"A85" => {
                // Never larger than 5/4 of the input ("z" aside: 4 bytes per input byte).
                let plain = Stream::new(
                    lopdf::dictionary! { "Filter" => "ASCII85Decode" },
                    std::mem::take(&mut data),
                );
                let out = plain.decompressed_content().unwrap_or_default();
                self.charge(out.len() as u64)?;
                out
            }
            other => {
                return Err(ReadError::Unreadable(format!(
                    "a stream of the PDF uses the filter /{}",
                    String::from_utf8_lossy(other)
                )));
            }
        })
    }

    /// Runs `decode` into a buffer that takes no more than what is left of the budget.
    fn bounded(&mut self, decode: impl FnOnce(&mut Capped)) -> Result<Vec<u8>, ReadError> {
        let mut out = Capped {
            buf: Vec::new(),
            room: self.limit.saturating_sub(self.used),
            over: false,
        };
        decode(&mut out);
        if out.over {
            return Err(self.refuse(self.over_message()));
        }
        self.used = self.used.saturating_add(out.buf.len() as u64);
        Ok(out.buf)
    }

    fn charge(&mut self, n: u64) -> Result<(), ReadError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            return Err(self.refuse(self.over_message()));
        }
        Ok(())
    }

    fn over_message(&self) -> String {
        format!(
            "the PDF's streams inflate to more than the limit of {} bytes",
            self.limit
        )
    }

    fn refuse(&mut self, why: String) -> ReadError {
        self.refused = Some(why.clone());
        ReadError::Limit(why)
    }
}

/// A writer that keeps at most `room` bytes and fails after that, so a decoder stops early.
struct Capped {
    buf: Vec<u8>,
    room: u64,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let left = self.room.saturating_sub(self.buf.len() as u64);
        if data.len() as u64 > left {
            self.over = true;
            return Err(std::io::Error::other("inflation budget spent"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Undoes a PNG predictor (`/Predictor` 10-15), which object and xref streams use; the output
/// is never larger than the input.
fn png_predictor(data: Vec<u8>, params: &lopdf::Dictionary) -> Result<Vec<u8>, ReadError> {
    let get = |k: &[u8], d: i64| params.get(k).and_then(Object::as_i64).unwrap_or(d);
    let predictor = get(b"Predictor", 1);
    if !(10..=15).contains(&predictor) {
        return Ok(data);
    }
    let columns = usize::try_from(get(b"Columns", 1).clamp(1, 1 << 20)).unwrap_or(1);
    let colors = usize::try_from(get(b"Colors", 1).clamp(1, 32)).unwrap_or(1);
    let bits = usize::try_from(get(b"BitsPerComponent", 8).clamp(8, 16)).unwrap_or(8);
    lopdf::filters::png::decode_frame(&data, colors * bits / 8, columns)
        .map_err(|e| ReadError::Damaged(format!("a stream's predictor data is broken: {e}")))
}
