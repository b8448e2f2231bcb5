//! A CHAINED live ObsCore table at scale: a DP0.2-shaped sample (189 detectors ×
//! VISITS visits, raws and calexps through 286 RUNs, ~10% re-processed, one chain)
//! imported into a repository whose table is the chain's find-first resolution. Then
//! the writes that change that answer, each timed and followed by a full check of the
//! table against the registry: removing the newest member RUN (the calexps it shadowed
//! come back), purging 1,000 winners, prepending a new RUN of 1,000 calexps, and
//! unlinking a member from the chain. SQLite always; PostgreSQL too when
//! `VALET_TEST_PG` names a server.
//!
//!     cargo run --release --example chained_obscore_at_scale [VISITS]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use valet::collections::chains::ChainMode;
use valet::collections::DatasetQuery;
use valet::registry::NewDataset;
use valet::transfers::{import_export, ImportOptions};
use valet::workload::{generate, run_name, Shape, CHAIN};
use valet::{CreateOptions, Repo};

type Error = Box<dyn std::error::Error>;

fn timed<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let start = Instant::now();
    let v = f()?;
    println!("  {what}: {:.2} s", start.elapsed().as_secs_f64());
    Ok(v)
}

fn checked(repo: &Repo, after: &str) -> Result<(), Error> {
    let problems = repo.check_obscore_table()?;
    if !problems.is_empty() {
        return Err(format!("after {after}: {} ({} in all)", problems[0], problems.len()).into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let visits: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(530);
    let shape = Shape {
        detectors: 189,
        visits,
        runs: 286,
        reprocessed_percent: 10,
    };
    let model = generate(&shape);
    let config = include_str!("obscore-dp02.yaml")
        .replace("collection_type: RUN", "collection_type: CHAINED")
        .replace("collections: []", &format!("collections: [\"{CHAIN}\"]"));
    for (backend, db) in common::backends("valet_example_chained") {
        println!("{backend}:");
        let dir = tempfile::tempdir()?;
        let repo = Repo::create(
            &dir.path().join("repo"),
            &CreateOptions {
                db,
                ..Default::default()
            },
        )?;
        let types = (model.dataset_types_only(), "types".to_string());
        import_export(&repo, &[types], &ImportOptions::default())?;
        repo.enable_obscore(&config, None)?;
        let summary = timed("import with the CHAINED table on", || {
            Ok(import_export(
                &repo,
                &[(model.clone(), "sample".into())],
                &ImportOptions::default(),
            )?)
        })?;
        checked(&repo, "the import")?;
        println!("  ({} datasets)", summary.datasets);

        // The newest member RUN shadows re-processed calexps of older ones.
        let newest = run_name(shape.runs - 1);
        timed("remove-runs of the newest member", || {
            Ok(repo.registry().transaction(|c, _| {
                valet::collections::removal::remove_runs(c, std::slice::from_ref(&newest), true)
            })?)
        })?;
        checked(&repo, "remove-runs")?;

        let mut winners = Vec::new();
        {
            let mut c = repo.registry().db.conn()?;
            repo.resolver().query_datasets(
                &mut c,
                &repo.registry().universe,
                &DatasetQuery {
                    dataset_type: "calexp".into(),
                    collections: vec![CHAIN.into()],
                    find_first: true,
                    ..Default::default()
                },
                &mut |f| {
                    winners.push(f.dataset);
                    Ok(winners.len() < 1_000)
                },
            )?;
        }
        let run = winners.first().map(|w| w.run.clone()).unwrap_or_default();
        let ids: Vec<_> = winners
            .iter()
            .filter(|w| w.run == run)
            .map(|w| w.id)
            .collect();
        timed(&format!("purge of {} winners", ids.len()), || {
            Ok(valet::prune::prune(
                &repo,
                &ids,
                &valet::prune::PruneOptions {
                    purge: Some(run.clone()),
                    ..Default::default()
                },
            )?)
        })?;
        checked(&repo, "the purge")?;

        // A new RUN of 1,000 calexps over existing data IDs, prepended to the chain.
        let new_run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/new".to_string();
        let items: Vec<NewDataset> = winners
            .iter()
            .map(|w| NewDataset {
                id: None,
                data_id: w.data_id.clone(),
            })
            .collect::<Vec<_>>();
        repo.registry().transaction(|c, u| {
            valet::registry::collections::register_collection(
                c,
                &new_run,
                valet::registry::CollectionType::Run,
                None,
            )?;
            let t = valet::registry::dataset_types::get_dataset_type(c, "calexp")?;
            valet::registry::datasets::insert_datasets(
                c,
                u,
                &t,
                &new_run,
                &items,
                valet::registry::IdGenerationMode::Unique,
            )
        })?;
        timed("prepend of a new RUN of 1,000 calexps", || {
            Ok(repo.collection_chain(
                CHAIN,
                ChainMode::Prepend,
                std::slice::from_ref(&new_run),
                false,
                None,
            )?)
        })?;
        checked(&repo, "the prepend")?;
        timed("unlink of that RUN from the chain", || {
            Ok(repo.collection_chain(
                CHAIN,
                ChainMode::Remove,
                std::slice::from_ref(&new_run),
                false,
                None,
            )?)
        })?;
        checked(&repo, "the unlink")?;
        println!("  the table matched the registry after every step");
    }
    Ok(())
}
