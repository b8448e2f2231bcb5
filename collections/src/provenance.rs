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
    /// RUNs holding its outputs.
    pub runs: Vec<String>,
}

/// A node of a lineage graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    let downstream = downstream_of_runs(conn, &run_ids)?;
    if let Some((_, d)) = inputs.iter().find(|(_, d)| downstream.contains(&d.id)) {
        return Err(RegistryError::Invalid(format!(
            "execution {:?} cannot read dataset {}: it is in (or derived from) the execution's own output runs, which would make a cycle",
            spec.name, d.id
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

/// Every dataset in these runs, and everything derived from them.
fn downstream_of_runs(conn: &mut Conn, run_ids: &[i64]) -> Result<HashSet<Uuid>> {
    let mut seen_runs: HashSet<i64> = HashSet::new();
    let mut out = HashSet::new();
    let mut queue: VecDeque<i64> = run_ids.iter().copied().collect();
    while let Some(run) = queue.pop_front() {
        if !seen_runs.insert(run) {
            continue;
        }
        for r in conn.query("SELECT id FROM dataset WHERE run_id = ?", &[run.into()])? {
            if let Some(u) = r[0].as_uuid() {
                out.insert(u);
            }
        }
        let next = conn.query(
            "SELECT DISTINCT er.run_id FROM dataset d JOIN execution_input ei ON ei.dataset_id = d.id \
             JOIN execution_run er ON er.execution_id = ei.execution_id WHERE d.run_id = ?",
            &[run.into()],
        )?;
        queue.extend(next.iter().filter_map(|r| r[0].as_i64()));
    }
    Ok(out)
}

fn dataset_node(conn: &mut Conn, id: Uuid) -> Result<(LineageNode, i64)> {
    let (_, d) = get_datasets(conn, &[id])?
        .pop()
        .ok_or_else(|| RegistryError::NotFound(format!("dataset {id} does not exist")))?;
    let run_id = get_collection(conn, &d.run)?.id;
    Ok((
        LineageNode::Dataset {
            id,
            dataset_type: d.dataset_type,
            run: d.run,
        },
        run_id,
    ))
}

/// The lineage graph of a dataset: `up` walks to what produced it, otherwise to what
/// was built from it, at most `depth` dataset-to-dataset steps. Edges point the way
/// data flowed (input → execution → output).
pub fn lineage(
    conn: &mut Conn,
    dataset: Uuid,
    up: bool,
    depth: usize,
) -> Result<DiGraph<LineageNode, ()>> {
    let mut graph: DiGraph<LineageNode, ()> = DiGraph::new();
    let mut index: std::collections::HashMap<LineageNode, NodeIndex> = Default::default();
    let mut node = |g: &mut DiGraph<LineageNode, ()>, n: LineageNode| -> NodeIndex {
        *index.entry(n.clone()).or_insert_with(|| g.add_node(n))
    };
    let (start, start_run) = dataset_node(conn, dataset)?;
    let start_ix = node(&mut graph, start);
    let mut frontier = vec![(dataset, start_run, start_ix)];
    let mut visited: HashSet<Uuid> = HashSet::from([dataset]);
    for _ in 0..depth {
        let mut next = Vec::new();
        for (id, run_id, ix) in frontier {
            // Executions linked to this dataset in the chosen direction.
            let executions = if up {
                conn.query(
                    "SELECT e.execution_id, e.name FROM execution e JOIN execution_run er ON er.execution_id = e.execution_id WHERE er.run_id = ? ORDER BY e.execution_id",
                    &[run_id.into()],
                )?
            } else {
                conn.query(
                    "SELECT e.execution_id, e.name FROM execution e JOIN execution_input ei ON ei.execution_id = e.execution_id WHERE ei.dataset_id = ? ORDER BY e.execution_id",
                    &[Value::Uuid(id)],
                )?
            };
            for e in executions {
                let eid = e[0].as_i64().unwrap_or_default();
                let ex = node(
                    &mut graph,
                    LineageNode::Execution {
                        id: eid,
                        name: e[1].as_str().unwrap_or_default().to_owned(),
                    },
                );
                if up {
                    graph.update_edge(ex, ix, ());
                } else {
                    graph.update_edge(ix, ex, ());
                }
                let neighbours = if up {
                    conn.query(
                        "SELECT dataset_id FROM execution_input WHERE execution_id = ?",
                        &[eid.into()],
                    )?
                } else {
                    conn.query(
                        "SELECT d.id FROM dataset d JOIN execution_run er ON er.run_id = d.run_id WHERE er.execution_id = ? ORDER BY d.id",
                        &[eid.into()],
                    )?
                };
                for n in neighbours {
                    let Some(nid) = n[0].as_uuid() else { continue };
                    let (dn, nrun) = dataset_node(conn, nid)?;
                    let nix = node(&mut graph, dn);
                    if up {
                        graph.update_edge(nix, ex, ());
                    } else {
                        graph.update_edge(ex, nix, ());
                    }
                    if visited.insert(nid) {
                        next.push((nid, nrun, nix));
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
