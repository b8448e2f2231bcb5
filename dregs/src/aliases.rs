//! Aliases: a name for a dataset or for another alias. An alias name keeps its
//! history: superseding it adds a row and dates the old ones; the current row is the
//! one without a supersede date.

use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::named::{ensure_tables, has_tables};
use valet_registry::{Conn, RegistryError, Result};

/// What an alias points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasTarget {
    /// A dataset, by id.
    Dataset(i64),
    /// Another alias, by alias id.
    Alias(i64),
}

/// Register `alias` for `target`. An alias name already in use is left as it is
/// (returning `None`) unless `supersede`, which makes the new row the current one.
pub fn register_alias(
    conn: &mut Conn,
    alias: &str,
    target: AliasTarget,
    supersede: bool,
    access_api: Option<&str>,
    access_api_configuration: Option<&str>,
) -> Result<Option<i64>> {
    ensure_tables(conn)?;
    if alias.trim().is_empty() {
        return Err(RegistryError::Invalid("an alias needs a name".into()));
    }
    let (dataset_id, ref_alias_id) = match target {
        AliasTarget::Dataset(id) => {
            crate::get_dataset(conn, id)?;
            (Some(id), None)
        }
        AliasTarget::Alias(id) => {
            if conn
                .query_opt("SELECT 1 FROM dregs_alias WHERE alias_id = ?", &[id.into()])?
                .is_none()
            {
                return Err(RegistryError::NotFound(format!(
                    "alias id {id} not found in dataset_alias"
                )));
            }
            (None, Some(id))
        }
    };
    let exists = conn
        .query_opt("SELECT 1 FROM dregs_alias WHERE alias = ?", &[alias.into()])?
        .is_some();
    if exists && !supersede {
        return Ok(None);
    }
    let now = now_utc_ns();
    if exists {
        conn.execute(
            "UPDATE dregs_alias SET supersede_date = ? WHERE alias = ? AND supersede_date IS NULL",
            &[now.into(), alias.into()],
        )?;
    }
    let id = conn
        .query_opt(
            "INSERT INTO dregs_alias (alias, dataset_id, ref_alias_id, creator_uid, register_date, access_api, access_api_configuration) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING alias_id",
            &[
                alias.into(),
                dataset_id.into(),
                ref_alias_id.into(),
                current_user()?.into(),
                now.into(),
                access_api.map(str::to_owned).into(),
                access_api_configuration.map(str::to_owned).into(),
            ],
        )?
        .and_then(|r| r[0].as_i64())
        .ok_or_else(|| RegistryError::Schema("alias id not returned".into()))?;
    Ok(Some(id))
}

/// The current row of an alias: (alias id, target).
pub fn resolve_alias(conn: &mut Conn, alias: &str) -> Result<Option<(i64, AliasTarget)>> {
    if !has_tables(conn)? {
        return Ok(None);
    }
    Ok(conn
        .query_opt(
            "SELECT alias_id, dataset_id, ref_alias_id FROM dregs_alias WHERE alias = ? AND supersede_date IS NULL \
             ORDER BY alias_id DESC LIMIT 1",
            &[alias.into()],
        )?
        .and_then(|r| {
            let id = r[0].as_i64()?;
            match (r[1].as_i64(), r[2].as_i64()) {
                (Some(d), _) => Some((id, AliasTarget::Dataset(d))),
                (None, Some(a)) => Some((id, AliasTarget::Alias(a))),
                _ => None,
            }
        }))
}

/// The dataset an alias finally names, following aliases of aliases.
pub fn resolve_alias_fully(conn: &mut Conn, alias: &str) -> Result<Option<i64>> {
    match resolve_alias(conn, alias)? {
        Some((_, target)) => follow(conn, target),
        None => Ok(None),
    }
}

/// The dataset `target` finally names, following aliases of aliases.
pub fn follow(conn: &mut Conn, mut target: AliasTarget) -> Result<Option<i64>> {
    if !has_tables(conn)? {
        return Ok(None);
    }
    let mut seen = std::collections::HashSet::new();
    loop {
        match target {
            AliasTarget::Dataset(d) => return Ok(Some(d)),
            AliasTarget::Alias(a) => {
                if !seen.insert(a) {
                    return Err(RegistryError::Invalid(format!(
                        "alias {a} leads round a loop of aliases"
                    )));
                }
                let row = conn.query_opt(
                    "SELECT dataset_id, ref_alias_id FROM dregs_alias WHERE alias_id = ?",
                    &[a.into()],
                )?;
                target = match row {
                    Some(r) => match (r[0].as_i64(), r[1].as_i64()) {
                        (Some(d), _) => AliasTarget::Dataset(d),
                        (None, Some(next)) => AliasTarget::Alias(next),
                        _ => return Ok(None),
                    },
                    None => return Ok(None),
                };
            }
        }
    }
}
