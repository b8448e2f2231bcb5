//! Provenance for pipelines: record an execution, or a stage with its outputs in one
//! call, and show a dataset's lineage as JSON or Graphviz dot.

use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;
use valet_collections::provenance::register_execution;
use valet_registry::collections::{find_collection, register_collection};
use valet_registry::dataset_types::get_dataset_type;
use valet_registry::datasets::insert_datasets;
use valet_registry::{CollectionType, DataId, DatasetRef, IdGenerationMode, NewDataset};

pub use valet_collections::provenance::{DatasetKey, ExecutionSpec, LineageNode};

use crate::{Repo, RepoError};

impl Repo {
    /// Record a pipeline stage: the datasets it read and the RUNs holding its outputs
    /// (which must exist). Returns the new execution's id.
    pub fn register_execution(&self, spec: &ExecutionSpec) -> Result<i64, RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| register_execution(c, spec))?)
    }

    /// Register one pipeline stage and the datasets it wrote, in one transaction: the
    /// first of `spec.runs` (registered if missing) receives `outputs` of
    /// `dataset_type`. Returns the execution id and the new datasets.
    pub fn register_stage(
        &self,
        spec: &ExecutionSpec,
        dataset_type: &str,
        outputs: &[DataId],
    ) -> Result<(i64, Vec<DatasetRef>), RepoError> {
        let run = spec
            .runs
            .first()
            .ok_or_else(|| RepoError::Invalid("a stage needs a RUN for its outputs".into()))?
            .clone();
        Ok(self.registry.transaction(|conn, universe| {
            for r in &spec.runs {
                if find_collection(conn, r)?.is_none() {
                    register_collection(conn, r, CollectionType::Run, None)?;
                }
            }
            // The execution is recorded before its outputs exist, as a pipeline does.
            let id = register_execution(conn, spec)?;
            let t = get_dataset_type(conn, dataset_type)?;
            let items: Vec<NewDataset> = outputs
                .iter()
                .map(|d| NewDataset {
                    id: None,
                    data_id: d.clone(),
                })
                .collect();
            let refs = insert_datasets(conn, universe, &t, &run, &items, IdGenerationMode::Unique)?;
            Ok((id, refs))
        })?)
    }
}

fn label(n: &LineageNode) -> String {
    match n {
        LineageNode::Dataset {
            id,
            dataset_type,
            run,
        } => format!("{dataset_type} {id} in {run}"),
        LineageNode::Named { id, name, version } => {
            format!("{name} {version} (named dataset {id})")
        }
        LineageNode::Execution { id, name } => format!("execution {id}: {name}"),
    }
}

/// A lineage graph as JSON: `{"nodes": [...], "edges": [[from, to], ...]}`.
pub fn lineage_json(graph: &DiGraph<LineageNode, ()>) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = graph
        .node_indices()
        .map(|i| match &graph[i] {
            LineageNode::Dataset { id, dataset_type, run } => serde_json::json!({
                "index": i.index(), "kind": "dataset", "id": id.to_string(), "dataset_type": dataset_type, "run": run
            }),
            LineageNode::Named { id, name, version } => serde_json::json!({
                "index": i.index(), "kind": "named_dataset", "id": id, "name": name, "version": version
            }),
            LineageNode::Execution { id, name } => serde_json::json!({
                "index": i.index(), "kind": "execution", "id": id, "name": name
            }),
        })
        .collect();
    let edges: Vec<serde_json::Value> = graph
        .edge_references()
        .map(|e| serde_json::json!([e.source().index(), e.target().index()]))
        .collect();
    serde_json::json!({ "nodes": nodes, "edges": edges })
}

/// A lineage graph in Graphviz dot.
pub fn lineage_dot(graph: &DiGraph<LineageNode, ()>) -> String {
    let mut out = String::from("digraph lineage {\n");
    for i in graph.node_indices() {
        let shape = match graph[i] {
            LineageNode::Dataset { .. } => "ellipse",
            LineageNode::Named { .. } => "note",
            LineageNode::Execution { .. } => "box",
        };
        out.push_str(&format!(
            "  n{} [shape={shape}, label=\"{}\"];\n",
            i.index(),
            label(&graph[i]).replace('"', "\\\"")
        ));
    }
    for e in graph.edge_references() {
        out.push_str(&format!(
            "  n{} -> n{};\n",
            e.source().index(),
            e.target().index()
        ));
    }
    out.push_str("}\n");
    out
}
