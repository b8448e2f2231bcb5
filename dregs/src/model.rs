//! The named-dataset model as DESC's registry defines it: versions, owner types,
//! location types, status bits, and the stored row.

use std::fmt;

use valet_registry::db::Row;
use valet_registry::{RegistryError, Result, Value};

/// The status bits of a named dataset (DESC's bitmask).
pub mod status {
    /// Registered and its data complete.
    pub const VALID: i64 = 1;
    /// Its data removed (the row stays).
    pub const DELETED: i64 = 2;
    /// Archived (reserved).
    pub const ARCHIVED: i64 = 4;
    /// Superseded by a `replace` (the row has `replace_id`).
    pub const REPLACED: i64 = 8;

    /// The names of the bits set in `flags`, lowest first (`"invalid"` when the valid
    /// bit is clear).
    pub fn names(flags: i64) -> Vec<&'static str> {
        let mut out = vec![if flags & VALID != 0 {
            "valid"
        } else {
            "invalid"
        }];
        for (bit, name) in [
            (DELETED, "deleted"),
            (ARCHIVED, "archived"),
            (REPLACED, "replaced"),
        ] {
            if flags & bit != 0 {
                out.push(name);
            }
        }
        out
    }
}

/// Owner types, as DESC's registry names them.
pub const OWNER_TYPES: [&str; 4] = ["user", "group", "project", "production"];

/// The owner (and owner type) of everything in the production area.
pub const PRODUCTION: &str = "production";

/// Check an owner type.
pub fn check_owner_type(owner_type: &str) -> Result<()> {
    if OWNER_TYPES.contains(&owner_type) {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "Invalid owner_type {owner_type:?}: use user, group, project or production"
        )))
    }
}

/// Where a named dataset's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationType {
    /// Under the registry's root, managed by it (the default).
    Dataregistry,
    /// Elsewhere, known by a URL or a contact address.
    External,
    /// No data: metadata only.
    MetaOnly,
    /// A placeholder with a path but no data (testing).
    Dummy,
}

impl LocationType {
    /// The name DESC's registry stores.
    pub fn as_str(self) -> &'static str {
        match self {
            LocationType::Dataregistry => "dataregistry",
            LocationType::External => "external",
            LocationType::MetaOnly => "meta_only",
            LocationType::Dummy => "dummy",
        }
    }

    /// True if the registry keeps a relative path for it.
    pub fn has_path(self) -> bool {
        matches!(self, LocationType::Dataregistry | LocationType::Dummy)
    }
}

impl std::str::FromStr for LocationType {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<LocationType> {
        match s {
            "dataregistry" => Ok(LocationType::Dataregistry),
            "external" => Ok(LocationType::External),
            "meta_only" => Ok(LocationType::MetaOnly),
            "dummy" => Ok(LocationType::Dummy),
            _ => Err(RegistryError::Invalid(format!(
                "{s} is not a valid location_type: use dataregistry, external, meta_only or dummy"
            ))),
        }
    }
}

/// A `MAJOR.MINOR.PATCH` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Version {
    /// Major.
    pub major: i64,
    /// Minor.
    pub minor: i64,
    /// Patch.
    pub patch: i64,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which part of a version a bump word raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bump {
    /// `major`: X+1.0.0.
    Major,
    /// `minor`: X.Y+1.0.
    Minor,
    /// `patch`: X.Y.Z+1.
    Patch,
}

/// A version as asked for: explicit, or a bump of the highest existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRequest {
    /// `MAJOR.MINOR.PATCH`.
    Exact(Version),
    /// `major`, `minor` or `patch`.
    Bump(Bump),
}

impl Version {
    /// This version raised by `bump` (lower parts reset to zero).
    pub fn bumped(self, bump: Bump) -> Version {
        match bump {
            Bump::Major => Version {
                major: self.major + 1,
                minor: 0,
                patch: 0,
            },
            Bump::Minor => Version {
                major: self.major,
                minor: self.minor + 1,
                patch: 0,
            },
            Bump::Patch => Version {
                patch: self.patch + 1,
                ..self
            },
        }
    }
}

