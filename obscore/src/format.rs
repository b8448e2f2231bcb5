//! The subset of Python's `str.format` that ObsCore templates use: `{name}`,
//! `{name.attr}`, `{name[key]}`, `{name[key].attr}`, and `{{`/`}}` escapes.

use valet_registry::Value;

use crate::ObsCoreError;

/// A field reference inside braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The leading name.
    pub name: &'a str,
    /// `[key]`, if present.
    pub key: Option<&'a str>,
    /// `.attr`, if present.
    pub attr: Option<&'a str>,
    /// The text between the braces.
    pub source: &'a str,
}

fn parse_field(source: &str) -> Option<Field<'_>> {
    let text = source.split([':', '!']).next().unwrap_or(source);
    let end = text.find(['[', '.']).unwrap_or(text.len());
    let name = &text[..end];
    let mut rest = &text[end..];
    let mut key = None;
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']')?;
        key = Some(&r[..close]);
        rest = &r[close + 1..];
    }
    let attr = match rest.strip_prefix('.') {
        Some(a) if !a.is_empty() => Some(a),
        Some(_) => return None,
        None if rest.is_empty() => None,
        None => return None,
    };
    Some(Field {
        name,
        key,
        attr,
        source,
    })
}

/// Append a value to `out` as Python's `str()` shows it.
pub fn push_python_str(out: &mut String, v: &Value) {
    use std::fmt::Write;
    let _ = match v {
        Value::Null => write!(out, "None"),
        Value::Int(i) => write!(out, "{i}"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => write!(out, "{f:.1}"),
        Value::Float(f) => write!(out, "{f}"),
        Value::Text(s) => write!(out, "{s}"),
        Value::Bool(true) => write!(out, "True"),
        Value::Bool(false) => write!(out, "False"),
        Value::Bytes(b) => write!(out, "{b:?}"),
        Value::Uuid(u) => write!(out, "{u}"),
    };
}

/// Looks a field up and appends its text to the buffer; `false` when the field has
/// no value.
pub type Lookup<'a> = dyn Fn(&Field<'_>, &mut String) -> bool + 'a;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'t> {
    Text(&'t str),
    Field(Field<'t>),
}

/// A template parsed once, to be rendered for many datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<'t> {
    source: &'t str,
    parts: Vec<Part<'t>>,
}

impl<'t> Template<'t> {
    /// Parse a template; malformed braces and unreadable fields are errors.
    pub fn parse(source: &'t str) -> Result<Template<'t>, ObsCoreError> {
        let err = |message: String| ObsCoreError::Template {
            template: source.to_owned(),
            message,
        };
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(i) = rest.find(['{', '}']) {
            if i > 0 {
                parts.push(Part::Text(&rest[..i]));
            }
            let c = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if after.as_bytes().first() == Some(&c) {
                parts.push(Part::Text(&rest[i..i + 1]));
                rest = &after[1..];
                continue;
            }
            if c == b'}' {
                return Err(err("single '}' in template".into()));
            }
            let close = after.find('}').ok_or_else(|| err("unclosed '{'".into()))?;
            let field = parse_field(&after[..close])
                .ok_or_else(|| err(format!("cannot read field {:?}", &after[..close])))?;
            parts.push(Part::Field(field));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest));
        }
        Ok(Template { source, parts })
    }

    /// The field, when the template is exactly one field and nothing else.
    pub fn single_field(&self) -> Option<&Field<'t>> {
        match self.parts.as_slice() {
            [Part::Field(f)] => Some(f),
            _ => None,
        }
    }

    /// Render into `out` (appending). A field without a value is an error naming it;
    /// `out` then holds a partial rendering.
    pub fn render_into(&self, lookup: &Lookup<'_>, out: &mut String) -> Result<(), ObsCoreError> {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    if !lookup(f, out) {
                        return Err(ObsCoreError::Template {
                            template: self.source.to_owned(),
                            message: format!("no value for {:?}", f.source),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, lookup: &Lookup<'_>) -> Result<String, ObsCoreError> {
        let mut out = String::new();
        Template::parse(template)?.render_into(lookup, &mut out)?;
        Ok(out)
    }

    #[test]
    fn fields_and_escapes() {
        let lookup = |f: &Field<'_>, out: &mut String| -> bool {
            let v: Value = match (f.name, f.key, f.attr) {
                ("records", Some("exposure"), Some("obs_id")) => "e0".into(),
                ("id", None, None) => "abc".into(),
                ("x", None, None) => Value::Float(30.0),
                _ => return false,
            };
            push_python_str(out, &v);
            true
        };
        assert_eq!(
            render("{records[exposure].obs_id}-{id}", &lookup).unwrap(),
            "e0-abc"
        );
        assert_eq!(
            render("{{literal}} {x}", &lookup).unwrap(),
            "{literal} 30.0"
        );
        assert!(render("{missing}", &lookup).is_err());
        assert_eq!(
            Template::parse("{x}")
                .unwrap()
                .single_field()
                .map(|f| f.name),
            Some("x")
        );
        assert!(Template::parse("{x}-").unwrap().single_field().is_none());
        assert!(Template::parse("a}").is_err());
        assert!(render("{oops", &lookup).is_err());
    }
}
