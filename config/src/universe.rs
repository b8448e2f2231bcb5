//! The dimension universe, read from the reference Butler's `dimensions.yaml` format.
//!
//! Only what a registry engine needs is kept: element keys, `requires`/`implies`
//! relationships, metadata columns, governors, and which elements carry a timespan or a
//! region (taken from the `topology` section).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::ConfigError;

/// The universe that ships with valet: the reference Butler's version 8.
pub const DEFAULT_UNIVERSE_YAML: &str = include_str!("../dimensions.yaml");

/// The type of a key or metadata column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer.
    Int,
    /// Text with a maximum length.
    String(u32),
    /// Double-precision float.
    Float,
    /// Boolean.
    Bool,
    /// Fixed-size binary hash.
    Hash(u32),
}

/// One key or metadata column of an element.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
    /// Whether NULL is allowed (metadata only; keys are never NULL).
    pub nullable: bool,
}

/// A dimension element: a dimension (it has keys) or a combination such as
/// `visit_detector_region` (no keys of its own).
#[derive(Debug, Clone)]
pub struct Element {
    /// Element name.
    pub name: String,
    /// Key columns; the first is the primary key, the others alternate unique keys.
    pub keys: Vec<ColumnSpec>,
    /// Direct `requires` dependencies (part of the primary key).
    pub requires: Vec<String>,
    /// Direct `implies` dependencies (non-key foreign keys).
    pub implies: Vec<String>,
    /// Metadata columns.
    pub metadata: Vec<ColumnSpec>,
    /// Governor dimensions (instrument, skymap) partition everything below them.
    pub governor: bool,
    /// Has a timespan (stored as TAI nanoseconds, half-open).
    pub temporal: bool,
    /// Has a region.
    pub spatial: bool,
    /// Name of the element whose table this one is a view of (`band` over `physical_filter`).
    pub view_of: Option<String>,
    /// A skypix dimension (no table; values are pixel indices).
    pub skypix: bool,
    /// The dimension whose records bring this element's (`visit` for
    /// `visit_definition`): copying a visit's records copies these too.
    pub populated_by: Option<String>,
    /// Index of this element in universe order.
    pub index: usize,
}

impl Element {
    /// True if this element is a dimension (it has a primary key of its own).
    pub fn is_dimension(&self) -> bool {
        !self.keys.is_empty()
    }

    /// True if records of this element live in a table of their own.
    pub fn has_table(&self) -> bool {
        self.view_of.is_none() && !self.skypix
    }

    /// The primary key column, for dimensions.
    pub fn primary_key(&self) -> Option<&ColumnSpec> {
        self.keys.first()
    }
}

/// A normalized set of dimensions: the `required` ones identify a data ID; the `implied`
/// ones follow from records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DimensionGroup {
    /// Required dimensions, in universe order.
    pub required: Vec<String>,
    /// Implied dimensions, in universe order.
    pub implied: Vec<String>,
}

impl DimensionGroup {
    /// All dimensions (required then implied), each in universe order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.required
            .iter()
            .chain(self.implied.iter())
            .map(String::as_str)
    }

    /// The canonical key of the group: all dimension names joined by `+` in universe
    /// order, as the reference writes dimension-group template keys.
    pub fn key(&self, universe: &Universe) -> String {
        let mut all: Vec<&str> = self.names().collect();
        all.sort_by_key(|n| universe.element(n).map(|e| e.index).unwrap_or(usize::MAX));
        all.join("+")
    }
}

/// The dimension universe.
#[derive(Debug, Clone)]
pub struct Universe {
    /// Universe version.
    pub version: u32,
    /// Universe namespace.
    pub namespace: String,
    /// Elements, in universe (topological) order.
    pub elements: Vec<Element>,
    by_name: HashMap<String, usize>,
    /// The spatial families of the `topology` section (`observation_regions`,
    /// `skymap_regions`), by name, each listing its elements most specific first.
    pub spatial_families: BTreeMap<String, Vec<String>>,
    /// The YAML text this universe was read from.
    pub source: String,
}

#[derive(Deserialize)]
struct RawUniverse {
    version: u32,
    namespace: Option<String>,
    #[serde(default)]
    skypix: BTreeMap<String, serde_yaml_ng::Value>,
    elements: BTreeMap<String, RawElement>,
    #[serde(default)]
    topology: RawTopology,
}

