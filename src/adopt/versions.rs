//! The reference's registry managers, as recorded in `butler_attributes`: valet reads
//! the table layouts of the versions `lsst-daf-butler` writes today (and of the
//! previous major version of the dataset manager, whose tables differ only in a
//! column valet does not read) and refuses any other before touching anything.

use valet_registry::Value;

use super::source::{literal, Source};
use crate::RepoError;

/// Supported managers: (kind, class name ending, major versions read).
const SUPPORTED: &[(&str, &str, &[u32])] = &[
    ("attributes", "DefaultButlerAttributeManager", &[1]),
    ("dimensions", "StaticDimensionRecordStorageManager", &[6]),
    ("collections", "SynthIntKeyCollectionManager", &[2]),
    // 1.x kept `ingest_date` as a timestamp; valet reads neither form.
    (
        "datasets",
        "ByDimensionsDatasetRecordStorageManagerUUID",
        &[1, 2],
    ),
    ("opaque", "ByNameOpaqueTableStorageManager", &[0]),
    (
        "datastores",
        "MonolithicDatastoreRegistryBridgeManager",
        &[0],
    ),
];

/// The managers a registry must have for valet to read it.
const REQUIRED: &[&str] = &["dimensions", "collections", "datasets"];

/// Check every manager version the source records; refuse with one line naming the
/// first unsupported one.
pub(crate) fn check(source: &mut Source) -> Result<(), RepoError> {
    let sql = format!(
        "SELECT name, value FROM {} WHERE name LIKE 'version:%' OR name LIKE 'config:registry.managers.%'",
        source.table("butler_attributes")
    );
    let rows = source.all(&sql)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut managers: Vec<(String, String)> = Vec::new();
    let mut versions: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let (name, value) = (text(&r[0]), text(&r[1]));
        if let Some(kind) = name.strip_prefix("config:registry.managers.") {
            managers.push((kind.to_owned(), value));
        } else if let Some(class) = name.strip_prefix("version:") {
            versions.push((class.to_owned(), value));
        }
    }
    for kind in REQUIRED {
        if !managers.iter().any(|(k, _)| k == kind) {
            return Err(RepoError::Invalid(format!(
                "the Butler registry records no {kind} manager in butler_attributes; valet cannot read it"
            )));
        }
    }
    for (kind, class) in &managers {
        let supported = SUPPORTED
            .iter()
            .find(|(k, end, _)| k == kind && class.ends_with(&format!(".{end}")));
        let version = versions
            .iter()
            .find(|(c, _)| c == class)
            .map(|(_, v)| v.as_str());
        let major = version.and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        match (supported, major) {
            (Some((_, _, majors)), Some(m)) if majors.contains(&m) => {}
            _ => {
                return Err(RepoError::Invalid(format!(
                "unsupported Butler registry: {kind} manager {class} version {}; valet adopts {}",
                version.unwrap_or("(none recorded)"),
                describe_supported(kind)
            )))
            }
        }
    }
    Ok(())
}

fn describe_supported(kind: &str) -> String {
    match SUPPORTED.iter().find(|(k, _, _)| *k == kind) {
        Some((_, class, majors)) => {
            let m: Vec<String> = majors.iter().map(|m| format!("{m}.x")).collect();
            format!("{class} {}", m.join(" or "))
        }
        None => format!("no {kind} manager"),
    }
}

/// The dimension universe the source was created with, as the JSON it stores.
pub(crate) fn stored_universe(source: &mut Source) -> Result<String, RepoError> {
    let sql = format!(
        "SELECT value FROM {} WHERE name = {}",
        source.table("butler_attributes"),
        literal("config:dimensions.json")
    );
    source
        .all(&sql)?
        .into_iter()
        .next()
        .and_then(|r| r[0].as_str().map(str::to_owned))
        .ok_or_else(|| {
            RepoError::Invalid(
                "the Butler registry stores no dimension configuration (config:dimensions.json in butler_attributes)"
                    .into(),
            )
        })
}
