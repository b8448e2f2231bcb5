//! A FITS header reader: the header of every HDU (primary and extensions) of a file,
//! read block by block, with the data units skipped by arithmetic, never read.
//!
//! It understands what raw files from observatories carry: fixed- and free-format
//! values (strings with `''` escapes, logicals, integers, floats with `E` or `D`
//! exponents, complex numbers kept as text), long strings continued over `CONTINUE`
//! cards, `HIERARCH` keywords, and tile-compressed images (a binary table whose
//! header holds the image's keys beside the `Z…` ones). A gzip-compressed file
//! (`.fits.gz`) is read through a decompressor. Bad input is an error naming the
//! file, the byte offset and the card; nothing here panics on input.

mod card;
mod header;
pub mod write;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub use card::parse_card;
pub use header::{Header, Value};

/// The size of a FITS block: headers and data units are padded to a multiple of it.
pub const BLOCK: usize = 2880;
/// The size of a header card.
pub const CARD: usize = 80;

/// A failure to read a FITS file, with where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{file}: byte {offset}{}: {message}", card_part(.card))]
pub struct FitsError {
    /// The file (as given).
    pub file: String,
    /// The byte offset in the (uncompressed) stream of the card or block at fault.
    pub offset: u64,
    /// The keyword of the card at fault, when there is one.
    pub card: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl FitsError {
    /// The message without the file's name (for a report that names the file).
    pub fn without_file(&self) -> String {
        format!(
            "byte {}{}: {}",
            self.offset,
            card_part(&self.card),
            self.message
        )
    }
}

fn card_part(card: &Option<String>) -> String {
    match card {
        Some(k) if !k.is_empty() => format!(" (card {k})"),
        _ => String::new(),
    }
}

/// One header-data unit: its header and where its data unit lies.
#[derive(Debug, Clone, PartialEq)]
pub struct Hdu {
    /// The header's keywords and values, in file order.
    pub header: Header,
    /// Byte offset of the header's first block.
    pub header_offset: u64,
    /// Byte offset of the data unit.
    pub data_offset: u64,
    /// Size of the data unit without its padding.
    pub data_size: u64,
}

impl Hdu {
    /// Whether this HDU holds a tile-compressed image (`ZIMAGE = T`).
    pub fn is_compressed_image(&self) -> bool {
        self.header.get_bool("ZIMAGE") == Some(true)
    }
}

/// A byte source that can skip forward: a seekable file, or a decompressed stream.
trait Source {
    fn read_block(&mut self, buf: &mut [u8; BLOCK]) -> std::io::Result<usize>;
    fn skip(&mut self, n: u64) -> std::io::Result<u64>;
}

/// Fill `buf` as far as the source allows; the count read (less than a block at the
/// end of the input).
fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct Seekable {
    file: File,
    len: u64,
    pos: u64,
}

impl Source for Seekable {
    fn read_block(&mut self, buf: &mut [u8; BLOCK]) -> std::io::Result<usize> {
        let n = fill(&mut self.file, buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> std::io::Result<u64> {
        let to = (self.pos + n).min(self.len);
        self.file.seek(SeekFrom::Start(to))?;
        let skipped = to - self.pos;
        self.pos = to;
        Ok(skipped)
    }
}

struct Stream<R: Read>(R);

impl<R: Read> Source for Stream<R> {
    fn read_block(&mut self, buf: &mut [u8; BLOCK]) -> std::io::Result<usize> {
        fill(&mut self.0, buf)
    }

    fn skip(&mut self, n: u64) -> std::io::Result<u64> {
        std::io::copy(&mut (&mut self.0).take(n), &mut std::io::sink())
    }
}

/// Read the headers of every HDU of the FITS file at `path` (plain, or gzip-compressed).
pub fn read_headers(path: &Path) -> Result<Vec<Hdu>, FitsError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| FitsError {
        file: name.clone(),
        offset: 0,
        card: None,
        message: e.to_string(),
    };
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = fill(&mut file, &mut magic).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        return read_from(&mut Stream(decoder), &name, None);
    }
    let len = file.metadata().map_err(io)?.len();
    read_from(&mut Seekable { file, len, pos: 0 }, &name, Some(len))
}

/// Read the headers of every HDU from a stream that holds a FITS file; `name` names
/// it in errors.
pub fn read_headers_from<R: Read>(reader: R, name: &str) -> Result<Vec<Hdu>, FitsError> {
    read_from(&mut Stream(reader), name, None)
}

fn read_from(src: &mut dyn Source, name: &str, len: Option<u64>) -> Result<Vec<Hdu>, FitsError> {
    let err = |offset: u64, card: Option<&str>, message: String| FitsError {
        file: name.to_owned(),
        offset,
        card: card.map(str::to_owned),
        message,
    };
    let mut hdus = Vec::new();
    let mut offset = 0u64;
    let mut block = [0u8; BLOCK];
    loop {
        let header_offset = offset;
        let mut cards: Vec<(u64, [u8; CARD])> = Vec::new();
        let mut ended = false;
        while !ended {
            let n = src
                .read_block(&mut block)
                .map_err(|e| err(offset, None, e.to_string()))?;
            if n == 0 && cards.is_empty() && !hdus.is_empty() {
                return Ok(hdus);
            }
            if n < BLOCK {
                let what = if hdus.is_empty() && cards.is_empty() {
                    "not a FITS file: shorter than one 2880-byte block".to_owned()
                } else {
                    format!("the file ends inside a header block ({n} of {BLOCK} bytes) before its END card")
                };
                // Trailing bytes after the last HDU that are not a header: tolerated
                // only when they are padding (all zero or blank).
                if !hdus.is_empty()
                    && cards.is_empty()
                    && block[..n].iter().all(|b| *b == 0 || *b == b' ')
                {
                    return Ok(hdus);
                }
                return Err(err(offset, None, what));
            }
            for (i, chunk) in block.chunks_exact(CARD).enumerate() {
                let at = offset + (i * CARD) as u64;
                if cards.is_empty() && i == 0 {
                    let first = &chunk[..8];
                    let expected: &[u8] = if hdus.is_empty() {
                        b"SIMPLE  "
                    } else {
                        b"XTENSION"
                    };
                    if first != expected {
                        if !hdus.is_empty() && chunk.iter().all(|b| *b == 0 || *b == b' ') {
                            // Zero padding after the last HDU.
                            return Ok(hdus);
                        }
                        return Err(err(
                            at,
                            None,
                            format!(
                                "expected a {} card here, found {:?}",
                                String::from_utf8_lossy(expected).trim(),
                                String::from_utf8_lossy(first).trim()
                            ),
                        ));
                    }
                }
                if &chunk[..8] == b"END     " && chunk[8..].iter().all(|b| *b == b' ') {
                    ended = true;
                    break;
                }
                let mut card = [0u8; CARD];
                card.copy_from_slice(chunk);
                cards.push((at, card));
            }
            offset += BLOCK as u64;
        }
        let header = Header::from_cards(&cards).map_err(|(at, key, m)| err(at, Some(&key), m))?;
        let data_size = data_size(&header).map_err(|(key, m)| err(header_offset, Some(&key), m))?;
        let padded = data_size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let data_offset = offset;
        if let Some(len) = len {
            if data_offset + data_size > len {
                return Err(err(
                    data_offset,
                    None,
                    format!(
                        "truncated: HDU {} declares a {data_size}-byte data unit but the file ends {} bytes into it",
                        hdus.len(),
                        len - data_offset
                    ),
                ));
            }
        }
        let skipped = src
            .skip(padded)
            .map_err(|e| err(data_offset, None, e.to_string()))?;
        if skipped < data_size {
            return Err(err(
                data_offset + skipped,
                None,
                format!(
                    "truncated: HDU {} declares a {data_size}-byte data unit but the input ends {skipped} bytes into it",
                    hdus.len()
                ),
            ));
        }
        offset += skipped;
        hdus.push(Hdu {
            header,
            header_offset,
            data_offset,
            data_size,
        });
        if skipped < padded {
            // The last data unit lacks its padding: tolerated, nothing follows.
            return Ok(hdus);
        }
    }
}

/// The size in bytes of the data unit a header declares (without padding):
/// |BITPIX|/8 × GCOUNT × (PCOUNT + NAXIS1 × … × NAXISn), NAXIS1 left out for random
/// groups (NAXIS1 = 0 in a primary HDU with GROUPS = T).
pub fn data_size(h: &Header) -> Result<u64, (String, String)> {
    let int = |k: &str| -> Result<Option<i64>, (String, String)> {
        match h.get(k) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(v) => Err((k.to_owned(), format!("{k} must be an integer, not {v}"))),
        }
    };
    let bitpix =
        int("BITPIX")?.ok_or_else(|| ("BITPIX".to_owned(), "no BITPIX card".to_owned()))?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err((
            "BITPIX".into(),
            format!("BITPIX {bitpix} is not a FITS value"),
        ));
    }
    let naxis = int("NAXIS")?.ok_or_else(|| ("NAXIS".to_owned(), "no NAXIS card".to_owned()))?;
    if !(0..=999).contains(&naxis) {
        return Err(("NAXIS".into(), format!("NAXIS {naxis} is out of range")));
    }
    if naxis == 0 {
        return Ok(0);
    }
    let groups = h.get_bool("GROUPS") == Some(true);
    let mut product: u64 = 1;
    for i in 1..=naxis {
        let key = format!("NAXIS{i}");
        let n = int(&key)?.ok_or_else(|| (key.clone(), format!("no {key} card")))?;
        if n < 0 {
            return Err((key.clone(), format!("{key} {n} is negative")));
        }
        if i == 1 && groups && n == 0 {
            continue;
        }
        product = product
            .checked_mul(n as u64)
            .ok_or_else(|| (key.clone(), "the data unit size overflows".to_owned()))?;
    }
    let pcount = int("PCOUNT")?.unwrap_or(0);
    let gcount = int("GCOUNT")?.unwrap_or(1);
    if pcount < 0 || gcount < 0 {
        return Err((
            "PCOUNT".into(),
            "PCOUNT and GCOUNT must not be negative".into(),
        ));
    }
    (bitpix.unsigned_abs() / 8)
        .checked_mul(gcount as u64)
        .and_then(|x| x.checked_mul(product.checked_add(pcount as u64)?))
        .ok_or_else(|| {
            (
                "NAXIS".to_owned(),
                "the data unit size overflows".to_owned(),
            )
        })
}
