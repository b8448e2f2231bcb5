//! Export files on both backends: every reference fixture imports (older formats
//! included), a failed import leaves the repository as it was and says where, and
//! export followed by import into a fresh repository is lossless.

mod common;

use std::path::PathBuf;

use common::{count, new_repo, Backend};
use valet::collections::calibration::validity_ranges;
use valet::collections::{query_collections, CollectionQuery, DatasetQuery};
use valet::transfers::{build_export, write_export, ExportOptions, ImportOptions};
use valet::Repo;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn fixtures(backend: Backend) {
    // (files in load order, datasets, dimension records) as the files hold them.
    let cases: &[(&[&str], usize, u64)] = &[
        (&["base.yaml"], 0, 8),
        (&["base.yaml", "datasets.yaml"], 13, 8),
        (&["base.yaml", "spatial.yaml"], 0, 34),
        (&["ci_hsc-subset.yaml"], 33, 65),
        (&["ci_hsc-subset-skymap.yaml"], 1, 2),
        (&["hsc-rc2-subset-v0.yaml"], 0, 17),
        (&["lsstcam-subset.yaml"], 0, 23),
    ];
    for (files, datasets, records) in cases {
        let Some(t) = new_repo(backend) else { return };
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|f| data(&format!("butler-fixtures/{f}")))
            .collect();
        let s = t
            .repo
            .import_files(&paths, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{files:?}: {e}"));
        assert_eq!(
            (s.datasets, s.dimension_records),
            (*datasets, *records),
            "{files:?}"
        );
    }
    // Legacy integer-free UUIDs of datasets.yaml are kept as written.
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(
            &[
                data("butler-fixtures/base.yaml"),
                data("butler-fixtures/datasets.yaml"),
            ],
            &ImportOptions::default(),
        )
        .unwrap();
    assert_eq!(count(&t.repo, "SELECT COUNT(*) FROM dataset"), 13);
    // The skymap hash (!!binary) arrives as bytes.
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(
            &[data("butler-fixtures/ci_hsc-subset-skymap.yaml")],
            &ImportOptions::default(),
        )
        .unwrap();
    let mut c = t.repo.registry().db.conn().unwrap();
    let row = c
        .query_opt("SELECT hash FROM skymap", &[])
        .unwrap()
        .unwrap();
    assert!(
        matches!(&row[0], valet::registry::Value::Bytes(b) if b.len() == 20),
        "{row:?}"
    );
}

/// A new repository holding base.yaml.
fn base_repo(backend: Backend) -> Option<common::TestRepo> {
    let t = new_repo(backend)?;
    t.repo
        .import_files(
            &[data("butler-fixtures/base.yaml")],
            &ImportOptions::default(),
        )
        .unwrap();
    Some(t)
}

fn failed_import_changes_nothing(backend: Backend) {
    let Some(t) = base_repo(backend) else { return };
    let repo = &t.repo;
    let before = (
        count(repo, "SELECT COUNT(*) FROM collection"),
        count(repo, "SELECT COUNT(*) FROM dataset"),
        count(repo, "SELECT COUNT(*) FROM detector"),
        count(repo, "SELECT COUNT(*) FROM dataset_type"),
    );
    // A valid start (a run, new records, datasets) then a dataset naming an unknown
    // detector: all of it must roll back.
    let bad = "description: x\nversion: 1.0.2\nuniverse_version: 8\nuniverse_namespace: daf_butler\ndata:\n\
- type: dimension\n  element: detector\n  records:\n  - {instrument: Cam1, id: 9, full_name: Zz}\n\
- type: collection\n  collection_type: RUN\n  name: imported\n\
- type: dataset_type\n  name: bias2\n  dimensions: [instrument, detector]\n  storage_class: Exposure\n  is_calibration: false\n\
- type: dataset\n  dataset_type: bias2\n  run: imported\n  records:\n  - dataset_id: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f8']\n    data_id: [{instrument: Cam1, detector: 1}]\n  - dataset_id: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f9']\n    data_id: [{instrument: Cam1, detector: 77}]\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let err = repo
        .import_files(std::slice::from_ref(&path), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.yaml:18: bias2 datasets in run \"imported\""),
        "{err}"
    );
    assert!(
        err.contains("detector record {instrument: Cam1, id: 77} does not exist"),
        "{err}"
    );
    let after = (
        count(repo, "SELECT COUNT(*) FROM collection"),
        count(repo, "SELECT COUNT(*) FROM dataset"),
        count(repo, "SELECT COUNT(*) FROM detector"),
        count(repo, "SELECT COUNT(*) FROM dataset_type"),
    );
    assert_eq!(before, after);
    // Malformed YAML names the file and line too.
    std::fs::write(&path, "version: 1.0.2\ndata:\n- type: [\n").unwrap();
    let err = repo
        .import_files(&[path], &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.yaml:") && err.contains("invalid YAML"),
        "{err}"
    );
}