#[derive(Deserialize, Default)]
struct RawTopology {
    #[serde(default)]
    spatial: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    temporal: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct RawElement {
    #[serde(default)]
    keys: Vec<RawColumn>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    implies: Vec<String>,
    #[serde(default)]
    metadata: Vec<RawColumn>,
    #[serde(default)]
    governor: bool,
    #[serde(default)]
    storage: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    populated_by: Option<String>,
}

#[derive(Deserialize)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    length: Option<u32>,
    nbytes: Option<u32>,
    nullable: Option<bool>,
}

impl RawColumn {
    fn spec(&self, element: &str) -> Result<ColumnSpec, ConfigError> {
        let ty = match self.ty.as_str() {
            "int" => ColumnType::Int,
            "string" => ColumnType::String(self.length.unwrap_or(255)),
            "float" => ColumnType::Float,
            "bool" => ColumnType::Bool,
            "hash" => ColumnType::Hash(self.nbytes.unwrap_or(32)),
            other => {
                return Err(ConfigError::Universe(format!(
                    "element {element}: column {} has unknown type {other:?}",
                    self.name
                )))
            }
        };
        Ok(ColumnSpec {
            name: self.name.clone(),
            ty,
            nullable: self.nullable.unwrap_or(true),
        })
    }
}

