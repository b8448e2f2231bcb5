//! Provenance, as DESC's registry keeps it: an execution is one pipeline stage (name,
//! description, site, configuration, start time, who); it depends on input datasets
//! and writes its outputs into RUNs. `lineage` walks dataset → execution → dataset
//! either way. An execution may not consume anything downstream of its own outputs,
//! so the graph never has a cycle.

use std::collections::{HashSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use uuid::Uuid;
use valet_registry::collections::get_collection;
use valet_registry::datasets::get_datasets;
use valet_registry::db::Value;
use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::named::{has_tables, named_node};
use valet_registry::{CollectionType, Conn, RegistryError, Result};

/// What a new execution is.
#[derive(Debug, Clone, Default)]
pub struct ExecutionSpec {
    /// Stage name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Where it ran.
    pub site: Option<String>,
    /// Its configuration (the text, not a path).
    pub configuration: Option<String>,
    /// When it started (UTC ns); default now.
    pub started_at: Option<i64>,
    /// Datasets it read.
    pub inputs: Vec<Uuid>,
    /// Named datasets it read.
    pub named_inputs: Vec<i64>,
    /// RUNs holding its outputs.
    pub runs: Vec<String>,
}

/// A node of a lineage graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LineageNode {
    /// A dataset.
    Dataset {
        /// Its id.
        id: Uuid,
        /// Its type.
        dataset_type: String,
        /// Its RUN.
        run: String,
    },
    /// A named (DESC-style) dataset.
    Named {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
        /// Its version.
        version: String,
    },
    /// An execution.
    Execution {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
    },
}

/// Record an execution; returns its id.
pub fn register_execution(conn: &mut Conn, spec: &ExecutionSpec) -> Result<i64> {
    if spec.name.trim().is_empty() {
        return Err(RegistryError::Invalid("an execution needs a name".into()));
    }
    let mut run_ids = Vec::new();
    for r in &spec.runs {
        let c = get_collection(conn, r)?;
        if c.kind != CollectionType::Run {
            return Err(RegistryError::Invalid(format!(
                "execution outputs go to RUN collections; {r:?} is {}",
                c.kind
            )));
        }
        valet_registry::access::check_write(conn, r)?;
        run_ids.push(c.id);
    }
    // Every input must exist; none may be downstream of this execution's outputs.
    let inputs = get_datasets(conn, &spec.inputs)?;
    let named = has_tables(conn)?;
    for n in &spec.named_inputs {
        if !named || named_node(conn, *n)?.is_none() {
            return Err(RegistryError::NotFound(format!(
                "execution {:?} reads named dataset {n}, which does not exist",
                spec.name
            )));
        }
    }
    let downstream = downstream_of_runs(conn, &run_ids, named)?;
    if let Some((_, d)) = inputs
        .iter()
        .find(|(_, d)| downstream.run_names.contains(&d.run))
    {
        return Err(RegistryError::Invalid(format!(
            "execution {:?} cannot read dataset {}: it is in (or derived from) the execution's own output runs, which would make a cycle",
            spec.name, d.id
        )));
    }
    if let Some(n) = spec
        .named_inputs
        .iter()
        .find(|n| downstream.named.contains(n))
    {
        return Err(RegistryError::Invalid(format!(
            "execution {:?} cannot read named dataset {n}: it is derived from the execution's own output runs, which would make a cycle",
            spec.name
        )));
    }
    let id = conn
        .query_opt(
            "INSERT INTO execution (name, description, site, configuration, started_at, registered_by) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING execution_id",
            &[
                spec.name.clone().into(),
                spec.description.clone().into(),
                spec.site.clone().into(),
                spec.configuration.clone().into(),
                spec.started_at.unwrap_or_else(now_utc_ns).into(),
                current_user()?.into(),
            ],
        )?
        .and_then(|r| r[0].as_i64())
        .ok_or_else(|| RegistryError::Schema("execution id not returned".into()))?;
    let input_rows: Vec<Vec<Value>> = spec
        .inputs
        .iter()
        .map(|d| vec![id.into(), Value::Uuid(*d)])
        .collect();
    conn.insert_rows(
        "execution_input",
        &["execution_id", "dataset_id"],
        &input_rows,
        None,
    )?;
    let now = now_utc_ns();
    let named_rows: Vec<Vec<Value>> = spec
        .named_inputs
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| vec![id.into(), (*n).into(), now.into()])
        .collect();
    conn.insert_rows(
        "dregs_dependency",
        &["execution_id", "input_id", "register_date"],
        &named_rows,
        None,
    )?;
    let run_rows: Vec<Vec<Value>> = run_ids
        .iter()
        .map(|r| vec![id.into(), (*r).into()])
        .collect();
    conn.insert_rows(
        "execution_run",
        &["execution_id", "run_id"],
        &run_rows,
        None,
    )?;
    Ok(id)
}

