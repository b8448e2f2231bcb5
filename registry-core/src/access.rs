//! Access rules, enforced on every write: admins write anything; everyone else writes
//! only inside `u/<user>/…`; a shared (non-`u/`) chain may never list a personal
//! collection; everyone reads everything. A refusal names the rule and the
//! collection, and is raised before anything changes.

use crate::db::{Conn, Value};
use crate::error::{RegistryError, Result};
use crate::identity::current_user;

/// True if `name` is a personal collection of `user` (`u/<user>` or below).
pub fn is_personal_of(name: &str, user: &str) -> bool {
    name.strip_prefix("u/")
        .and_then(|rest| rest.strip_prefix(user))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// True if `name` is anyone's personal collection.
pub fn is_personal(name: &str) -> bool {
    name.starts_with("u/")
}

/// True if `user` is an admin of this repository.
pub fn is_admin(conn: &mut Conn, user: &str) -> Result<bool> {
    if !crate::identity::may_administer() {
        return Ok(false);
    }
    Ok(conn
        .query_opt(
            "SELECT 1 FROM valet_admin WHERE user_name = ?",
            &[user.into()],
        )?
        .is_some())
}

/// The admins, by name.
pub fn admins(conn: &mut Conn) -> Result<Vec<String>> {
    Ok(conn
        .query("SELECT user_name FROM valet_admin ORDER BY user_name", &[])?
        .into_iter()
        .filter_map(|r| {
            r.into_iter()
                .next()
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .collect())
}

fn denied(rule: &str, message: String) -> RegistryError {
    RegistryError::Denied(format!("{message} (rule: {rule})"))
}

/// Refuse unless the acting user may write `collection`.
pub fn check_write(conn: &mut Conn, collection: &str) -> Result<()> {
    let user = current_user()?;
    if is_personal_of(collection, &user) || is_admin(conn, &user)? {
        return Ok(());
    }
    if is_personal(collection) {
        return Err(denied(
            "personal-collections-are-their-owners",
            format!("user {user:?} may not write {collection:?}: it is another user's personal collection"),
        ));
    }
    Err(denied(
        "shared-needs-admin",
        format!("user {user:?} may not write shared collection {collection:?}: only admins write outside u/{user}/"),
    ))
}

/// Refuse unless the acting user is an admin (for repository-wide changes such as
/// dataset types and dimension records).
pub fn check_admin(conn: &mut Conn, what: &str) -> Result<()> {
    let user = current_user()?;
    if is_admin(conn, &user)? {
        return Ok(());
    }
    Err(denied(
        "shared-needs-admin",
        format!(
            "user {user:?} may not {what}: it changes the whole repository, which only admins do"
        ),
    ))
}

/// Refuse a shared chain that lists a personal collection.
pub fn check_chain_children(parent: &str, children: &[String]) -> Result<()> {
    if is_personal(parent) {
        return Ok(());
    }
    if let Some(p) = children.iter().find(|c| is_personal(c)) {
        return Err(denied(
            "shared-lists-personal",
            format!("shared chain {parent:?} may not list personal collection {p:?}"),
        ));
    }
    Ok(())
}

/// Make `user` an admin (admins only, except for the repository's first admin).
pub fn add_admin(conn: &mut Conn, user: &str) -> Result<()> {
    crate::identity::validate_user_name(user).map_err(RegistryError::Invalid)?;
    if !admins(conn)?.is_empty() {
        check_admin(conn, "add admins")?;
    }
    conn.execute(
        "INSERT INTO valet_admin (user_name) VALUES (?) ON CONFLICT DO NOTHING",
        &[Value::from(user)],
    )?;
    Ok(())
}

/// Remove an admin (admins only; the last admin cannot be removed).
pub fn remove_admin(conn: &mut Conn, user: &str) -> Result<()> {
    check_admin(conn, "remove admins")?;
    let all = admins(conn)?;
    if !all.iter().any(|a| a == user) {
        return Err(RegistryError::NotFound(format!("{user:?} is not an admin")));
    }
    if all.len() == 1 {
        return Err(RegistryError::Conflict(format!(
            "{user:?} is the last admin; add another before removing it"
        )));
    }
    conn.execute(
        "DELETE FROM valet_admin WHERE user_name = ?",
        &[Value::from(user)],
    )?;
    Ok(())
}

/// Refuse `action` on a collection owned by production: once registered, production
/// datasets and their memberships are never removed, replaced or overwritten, by
/// anyone, whatever the flags.
pub fn check_not_production(conn: &mut Conn, collection: &str, action: &str) -> Result<()> {
    let owner_type = conn
        .query_opt(
            "SELECT owner_type FROM collection WHERE name = ?",
            &[Value::from(collection)],
        )?
        .and_then(|r| r.into_iter().next())
        .and_then(|v| v.as_str().map(str::to_owned));
    if owner_type.as_deref() == Some("production") {
        return Err(denied(
            "production-is-immutable",
            format!("cannot {action} {collection:?}: it is owned by production"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_names() {
        assert!(is_personal_of("u/bob/DM-1/run", "bob"));
        assert!(is_personal_of("u/bob", "bob"));
        assert!(!is_personal_of("u/bobby/x", "bob"));
        assert!(!is_personal_of("HSC/raw/all", "bob"));
        assert!(check_chain_children("HSC/defaults", &["u/bob/x".into()]).is_err());
        assert!(
            check_chain_children("u/bob/chain", &["u/alice/x".into(), "HSC/raw".into()]).is_ok()
        );
    }
}