fn view_of(storage: &Option<serde_yaml_ng::Value>) -> Option<String> {
    let storage = storage.as_ref()?;
    let nested = storage.get("nested").unwrap_or(storage);
    nested
        .get("view_of")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

impl Universe {
    /// The default universe (the reference's version 8).
    pub fn default_universe() -> Universe {
        // The embedded file is part of the build and parsed by the tests.
        Universe::from_yaml(DEFAULT_UNIVERSE_YAML).expect("embedded universe is valid")
    }

    /// Parse a universe from the reference's `dimensions.yaml` text.
    pub fn from_yaml(text: &str) -> Result<Universe, ConfigError> {
        let raw: RawUniverse = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::Universe(format!("cannot parse dimension config: {e}")))?;
        let spatial: BTreeSet<&str> = raw
            .topology
            .spatial
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        let temporal: BTreeSet<&str> = raw
            .topology
            .temporal
            .values()
            .flatten()
            .map(String::as_str)
            .collect();

        // Keep the file's order where it is already topological; a dependency defined
        // later is moved ahead by the sort below.
        let order = file_order(text, &raw.elements);
        let mut elements = Vec::new();
        for name in &order {
            let e = &raw.elements[name];
            let keys = e
                .keys
                .iter()
                .map(|c| {
                    c.spec(name).map(|mut s| {
                        s.nullable = false;
                        s
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let metadata = e
                .metadata
                .iter()
                .map(|c| c.spec(name))
                .collect::<Result<Vec<_>, _>>()?;
            elements.push(Element {
                name: name.clone(),
                keys,
                requires: e.requires.clone(),
                implies: e.implies.clone(),
                metadata,
                governor: e.governor,
                temporal: temporal.contains(name.as_str()),
                spatial: spatial.contains(name.as_str()),
                view_of: view_of(&e.storage),
                skypix: false,
                populated_by: e.populated_by.clone(),
                index: 0,
            });
        }
        for (system, spec) in &raw.skypix {
            let Some(max_level) = spec.get("max_level").and_then(|v| v.as_u64()) else {
                continue;
            };
            for level in 0..=max_level {
                elements.push(Element {
                    name: format!("{system}{level}"),
                    keys: vec![ColumnSpec {
                        name: "id".into(),
                        ty: ColumnType::Int,
                        nullable: false,
                    }],
                    requires: vec![],
                    implies: vec![],
                    metadata: vec![],
                    governor: false,
                    temporal: false,
                    spatial: true,
                    view_of: None,
                    skypix: true,
                    populated_by: None,
                    index: 0,
                });
            }
        }
        let elements = topological_sort(elements)?;
        let by_name = elements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(Universe {
            version: raw.version,
            namespace: raw.namespace.unwrap_or_else(|| "daf_butler".into()),
            elements,
            by_name,
            spatial_families: raw.topology.spatial.clone(),
            source: text.to_owned(),
        })
    }

    /// The element whose region best describes data IDs of `group` (the
    /// reference's `DimensionGroup.region_dimension`): when the group's spatial
    /// elements all belong to one family, that family's most specific element the
    /// group holds (`visit_detector_region` for calexps, `patch` for coadds); `None`
    /// with no spatial element or several families.
    pub fn region_element(&self, group: &DimensionGroup) -> Option<&Element> {
        let dims: BTreeSet<&str> = group.names().collect();
        let holds = |e: &Element| {
            self.required_of(&e.name)
                .is_ok_and(|req| req.iter().all(|d| dims.contains(d.as_str())))
        };
        let mut chosen = Vec::new();
        for members in self.spatial_families.values() {
            if let Some(e) = members
                .iter()
                .filter_map(|m| self.element(m))
                .find(|e| holds(e))
            {
                chosen.push(e);
            }
        }
        // Each skypix dimension of the group is a family of its own.
        chosen.extend(
            group
                .names()
                .filter_map(|d| self.element(d))
                .filter(|e| e.skypix),
        );
        match chosen[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Look an element up by name.
    pub fn element(&self, name: &str) -> Option<&Element> {
        self.by_name.get(name).map(|&i| &self.elements[i])
    }

    /// Look an element up by name, or fail with a clear message.
    pub fn get(&self, name: &str) -> Result<&Element, ConfigError> {
        self.element(name)
            .ok_or_else(|| ConfigError::Universe(format!("unknown dimension element {name:?}")))
    }

    /// Dimension names in the order the reference lists a group's names: by depth
    /// (how many `requires`/`implies` steps lead down from the dimension), then by
    /// name (`band, instrument, day_obs, detector, physical_filter, visit`).
    pub fn reference_order(&self, names: &[String]) -> Vec<String> {
        fn depth(u: &Universe, name: &str, seen: &mut Vec<String>) -> usize {
            let Some(e) = u.element(name) else { return 0 };
            if seen.iter().any(|s| s == name) {
                return 0;
            }
            seen.push(name.to_owned());
            let d = e
                .requires
                .iter()
                .chain(&e.implies)
                .map(|n| 1 + depth(u, n, seen))
                .max()
                .unwrap_or(0);
            seen.pop();
            d
        }
        let mut keyed: Vec<(usize, String)> = names
            .iter()
            .map(|n| (depth(self, n, &mut Vec::new()), n.clone()))
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, n)| n).collect()
    }

    /// The full set of required dimensions of an element, in universe order: the
    /// closure of its `requires`, plus the element itself when it is a dimension.
    pub fn required_of(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let mut set = BTreeSet::new();
        self.collect_requires(name, &mut set)?;
        if self.get(name)?.is_dimension() {
            set.insert(self.get(name)?.index);
        }
        Ok(set
            .into_iter()
            .map(|i| self.elements[i].name.clone())
            .collect())
    }

    fn collect_requires(&self, name: &str, out: &mut BTreeSet<usize>) -> Result<(), ConfigError> {
        for r in &self.get(name)?.requires {
            let e = self.get(r)?;
            if out.insert(e.index) {
                self.collect_requires(r, out)?;
            }
        }
        Ok(())
    }

    /// Normalize a list of dimension names into a group: expand `requires` and
    /// `implies` closures, then split into required (not implied by another member)
    /// and implied.
    pub fn group<S: AsRef<str>>(&self, names: &[S]) -> Result<DimensionGroup, ConfigError> {
        let mut all = BTreeSet::new();
        let mut stack: Vec<String> = names.iter().map(|s| s.as_ref().to_owned()).collect();
        while let Some(n) = stack.pop() {
            let e = self.get(&n)?;
            if !e.is_dimension() {
                return Err(ConfigError::Universe(format!(
                    "{n:?} is a dimension element, not a dimension"
                )));
            }
            if all.insert(e.index) {
                stack.extend(e.requires.iter().cloned());
                stack.extend(e.implies.iter().cloned());
            }
        }
        let implied: BTreeSet<usize> = all
            .iter()
            .flat_map(|&i| self.elements[i].implies.iter())
            .filter_map(|n| self.element(n).map(|e| e.index))
            .collect();
        let mut group = DimensionGroup {
            required: vec![],
            implied: vec![],
        };
        for i in all {
            let name = self.elements[i].name.clone();
            if implied.contains(&i) {
                group.implied.push(name);
            } else {
                group.required.push(name);
            }
        }
        Ok(group)
    }

    /// Elements that have a table, in an order where every dependency comes first.
    pub fn table_elements(&self) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(|e| e.has_table())
    }

    /// The governor dimensions (instrument, skymap).
    pub fn governors(&self) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(|e| e.governor)
    }
}

/// Element names in the order their definitions appear in the file.
fn file_order(text: &str, elements: &BTreeMap<String, RawElement>) -> Vec<String> {
    let mut found: Vec<(usize, String)> = elements
        .keys()
        .map(|name| {
            let needle = format!("\n  {name}:");
            (text.find(&needle).unwrap_or(usize::MAX), name.clone())
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

/// Stable topological sort: dependencies (`requires`, `implies`) first,
/// otherwise the given order.
fn topological_sort(elements: Vec<Element>) -> Result<Vec<Element>, ConfigError> {
    let names: HashMap<String, usize> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), i))
        .collect();
    let mut placed = vec![false; elements.len()];
    let mut order = Vec::with_capacity(elements.len());
    fn visit(
        i: usize,
        elements: &[Element],
        names: &HashMap<String, usize>,
        placed: &mut [bool],
        visiting: &mut BTreeSet<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), ConfigError> {
        if placed[i] {
            return Ok(());
        }
        if !visiting.insert(i) {
            return Err(ConfigError::Universe(format!(
                "dependency cycle through element {:?}",
                elements[i].name
            )));
        }
        let e = &elements[i];
        for dep in e.requires.iter().chain(e.implies.iter()) {
            let j = *names.get(dep).ok_or_else(|| {
                ConfigError::Universe(format!(
                    "element {:?} depends on unknown element {dep:?}",
                    e.name
                ))
            })?;
            visit(j, elements, names, placed, visiting, order)?;
        }
        visiting.remove(&i);
        placed[i] = true;
        order.push(i);
        Ok(())
    }
    let mut visiting = BTreeSet::new();
    for i in 0..elements.len() {
        visit(i, &elements, &names, &mut placed, &mut visiting, &mut order)?;
    }
    let mut slots: Vec<Option<Element>> = elements.into_iter().map(Some).collect();
    let mut sorted = Vec::with_capacity(order.len());
    for (index, i) in order.into_iter().enumerate() {
        let mut e = slots[i].take().expect("each element placed once");
        e.index = index;
        sorted.push(e);
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_element_is_the_most_specific_of_one_family() {
        let u = Universe::default_universe();
        let region = |dims: &[&str]| {
            let group = u.group(dims).unwrap();
            u.region_element(&group).map(|e| e.name.clone())
        };
        assert_eq!(
            region(&["instrument", "detector", "visit"]).as_deref(),
            Some("visit_detector_region")
        );
        assert_eq!(region(&["instrument", "visit"]).as_deref(), Some("visit"));
        assert_eq!(
            region(&["skymap", "tract", "patch", "band"]).as_deref(),
            Some("patch")
        );
        assert_eq!(region(&["instrument", "detector", "exposure"]), None);
        // Two families: no single answer.
        assert_eq!(region(&["instrument", "visit", "skymap", "tract"]), None);
    }

    #[test]
    fn default_universe_loads() {
        let u = Universe::default_universe();
        assert_eq!(u.version, 8);
        assert_eq!(u.namespace, "daf_butler");
        let visit = u.element("visit").unwrap();
        assert!(visit.temporal && visit.spatial);
        assert_eq!(visit.keys[1].name, "name");
        assert!(u.element("instrument").unwrap().governor);
        assert_eq!(
            u.element("band").unwrap().view_of.as_deref(),
            Some("physical_filter")
        );
        assert!(u.element("htm7").unwrap().skypix);
        // Dependencies come first.
        assert!(u.element("instrument").unwrap().index < u.element("exposure").unwrap().index);
        assert!(u.element("physical_filter").unwrap().index < u.element("visit").unwrap().index);
    }

    #[test]
    fn groups_split_required_and_implied() {
        let u = Universe::default_universe();
        let g = u
            .group(&[
                "band",
                "instrument",
                "day_obs",
                "detector",
                "group",
                "physical_filter",
                "exposure",
            ])
            .unwrap();
        assert_eq!(g.required, vec!["instrument", "detector", "exposure"]);
        let mut implied = g.implied.clone();
        implied.sort();
        assert_eq!(implied, vec!["band", "day_obs", "group", "physical_filter"]);
        let g = u.group(&["visit", "detector"]).unwrap();
        assert_eq!(g.required, vec!["instrument", "detector", "visit"]);
        assert_eq!(
            u.required_of("patch").unwrap(),
            vec!["skymap", "tract", "patch"]
        );
        assert_eq!(
            u.required_of("visit_detector_region").unwrap(),
            vec!["instrument", "detector", "visit"]
        );
        assert!(u.group(&["nonsense"]).is_err());
        assert!(u.group(&["visit_detector_region"]).is_err());
    }
}
