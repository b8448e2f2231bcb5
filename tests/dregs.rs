//! DESC's data registry on valet, on both backends: the two seed tutorials step by
//! step (the production area; a three-stage pipeline with directories and files, its
//! dependencies and lineage, crossing into Butler datasets), and the rules of
//! versions, paths, replace, delete, modify, keywords and aliases.

mod common;

use std::path::{Path, PathBuf};

use common::{new_repo, Backend};
use valet::dregs::aliases::AliasTarget;
use valet::dregs::model::{status, LocationType};
use valet::dregs::query::{Filter, FilterValue, Find, LsOptions, StatusFilter};
use valet::dregs::register::Registration;
use valet::provenance::{DatasetKey, ExecutionSpec, LineageNode};
use valet::queries::LineageOptions;
use valet::registry::identity::set_thread_user;
use valet::{ErrorKind, Repo};

fn text(s: &str) -> FilterValue {
    FilterValue::Text(s.into())
}

fn dummy(name: &str, version: &str) -> Registration {
    Registration {
        location_type: LocationType::Dummy,
        ..Registration::new(name, version)
    }
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn err_text(r: Result<impl std::fmt::Debug, valet::RepoError>) -> String {
    r.expect_err("should fail").to_string()
}

fn names_in(repo: &Repo, options: &LsOptions) -> Vec<String> {
    let r = repo.dregs_ls(options).unwrap();
    let i = r.columns.iter().position(|c| c == "dataset.name").unwrap();
    r.rows
        .iter()
        .map(|row| row[i].as_str().unwrap().to_owned())
        .collect()
}

/// The production tutorial: an admin registers into the production area; a user
/// cannot; production entries are never overwritable, replaced or deleted; everyone
/// queries; `ls` shows both areas.
fn production_tutorial(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    // The repository's creator makes the first admin.
    repo.add_admin("descdr").unwrap();
    set_thread_user(Some("descdr"));
    let name = "nersc_production_tutorial:my_desc_production_dataset";
    let prod = Registration {
        owner: Some("production".into()),
        owner_type: Some("production".into()),
        description: Some("An production output from some DESC code".into()),
        ..dummy(name, "1.0.0")
    };
    let made = repo.dregs_register(&prod, None).unwrap();
    let d = repo.dregs_dataset(made.dataset_id).unwrap();
    assert_eq!(
        (d.owner.as_str(), d.owner_type.as_str()),
        ("production", "production")
    );
    assert_eq!(d.status, status::VALID);
    assert!(repo.dregs_path(made.dataset_id).unwrap().ends_with(format!(
        "dregs/production/production/.gen_paths/{name}_1.0.0"
    )));
    // Production datasets can never be overwritten, even by an admin.
    let e = err_text(
        repo.dregs_register(
            &Registration {
                is_overwritable: true,
                ..prod.clone()
            }
            .with_version("1.0.1"),
            None,
        ),
    );
    assert!(e.contains("Cannot overwrite production entries"), "{e}");
    let e = err_text(
        repo.dregs_register(
            &Registration {
                owner: Some("descdr".into()),
                ..prod.clone()
            }
            .with_version("1.0.2"),
            None,
        ),
    );
    assert!(e.contains("for prod datasets must be 'production'"), "{e}");
    let e = err_text(repo.dregs_delete(made.dataset_id));
    assert!(e.contains("production-is-immutable"), "{e}");
    // A user cannot write production, but can write their own area.
    set_thread_user(Some("bob"));
    let r = repo.dregs_register(&prod.clone().with_version("2.0.0"), None);
    assert_eq!(r.as_ref().unwrap_err().kind(), ErrorKind::Denied);
    assert!(err_text(r).contains("production-needs-admin"));
    repo.dregs_register(&dummy("bobs_dataset", "0.0.1"), None)
        .unwrap();
    let e = err_text(repo.dregs_register(
        &Registration {
            owner: Some("alice".into()),
            ..dummy("not_bobs", "0.0.1")
        },
        None,
    ));
    assert!(e.contains("user-areas-are-their-owners"), "{e}");
    // Everyone queries production.
    let found = repo
        .dregs_find(&Find {
            columns: Some(
                [
                    "dataset.dataset_id".into(),
                    "dataset.name".into(),
                    "dataset.owner".into(),
                    "dataset.relative_path".into(),
                    "dataset.creation_date".into(),
                ]
                .to_vec(),
            ),
            filters: [Filter::new("dataset.owner", "==", text("production"))].to_vec(),
            where_expr: None,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0][1].as_str(), Some(name));
    // `ls` searches both areas; an area narrows it.
    let all = LsOptions::default();
    assert_eq!(names_in(repo, &all), vec![name, "bobs_dataset"]);
    let prod_only = LsOptions {
        area: Some("production".into()),
        ..Default::default()
    };
    assert_eq!(names_in(repo, &prod_only), vec![name]);
    let mine = LsOptions {
        owner: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(names_in(repo, &mine), vec!["bobs_dataset"]);
}

trait WithVersion {
    fn with_version(self, v: &str) -> Registration;
}

impl WithVersion for Registration {
    fn with_version(self, v: &str) -> Registration {
        Registration {
            version: v.into(),
            ..self
        }
    }
}

/// The pipeline tutorial: three executions, five datasets (directories and files)
/// copied in, the dependencies, then lineage up and down — and across to the Butler
/// datasets the first stage read.
fn pipeline_tutorial(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(
        &[PathBuf::from(common::conformance_data(
            "dp02-mini/export.yaml",
        ))],
        &valet::transfers::ImportOptions::default(),
    )
    .unwrap();
    repo.registry()
        .register_dataset_type(
            "stage_product",
            "StructuredDataDict",
            &["instrument".into(), "detector".into()],
            false,
        )
        .unwrap();
    let butler_input = repo
        .registry()
        .db
        .conn()
        .unwrap()
        .query_opt("SELECT id FROM dataset ORDER BY id LIMIT 1", &[])
        .unwrap()
        .unwrap()[0]
        .as_uuid()
        .unwrap();
    set_thread_user(Some("alice"));
    let src = t.dir.path().join("somewhere/on/machine");
    write(&src.join("my-dataset/part1.txt"), "one");
    write(&src.join("my-dataset/deeper/part2.txt"), "two");
    write(&src.join("other-datasets/database.db"), "db");
    write(&src.join("other-datasets/info.hdf5"), "hdf5");
    write(&src.join("my-second-dataset/out.txt"), "stage two");
    write(&src.join("my-third-dataset/out.txt"), "stage three");
    let stage = |name: &str, named: Vec<i64>, butler: Vec<uuid::Uuid>| ExecutionSpec {
        name: name.into(),
        description: Some(format!("The {name} of my pipeline")),
        inputs: butler,
        named_inputs: named,
        ..Default::default()
    };
    let register = |name: &str, relpath: &str, from: &str, execution: i64| {
        repo.dregs_register(
            &Registration {
                relative_path: Some(relpath.into()),
                execution_id: Some(execution),
                description: Some(format!("{name} of the pipeline")),
                ..Registration::new(name, "0.0.1")
            },
            Some(&src.join(from)),
        )
        .unwrap()
        .dataset_id
    };
    let ex1 = repo
        .register_execution(&stage("pipeline-stage-1", vec![], vec![butler_input]))
        .unwrap();
    let d1 = register(
        "Dataset_1.1",
        "my-first-pipeline/dataset_1p1/",
        "my-dataset",
        ex1,
    );
    let d2 = register(
        "Dataset_1.2",
        "my-first-pipeline/dataset_1p2.db",
        "other-datasets/database.db",
        ex1,
    );
    let d3 = register(
        "Dataset_1.3",
        "my-first-pipeline/dataset_1p3.hdf5",
        "other-datasets/info.hdf5",
        ex1,
    );
    let ex2 = repo
        .register_execution(&stage("pipeline-stage-2", vec![d1, d2, d3], vec![]))
        .unwrap();
    let d4 = register(
        "Dataset_2.1",
        "my-first-pipeline/dataset_2p1",
        "my-second-dataset",
        ex2,
    );
    let ex3 = repo
        .register_execution(&stage("pipeline-stage-3", vec![d4], vec![]))
        .unwrap();
    let d5 = register(
        "Dataset_3.1",
        "my-first-pipeline/dataset_3p1",
        "my-third-dataset",
        ex3,
    );
    assert_eq!((d1, d5), (1, 5), "ids are given in registration order");

    // The data is where DESC puts it, complete, with its checksums.
    let dir = repo.dregs_dataset(d1).unwrap();
    assert_eq!(dir.data_org.as_deref(), Some("directory"));
    assert_eq!((dir.nfiles, dir.total_size), (2, 6));
    assert!(dir.checksum.is_some());
    let root = repo.dregs_path(d1).unwrap();
    assert!(root.ends_with("dregs/user/alice/my-first-pipeline/dataset_1p1"));
    assert_eq!(
        std::fs::read_to_string(root.join("deeper/part2.txt")).unwrap(),
        "two"
    );
    let file = repo.dregs_dataset(d2).unwrap();
    assert_eq!((file.data_org.as_deref(), file.nfiles), (Some("file"), 1));
    assert_eq!(
        std::fs::read_to_string(repo.dregs_path(d2).unwrap()).unwrap(),
        "db"
    );
    let report = repo
        .check(valet::check::CheckOptions {
            deep: true,
            ..Default::default()
        })
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // Dependencies as DESC's `dependency` table shows them.
    let deps = repo
        .dregs_find(&Find {
            columns: Some(
                [
                    "dependency.execution_id".into(),
                    "dependency.input_id".into(),
                ]
                .to_vec(),
            ),
            filters: [].to_vec(),
            where_expr: None,
            ..Default::default()
        })
        .unwrap();
    let pairs: Vec<(i64, i64)> = deps
        .rows
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()))
        .collect();
    assert_eq!(pairs, vec![(ex2, d1), (ex2, d2), (ex2, d3), (ex3, d4)]);

    // Lineage up from the last dataset reaches every stage and the Butler input.
    let up = repo
        .lineage(
            DatasetKey::Named(d5),
            LineageOptions {
                up: true,
                depth: 10,
            },
        )
        .unwrap();
    let named: Vec<i64> = up
        .node_weights()
        .filter_map(|n| match n {
            LineageNode::Named { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(named.len(), 5, "{named:?}");
    assert_eq!(
        up.node_weights()
            .filter(|n| matches!(n, LineageNode::Execution { .. }))
            .count(),
        3
    );
    assert!(up
        .node_weights()
        .any(|n| matches!(n, LineageNode::Dataset { id, .. } if *id == butler_input)));
    assert_eq!(up.edge_count(), 5 + 4 + 1);
    // Down from the Butler input to the last named dataset.
    let down = repo
        .lineage(
            butler_input,
            LineageOptions {
                up: false,
                depth: 10,
            },
        )
        .unwrap();
    assert!(down
        .node_weights()
        .any(|n| matches!(n, LineageNode::Named { id, .. } if *id == d5)));
    // The reverse: a stage reads the last named dataset and writes a Butler RUN.
    let detector: valet::DataId = [
        (
            "instrument".to_string(),
            valet::Value::from("LSSTCam-imSim"),
        ),
        ("detector".to_string(), valet::Value::Int(0)),
    ]
    .into_iter()
    .collect();
    let (ex4, refs) = repo
        .register_stage(
            &ExecutionSpec {
                runs: vec!["u/alice/stage4".into()],
                ..stage("butler-stage-4", vec![d5], vec![])
            },
            "stage_product",
            &[detector],
        )
        .unwrap();
    let down = repo
        .lineage(
            DatasetKey::Named(d4),
            LineageOptions {
                up: false,
                depth: 10,
            },
        )
        .unwrap();
    assert!(down
        .node_weights()
        .any(|n| matches!(n, LineageNode::Execution { id, .. } if *id == ex4)));
    assert!(down
        .node_weights()
        .any(|n| matches!(n, LineageNode::Dataset { id, .. } if *id == refs[0].id)));
    // A named dataset derived from that RUN cannot be read by an execution writing it.
    let ex5 = repo
        .register_execution(&stage("stage-5", vec![], vec![refs[0].id]))
        .unwrap();
    let d6 = repo
        .dregs_register(
            &Registration {
                execution_id: Some(ex5),
                ..dummy("derived", "1.0.0")
            },
            None,
        )
        .unwrap()
        .dataset_id;
    let e = err_text(repo.register_execution(&ExecutionSpec {
        runs: vec!["u/alice/stage4".into()],
        ..stage("loop", vec![d6], vec![])
    }));
    assert!(e.contains("cycle") || e.contains("derived"), "{e}");
    // One step down from dataset 1.1: stage 2 and what it wrote, no further.
    let one = repo
        .lineage(
            DatasetKey::Named(d1),
            LineageOptions {
                up: false,
                depth: 1,
            },
        )
        .unwrap();
    assert_eq!(one.node_count(), 3);
}

/// Versions, paths, replace, delete, modify, keywords and aliases, with DESC's
/// messages for what it refuses.
fn rules(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    set_thread_user(Some("alice"));
    // Bump words: the highest version of the name, whoever owns it.
    let mut versions = Vec::new();
    for bump in ["major", "minor", "patch", "patch", "minor", "major"] {
        let id = repo
            .dregs_register(&dummy("bumped", bump), None)
            .unwrap()
            .dataset_id;
        let d = repo.dregs_dataset(id).unwrap();
        versions.push(d.version.to_string());
        if versions.len() == 1 {
            assert_eq!(d.relative_path.as_deref(), Some(".gen_paths/bumped_1.0.0"));
            assert_eq!((d.data_org.as_deref(), d.nfiles), (Some("dummy"), 0));
        }
    }
    assert_eq!(
        versions,
        ["1.0.0", "1.1.0", "1.1.1", "1.1.2", "1.2.0", "2.0.0"]
    );
    for bad in ["1.0", "01.0.0", "a.b.c"] {
        let e = err_text(repo.dregs_register(&dummy("bad_version", bad), None));
        assert!(
            e.contains("must have 3 components") || e.contains("is not non-negative int"),
            "{bad}: {e}"
        );
    }
    let e = err_text(repo.dregs_register(&dummy("bad name", "1.0.0"), None));
    assert!(e.contains("Illegal character"), "{e}");
    let e = err_text(repo.dregs_register(&dummy("bumped", "1.0.0"), None));
    assert!(e.contains("There is already a dataset"), "{e}");
    let e = err_text(repo.dregs_register(
        &Registration {
            location_type: LocationType::External,
            ..Registration::new("outside", "1.0.0")
        },
        None,
    ));
    assert!(e.contains("require either a url or contact_email"), "{e}");
    let ext = repo
        .dregs_register(
            &Registration {
                location_type: LocationType::External,
                url: Some("https://example.org/catalog".into()),
                ..Registration::new("outside", "1.0.0")
            },
            None,
        )
        .unwrap();
    let e = err_text(repo.dregs_path(ext.dataset_id));
    assert!(e.contains("does not manage its data"), "{e}");

    // Paths: generated for a copied file, refused when reserved or taken, and a
    // destination already holding data is refused.
    let src = t.dir.path().join("src");
    write(&src.join("file1.txt"), "version one");
    write(&src.join("dir1/a.txt"), "a");
    write(&src.join("dir1/b.txt"), "b");
    let copied = repo
        .dregs_register(
            &Registration {
                is_overwritable: true,
                ..Registration::new("copied", "1.0.0")
            },
            Some(&src.join("file1.txt")),
        )
        .unwrap();
    let d = repo.dregs_dataset(copied.dataset_id).unwrap();
    assert_eq!(
        d.relative_path.as_deref(),
        Some(".gen_paths/copied_1.0.0/file1.txt")
    );
    let e = err_text(repo.dregs_register(
        &Registration {
            relative_path: Some(".gen_paths/mine".into()),
            ..Registration::new("reserved", "1.0.0")
        },
        Some(&src.join("file1.txt")),
    ));
    assert!(
        e.contains("Can't start relative path with '.gen_paths'"),
        "{e}"
    );
    let tree = repo
        .dregs_register(
            &Registration {
                relative_path: Some("trees/dir1".into()),
                is_overwritable: true,
                ..Registration::new("tree", "1.0.0")
            },
            Some(&src.join("dir1")),
        )
        .unwrap();
    let e = err_text(repo.dregs_register(
        &Registration {
            relative_path: Some("trees/dir1".into()),
            ..Registration::new("other_tree", "1.0.0")
        },
        Some(&src.join("dir1")),
    ));
    assert!(e.contains("is taken by"), "{e}");
    write(&repo.dregs_root().join("user/alice/occupied/x.txt"), "x");
    let e = err_text(repo.dregs_register(
        &Registration {
            relative_path: Some("occupied".into()),
            ..Registration::new("occupied", "1.0.0")
        },
        Some(&src.join("dir1")),
    ));
    assert!(e.contains("data already exists at"), "{e}");
    std::os::unix::fs::symlink(src.join("file1.txt"), src.join("link.txt")).unwrap();
    let e = err_text(repo.dregs_register(
        &Registration::new("linked", "1.0.0"),
        Some(&src.join("link.txt")),
    ));
    assert!(e.contains("does not support symlinks"), "{e}");
    // Data already in place: registered without copying, several entries may share it.
    let in_place = Registration {
        relative_path: Some("occupied".into()),
        ..Registration::new("in_place", "1.0.0")
    };
    let a = repo.dregs_register(&in_place, None).unwrap();
    let b = repo
        .dregs_register(&in_place.clone().with_version("1.0.1"), None)
        .unwrap();
    assert_eq!(repo.dregs_dataset(b.dataset_id).unwrap().nfiles, 1);

    // Replace: a new iteration at the same path, the old one deleted and replaced.
    write(&src.join("dir2/a.txt"), "new a");
    let mut last = tree.dataset_id;
    for i in 1..=2 {
        let r = repo
            .dregs_replace(
                &Registration {
                    is_overwritable: true,
                    ..Registration::new("tree", "1.0.0")
                },
                Some(&src.join("dir2")),
            )
            .unwrap();
        let old = repo.dregs_dataset(last).unwrap();
        assert_eq!(
            old.status,
            status::VALID | status::DELETED | status::REPLACED
        );
        assert_eq!(old.replace_id, Some(r.dataset_id));
        assert!(old.delete_date.is_some());
        let new = repo.dregs_dataset(r.dataset_id).unwrap();
        assert_eq!(new.replace_iteration, i);
        assert_eq!(new.relative_path.as_deref(), Some("trees/dir1"));
        last = r.dataset_id;
    }
    let dir = repo.dregs_path(last).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "new a");
    assert!(
        !dir.join("b.txt").exists(),
        "the replaced iteration's other files go"
    );
    let e = err_text(repo.dregs_replace(&Registration::new("tree", "major"), None));
    assert!(e.contains("no bumping"), "{e}");
    let e = err_text(repo.dregs_replace(&dummy("bumped", "1.0.0"), None));
    assert!(e.contains("is not overwritable"), "{e}");

    // Delete: files go, the row stays; twice is refused; a deleted one is not replaced.
    let path = repo.dregs_path(copied.dataset_id).unwrap();
    assert!(path.exists());
    let found = repo
        .dregs_find_by_name("copied", "1.0.0", "alice", "user")
        .unwrap();
    let gone = repo.dregs_delete(found.dataset_id).unwrap();
    assert_eq!(gone.removed, 1);
    assert!(!path.exists());
    let d = repo.dregs_dataset(copied.dataset_id).unwrap();
    assert!(d.is_deleted() && d.delete_uid.as_deref() == Some("alice"));
    let e = err_text(repo.dregs_delete(copied.dataset_id));
    assert!(e.contains("previously deleted"), "{e}");
    // A deleted dataset keeps its valid bit: the status filter finds it as valid,
    // never as invalid (valet leaves no invalid rows behind).
    let by_status = |status| {
        repo.dregs_find(&Find {
            columns: Some(["dataset.dataset_id".into()].to_vec()),
            filters: [Filter::new("dataset.name", "==", text("copied"))].to_vec(),
            status,
            ..Default::default()
        })
        .unwrap()
        .rows
        .len()
    };
    assert_eq!(by_status(StatusFilter::All), 1);
    assert_eq!(by_status(StatusFilter::Valid), 1);
    assert_eq!(by_status(StatusFilter::Invalid), 0);
    let e = err_text(repo.dregs_replace(
        &Registration::new("copied", "1.0.0"),
        Some(&src.join("file1.txt")),
    ));
    assert!(e.contains("is deleted, cannot replace"), "{e}");
    let e = err_text(repo.dregs_delete(9999));
    assert!(e.contains("not found in"), "{e}");
    // Files shared with a live in-place entry stay.
    repo.dregs_delete(a.dataset_id).unwrap();
    assert!(repo.dregs_root().join("user/alice/occupied/x.txt").exists());
    // Only the creator (or an admin) deletes.
    set_thread_user(Some("bob"));
    let e = err_text(repo.dregs_delete(b.dataset_id));
    assert!(e.contains("creator-or-admin"), "{e}");
    set_thread_user(Some("alice"));

    // Modify.
    repo.dregs_modify("dataset", last, "description", Some("updated"))
        .unwrap();
    repo.dregs_modify("dataset", last, "creation_date", Some("May 17, 2023"))
        .unwrap();
    let d = repo.dregs_dataset(last).unwrap();
    assert_eq!(d.description.as_deref(), Some("updated"));
    assert_eq!(
        valet::registry::timespan::format_utc_iso(d.creation_date.unwrap()),
        "2023-05-17T00:00:00"
    );
    let e = err_text(repo.dregs_modify("dataset", last, "name", Some("x")));
    assert!(e.contains("not modifiable"), "{e}");
    let e = err_text(repo.dregs_modify("dataset", last, "nope", Some("x")));
    assert!(e.contains("not exist in the schema"), "{e}");

    // Keywords: system ones shipped, user ones made, matched in any case.
    let words: Vec<String> = repo
        .dregs_keywords()
        .unwrap()
        .into_iter()
        .map(|k| k.keyword)
        .collect();
    assert!(words.contains(&"simulation".to_string()) && words.contains(&"dc2".to_string()));
    let e = err_text(repo.dregs_add_keywords(last, &["NoSuchWord".into()]));
    assert!(e.contains("Not all keywords"), "{e}");
    repo.dregs_create_keywords(&["MyTag".into()]).unwrap();
    let e = err_text(repo.dregs_add_keywords(last, &["SIMULATION".into(), "simulation".into()]));
    assert!(e.contains("given twice"), "{e}");
    repo.dregs_add_keywords(last, &["SIMULATION".into(), "mytag".into()])
        .unwrap();
    repo.dregs_add_keywords(last, &["simulation".into()])
        .unwrap();
    assert_eq!(
        repo.dregs_dataset_keywords(last).unwrap(),
        vec!["simulation", "mytag"]
    );
    let tagged = LsOptions {
        keyword: Some("MyTag".into()),
        ..Default::default()
    };
    assert_eq!(names_in(repo, &tagged), vec!["tree"]);
    let pattern = LsOptions {
        name: Some("BUMP*".into()),
        ..Default::default()
    };
    assert_eq!(names_in(repo, &pattern).len(), 6);
    let q = repo
        .dregs_find(&Find {
            columns: Some(["dataset.version_string".into()].to_vec()),
            filters: [
                Filter::new("dataset.name", "==", text("bumped")),
                Filter::new("dataset.version_major", ">=", FilterValue::Int(2)),
            ]
            .to_vec(),
            where_expr: None,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(q.rows.len(), 1);
    let e = err_text(repo.dregs_find(&Find {
        columns: None,
        filters: [Filter::new("dataset.name", "<", text("b"))].to_vec(),
        where_expr: None,
        ..Default::default()
    }));
    assert!(e.contains("must be numeric"), "{e}");
    let w = repo
        .dregs_find(&Find {
            columns: Some(["dataset.dataset_id".into()].to_vec()),
            filters: [].to_vec(),
            where_expr: Some("name = 'bumped' AND version_minor > 0".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(w.rows.len(), 4);

    // Aliases, of datasets and of aliases; supersede moves a name.
    let alias = repo
        .dregs_alias("best_tree", AliasTarget::Dataset(last), false)
        .unwrap()
        .unwrap();
    repo.dregs_alias("the_tree", AliasTarget::Alias(alias), false)
        .unwrap()
        .unwrap();
    assert_eq!(repo.dregs_resolve_alias("the_tree").unwrap(), Some(last));
    assert_eq!(
        repo.dregs_alias("best_tree", AliasTarget::Dataset(b.dataset_id), false)
            .unwrap(),
        None
    );
    repo.dregs_alias("best_tree", AliasTarget::Dataset(b.dataset_id), true)
        .unwrap()
        .unwrap();
    assert_eq!(
        repo.dregs_resolve_alias("best_tree").unwrap(),
        Some(b.dataset_id)
    );
    assert_eq!(repo.dregs_resolve_alias("nothing").unwrap(), None);
}

/// A registration that fails after its data was copied leaves neither row nor file;
/// files a deletion left behind are found and repaired by `check`.
fn nothing_left_on_failure(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.add_admin("alice").unwrap();
    set_thread_user(Some("alice"));
    let src = t.dir.path().join("src");
    write(&src.join("tree/a.txt"), "a");
    write(&src.join("tree/sub/b.txt"), "b");
    let e = err_text(repo.dregs_register(
        &Registration {
            execution_id: Some(424242),
            relative_path: Some("t".into()),
            ..Registration::new("fails_late", "1.0.0")
        },
        Some(&src.join("tree")),
    ));
    assert!(e.contains("execution 424242 does not exist"), "{e}");
    let leftovers: Vec<PathBuf> = walk(&repo.dregs_root());
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(repo
        .dregs_find(&Find {
            columns: None,
            filters: [].to_vec(),
            where_expr: None,
            ..Default::default()
        })
        .unwrap()
        .rows
        .is_empty());
    // A deletion whose file removal never happened (a crash after the commit).
    let made = repo
        .dregs_register(
            &Registration::new("kept", "1.0.0"),
            Some(&src.join("tree/a.txt")),
        )
        .unwrap();
    let path = repo.dregs_path(made.dataset_id).unwrap();
    repo.dregs_delete(made.dataset_id).unwrap();
    write(&path, "a");
    let report = repo.check(Default::default()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("file of a deleted named dataset")),
        "{:?}",
        report.problems
    );
    let fixed = repo
        .check(valet::check::CheckOptions {
            repair: true,
            ..Default::default()
        })
        .unwrap();
    assert!(fixed.problems.is_empty(), "{:?}", fixed.problems);
    assert!(!path.exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

on_both_backends!(
    production_tutorial,
    pipeline_tutorial,
    rules,
    nothing_left_on_failure
);
