//! Characters that must not enter names: they are invisible, or reorder what is shown,
//! so two names that look the same could differ.

use std::sync::OnceLock;

use regex::Regex;

/// The first character of `text` that is a control character, an invisible format
/// character (zero-width spaces and joiners, bidirectional marks, embeddings and
/// isolates, the byte-order mark, …: Unicode category Cf) or a line or paragraph
/// separator.
pub fn first_invisible(text: &str) -> Option<char> {
    static INVISIBLE: OnceLock<Regex> = OnceLock::new();
    INVISIBLE
        .get_or_init(|| Regex::new(r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]").expect("valid pattern"))
        .find(text)
        .and_then(|m| m.as_str().chars().next())
}

/// A character as an error message names it: its code point, and the character itself
/// when it is visible.
pub fn describe_char(c: char) -> String {
    if c.is_whitespace() || first_invisible(c.encode_utf8(&mut [0; 4])).is_some() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("the character {c:?} (U+{:04X})", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters() {
        for c in [
            '\u{200B}', '\u{200F}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\n',
        ] {
            assert_eq!(first_invisible(&format!("a{c}b")), Some(c), "{c:?}");
        }
        assert_eq!(first_invisible("a/é日"), None);
        assert_eq!(describe_char('\u{200B}'), "the character U+200B");
        assert_eq!(describe_char('/'), "the character '/' (U+002F)");
    }
}