/// What lies downstream of some RUNs: the RUNs written by executions that read
/// from them (transitively) and the named datasets such executions wrote.
struct Downstream {
    run_names: HashSet<String>,
    named: HashSet<i64>,
}

fn ids_in(conn: &mut Conn, sql: &str, key: i64) -> Result<Vec<i64>> {
    Ok(conn
        .query(sql, &[key.into()])?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect())
}

/// Every RUN and named dataset downstream of `run_ids` (the runs included), walking
/// executions of both kinds until nothing new turns up.
fn downstream_of_runs(conn: &mut Conn, run_ids: &[i64], named: bool) -> Result<Downstream> {
    let mut seen_runs: HashSet<i64> = HashSet::new();
    let mut seen_named: HashSet<i64> = HashSet::new();
    let mut seen_executions: HashSet<i64> = HashSet::new();
    let mut runs: VecDeque<i64> = run_ids.iter().copied().collect();
    let mut named_queue: VecDeque<i64> = VecDeque::new();
    loop {
        let mut executions = Vec::new();
        if let Some(run) = runs.pop_front() {
            if seen_runs.insert(run) {
                executions = ids_in(
                    conn,
                    "SELECT DISTINCT ei.execution_id FROM dataset d JOIN execution_input ei ON ei.dataset_id = d.id WHERE d.run_id = ?",
                    run,
                )?;
            }
        } else if let Some(n) = named_queue.pop_front() {
            if seen_named.insert(n) {
                executions = ids_in(
                    conn,
                    "SELECT execution_id FROM dregs_dependency WHERE input_id = ?",
                    n,
                )?;
            }
        } else {
            break;
        }
        for e in executions {
            if !seen_executions.insert(e) {
                continue;
            }
            runs.extend(ids_in(
                conn,
                "SELECT run_id FROM execution_run WHERE execution_id = ?",
                e,
            )?);
            if named {
                named_queue.extend(ids_in(
                    conn,
                    "SELECT dataset_id FROM dregs_dataset WHERE execution_id = ?",
                    e,
                )?);
            }
        }
    }
    let mut run_names = HashSet::new();
    for r in seen_runs {
        if let Some(row) = conn.query_opt(
            "SELECT name FROM collection WHERE collection_id = ?",
            &[r.into()],
        )? {
            run_names.extend(row[0].as_str().map(str::to_owned));
        }
    }
    Ok(Downstream {
        run_names,
        named: seen_named,
    })
}

/// A dataset of either kind, as lineage walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DatasetKey {
    /// A Butler dataset, by UUID.
    Butler(Uuid),
    /// A named (DESC-style) dataset, by its integer id.
    Named(i64),
}

impl std::str::FromStr for DatasetKey {
    type Err = String;

    /// A UUID names a Butler dataset; an integer a named dataset.
    fn from_str(s: &str) -> std::result::Result<DatasetKey, String> {
        if let Ok(n) = s.trim().parse::<i64>() {
            return Ok(DatasetKey::Named(n));
        }
        Uuid::parse_str(s.trim())
            .map(DatasetKey::Butler)
            .map_err(|_| {
                format!("dataset id {s:?} is neither a UUID (a Butler dataset) nor an integer (a named dataset)")
            })
    }
}

fn dataset_node(conn: &mut Conn, key: DatasetKey) -> Result<LineageNode> {
    match key {
        DatasetKey::Butler(id) => {
            let (_, d) = get_datasets(conn, &[id])?
                .pop()
                .ok_or_else(|| RegistryError::NotFound(format!("dataset {id} does not exist")))?;
            Ok(LineageNode::Dataset {
                id,
                dataset_type: d.dataset_type,
                run: d.run,
            })
        }
        DatasetKey::Named(id) => {
            let n = named_node(conn, id)?.ok_or_else(|| {
                RegistryError::NotFound(format!("named dataset {id} does not exist"))
            })?;
            Ok(LineageNode::Named {
                id,
                name: n.name,
                version: n.version,
            })
        }
    }
}

