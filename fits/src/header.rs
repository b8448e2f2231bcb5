//! A header: keywords and typed values in file order.

use std::collections::HashMap;

use crate::card::{parse_card, Card};
use crate::CARD;

/// A header value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A character string (`''` unescaped, trailing blanks removed, `CONTINUE`d
    /// pieces joined).
    Str(String),
    /// A logical (`T` / `F`).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (`D` exponents accepted; integers beyond 64 bits too).
    Float(f64),
    /// A complex number, kept as written: `(re, im)`.
    Complex(String),
    /// No value (`KEY     =` with nothing after it).
    Undefined,
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{}", if *b { "T" } else { "F" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Complex(c) => write!(f, "{c}"),
            Value::Undefined => write!(f, "(undefined)"),
        }
    }
}

impl Value {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The value as text: strings as they are, numbers and logicals written out.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Undefined => None,
            Value::Bool(b) => Some(if *b { "T" } else { "F" }.to_owned()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(x) => Some(x.to_string()),
            Value::Complex(c) => Some(c.clone()),
        }
    }
}

/// A header's keywords and values in file order. Commentary cards (`COMMENT`,
/// `HISTORY`, blank keywords) are left out; a keyword that occurs twice keeps both,
/// and look-ups answer the first, as astropy does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    cards: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Header {
    /// An empty header.
    pub fn new() -> Header {
        Header::default()
    }

    /// Build a header from its cards (each with its byte offset), joining `CONTINUE`d
    /// strings. An error gives the offset and keyword of the card at fault.
    pub(crate) fn from_cards(cards: &[(u64, [u8; CARD])]) -> Result<Header, (u64, String, String)> {
        let mut h = Header::new();
        // The last keyword whose string ended in `&` and may go on.
        let mut open: Option<usize> = None;
        for (at, bytes) in cards {
            let key = String::from_utf8_lossy(&bytes[..8]).trim_end().to_owned();
            match parse_card(bytes).map_err(|m| (*at, key, m))? {
                Card::Keyword(k, v) => {
                    let continued = matches!(&v, Value::Str(s) if s.ends_with('&'));
                    let v = match v {
                        Value::Str(s) if continued => Value::Str(s[..s.len() - 1].to_owned()),
                        v => v,
                    };
                    h.push(k, v);
                    open = continued.then(|| h.cards.len() - 1);
                }
                Card::Continue(piece) => {
                    if let Some(i) = open {
                        let (more, piece) = match piece.strip_suffix('&') {
                            Some(p) => (true, p),
                            None => (false, piece.as_str()),
                        };
                        if let Value::Str(s) = &mut h.cards[i].1 {
                            s.push_str(piece);
                        }
                        if !more {
                            open = None;
                        }
                    }
                }
                Card::Commentary => {}
            }
        }
        Ok(h)
    }

    /// Add a keyword at the end (a repeated keyword is kept; look-ups answer the first).
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        self.index.entry(key.clone()).or_insert(self.cards.len());
        self.cards.push((key, value));
    }

    /// Set a keyword: replace its (first) value, or add it at the end.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => self.cards[i].1 = value,
            None => self.push(key, value),
        }
    }

    /// The value of a keyword (`HIERARCH ` in front of it is optional).
    pub fn get(&self, key: &str) -> Option<&Value> {
        let key = key.strip_prefix("HIERARCH ").unwrap_or(key);
        self.index.get(key).map(|&i| &self.cards[i].1)
    }

    /// Whether the header has the keyword with a value.
    pub fn has(&self, key: &str) -> bool {
        !matches!(self.get(key), None | Some(Value::Undefined))
    }

    /// A string keyword's value (other types are not converted).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A numeric keyword's value.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// An integer keyword's value.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A logical keyword's value.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The keywords and values in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.cards.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many keywords (repeats counted) the header holds.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether the header holds no keyword.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// This header over `base`: every keyword of `base`, with this header's values
    /// where both have one, then this header's own (how an extension with
    /// `INHERIT = T` reads beside its primary header).
    pub fn merged_over(&self, base: &Header) -> Header {
        let mut out = base.clone();
        for (k, v) in self.iter() {
            out.set(k, v.clone());
        }
        out
    }
}
