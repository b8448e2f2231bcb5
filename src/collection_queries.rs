//! Collection reads through [`Repo`]: listing collections with their chains shown as
//! asked, the names that patterns mean, chain history and the naming lint.

use valet_collections::chains::{
    chain_history, children_as_of, children_of, expand_tree, flatten, parents_of,
};
use valet_collections::naming::lint;
use valet_collections::{query_collections, CollectionQuery};
use valet_registry::collections::get_collection;
use valet_registry::dataset_types::all_dataset_types;
use valet_registry::datasets::summary_type_ids;
use valet_registry::{CollectionRecord, CollectionType, Conn, RegistryError};

pub use valet_collections::naming::{Finding, Severity};
pub use valet_collections::ChainEdit;

use crate::{Repo, RepoError};

/// How [`Repo::query_collections`] shows chains (the reference's `--chains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ChainsView {
    /// Chains followed by their children, depth-first, each row with its depth.
    #[default]
    Tree,
    /// One row per collection, with the children of chains.
    Table,
    /// Collections followed by the chains that list them, each row with its depth.
    InverseTree,
    /// One row per collection, with the chains that list it.
    InverseTable,
    /// Chains replaced by their non-chain leaves.
    Flatten,
    /// Collections only.
    NoChildren,
}

/// What [`Repo::query_collections`] lists.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct QueryCollectionsOptions {
    /// Names, globs, or (with `regex`) regular expressions; empty means all.
    pub patterns: Vec<String>,
    /// Treat every pattern as a regular expression (fullmatched).
    pub regex: bool,
    /// Only these collection types (empty: all).
    pub types: Vec<CollectionType>,
    /// How chains are shown.
    pub chains: ChainsView,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
}

/// One row of a collection listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollectionRow {
    /// The collection.
    pub record: CollectionRecord,
    /// In the tree views, how deep below a listed collection it is (0: listed).
    pub depth: usize,
    /// In the table views, the children of a chain (or, inverse, the chains listing
    /// the collection); empty otherwise.
    pub related: Vec<String>,
}

impl Repo {
    /// List collections, with their chains shown as `options.chains` says.
    pub fn query_collections(
        &self,
        options: &QueryCollectionsOptions,
    ) -> Result<Vec<CollectionRow>, RepoError> {
        let at = options.as_of;
        let mut conn = self.registry.db.conn()?;
        let flatten = options.chains == ChainsView::Flatten;
        let found = query_collections(
            &mut conn,
            &CollectionQuery {
                patterns: options.patterns.clone(),
                regex: options.regex,
                types: options.types.clone(),
                flatten_chains: flatten,
                include_chains: if flatten { Some(false) } else { None },
                as_of: at,
            },
        )?;
        let row = |record: CollectionRecord, depth, related| CollectionRow {
            record,
            depth,
            related,
        };
        let mut rows = Vec::new();
        match options.chains {
            ChainsView::Tree | ChainsView::InverseTree => {
                let inverse = options.chains == ChainsView::InverseTree;
                for c in &found {
                    let mut tree = Vec::new();
                    tree_rows(&mut conn, c, 0, at, inverse, &mut tree)?;
                    rows.extend(tree.into_iter().map(|(d, r)| row(r, d, vec![])));
                }
            }
            ChainsView::Table | ChainsView::InverseTable => {
                let inverse = options.chains == ChainsView::InverseTable;
                for c in found {
                    let related = related(&mut conn, &c, at, inverse)?;
                    rows.push(row(c, 0, related.into_iter().map(|r| r.name).collect()));
                }
            }
            ChainsView::Flatten | ChainsView::NoChildren => {
                // In registration order, as the reference lists them.
                let mut found = found;
                found.sort_by_key(|c| c.id);
                rows.extend(found.into_iter().map(|c| row(c, 0, vec![])));
            }
        }
        Ok(rows)
    }

