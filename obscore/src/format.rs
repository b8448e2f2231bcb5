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
}

fn parse_field(text: &str) -> Option<Field<'_>> {
    let text = text.split([':', '!']).next().unwrap_or(text);
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
    Some(Field { name, key, attr })
}

/// How Python's `str()` shows a value.
pub fn python_str(v: &Value) -> String {
    let mut out = String::new();
    push_python_str(&mut out, v);
    out
}

/// Append [`python_str`] of a value to `out`.
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

/// Render a template into `out` (appending), looking fields up with `lookup`. A field
/// that cannot be found is an error naming it; `out` then holds a partial rendering.
pub fn render_into(
    template: &str,
    lookup: &Lookup<'_>,
    out: &mut String,
) -> Result<(), ObsCoreError> {
    let err = |message: String| ObsCoreError::Template {
        template: template.to_owned(),
        message,
    };
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.as_bytes().first() == Some(&c) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(err("single '}' in template".into()));
        }
        let close = after.find('}').ok_or_else(|| err("unclosed '{'".into()))?;
        let field = parse_field(&after[..close])
            .ok_or_else(|| err(format!("cannot read field {:?}", &after[..close])))?;
        if !lookup(&field, out) {
            return Err(err(format!("no value for {:?}", &after[..close])));
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// Render a template to a new string.
pub fn render(template: &str, lookup: &Lookup<'_>) -> Result<String, ObsCoreError> {
    let mut out = String::with_capacity(template.len() + 32);
    render_into(template, lookup, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(render("{oops", &lookup).is_err());
    }
}