/// Parse a version argument: three dot-separated non-negative integers without
/// leading zeros, or one of the bump words.
pub fn parse_version(text: &str) -> Result<VersionRequest> {
    match text {
        "major" => return Ok(VersionRequest::Bump(Bump::Major)),
        "minor" => return Ok(VersionRequest::Bump(Bump::Minor)),
        "patch" => return Ok(VersionRequest::Bump(Bump::Patch)),
        _ => {}
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 {
        return Err(RegistryError::Invalid(format!(
            "Version string must have 3 components: {text:?} is not MAJOR.MINOR.PATCH (or major, minor, patch)"
        )));
    }
    let mut numbers = [0i64; 3];
    for (n, p) in numbers.iter_mut().zip(&parts) {
        let canonical = *p == "0" || (!p.is_empty() && !p.starts_with('0'));
        let parsed = p
            .parse::<i64>()
            .ok()
            .filter(|_| canonical && p.bytes().all(|b| b.is_ascii_digit()));
        *n = parsed.ok_or_else(|| {
            RegistryError::Invalid(format!(
                "Version component {p:?} of {text:?} is not non-negative int (without leading zeros)"
            ))
        })?;
    }
    Ok(VersionRequest::Exact(Version {
        major: numbers[0],
        minor: numbers[1],
        patch: numbers[2],
    }))
}

/// One named dataset, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedDataset {
    /// Its id.
    pub dataset_id: i64,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// Owner.
    pub owner: String,
    /// Owner type.
    pub owner_type: String,
    /// Path below `<owner_type>/<owner>/` (none for external and meta-only data).
    pub relative_path: Option<String>,
    /// Where its data is.
    pub location_type: String,
    /// `file` or `directory` (the location type for unmanaged data).
    pub data_org: Option<String>,
    /// How many files.
    pub nfiles: i64,
    /// Their total size in bytes.
    pub total_size: i64,
    /// BLAKE2b of a file's content, or of a directory's listing of (path, checksum).
    pub checksum: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The software that reads it.
    pub access_api: Option<String>,
    /// That software's configuration (its text).
    pub access_api_configuration: Option<String>,
    /// URL of external data.
    pub url: Option<String>,
    /// Contact for external data.
    pub contact_email: Option<String>,
    /// When the data was made (UTC ns).
    pub creation_date: Option<i64>,
    /// When it was registered (UTC ns).
    pub register_date: i64,
    /// Who registered it.
    pub creator_uid: String,
    /// Whether `replace` may supersede it.
    pub is_overwritable: bool,
    /// Status bits (see [`status`]).
    pub status: i64,
    /// When it was deleted.
    pub delete_date: Option<i64>,
    /// Who deleted it.
    pub delete_uid: Option<String>,
    /// The dataset that replaced it.
    pub replace_id: Option<i64>,
    /// 0 when first registered, +1 for each replace.
    pub replace_iteration: i64,
    /// The execution that produced it.
    pub execution_id: Option<i64>,
}

/// The stored columns of a named dataset, in [`NamedDataset::from_row`] order.
pub const COLUMNS: &str =
    "dataset_id, name, version_major, version_minor, version_patch, owner, owner_type, \
    relative_path, location_type, data_org, nfiles, total_size, checksum, description, access_api, \
    access_api_configuration, url, contact_email, creation_date, register_date, creator_uid, \
    is_overwritable, status, delete_date, delete_uid, replace_id, replace_iteration, execution_id";

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl NamedDataset {
    /// Read a row selected with [`COLUMNS`].
    pub fn from_row(r: &Row) -> NamedDataset {
        NamedDataset {
            dataset_id: r[0].as_i64().unwrap_or_default(),
            name: text(&r[1]).unwrap_or_default(),
            version: Version {
                major: r[2].as_i64().unwrap_or_default(),
                minor: r[3].as_i64().unwrap_or_default(),
                patch: r[4].as_i64().unwrap_or_default(),
            },
            owner: text(&r[5]).unwrap_or_default(),
            owner_type: text(&r[6]).unwrap_or_default(),
            relative_path: text(&r[7]),
            location_type: text(&r[8]).unwrap_or_default(),
            data_org: text(&r[9]),
            nfiles: r[10].as_i64().unwrap_or_default(),
            total_size: r[11].as_i64().unwrap_or_default(),
            checksum: text(&r[12]),
            description: text(&r[13]),
            access_api: text(&r[14]),
            access_api_configuration: text(&r[15]),
            url: text(&r[16]),
            contact_email: text(&r[17]),
            creation_date: r[18].as_i64(),
            register_date: r[19].as_i64().unwrap_or_default(),
            creator_uid: text(&r[20]).unwrap_or_default(),
            is_overwritable: r[21].as_i64().unwrap_or_default() != 0,
            status: r[22].as_i64().unwrap_or_default(),
            delete_date: r[23].as_i64(),
            delete_uid: text(&r[24]),
            replace_id: r[25].as_i64(),
            replace_iteration: r[26].as_i64().unwrap_or_default(),
            execution_id: r[27].as_i64(),
        }
    }

    /// True if the valid bit is set.
    pub fn is_valid(&self) -> bool {
        self.status & status::VALID != 0
    }

    /// True if the deleted bit is set.
    pub fn is_deleted(&self) -> bool {
        self.status & status::DELETED != 0
    }

    /// Where its data lives below the registry's file root:
    /// `<owner_type>/<owner>/<relative_path>` (production's owner is always
    /// `production`); none for data the registry does not manage.
    pub fn location(&self) -> Option<String> {
        let rel = self.relative_path.as_deref()?;
        Some(entry_path(&self.owner_type, &self.owner, rel))
    }
}

/// `<owner_type>/<owner>/<relative_path>`, the path of a dataset below the root.
pub fn entry_path(owner_type: &str, owner: &str, relative_path: &str) -> String {
    let owner = if owner_type == PRODUCTION {
        PRODUCTION
    } else {
        owner
    };
    format!(
        "{owner_type}/{owner}/{}",
        relative_path.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("1.2.3").unwrap(),
            VersionRequest::Exact(Version {
                major: 1,
                minor: 2,
                patch: 3
            })
        );
        assert_eq!(
            parse_version("patch").unwrap(),
            VersionRequest::Bump(Bump::Patch)
        );
        for bad in [
            "1.0", "01.0.0", "a.b.c", "1.0.0.0", "-1.0.0", "1..0", "", "+1.0.0",
        ] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
        let v = Version {
            major: 1,
            minor: 1,
            patch: 2,
        };
        assert_eq!(v.bumped(Bump::Minor).to_string(), "1.2.0");
        assert_eq!(v.bumped(Bump::Major).to_string(), "2.0.0");
        assert_eq!(Version::default().bumped(Bump::Patch).to_string(), "0.0.1");
    }

    #[test]
    fn status_names() {
        assert_eq!(status::names(11), vec!["valid", "deleted", "replaced"]);
        assert_eq!(status::names(0), vec!["invalid"]);
    }
}
