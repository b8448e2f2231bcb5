//! The small tables of the source registry, read whole: dataset types with their
//! dimensions and tables, collections, and chains. Also the choice of what to adopt
//! from `-c` and `-d`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;
use valet_registry::{CollectionType, Value};

use super::source::Source;
use crate::RepoError;

/// A dataset type of the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceType {
    /// Its id in the source.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Storage class.
    pub storage_class: String,
    /// Required dimensions (the columns of its tags table).
    pub dimensions: Vec<String>,
    /// Its tags table.
    pub tags_table: String,
    /// Its calibs table, for calibration types.
    pub calibs_table: Option<String>,
}

/// A collection of the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceCollection {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: CollectionType,
    /// Documentation.
    pub doc: Option<String>,
    /// Children in order, for chains (source ids).
    pub children: Vec<i64>,
}

/// Everything small about the source.
pub(crate) struct Catalog {
    /// Dataset types.
    pub types: Vec<SourceType>,
    /// Collections by source id.
    pub collections: BTreeMap<i64, SourceCollection>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn int(v: &Value, what: &str) -> Result<i64, RepoError> {
    v.as_i64().ok_or_else(|| {
        RepoError::Invalid(format!(
            "the Butler registry holds {what} {v}, which is not an integer"
        ))
    })
}

impl Catalog {
    /// Read the source's dataset types, collections and chains.
    pub fn read(source: &mut Source) -> Result<Catalog, RepoError> {
        let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
        let sql = format!(
            "SELECT dimension_graph_id, dimension_name FROM {}",
            source.table("dimension_graph_definition")
        );
        for r in source.all(&sql)? {
            groups
                .entry(int(&r[0], "a dimension group id")?)
                .or_default()
                .push(text(&r[1]));
        }
        let sql = format!(
            "SELECT id, name, storage_class, dimensions_key, tag_association_table, calibration_association_table FROM {} ORDER BY name",
            source.table("dataset_type")
        );
        let mut types = Vec::new();
        for r in source.all(&sql)? {
            let key = int(&r[3], "a dimensions key")?;
            types.push(SourceType {
                id: int(&r[0], "a dataset type id")?,
                name: text(&r[1]),
                storage_class: text(&r[2]),
                dimensions: groups.get(&key).cloned().unwrap_or_default(),
                tags_table: text(&r[4]),
                calibs_table: r[5].as_str().map(str::to_owned),
            });
        }
        let sql = format!(
            "SELECT collection_id, name, type, doc FROM {}",
            source.table("collection")
        );
        let mut collections = BTreeMap::new();
        for r in source.all(&sql)? {
            let name = text(&r[1]);
            let kind = match int(&r[2], "a collection type")? {
                1 => CollectionType::Run,
                2 => CollectionType::Tagged,
                3 => CollectionType::Chained,
                4 => CollectionType::Calibration,
                other => {
                    return Err(RepoError::Invalid(format!(
                        "collection {name:?} of the Butler registry has unknown type {other}"
                    )))
                }
            };
            collections.insert(
                int(&r[0], "a collection id")?,
                SourceCollection {
                    name,
                    kind,
                    doc: r[3].as_str().filter(|d| !d.is_empty()).map(str::to_owned),
                    children: Vec::new(),
                },
            );
        }
        let sql = format!(
            "SELECT parent, child FROM {} ORDER BY parent, position",
            source.table("collection_chain")
        );
        for r in source.all(&sql)? {
            let (parent, child) = (int(&r[0], "a chain")?, int(&r[1], "a chain child")?);
            if !collections.contains_key(&child) {
                return Err(RepoError::Invalid(format!(
                    "a chain of the Butler registry names collection id {child}, which does not exist"
                )));
            }
            if let Some(c) = collections.get_mut(&parent) {
                c.children.push(child);
            }
        }
        Ok(Catalog { types, collections })
    }

    /// The collections `patterns` name (all when empty), with every collection their
    /// chains reach. Unknown literal names are refused.
    pub fn select_collections(
        &self,
        patterns: &[String],
        regexes: &[Regex],
    ) -> Result<BTreeSet<i64>, RepoError> {
        if patterns.is_empty() {
            return Ok(self.collections.keys().copied().collect());
        }
        let mut selected = BTreeSet::new();
        let mut stack: Vec<i64> = Vec::new();
        for (p, re) in patterns.iter().zip(regexes) {
            let before = stack.len();
            stack.extend(
                self.collections
                    .iter()
                    .filter(|(_, c)| re.is_match(&c.name))
                    .map(|(id, _)| *id),
            );
            if stack.len() == before && !valet_registry::glob::is_glob(p) {
                return Err(RepoError::Invalid(format!(
                    "the Butler repository has no collection {p:?}"
                )));
            }
        }
        while let Some(id) = stack.pop() {
            if selected.insert(id) {
                stack.extend(self.collections[&id].children.iter().copied());
            }
        }
        Ok(selected)
    }

    /// The dataset types `regexes` match (all when empty).
    pub fn select_types(&self, regexes: &[Regex]) -> Vec<SourceType> {
        self.types
            .iter()
            .filter(|t| regexes.is_empty() || regexes.iter().any(|r| r.is_match(&t.name)))
            .cloned()
            .collect()
    }

    /// The chains among `ids`, each after the chains it contains.
    pub fn chains_in_order(&self, ids: &BTreeSet<i64>) -> Vec<i64> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for id in ids {
            self.post_order(*id, &mut done, &mut order);
        }
        order
    }

    fn post_order(&self, id: i64, done: &mut BTreeSet<i64>, order: &mut Vec<i64>) {
        let c = &self.collections[&id];
        if c.kind != CollectionType::Chained || !done.insert(id) {
            return;
        }
        for child in &c.children {
            self.post_order(*child, done, order);
        }
        order.push(id);
    }

    /// Ids of the selected collections of one type, as an SQL list.
    pub fn id_list(&self, ids: &BTreeSet<i64>, kind: CollectionType) -> Vec<i64> {
        ids.iter()
            .copied()
            .filter(|id| self.collections[id].kind == kind)
            .collect()
    }
}

/// Integers as an SQL `IN` list (never empty: `(NULL)` matches nothing).
pub(crate) fn sql_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "(NULL)".into();
    }
    let items: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("({})", items.join(", "))
}
