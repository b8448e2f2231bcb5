//! Parsing helpers shared by commands: data IDs, times, collection lists.

use valet::registry::timespan::{parse_tai_iso, parse_utc_iso};
use valet::{DataId, RegistryError, Timespan, Value};

/// Split repeated and comma-separated values (`-c a,b -c c` → `[a, b, c]`).
pub fn split_commas(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parse `k=v` pairs into a data ID; numbers become integers.
pub fn parse_data_id(pairs: &[String]) -> Result<DataId, RegistryError> {
    let mut out = DataId::new();
    for p in split_commas(pairs) {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            RegistryError::Invalid(format!("--data-id {p:?}: expected DIMENSION=VALUE"))
        })?;
        let value = match v.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Text(v.trim().to_owned()),
        };
        out.insert(k.trim().to_owned(), value);
    }
    Ok(out)
}

/// Parse an ISO time in UTC (used for `--as-of`) to nanoseconds since 1970.
pub fn parse_utc(text: &str) -> Result<i64, RegistryError> {
    parse_utc_iso(text.trim_end_matches('Z'))
}

/// `--as-of` as UTC nanoseconds.
pub fn as_of(text: &Option<String>) -> Result<Option<i64>, RegistryError> {
    text.as_deref().map(parse_utc).transpose()
}

/// A validity range from optional ISO TAI begin and end dates; a begin after the end
/// is refused.
pub fn timespan(begin: &Option<String>, end: &Option<String>) -> Result<Timespan, RegistryError> {
    let b = begin.as_deref().map(parse_tai_iso).transpose()?;
    let e = end.as_deref().map(parse_tai_iso).transpose()?;
    Timespan::checked(b, e)
}