fn execution_rows(conn: &mut Conn, sql: &str, key: Value) -> Result<Vec<(i64, String)>> {
    Ok(conn
        .query(sql, &[key])?
        .into_iter()
        .map(|e| {
            (
                e[0].as_i64().unwrap_or_default(),
                e[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// The executions that wrote `key` (`up`) or read it.
fn executions_of(
    conn: &mut Conn,
    key: DatasetKey,
    up: bool,
    named: bool,
) -> Result<Vec<(i64, String)>> {
    match (key, up) {
        (DatasetKey::Butler(id), true) => execution_rows(
            conn,
            "SELECT e.execution_id, e.name FROM execution e JOIN execution_run er ON er.execution_id = e.execution_id \
             JOIN dataset d ON d.run_id = er.run_id WHERE d.id = ? ORDER BY e.execution_id",
            Value::Uuid(id),
        ),
        (DatasetKey::Butler(id), false) => execution_rows(
            conn,
            "SELECT e.execution_id, e.name FROM execution e JOIN execution_input ei ON ei.execution_id = e.execution_id \
             WHERE ei.dataset_id = ? ORDER BY e.execution_id",
            Value::Uuid(id),
        ),
        (DatasetKey::Named(_), _) if !named => Ok(Vec::new()),
        (DatasetKey::Named(id), true) => execution_rows(
            conn,
            "SELECT e.execution_id, e.name FROM execution e JOIN dregs_dataset d ON d.execution_id = e.execution_id \
             WHERE d.dataset_id = ?",
            id.into(),
        ),
        (DatasetKey::Named(id), false) => execution_rows(
            conn,
            "SELECT e.execution_id, e.name FROM execution e JOIN dregs_dependency dd ON dd.execution_id = e.execution_id \
             WHERE dd.input_id = ? ORDER BY e.execution_id",
            id.into(),
        ),
    }
}

/// What execution `id` read (`up`) or wrote, of both kinds.
fn neighbours_of(conn: &mut Conn, id: i64, up: bool, named: bool) -> Result<Vec<DatasetKey>> {
    let butler = if up {
        "SELECT dataset_id FROM execution_input WHERE execution_id = ? ORDER BY dataset_id"
    } else {
        "SELECT d.id FROM dataset d JOIN execution_run er ON er.run_id = d.run_id WHERE er.execution_id = ? ORDER BY d.id"
    };
    let mut out: Vec<DatasetKey> = conn
        .query(butler, &[id.into()])?
        .iter()
        .filter_map(|r| r[0].as_uuid().map(DatasetKey::Butler))
        .collect();
    if named {
        let sql = if up {
            "SELECT input_id FROM dregs_dependency WHERE execution_id = ? ORDER BY input_id"
        } else {
            "SELECT dataset_id FROM dregs_dataset WHERE execution_id = ? ORDER BY dataset_id"
        };
        out.extend(
            conn.query(sql, &[id.into()])?
                .iter()
                .filter_map(|r| r[0].as_i64().map(DatasetKey::Named)),
        );
    }
    Ok(out)
}

/// The lineage graph of a dataset (a Butler or a named one): `up` walks to what
/// produced it, otherwise to what was built from it, at most `depth`
/// dataset-to-dataset steps. Edges point the way data flowed (input → execution →
/// output), whichever kind each dataset is.
pub fn lineage(
    conn: &mut Conn,
    dataset: impl Into<DatasetKey>,
    up: bool,
    depth: usize,
) -> Result<DiGraph<LineageNode, ()>> {
    let dataset = dataset.into();
    let named = has_tables(conn)?;
    let mut graph: DiGraph<LineageNode, ()> = DiGraph::new();
    let mut index: std::collections::HashMap<LineageNode, NodeIndex> = Default::default();
    let mut node = |g: &mut DiGraph<LineageNode, ()>, n: LineageNode| -> NodeIndex {
        *index.entry(n.clone()).or_insert_with(|| g.add_node(n))
    };
    let start = dataset_node(conn, dataset)?;
    let start_ix = node(&mut graph, start);
    let mut frontier = vec![(dataset, start_ix)];
    let mut visited: HashSet<DatasetKey> = HashSet::from([dataset]);
    for _ in 0..depth {
        let mut next = Vec::new();
        for (key, ix) in frontier {
            for (eid, name) in executions_of(conn, key, up, named)? {
                let ex = node(&mut graph, LineageNode::Execution { id: eid, name });
                if up {
                    graph.update_edge(ex, ix, ());
                } else {
                    graph.update_edge(ix, ex, ());
                }
                for nkey in neighbours_of(conn, eid, up, named)? {
                    let nix = node(&mut graph, dataset_node(conn, nkey)?);
                    if up {
                        graph.update_edge(nix, ex, ());
                    } else {
                        graph.update_edge(ex, nix, ());
                    }
                    if visited.insert(nkey) {
                        next.push((nkey, nix));
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(graph)
}

impl From<Uuid> for DatasetKey {
    fn from(id: Uuid) -> DatasetKey {
        DatasetKey::Butler(id)
    }
}
