//! Keywords: a controlled vocabulary (system keywords shipped, user keywords made on
//! request), stored lower-case and matched in any case.

use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::named::{ensure_tables, has_tables};
use valet_registry::{Conn, RegistryError, Result, Value};

/// Refuse a keyword DESC's registry would not store.
fn check_keyword(k: &str) -> Result<String> {
    let k = k.trim().to_lowercase();
    if k.is_empty() || k.len() > 250 {
        return Err(RegistryError::Invalid(format!(
            "{k:?} is not a valid keyword string: give 1 to 250 characters"
        )));
    }
    Ok(k)
}

/// The ids of these keywords, which must all be registered (inactive ones are
/// skipped, as in DESC's registry).
pub fn keyword_ids(conn: &mut Conn, keywords: &[String]) -> Result<Vec<i64>> {
    if keywords.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for k in keywords {
        let k = check_keyword(k)?;
        if !seen.insert(k.clone()) {
            return Err(RegistryError::Invalid(format!(
                "Not all keywords selected are distinct: {k:?} is given twice"
            )));
        }
        match conn.query_opt(
            "SELECT keyword_id, active FROM dregs_keyword WHERE keyword = ?",
            &[k.clone().into()],
        )? {
            Some(r) if r[1].as_i64() == Some(0) => {}
            Some(r) => ids.extend(r[0].as_i64()),
            None => missing.push(k),
        }
    }
    if !missing.is_empty() {
        return Err(RegistryError::NotFound(format!(
            "Not all keywords selected are registered: {} (see `show keywords`; create them first)",
            missing.join(", ")
        )));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Register new (user) keywords; an existing one is a conflict.
pub fn create_keywords(conn: &mut Conn, keywords: &[String]) -> Result<Vec<i64>> {
    ensure_tables(conn)?;
    let user = current_user()?;
    let mut ids = Vec::new();
    for k in keywords {
        let k = check_keyword(k)?;
        if conn
            .query_opt(
                "SELECT keyword_id FROM dregs_keyword WHERE keyword = ?",
                &[k.clone().into()],
            )?
            .is_some()
        {
            return Err(RegistryError::Conflict(format!(
                "keyword {k:?} already exists"
            )));
        }
        let id = conn
            .query_opt(
                "INSERT INTO dregs_keyword (keyword, system, active, creator_uid, creation_date) \
                 VALUES (?, ?, ?, ?, ?) RETURNING keyword_id",
                &[
                    k.into(),
                    Value::Bool(false),
                    Value::Bool(true),
                    user.clone().into(),
                    now_utc_ns().into(),
                ],
            )?
            .and_then(|r| r[0].as_i64())
            .ok_or_else(|| RegistryError::Schema("keyword id not returned".into()))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Tag a dataset with keywords by id (existing tags stay, none is repeated).
pub fn tag(conn: &mut Conn, dataset_id: i64, keyword_ids: &[i64]) -> Result<()> {
    let rows: Vec<Vec<Value>> = keyword_ids
        .iter()
        .map(|k| vec![dataset_id.into(), (*k).into()])
        .collect();
    conn.insert_rows(
        "dregs_dataset_keyword",
        &["dataset_id", "keyword_id"],
        &rows,
        Some("ON CONFLICT (dataset_id, keyword_id) DO NOTHING"),
    )?;
    Ok(())
}

/// The keywords a dataset is tagged with, in the order they were registered.
pub fn dataset_keywords(conn: &mut Conn, dataset_id: i64) -> Result<Vec<String>> {
    if !has_tables(conn)? {
        return Ok(Vec::new());
    }
    Ok(conn
        .query(
            "SELECT k.keyword FROM dregs_dataset_keyword dk JOIN dregs_keyword k ON k.keyword_id = dk.keyword_id \
             WHERE dk.dataset_id = ? ORDER BY k.keyword_id",
            &[dataset_id.into()],
        )?
        .iter()
        .filter_map(|r| r[0].as_str().map(str::to_owned))
        .collect())
}

/// One keyword of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    /// The keyword (lower-case).
    pub keyword: String,
    /// Shipped with the registry.
    pub system: bool,
    /// Usable for tagging.
    pub active: bool,
}

/// Every keyword, sorted.
pub fn keyword_list(conn: &mut Conn) -> Result<Vec<Keyword>> {
    if !has_tables(conn)? {
        return Ok(valet_registry::named::SYSTEM_KEYWORDS
            .iter()
            .map(|k| Keyword {
                keyword: (*k).into(),
                system: true,
                active: true,
            })
            .collect());
    }
    Ok(conn
        .query(
            "SELECT keyword, system, active FROM dregs_keyword ORDER BY keyword",
            &[],
        )?
        .iter()
        .map(|r| Keyword {
            keyword: r[0].as_str().unwrap_or_default().to_owned(),
            system: r[1].as_i64().unwrap_or_default() != 0,
            active: r[2].as_i64().unwrap_or_default() != 0,
        })
        .collect())
}