/// Everything a round trip must keep: collections and chains, every dataset's
/// (id, run, collection, data ID) per collection, and the validity ranges.
fn snapshot(repo: &Repo) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut c = repo.registry().db.conn().unwrap();
    let all = query_collections(&mut c, &CollectionQuery::default()).unwrap();
    let mut colls = Vec::new();
    let mut datasets = Vec::new();
    for r in &all {
        let kids: Vec<String> = if r.kind == valet::registry::CollectionType::Chained {
            valet::collections::chains::children_of(&mut c, r.id)
                .unwrap()
                .into_iter()
                .map(|k| k.name)
                .collect()
        } else {
            vec![]
        };
        colls.push(format!("{} {} {:?} {:?}", r.name, r.kind, r.doc, kids));
        if r.kind == valet::registry::CollectionType::Chained
            || r.kind == valet::registry::CollectionType::Calibration
        {
            continue;
        }
        for t in ["raw", "calexp", "bias"] {
            repo.resolver()
                .query_datasets(
                    &mut c,
                    &repo.registry().universe,
                    &DatasetQuery {
                        dataset_type: t.into(),
                        collections: vec![r.name.clone()],
                        ..Default::default()
                    },
                    &mut |f| {
                        datasets.push(format!(
                            "{} {} {} {:?}",
                            r.name, f.dataset.id, f.dataset.run, f.dataset.data_id
                        ));
                        Ok(true)
                    },
                )
                .unwrap();
        }
    }
    datasets.sort();
    let ranges = validity_ranges(&mut c, "LSSTCam-imSim/calib/DM-30694", "bias")
        .unwrap()
        .into_iter()
        .map(|r| format!("{:?} {:?} {}", r.data_id, r.timespan, r.dataset_id))
        .collect();
    (colls, datasets, ranges)
}

