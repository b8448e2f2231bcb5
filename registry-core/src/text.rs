//! Characters that must not enter names: they are invisible, or reorder what is shown,
//! so two names that look the same could differ.

/// True for zero-width, bidirectional-control and other formatting characters
/// (Unicode category Cf and the like), which render as nothing or reorder the text.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{061C}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// A character as an error message names it: its code point, and the character itself
/// when it is visible.
pub fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() || is_invisible(c) {
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
        for c in ['\u{200B}', '\u{200F}', '\u{202E}', '\u{2066}', '\u{FEFF}'] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', '/', 'é', '日'] {
            assert!(!is_invisible(c), "{c:?}");
        }
        assert_eq!(describe_char('\u{200B}'), "the character U+200B");
        assert_eq!(describe_char('/'), "the character '/' (U+002F)");
    }
}
