//! Collection queries with the reference's ordering: collections matched by patterns
//! first (sorted by name), then explicit names in the order given, each once; chains
//! optionally expanded depth-first; types filtered last.

use std::collections::HashSet;

use valet_registry::collections::{all_collections, get_collection};
use valet_registry::glob::{full_regex, glob_to_regex, is_glob};
use valet_registry::{CollectionRecord, CollectionType, Conn, Result};

use crate::chains::{expand_tree, flatten};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct CollectionQuery {
    /// Names, globs, or (with `regex`) regular expressions; empty means all.
    pub patterns: Vec<String>,
    /// Treat every pattern as a regular expression (fullmatched).
    pub regex: bool,
    /// Keep only these types (empty: all).
    pub types: Vec<CollectionType>,
    /// Replace chains by their children, depth-first.
    pub flatten_chains: bool,
    /// With `flatten_chains`, keep the chains themselves too (default: not when
    /// flattening, as the reference).
    pub include_chains: Option<bool>,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
}

/// Run a collection query.
pub fn query_collections(conn: &mut Conn, q: &CollectionQuery) -> Result<Vec<CollectionRecord>> {
    let mut matched: Vec<CollectionRecord> = Vec::new();
    let mut explicit: Vec<CollectionRecord> = Vec::new();
    let patterns: Vec<String> = if q.patterns.is_empty() {
        vec!["*".into()]
    } else {
        q.patterns.clone()
    };
    let mut all: Option<Vec<CollectionRecord>> = None;
    for p in &patterns {
        if q.regex || is_glob(p) {
            let re = if q.regex {
                full_regex(p)?
            } else {
                glob_to_regex(p)?
            };
            if all.is_none() {
                all = Some(all_collections(conn)?);
            }
            let candidates = all.as_deref().unwrap_or_default();
            matched.extend(candidates.iter().filter(|c| re.is_match(&c.name)).cloned());
        } else {
            explicit.push(get_collection(conn, p)?);
        }
    }
    matched.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = HashSet::new();
    let ordered: Vec<CollectionRecord> = matched
        .into_iter()
        .chain(explicit)
        .filter(|c| seen.insert(c.id))
        .collect();
    let include_chains = q.include_chains.unwrap_or(!q.flatten_chains);
    let expanded = if q.flatten_chains {
        let names: Vec<String> = ordered.iter().map(|c| c.name.clone()).collect();
        if include_chains {
            expand_tree(conn, &names, q.as_of)?
        } else {
            flatten(conn, &names, q.as_of)?
        }
    } else if include_chains {
        ordered
    } else {
        ordered
            .into_iter()
            .filter(|c| c.kind != CollectionType::Chained)
            .collect()
    };
    Ok(expanded
        .into_iter()
        .filter(|c| q.types.is_empty() || q.types.contains(&c.kind))
        .collect())
}
