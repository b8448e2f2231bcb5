//! One 80-character header card: its keyword and value.

use crate::header::Value;

/// What a card holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Card {
    /// A keyword with a value (`KEY     = value / comment`, or `HIERARCH A B = value`).
    Keyword(String, Value),
    /// A `CONTINUE` card: the next piece of a long string.
    Continue(String),
    /// `COMMENT`, `HISTORY`, blank keywords and other cards without a value.
    Commentary,
}

/// Parse one card (80 bytes; a shorter slice is read as if blank-padded). The error
/// says what is wrong with it.
pub fn parse_card(bytes: &[u8]) -> Result<Card, String> {
    if let Some(b) = bytes.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
        return Err(format!("byte 0x{b:02x} is not printable ASCII"));
    }
    // Checked above: every byte is printable ASCII.
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    if let Some(rest) = text.strip_prefix("HIERARCH ") {
        let Some((key, value)) = rest.split_once('=') else {
            return Ok(Card::Commentary);
        };
        let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
        if key.is_empty() {
            return Err("HIERARCH card without a keyword".into());
        }
        return Ok(Card::Keyword(key, parse_value(value)?));
    }
    let key = text.get(..8).unwrap_or(text).trim_end();
    if key == "CONTINUE" {
        return Ok(match parse_value(text.get(8..).unwrap_or(""))? {
            Value::Str(s) => Card::Continue(s),
            _ => Card::Commentary,
        });
    }
    if key.is_empty() || key == "COMMENT" || key == "HISTORY" || text.get(8..10) != Some("= ") {
        return Ok(Card::Commentary);
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "keyword {key:?} holds {c:?}, which FITS keywords may not"
        ));
    }
    Ok(Card::Keyword(key.to_owned(), parse_value(&text[10..])?))
}

/// Parse the value field of a card (what follows `= `), comment and all.
fn parse_value(field: &str) -> Result<Value, String> {
    let s = field.trim_start();
    if s.is_empty() || s.starts_with('/') {
        return Ok(Value::Undefined);
    }
    if let Some(body) = s.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = body.chars().peekable();
        loop {
            match chars.next() {
                None => return Err(format!("string value {s:?} has no closing quote")),
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    out.push('\'');
                }
                Some('\'') => break,
                Some(c) => out.push(c),
            }
        }
        let rest: String = chars.collect();
        let rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(format!("unexpected text {rest:?} after a string value"));
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        return Ok(Value::Str(out));
    }
    let token = s.split('/').next().unwrap_or("").trim();
    if token.starts_with('(') {
        return Ok(Value::Complex(token.to_owned()));
    }
    match token {
        "T" => return Ok(Value::Bool(true)),
        "F" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(i) = token.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    let float = token.replace(['D', 'd'], "E");
    if float
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'E' | 'e'))
    {
        if let Ok(f) = float.parse::<f64>() {
            return Ok(Value::Float(f));
        }
    }
    Err(format!("cannot read value {token:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> String {
        format!("{s:<80}")
    }

    fn value(s: &str) -> Value {
        match parse_card(card(s).as_bytes()) {
            Ok(Card::Keyword(_, v)) => v,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn typed_values() {
        assert_eq!(
            value("NAXIS   =                    2 / axes"),
            Value::Int(2)
        );
        assert_eq!(value("SIMPLE  =                    T"), Value::Bool(true));
        assert_eq!(
            value("FLAG    =                    F / no"),
            Value::Bool(false)
        );
        assert_eq!(value("EXPTIME =                 30.5"), Value::Float(30.5));
        assert_eq!(value("BIG     =            1.25D+03"), Value::Float(1250.0));
        assert_eq!(
            value("SMALL   =              -2.5e-3"),
            Value::Float(-0.0025)
        );
        assert_eq!(value("DOT     =                   1."), Value::Float(1.0));
        assert_eq!(
            value("HUGE    = 123456789012345678901234"),
            Value::Float(1.2345678901234568e23)
        );
        assert_eq!(
            value("Z       =           (1.0, 2.0)"),
            Value::Complex("(1.0, 2.0)".into())
        );
        assert_eq!(
            value("UNDEF   =                      / nothing"),
            Value::Undefined
        );
        assert_eq!(
            value("OBJECT  = 'M31 ''core''  '  / it's"),
            Value::Str("M31 'core'".into())
        );
        assert_eq!(value("LEAD    = '  x'"), Value::Str("  x".into()));
        assert_eq!(value("EMPTY   = ''"), Value::Str(String::new()));
        assert_eq!(value("SLASH   = 'a/b' / c"), Value::Str("a/b".into()));
    }

    #[test]
    fn hierarch_and_commentary() {
        assert_eq!(
            parse_card(card("HIERARCH ESO DET  CHIP = 'CCD-44' / name").as_bytes()),
            Ok(Card::Keyword(
                "ESO DET CHIP".into(),
                Value::Str("CCD-44".into())
            ))
        );
        assert_eq!(
            parse_card(card("COMMENT = not a value").as_bytes()),
            Ok(Card::Commentary)
        );
        assert_eq!(
            parse_card(card("HISTORY done").as_bytes()),
            Ok(Card::Commentary)
        );
        assert_eq!(parse_card(card("").as_bytes()), Ok(Card::Commentary));
        assert_eq!(
            parse_card(card("NOVALUE  x").as_bytes()),
            Ok(Card::Commentary)
        );
        assert_eq!(
            parse_card(card("CONTINUE  'more&'").as_bytes()),
            Ok(Card::Continue("more&".into()))
        );
    }

    #[test]
    fn bad_cards_are_errors() {
        assert!(parse_card(card("OBJECT  = 'open").as_bytes())
            .unwrap_err()
            .contains("closing quote"));
        assert!(parse_card(card("X       = 12abc").as_bytes())
            .unwrap_err()
            .contains("12abc"));
        assert!(parse_card(card("x       = 1").as_bytes())
            .unwrap_err()
            .contains("keyword"));
        let mut bytes = card("A       = 1").into_bytes();
        bytes[20] = 0xff;
        assert!(parse_card(&bytes).unwrap_err().contains("0xff"));
        assert!(parse_card(card("X       = 'a' junk").as_bytes()).is_err());
    }
}
