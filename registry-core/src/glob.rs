//! Name patterns: shell globs (`*`, `?`, `[…]`, `[!…]`) fullmatched against names, as
//! the reference does with `fnmatch.translate`.

use regex::Regex;

use crate::error::{RegistryError, Result};

/// True if the text is a glob rather than a literal name (the reference's test).
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?']) || (text.contains('[') && text.contains(']'))
}

/// Translate a glob into an anchored regex.
pub fn glob_to_regex(glob: &str) -> Result<Regex> {
    let mut re = String::from("^(?s:");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => match chars[i + 1..].iter().position(|&c| c == ']') {
                Some(rel) => {
                    let body: String = chars[i + 1..i + 1 + rel].iter().collect();
                    let body = match body.strip_prefix('!') {
                        Some(rest) => format!("^{}", rest.replace('\\', "\\\\")),
                        None => body.replace('\\', "\\\\"),
                    };
                    re.push('[');
                    re.push_str(&body);
                    re.push(']');
                    i += rel + 1;
                }
                None => re.push_str("\\["),
            },
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push_str(")$");
    Regex::new(&re).map_err(|e| RegistryError::Invalid(format!("invalid pattern {glob:?}: {e}")))
}

/// Compile a user regex so that it must match the whole name.
pub fn full_regex(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| RegistryError::Invalid(format!("invalid regular expression {pattern:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_fullmatch() {
        let re = glob_to_regex("HSC/runs/*").unwrap();
        assert!(re.is_match("HSC/runs/RC2/w_2024_10"));
        assert!(!re.is_match("xHSC/runs/a"));
        let re = glob_to_regex("cal?xp").unwrap();
        assert!(re.is_match("calexp"));
        let re = glob_to_regex("[!r]aw").unwrap();
        assert!(re.is_match("vaw") && !re.is_match("raw"));
        assert!(glob_to_regex("2.2i/*").unwrap().is_match("2.2i/x"));
        assert!(!glob_to_regex("2.2i/*").unwrap().is_match("212i/x"));
        assert!(is_glob("a*") && is_glob("[ab]") && !is_glob("plain/name"));
    }
}
