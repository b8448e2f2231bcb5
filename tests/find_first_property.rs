//! Property test: on random chains and random dataset placements, the resolver agrees
//! with a plain model that walks the search path in order, for bulk find-first,
//! the union without find-first, and single look-ups.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{new_repo, Backend};
use valet::collections::chains::{collection_chain, ChainMode};
use valet::collections::tagged::associate;
use valet::collections::{DatasetQuery, FindRequest};
use valet::registry::{CollectionType, DataId, IdGenerationMode, NewDataset, Record, Value};

/// A small deterministic generator (xorshift64*), so failures can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const DETECTORS: i64 = 6;

enum Node {
    Leaf(String),
    Chain(String, Vec<usize>),
}

fn did(d: i64) -> DataId {
    [
        ("instrument".to_string(), Value::from("Cam")),
        ("detector".to_string(), Value::Int(d)),
    ]
    .into_iter()
    .collect()
}

fn check_seed(backend: Backend, seed: u64) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let rec = |pairs: &[(&str, Value)]| -> Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    repo.registry()
        .insert_dimension_records("instrument", &[rec(&[("name", "Cam".into())])], false)
        .unwrap();
    let dets: Vec<Record> = (0..DETECTORS)
        .map(|d| {
            rec(&[
                ("instrument", "Cam".into()),
                ("id", d.into()),
                ("full_name", format!("D{d}").into()),
            ])
        })
        .collect();
    repo.registry()
        .insert_dimension_records("detector", &dets, false)
        .unwrap();
    repo.registry()
        .register_dataset_type(
            "thing",
            "StructuredDataDict",
            &["instrument".into(), "detector".into()],
            false,
        )
        .unwrap();

    // Model: every collection's contents, data ID → dataset id.
    let mut nodes: Vec<Node> = Vec::new();
    let mut contents: BTreeMap<String, BTreeMap<i64, uuid::Uuid>> = BTreeMap::new();
    let n_runs = 2 + rng.below(8);
    for r in 0..n_runs {
        let name = format!("run{r}");
        repo.registry()
            .register_collection(&name, CollectionType::Run, None)
            .unwrap();
        let items: Vec<NewDataset> = (0..DETECTORS)
            .filter(|_| rng.chance(45))
            .map(|d| NewDataset {
                id: None,
                data_id: did(d),
            })
            .collect();
        let refs = repo
            .registry()
            .insert_datasets("thing", &name, &items, IdGenerationMode::Unique)
            .unwrap();
        contents.insert(
            name.clone(),
            refs.iter()
                .map(|r| (r.data_id["detector"].as_i64().unwrap(), r.id))
                .collect(),
        );
        nodes.push(Node::Leaf(name));
    }
    let all_refs: Vec<(i64, uuid::Uuid)> = contents
        .values()
        .flat_map(|m| m.iter().map(|(d, u)| (*d, *u)))
        .collect();
    for k in 0..rng.below(3) {
        let name = format!("tag{k}");
        repo.registry()
            .register_collection(&name, CollectionType::Tagged, None)
            .unwrap();
        let mut members: BTreeMap<i64, uuid::Uuid> = BTreeMap::new();
        for (d, u) in &all_refs {
            if rng.chance(30) && !members.contains_key(d) {
                members.insert(*d, *u);
            }
        }
        let ids: Vec<uuid::Uuid> = members.values().copied().collect();
        repo.registry()
            .transaction(|c, u| associate(c, u, &name, &ids))
            .unwrap();
        contents.insert(name.clone(), members);
        nodes.push(Node::Leaf(name));
    }
    // Chains reference earlier nodes only, so they can never form a cycle; repeats
    // (directly or through nested chains) exercise first-occurrence-wins.
    for k in 0..2 + rng.below(4) {
        let name = format!("chain{k}");
        let kids: Vec<usize> = (0..1 + rng.below(6))
            .map(|_| rng.below(nodes.len() as u64) as usize)
            .collect();
        let names: Vec<String> = kids
            .iter()
            .map(|&i| match &nodes[i] {
                Node::Leaf(n) | Node::Chain(n, _) => n.clone(),
            })
            .collect();
        repo.registry()
            .transaction(|c, _| {
                collection_chain(c, &name, ChainMode::Redefine, &names, false, None)
            })
            .unwrap();
        // The registry drops duplicate children keeping the first; so does the model.
        let mut seen = BTreeSet::new();
        let kids: Vec<usize> = kids.into_iter().filter(|&i| seen.insert(i)).collect();
        nodes.push(Node::Chain(name, kids));
    }

    fn flatten(nodes: &[Node], i: usize, seen: &mut BTreeSet<usize>, out: &mut Vec<String>) {
        if !seen.insert(i) {
            return;
        }
        match &nodes[i] {
            Node::Leaf(n) => out.push(n.clone()),
            Node::Chain(_, kids) => {
                for &k in kids {
                    flatten(nodes, k, seen, out);
                }
            }
        }
    }
    let name_of = |i: usize| match &nodes[i] {
        Node::Leaf(n) | Node::Chain(n, _) => n.clone(),
    };
    let mut conn = repo.registry().db.conn().unwrap();
    let u = repo.registry().universe.clone();
    for _ in 0..6 {
        // A random search expression of one to three collections.
        let expr: Vec<usize> = (0..1 + rng.below(3))
            .map(|_| rng.below(nodes.len() as u64) as usize)
            .collect();
        let names: Vec<String> = expr.iter().map(|&i| name_of(i)).collect();
        let mut seen = BTreeSet::new();
        let mut path = Vec::new();
        for &i in &expr {
            flatten(&nodes, i, &mut seen, &mut path);
        }
        let mut want: BTreeMap<i64, (uuid::Uuid, String)> = BTreeMap::new();
        let mut union: BTreeSet<uuid::Uuid> = BTreeSet::new();
        for coll in &path {
            for (d, id) in &contents[coll] {
                union.insert(*id);
                want.entry(*d).or_insert((*id, coll.clone()));
            }
        }
        let mut got = BTreeMap::new();
        repo.resolver()
            .query_datasets(
                &mut conn,
                &u,
                &DatasetQuery {
                    dataset_type: "thing".into(),
                    collections: names.clone(),
                    find_first: true,
                    ..Default::default()
                },
                &mut |f| {
                    got.insert(
                        f.dataset.data_id["detector"].as_i64().unwrap(),
                        (f.dataset.id, f.collection),
                    );
                    Ok(true)
                },
            )
            .unwrap();
        assert_eq!(
            got, want,
            "seed {seed}: find-first through {names:?} (path {path:?})"
        );
        let mut got_union = BTreeSet::new();
        repo.resolver()
            .query_datasets(
                &mut conn,
                &u,
                &DatasetQuery {
                    dataset_type: "thing".into(),
                    collections: names.clone(),
                    find_first: false,
                    ..Default::default()
                },
                &mut |f| {
                    got_union.insert(f.dataset.id);
                    Ok(true)
                },
            )
            .unwrap();
        assert_eq!(got_union, union, "seed {seed}: union through {names:?}");
        for d in 0..DETECTORS {
            let found = repo
                .resolver()
                .find_dataset(
                    &mut conn,
                    &u,
                    &FindRequest {
                        dataset_type: "thing",
                        data_id: &did(d),
                        collections: &names,
                        timespan: None,
                        as_of: None,
                    },
                )
                .unwrap()
                .map(|f| (f.dataset.id, f.collection));
            assert_eq!(
                found,
                want.get(&d).cloned(),
                "seed {seed}: detector {d} through {names:?}"
            );
        }
    }
}

fn random_chains(backend: Backend) {
    let seeds = if backend == Backend::Sqlite { 40 } else { 12 };
    for seed in 1..=seeds {
        check_seed(backend, seed);
    }
}

on_both_backends!(random_chains);