fn export_round_trip(backend: Backend) {
    let Some(a) = new_repo(backend) else { return };
    a.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let model = build_export(&a.repo, &ExportOptions::default()).unwrap();
    // Every collection is defined before a chain lists it, as the reference requires.
    let mut defined = std::collections::HashSet::new();
    for (_, e) in &model.entries {
        if let valet::transfers::Entry::Collection(c) = e {
            for k in &c.children {
                assert!(
                    defined.contains(k),
                    "chain {} lists {k} before it is defined",
                    c.name
                );
            }
            defined.insert(c.name.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.yaml");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write_export(&model, &mut out).unwrap();
    drop(out);
    let Some(b) = new_repo(backend) else { return };
    b.repo
        .import_files(&[path], &ImportOptions::default())
        .unwrap();
    let (ca, da, ra) = snapshot(&a.repo);
    let (cb, db, rb) = snapshot(&b.repo);
    assert_eq!(ca, cb);
    assert_eq!(da.len(), db.len());
    assert_eq!(da, db);
    assert_eq!(ra, rb);
    assert!(
        da.len() > 1000 && ra.len() == 37,
        "{} {}",
        da.len(),
        ra.len()
    );
    let records = "SELECT COUNT(*) FROM visit_detector_region";
    assert_eq!(count(&a.repo, records), count(&b.repo, records));

    // A partial export: one RUN's calexps come with their RUN, and nothing else.
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T010000Z";
    let model = build_export(
        &a.repo,
        &ExportOptions {
            collections: vec![run.into()],
            dataset_types: vec!["calexp".into()],
            where_: "detector < 3".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut buf = Vec::new();
    write_export(&model, &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.matches("- type: collection").count(), 1);
    let n_datasets = text.matches("  - dataset_id:").count();
    let mut c = a.repo.registry().db.conn().unwrap();
    let mut want = 0;
    a.repo
        .resolver()
        .query_datasets(
            &mut c,
            &a.repo.registry().universe,
            &DatasetQuery {
                dataset_type: "calexp".into(),
                collections: vec![run.into()],
                where_: "detector < 3".into(),
                ..Default::default()
            },
            &mut |_| {
                want += 1;
                Ok(true)
            },
        )
        .unwrap();
    assert_eq!(n_datasets, want);
    assert!(want > 0);
}

fn export_round_trip_with_files(backend: Backend) {
    use valet::datastore_crate::TransferMode;
    use valet::registry::artifacts::all_artifacts;
    let Some(a) = new_repo(backend) else { return };
    a.repo
        .import_files(
            &[data("dp02-mini/export.yaml")],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                directory: Some(data("dp02-mini/files")),
                ..Default::default()
            },
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = build_export(&a.repo, &ExportOptions::default()).unwrap();
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("export.yaml")).unwrap());
    write_export(&model, &mut out).unwrap();
    drop(out);
    assert_eq!(
        valet::transfers::export_files(&a.repo, &model, dir.path(), TransferMode::Copy).unwrap(),
        799
    );
    assert!(
        valet::transfers::export_files(&a.repo, &model, dir.path(), TransferMode::Move).is_err()
    );

    let Some(b) = new_repo(backend) else { return };
    b.repo
        .import_files(
            &[dir.path().join("export.yaml")],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                ..Default::default()
            },
        )
        .unwrap();
    let artifacts = |r: &Repo| {
        let mut c = r.registry().db.conn().unwrap();
        all_artifacts(&mut c)
            .unwrap()
            .into_iter()
            .map(|x| (x.dataset_id, x.path, x.checksum, x.file_size))
            .collect::<Vec<_>>()
    };
    assert_eq!(artifacts(&a.repo), artifacts(&b.repo));
    assert_eq!(
        valet::check::check(&b.repo, true, false).unwrap().problems,
        Vec::<String>::new()
    );
}

/// `spatial.yaml` with its first visit's region replaced by `region` (a YAML value).
fn spatial_with_visit_region(region: &str) -> String {
    let text = std::fs::read_to_string(data("butler-fixtures/spatial.yaml")).unwrap();
    let start = text.find("    region: ").unwrap();
    let end = start + text[start..].find("\n  - ").unwrap();
    format!("{}    region: {region}{}", &text[..start], &text[end..])
}

/// Regions of every sphgeom kind keep their kind through the registry and an export;
/// a region, dataset id or tag the reference would not read is refused and changes
/// nothing.
fn regions_and_tags(backend: Backend) {
    use valet::registry::region::{Ellipse, Region};
    let Some(t) = base_repo(backend) else { return };
    let repo = &t.repo;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spatial.yaml");
    let import = |text: &str| {
        std::fs::write(&path, text).unwrap();
        repo.import_files(std::slice::from_ref(&path), &ImportOptions::default())
            .map_err(|e| e.to_string())
    };
    let records = "SELECT COUNT(*) FROM visit";
    let ellipse = Region::Ellipse(Box::new(Ellipse {
        transform: [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
        alpha: 0.02,
        beta: 0.01,
        gamma: 0.5,
        tan_alpha: 0.02f64.tan(),
        tan_beta: 0.01f64.tan(),
    }))
    .encode();
    let boxed = Region::Box {
        lon: [0.5, 0.6],
        lat: [-0.1, 0.1],
    }
    .encode();
    let tagged = |kind: &str, b: &[u8]| {
        spatial_with_visit_region(&format!(
            "!<lsst.sphgeom.{kind}> {{encoded: '{}'}}",
            hex::encode(b)
        ))
    };
    for (text, want) in [
        (
            tagged("Ellipse", &boxed),
            "spatial.yaml:12: entry 2: field \"region\": tagged !<lsst.sphgeom.Ellipse> but encodes a Box",
        ),
        (
            tagged("Sphere", &ellipse),
            "spatial.yaml:27: unknown YAML tag !<lsst.sphgeom.Sphere>",
        ),
    ] {
        let err = import(&text).unwrap_err();
        assert!(err.contains(want), "{err}");
        assert_eq!(count(repo, records), 0);
    }
    let ids = std::fs::read_to_string(data("butler-fixtures/datasets.yaml"))
        .unwrap()
        .replacen("!uuid", "!uuid4", 1);
    let err = import(&ids).unwrap_err();
    assert!(err.contains("unknown YAML tag !uuid4"), "{err}");
    assert!(err.starts_with(&format!("{}:", path.display())), "{err}");
    assert_eq!(count(repo, "SELECT COUNT(*) FROM dataset"), 0);

    import(&tagged("Ellipse", &ellipse)).unwrap();
    assert_eq!(count(repo, records), 2);
    let mut c = repo.registry().db.conn().unwrap();
    let row = c
        .query_opt("SELECT region FROM visit WHERE id = 1", &[])
        .unwrap()
        .unwrap();
    assert_eq!(row[0], valet::registry::Value::Bytes(ellipse.clone()));
    drop(c);
    let model = build_export(repo, &ExportOptions::default()).unwrap();
    let mut buf = Vec::new();
    write_export(&model, &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.matches("!<lsst.sphgeom.Ellipse>").count(), 1);
    assert!(text.matches("!<lsst.sphgeom.ConvexPolygon>").count() > 10);
    let Some(b) = new_repo(backend) else { return };
    std::fs::write(&path, &text).unwrap();
    b.repo
        .import_files(std::slice::from_ref(&path), &ImportOptions::default())
        .unwrap();
    assert_eq!(count(&b.repo, records), 2);
}

/// A chain defined twice in one file (found by fuzzing: the import panicked) is
/// defined once if both definitions agree, and refused, changing nothing, if not.
fn duplicate_chain_definitions(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chains.yaml");
    let import = |second_children: &str| {
        let text = format!(
            "description: x\nversion: 1.0.2\ndata:\n\
             - type: collection\n  collection_type: RUN\n  name: r1\n\
             - type: collection\n  collection_type: RUN\n  name: r2\n\
             - type: collection\n  collection_type: CHAINED\n  name: c\n  children: [r1, r2]\n\
             - type: collection\n  collection_type: CHAINED\n  name: c\n  children: {second_children}\n"
        );
        std::fs::write(&path, text).unwrap();
        t.repo
            .import_files(std::slice::from_ref(&path), &ImportOptions::default())
            .map_err(|e| e.to_string())
    };
    let err = import("[r2]").unwrap_err();
    assert!(
        err.ends_with(
            "chains.yaml:14: collection \"c\": this file defines the chain more than once, with different children"
        ),
        "{err}"
    );
    assert_eq!(count(&t.repo, "SELECT COUNT(*) FROM collection"), 0);
    import("[r1, r2]").unwrap();
    let mut c = t.repo.registry().db.conn().unwrap();
    let kids: Vec<String> = valet::collections::chains::get_chain(&mut c, "c")
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(kids, ["r1", "r2"]);
}

/// The entries of an export file's text, each with the header it needs to stand
/// alone: (header, [(kind, name or type, text)]).
fn split_export(text: &str) -> (String, Vec<(String, String, String)>) {
    let (header, body) = text.split_at(text.find("data:\n").unwrap() + "data:\n".len());
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for line in body.split_inclusive('\n') {
        if let Some(kind) = line.strip_prefix("- type: ") {
            entries.push((kind.trim().to_owned(), String::new(), String::new()));
        }
        let e = entries.last_mut().unwrap();
        for key in ["  element: ", "  dataset_type: ", "  collection_type: "] {
            if let Some(v) = line.strip_prefix(key) {
                e.1 = v.trim().to_owned();
            }
        }
        e.2.push_str(line);
    }
    (header.to_owned(), entries)
}

/// dp02-mini cut into per-type export folders as a team restoring a repository has
/// them, in the worst order for a one-by-one import: associations first, datasets
/// before their RUNs and dimension records, chains before the collections they list,
/// dimension records one element a file from the last element to the first; every
/// dataset type repeated in every file that uses it, one dataset entry in two files,
/// an edited copy and a file list beside them.
fn per_type_folders(root: &std::path::Path) {
    let text = std::fs::read_to_string(data("dp02-mini/export.yaml")).unwrap();
    let (header, entries) = split_export(&text);
    let types: std::collections::HashMap<&str, &str> = entries
        .iter()
        .filter(|e| e.0 == "dataset_type")
        .map(|e| {
            let name = e.2.lines().nth(1).unwrap().trim_start_matches("  name: ");
            (name, e.2.as_str())
        })
        .collect();
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    let mut add = |file: String, chunk: &str| {
        files
            .entry(file)
            .or_insert_with(|| header.clone())
            .push_str(chunk)
    };
    let n_dims = entries.iter().filter(|e| e.0 == "dimension").count();
    let mut dim = 0;
    let mut dup = true;
    for (kind, what, chunk) in &entries {
        match kind.as_str() {
            "dimension" => {
                dim += 1;
                add(format!("records/_export_{:03}.yaml", n_dims - dim), chunk);
            }
            "dataset" => {
                let file = format!("{what}/_export_000.yaml");
                add(file.clone(), types[what.as_str()]);
                add(file, chunk);
                if dup {
                    add("a_duplicate/_export_000.yaml".into(), types[what.as_str()]);
                    add("a_duplicate/_export_000.yaml".into(), chunk);
                    dup = false;
                }
            }
            "collection" if what == "CHAINED" => add("chains/_export_000.yaml".into(), chunk),
            "collection" => add("runs/_export_000.yaml".into(), chunk),
            "associations" => add("_associations/_export_000.yaml".into(), chunk),
            // Every type once more, beside the chains.
            _ => add("chains/_export_000.yaml".into(), chunk),
        }
    }
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    std::fs::write(root.join("calexp/_export_000.yaml.mod"), "not read").unwrap();
    std::fs::write(root.join("calexp/_files.txt"), "not read").unwrap();
}

/// Dozens of export files, selected by globs and in any order, import in one go as
/// the single file does: what a later file needs (RUNs, chain members, records,
/// dataset types, datasets of memberships) comes from whichever file defines it.
fn export_files_in_any_order(backend: Backend) {
    let Some(whole) = new_repo(backend) else {
        return;
    };
    let expected = whole
        .repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    per_type_folders(dir.path());
    let Some(t) = new_repo(backend) else { return };
    // A glob that selects nothing is named, and nothing is written.
    let err = t
        .repo
        .import_directory(
            dir.path(),
            &["*/_export_*.yaml".into(), "calexp/*.fits".into()],
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--export-file \"calexp/*.fits\" matches no export file"),
        "{err}"
    );
    assert_eq!(count(&t.repo, "SELECT COUNT(*) FROM collection"), 0);
    let summary = t
        .repo
        .import_directory(
            dir.path(),
            &[
                "*/_export_*.yaml".into(),
                "records/_export_00[0-9].yaml".into(),
            ],
            &ImportOptions::default(),
        )
        .unwrap();
    assert_eq!(snapshot(&t.repo), snapshot(&whole.repo));
    // Everything once, however many files repeat it.
    assert_eq!(summary, expected);
    for table in [
        "dataset",
        "visit_detector_region",
        "exposure",
        "collection_chain",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(count(&t.repo, &sql), count(&whole.repo, &sql), "{table}");
    }
}

/// Two files that disagree are refused with both named, and the files before them
/// leave nothing behind.
fn export_files_that_disagree(backend: Backend) {
    let Some(t) = base_repo(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let head = "description: x\nversion: 1.0.2\nuniverse_version: 8\nuniverse_namespace: daf_butler\ndata:\n";
    let run = |name: &str, kind: &str| {
        format!("- type: collection\n  collection_type: {kind}\n  name: {name}\n")
    };
    let bias = "- type: dataset_type\n  name: bias2\n  dimensions: [instrument, detector]\n  storage_class: Exposure\n  is_calibration: false\n";
    let dataset = |run: &str| {
        format!("- type: dataset\n  dataset_type: bias2\n  run: {run}\n  records:\n  - dataset_id: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f8']\n    data_id: [{{instrument: Cam1, detector: 1}}]\n")
    };
    let write = |name: &str, body: String| {
        std::fs::write(dir.path().join(name), format!("{head}{body}")).unwrap();
    };
    let before = |repo: &Repo| {
        (
            count(repo, "SELECT COUNT(*) FROM collection"),
            count(repo, "SELECT COUNT(*) FROM dataset"),
            count(repo, "SELECT COUNT(*) FROM dataset_type"),
        )
    };
    let start = before(&t.repo);
    let import = |patterns: &[&str]| {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        t.repo
            .import_directory(dir.path(), &patterns, &ImportOptions::default())
            .unwrap_err()
            .to_string()
    };
    write(
        "a.yaml",
        format!("{}{bias}{}", run("one", "RUN"), dataset("one")),
    );
    write(
        "b.yaml",
        format!("{}{bias}{}", run("two", "RUN"), dataset("two")),
    );
    let err = import(&["*.yaml"]);
    assert!(
        err.contains("b.yaml:")
            && err.contains("is also in run \"one\" at ")
            && err.contains("a.yaml:"),
        "{err}"
    );
    write(
        "b.yaml",
        format!("{}{}", run("one", "TAGGED"), run("x", "RUN")),
    );
    let err = import(&["a.yaml", "b.yaml"]);
    assert!(
        err.contains("b.yaml:6: collection \"one\": defined as TAGGED here but as RUN at ")
            && err.contains("a.yaml:6"),
        "{err}"
    );
    // Chains defined differently in two files.
    write(
        "b.yaml",
        format!(
            "{}- type: collection\n  collection_type: CHAINED\n  name: c\n  children: [one]\n",
            run("x", "RUN")
        ),
    );
    write(
        "c.yaml",
        "- type: collection\n  collection_type: CHAINED\n  name: c\n  children: [x]\n".into(),
    );
    let err = import(&["*.yaml"]);
    assert!(
        err.contains("c.yaml:6: collection \"c\": ")
            && err.contains("b.yaml:9 defines the chain with different children"),
        "{err}"
    );
    assert_eq!(before(&t.repo), start);
}

/// On PostgreSQL, tables filled in bulk have planner statistics as soon as the
/// import commits: without them the planner takes a table of 100k calexps for a few
/// hundred rows and sorts them on disk instead of reading the primary key in order.
fn bulk_inserts_leave_statistics(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    if t.repo.backend() != valet::Backend::Postgres {
        return;
    }
    t.repo
        .import_files(
            &[PathBuf::from(common::conformance_data(
                "dp02-mini/export.yaml",
            ))],
            &ImportOptions::default(),
        )
        .unwrap();
    let mut c = t.repo.registry().db.conn().unwrap();
    let tags = c
        .query_opt(
            "SELECT tags_table FROM dataset_type WHERE name = 'calexp'",
            &[],
        )
        .unwrap()
        .unwrap()[0]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = common::count(&t.repo, &format!("SELECT COUNT(*) FROM {tags}"));
    assert!(rows >= 100, "{rows}");
    for table in [tags.as_str(), "dataset"] {
        let analyzed = c
            .query_opt(
                "SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname = ? AND last_analyze IS NOT NULL",
                &[valet::registry::Value::from(table)],
            )
            .unwrap()
            .unwrap()[0]
            .as_i64()
            .unwrap();
        assert_eq!(analyzed, 1, "{table} has no statistics after the import");
    }
}

on_both_backends!(
    bulk_inserts_leave_statistics,
    export_files_in_any_order,
    export_files_that_disagree,
    duplicate_chain_definitions,
    regions_and_tags,
    fixtures,
    failed_import_changes_nothing,
    export_round_trip,
    export_round_trip_with_files,
);
