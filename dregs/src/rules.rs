//! What a named dataset may be called, where it may go and who may write it.
//!
//! Names and relative paths follow DESC's registry. Writes follow valet's access
//! rules: the production area is written by admins only and never overwritten or
//! replaced; a user's own area is written by that user (or an admin); group and
//! project areas are written by anyone, as DESC's shared directories are; replace,
//! delete and modify need the dataset's creator or an admin.

use valet_registry::access::is_admin;
use valet_registry::identity::current_user;
use valet_registry::{Conn, RegistryError, Result};

use crate::model::{check_owner_type, NamedDataset, PRODUCTION};

/// Characters DESC's registry refuses in a dataset name.
const ILLEGAL_NAME_CHARS: [char; 7] = ['$', '*', '&', '/', '?', '\\', ' '];
/// Characters DESC's registry refuses in a relative path.
const ILLEGAL_PATH_CHARS: [char; 6] = ['$', '*', '&', '?', '\\', ' '];
/// The prefix of generated relative paths, which a user may not give.
pub const GEN_PATHS: &str = ".gen_paths";

fn denied(rule: &str, message: String) -> RegistryError {
    RegistryError::Denied(format!("{message} (rule: {rule})"))
}

/// Refuse a name with a character DESC's registry does not allow.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(RegistryError::Invalid("a dataset needs a name".into()));
    }
    if let Some(c) = name.chars().find(|c| ILLEGAL_NAME_CHARS.contains(c)) {
        return Err(RegistryError::Invalid(format!(
            "Illegal character {c:?} in name {name:?}: names may not contain $ * & / ? \\ or spaces"
        )));
    }
    Ok(())
}

/// Refuse a relative path DESC's registry does not allow (absolute, a forbidden
/// character, the reserved `.gen_paths` prefix) or one that leaves its area.
pub fn check_relative_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(RegistryError::Invalid("relative_path is empty".into()));
    }
    if path.starts_with('/') {
        return Err(RegistryError::Invalid(format!(
            "Relative path cannot start with a '/' ({path:?}): give a path relative to the owner's area"
        )));
    }
    if let Some(c) = path.chars().find(|c| ILLEGAL_PATH_CHARS.contains(c)) {
        return Err(RegistryError::Invalid(format!(
            "Cannot have character {c:?} in relative path {path:?}: paths may not contain $ * & ? \\ or spaces"
        )));
    }
    if path.starts_with(GEN_PATHS) {
        return Err(RegistryError::Invalid(format!(
            "Can't start relative path with '{GEN_PATHS}' ({path:?}): it is reserved for generated paths"
        )));
    }
    if path
        .split('/')
        .any(|part| part == ".." || part == "." && path != ".")
    {
        return Err(RegistryError::Invalid(format!(
            "relative_path {path:?} may not contain '.' or '..' components"
        )));
    }
    Ok(())
}

/// The generated relative path of a dataset registered without one:
/// `.gen_paths/<name>_<version>`, with the file's name appended for a single file.
pub fn generated_path(name: &str, version: &str, file_name: Option<&str>) -> String {
    match file_name {
        Some(f) => format!("{GEN_PATHS}/{name}_{version}/{f}"),
        None => format!("{GEN_PATHS}/{name}_{version}"),
    }
}

/// The owner and owner type a registration gets: the given ones, else production's
/// for the production area, else the acting user's own area. Production's owner is
/// always `production`.
pub fn resolve_owner(owner: Option<&str>, owner_type: Option<&str>) -> Result<(String, String)> {
    let owner_type = owner_type.unwrap_or("user").to_owned();
    check_owner_type(&owner_type)?;
    if owner_type == PRODUCTION {
        if let Some(o) = owner.filter(|o| *o != PRODUCTION) {
            return Err(RegistryError::Invalid(format!(
                "`owner` for prod datasets must be 'production', not {o:?}"
            )));
        }
        return Ok((PRODUCTION.into(), owner_type));
    }
    let owner = match owner {
        Some(o) if !o.is_empty() => o.to_owned(),
        _ => current_user()?,
    };
    if let Some(c) = owner.chars().find(|c| c.is_whitespace() || *c == '/') {
        return Err(RegistryError::Invalid(format!(
            "owner {owner:?} contains {c:?}: owners are single path components"
        )));
    }
    Ok((owner, owner_type))
}

/// Refuse unless the acting user may put a dataset in this owner's area.
pub fn check_area_write(conn: &mut Conn, owner: &str, owner_type: &str) -> Result<()> {
    let user = current_user()?;
    if is_admin(conn, &user)? {
        return Ok(());
    }
    match owner_type {
        PRODUCTION => Err(denied(
            "production-needs-admin",
            format!("user {user:?} may not write the production area: only admins do"),
        )),
        "user" if owner != user => Err(denied(
            "user-areas-are-their-owners",
            format!("user {user:?} may not write the area of user {owner:?}"),
        )),
        _ => Ok(()),
    }
}

/// Refuse unless the acting user may change `d` (`action` names the change): its
/// creator or an admin, and never anything in the production area except by an
/// admin's `modify`.
pub fn check_dataset_write(conn: &mut Conn, d: &NamedDataset, action: &str) -> Result<()> {
    let user = current_user()?;
    let admin = is_admin(conn, &user)?;
    if d.owner_type == PRODUCTION && action != "modify" {
        return Err(denied(
            "production-is-immutable",
            format!(
                "cannot {action} dataset {} ({} {}): production datasets are never overwritten, replaced or deleted",
                d.dataset_id, d.name, d.version
            ),
        ));
    }
    if admin || (d.creator_uid == user && d.owner_type != PRODUCTION) {
        return Ok(());
    }
    Err(denied(
        "creator-or-admin",
        format!(
            "user {user:?} may not {action} dataset {} ({} {}): only its creator {:?} or an admin may",
            d.dataset_id, d.name, d.version, d.creator_uid
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(check_name("DESC dataset").is_err());
        assert!(check_name("nersc_production_tutorial:my_dataset").is_ok());
        assert!(check_relative_path("my-first-pipeline/dataset_1p1/").is_ok());
        for bad in ["/abs", "a b", "x$y", ".gen_paths/x", "../up", "a/../b"] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            generated_path("d", "1.0.0", Some("f.txt")),
            ".gen_paths/d_1.0.0/f.txt"
        );
    }
}