    /// The names of the collections of these types that names or globs mean.
    pub fn matching_collections(
        &self,
        patterns: &[String],
        types: &[CollectionType],
    ) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let found = query_collections(
            &mut conn,
            &CollectionQuery {
                patterns: patterns.to_vec(),
                types: types.to_vec(),
                ..Default::default()
            },
        )?;
        Ok(found.into_iter().map(|c| c.name).collect())
    }

    /// The collections that names or globs mean, each chain replaced by what it
    /// reaches in search order (depth-first, first occurrence kept), and listed
    /// before its children with `include_chains`: the reference's
    /// `flatten_chains=True`. Only collections of `types` are kept (all if empty).
    pub fn collections_in_search_order(
        &self,
        patterns: &[String],
        types: &[CollectionType],
        include_chains: bool,
    ) -> Result<Vec<CollectionRecord>, RepoError> {
        let names = self.matching_collections(patterns, &[])?;
        let mut conn = self.registry.db.conn()?;
        let found = if include_chains {
            expand_tree(&mut conn, &names, None)?
        } else {
            flatten(&mut conn, &names, None)?
        };
        Ok(found
            .into_iter()
            .filter(|c| types.is_empty() || types.contains(&c.kind))
            .collect())
    }

    /// The collection of this name.
    pub fn collection(&self, name: &str) -> Result<CollectionRecord, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(get_collection(&mut conn, name)?)
    }

    /// The children of a chain, in order; a collection of another type is an error.
    pub fn chain_children(&self, chain: &str) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let record = get_collection(&mut conn, chain)?;
        if record.kind != CollectionType::Chained {
            return Err(RepoError::Invalid(format!(
                "collection {chain:?} is {}, not CHAINED",
                record.kind
            )));
        }
        Ok(children_of(&mut conn, record.id)?
            .into_iter()
            .map(|c| c.name)
            .collect())
    }

    /// The chains that list a collection as a child, by name.
    pub fn chain_parents(&self, name: &str) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        get_collection(&mut conn, name)?;
        let mut parents: Vec<String> = parents_of(&mut conn, name)?
            .into_iter()
            .map(|c| c.name)
            .collect();
        parents.sort();
        Ok(parents)
    }

    /// The names of the dataset types a collection (or, for a chain, any collection
    /// it reaches) has ever held: the reference's collection summary.
    pub fn collection_dataset_types(&self, name: &str) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let mut ids = std::collections::HashSet::new();
        for c in flatten(&mut conn, &[name.to_owned()], None)? {
            ids.extend(summary_type_ids(&mut conn, c.id)?);
        }
        let mut names: Vec<String> = all_dataset_types(&mut conn)?
            .into_iter()
            .filter(|t| ids.contains(&t.id))
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every recorded edit of a chain, oldest first.
    pub fn chain_history(&self, chain: &str) -> Result<Vec<ChainEdit>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(chain_history(&mut conn, chain)?)
    }

    /// Every collection checked against the naming conventions.
    pub fn lint_collections(&self) -> Result<Vec<Finding>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(lint(&mut conn)?)
    }
}

/// The chains listing `c` (`inverse`), or the children of `c` if it is a chain (as of
/// `at`).
fn related(
    conn: &mut Conn,
    c: &CollectionRecord,
    at: Option<i64>,
    inverse: bool,
) -> Result<Vec<CollectionRecord>, RegistryError> {
    if inverse {
        parents_of(conn, &c.name)
    } else if c.kind == CollectionType::Chained {
        match at {
            Some(t) => children_as_of(conn, &c.name, t),
            None => children_of(conn, c.id),
        }
    } else {
        Ok(vec![])
    }
}

/// `c` and, depth-first below it, what [`related`] gives, with depths.
fn tree_rows(
    conn: &mut Conn,
    c: &CollectionRecord,
    depth: usize,
    at: Option<i64>,
    inverse: bool,
    rows: &mut Vec<(usize, CollectionRecord)>,
) -> Result<(), RegistryError> {
    rows.push((depth, c.clone()));
    if depth > 64 {
        return Ok(());
    }
    for n in related(conn, c, at, inverse)? {
        tree_rows(conn, &n, depth + 1, at, inverse, rows)?;
    }
    Ok(())
}
