//! Writing small FITS files: headers (with `CONTINUE` and `HIERARCH` where needed)
//! and data units given as bytes, and binary tables of one text column. For test
//! data, samples and small products (region lists), not for science images.

use std::io::Write;

use crate::header::{Header, Value};
use crate::{BLOCK, CARD};

/// The cards of a keyword and value: one, or several for a long string.
fn cards(key: &str, value: &Value) -> Vec<String> {
    // Commentary keywords hold bare text, 72 characters a card.
    if let ("HISTORY" | "COMMENT", Value::Str(text)) = (key, value) {
        let chars: Vec<char> = text.chars().collect();
        return chars
            .chunks(CARD - 8)
            .map(|piece| format!("{key:<8}{}", piece.iter().collect::<String>()))
            .collect();
    }
    let hierarch =
        key.len() > 8 || key.contains(' ') || key.chars().any(|c| c.is_ascii_lowercase());
    let prefix = if hierarch {
        format!("HIERARCH {key} = ")
    } else {
        format!("{key:<8}= ")
    };
    let fixed = |text: String| format!("{prefix}{text:>20}");
    match value {
        Value::Str(s) => {
            let escaped = s.replace('\'', "''");
            let room = CARD - prefix.len() - 2;
            if escaped.len() <= room {
                return vec![format!("{prefix}'{escaped:<8}'")];
            }
            // Long string: pieces ending in `&`, continued on CONTINUE cards. Pieces
            // never split an escaped quote.
            let mut out = Vec::new();
            let mut rest = escaped.as_str();
            let mut first = true;
            while !rest.is_empty() {
                let room = if first {
                    CARD - prefix.len() - 3
                } else {
                    CARD - 13
                };
                let mut cut = rest.len().min(room);
                while rest[..cut].ends_with('\'') && rest[..cut].matches('\'').count() % 2 == 1 {
                    cut -= 1;
                }
                let (piece, tail) = rest.split_at(cut);
                let amp = if tail.is_empty() { "" } else { "&" };
                out.push(if first {
                    format!("{prefix}'{piece}{amp}'")
                } else {
                    format!("CONTINUE  '{piece}{amp}'")
                });
                first = false;
                rest = tail;
            }
            out
        }
        Value::Bool(b) => vec![fixed(if *b { "T" } else { "F" }.into())],
        Value::Int(i) => vec![fixed(i.to_string())],
        Value::Float(x) => {
            let mut t = format!("{x:?}").to_ascii_uppercase();
            if !t.contains(['.', 'E']) {
                t.push('.');
            }
            vec![fixed(t)]
        }
        Value::Complex(c) => vec![fixed(c.clone())],
        Value::Undefined => vec![prefix],
    }
}

/// The bytes of a header: its cards, `END`, blank padding to a whole block.
pub fn header_bytes(header: &Header) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in header.iter() {
        for c in cards(k, v) {
            let c: String = c.chars().take(CARD).collect();
            out.extend_from_slice(format!("{c:<80}").as_bytes());
        }
    }
    out.extend_from_slice(format!("{:<80}", "END").as_bytes());
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
    out
}

/// Write HDUs (header, data unit bytes) as a FITS file; each data unit is padded
/// with zeros to a whole block. The headers must describe their data units.
pub fn write_hdus<W: Write>(out: &mut W, hdus: &[(&Header, &[u8])]) -> std::io::Result<()> {
    for (header, data) in hdus {
        out.write_all(&header_bytes(header))?;
        out.write_all(data)?;
        let pad = data.len().div_ceil(BLOCK) * BLOCK - data.len();
        out.write_all(&vec![0u8; pad])?;
    }
    Ok(())
}

/// The header of an empty primary HDU that announces extensions.
pub fn empty_primary() -> Header {
    let mut h = Header::new();
    h.push("SIMPLE", Value::Bool(true));
    h.push("BITPIX", Value::Int(8));
    h.push("NAXIS", Value::Int(0));
    h.push("EXTEND", Value::Bool(true));
    h
}

/// A binary table of one text column named `column` (`TFORM1 = 'wA'`, `w` the
/// longest value's length in bytes, at least 1; shorter values end in NULs, as the
/// standard asks): its header, to which the caller may add cards, and its data.
pub fn text_column_table(column: &str, values: &[String]) -> (Header, Vec<u8>) {
    let width = values.iter().map(String::len).max().unwrap_or(0).max(1);
    let mut h = Header::new();
    h.push("XTENSION", Value::Str("BINTABLE".into()));
    h.push("BITPIX", Value::Int(8));
    h.push("NAXIS", Value::Int(2));
    h.push("NAXIS1", Value::Int(width as i64));
    h.push("NAXIS2", Value::Int(values.len() as i64));
    h.push("PCOUNT", Value::Int(0));
    h.push("GCOUNT", Value::Int(1));
    h.push("TFIELDS", Value::Int(1));
    h.push("TTYPE1", Value::Str(column.into()));
    h.push("TFORM1", Value::Str(format!("{width}A")));
    let mut data = Vec::with_capacity(width * values.len());
    for v in values {
        data.extend_from_slice(v.as_bytes());
        data.resize(data.len() + width - v.len(), 0);
    }
    (h, data)
}
