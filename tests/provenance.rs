//! Provenance on both backends: the seed's three-stage pipeline (stage 1 → 3 datasets
//! → stage 2 → 1 dataset → stage 3) registered through the Rust API, its lineage
//! walked both ways, and a cycle refused.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::collections::provenance::{lineage, register_execution, ExecutionSpec, LineageNode};
use valet::registry::{DataId, Value};
use valet::transfers::ImportOptions;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn det(d: i64) -> DataId {
    [
        ("instrument".to_string(), Value::from("LSSTCam-imSim")),
        ("detector".to_string(), Value::Int(d)),
    ]
    .into_iter()
    .collect()
}

fn kinds(g: &petgraph::graph::DiGraph<LineageNode, ()>) -> (usize, usize) {
    let execs = g
        .node_weights()
        .filter(|n| matches!(n, LineageNode::Execution { .. }))
        .count();
    (g.node_count() - execs, execs)
}

fn three_stages(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    repo.registry()
        .register_dataset_type(
            "stage_product",
            "StructuredDataDict",
            &["instrument".into(), "detector".into()],
            false,
        )
        .unwrap();
    let spec = |name: &str, inputs: Vec<uuid::Uuid>, run: &str| ExecutionSpec {
        named_inputs: Vec::new(),
        name: name.into(),
        description: Some(format!("{name} of the example pipeline")),
        site: Some("nersc".into()),
        configuration: Some("threshold: 5\n".into()),
        started_at: None,
        inputs,
        runs: vec![run.into()],
    };
    let (e1, s1) = repo
        .register_stage(
            &spec("stage1", vec![], "u/me/DM-1/stage1"),
            "stage_product",
            &[det(0), det(1), det(2)],
        )
        .unwrap();
    assert_eq!(s1.len(), 3);
    let ids1: Vec<uuid::Uuid> = s1.iter().map(|r| r.id).collect();
    let (e2, s2) = repo
        .register_stage(
            &spec("stage2", ids1.clone(), "u/me/DM-1/stage2"),
            "stage_product",
            &[det(0)],
        )
        .unwrap();
    let (e3, s3) = repo
        .register_stage(
            &spec("stage3", vec![s2[0].id], "u/me/DM-1/stage3"),
            "stage_product",
            &[det(5)],
        )
        .unwrap();
    assert!(e1 < e2 && e2 < e3);

    let mut c = repo.registry().db.conn().unwrap();
    // Up from the final product: every stage and every dataset.
    let up = lineage(&mut c, s3[0].id, true, 100).unwrap();
    assert_eq!(kinds(&up), (5, 3));
    // s3 <- e3 <- s2 <- e2 <- three s1 products <- e1 (one edge each).
    assert_eq!(up.edge_count(), 1 + 1 + 1 + 3 + 3);
    // Depth 1: stage 3 and its one input only.
    assert_eq!(kinds(&lineage(&mut c, s3[0].id, true, 1).unwrap()), (2, 1));
    // Down from one stage-1 product: stage 2, its product, stage 3, its product.
    let down = lineage(&mut c, ids1[1], false, 100).unwrap();
    assert_eq!(kinds(&down), (3, 2));
    let names: Vec<String> = down
        .node_weights()
        .filter_map(|n| match n {
            LineageNode::Execution { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["stage2", "stage3"]);
    // A dataset nothing was built from has no downstream.
    assert_eq!(
        kinds(&lineage(&mut c, s3[0].id, false, 100).unwrap()),
        (1, 0)
    );
    drop(c);

    // Reading a stage-2 product while writing into stage 1's run would close a loop.
    let err = repo
        .registry()
        .transaction(|c, _| {
            register_execution(c, &spec("loop", vec![s2[0].id], "u/me/DM-1/stage1"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    let err = repo
        .registry()
        .transaction(|c, _| {
            register_execution(c, &spec("bad", vec![uuid::Uuid::nil()], "u/me/DM-1/stage3"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let mut c = repo.registry().db.conn().unwrap();
    let n = c
        .query_opt("SELECT COUNT(*) FROM execution", &[])
        .unwrap()
        .unwrap()[0]
        .as_i64()
        .unwrap();
    assert_eq!(n, 3);
    // Renderings.
    let json = valet::provenance::lineage_json(&lineage(&mut c, s3[0].id, true, 100).unwrap());
    assert_eq!(json["nodes"].as_array().unwrap().len(), 8);
    let dot = valet::provenance::lineage_dot(&lineage(&mut c, s3[0].id, true, 100).unwrap());
    assert!(
        dot.starts_with("digraph lineage {") && dot.contains("execution") && dot.contains("->")
    );
}

on_both_backends!(three_stages);
