//! `register-instrument` on both backends: the shipped definitions become records,
//! registering again is a no-op, a different definition is refused unless updating,
//! only admins register, and the sample instrument's definition is exactly the
//! records the sample's export carries.

mod common;

use common::{conformance_data, new_repo, Backend};
use valet::instruments::{definition_records, load_definition};
use valet::queries::DimensionRecordQuery;
use valet::registry::identity::set_thread_user;
use valet::transfers::{Entry, ImportOptions};
use valet::Record;
use valet::{ErrorKind, InstrumentDefinition, Repo};

fn count(repo: &Repo, element: &str, instrument: &str) -> usize {
    repo.query_dimension_records(&DimensionRecordQuery {
        element: element.into(),
        where_: format!("instrument = '{instrument}'"),
        ..Default::default()
    })
    .unwrap()
    .records
    .len()
}

fn shipped(name: &str) -> InstrumentDefinition {
    InstrumentDefinition::shipped(name).unwrap().unwrap()
}

fn register_shipped_then_again(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    for name in ["HSC", "DECam", "LSSTCam-imSim"] {
        let def = shipped(name);
        let s = repo.register_instrument(&def, false).unwrap();
        let expected =
            1 + def.visit_systems.len() + def.physical_filters.len() + def.detectors.len();
        assert_eq!(s.inserted, expected, "{name}");
        assert!(s.definition_written);
        let again = repo.register_instrument_from(name, false).unwrap();
        assert!(again.is_no_op(), "{name}: {again:?}");
        assert_eq!(again.unchanged, expected);
        assert_eq!(repo.instrument_definition(name).unwrap(), def);
    }
    assert_eq!(count(repo, "detector", "HSC"), 112);
    assert_eq!(count(repo, "detector", "DECam"), 62);
    assert_eq!(count(repo, "physical_filter", "DECam"), 10);
    assert_eq!(repo.instrument_definitions().unwrap().len(), 3);
}

fn different_definition_needs_update(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.register_instrument(&shipped("HSC"), false).unwrap();

    let mut moved = shipped("HSC");
    moved.detectors[0].purpose = "GUIDE".into();
    let e = repo.register_instrument(&moved, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let m = e.to_string();
    assert!(
        m.contains("detector record") && m.contains("purpose") && m.contains("--update"),
        "{m}"
    );
    assert_eq!(
        repo.instrument_definition("HSC").unwrap(),
        shipped("HSC"),
        "nothing changed"
    );

    let s = repo.register_instrument(&moved, true).unwrap();
    assert_eq!((s.inserted, s.updated), (0, 1));
    assert!(s.definition_written);
    assert_eq!(repo.instrument_definition("HSC").unwrap(), moved);

    // A definition whose records are the same but whose translator differs is refused
    // too: ingest would read raws differently.
    let mut translator = moved.clone();
    translator.day_obs_offset = 3600;
    let e = repo.register_instrument(&translator, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("another definition"), "{e}");
}

fn only_admins_register(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    set_thread_user(Some("bob"));
    let e = t
        .repo
        .register_instrument(&shipped("DECam"), false)
        .unwrap_err();
    set_thread_user(None);
    assert_eq!(e.kind(), ErrorKind::Denied);
    assert_eq!(count(&t.repo, "detector", "DECam"), 0);
}

fn sample_definition_matches_the_sample_export(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(
        &[conformance_data("dp02-mini/export.yaml").into()],
        &ImportOptions::default(),
    )
    .unwrap();
    // Every record the export holds is identical to the definition's (a conflict
    // would name the field), and the definition adds the detectors dp02-mini left out.
    let def = shipped("LSSTCam-imSim");
    let before = count(repo, "detector", "LSSTCam-imSim");
    let s = repo.register_instrument(&def, false).unwrap();
    assert_eq!(s.updated, 0);
    assert_eq!(s.unchanged, 1 + 6 + before);
    assert_eq!(count(repo, "detector", "LSSTCam-imSim"), 189);
}

#[test]
fn sample_definition_is_the_generators() {
    // The generator's records at its default shape (189 detectors) are the definition's.
    let export = valet::workload::generate(&valet::workload::Shape {
        visits: 1,
        runs: 1,
        ..Default::default()
    });
    let def = shipped("LSSTCam-imSim");
    let without_nulls = |r: &Record| -> Record {
        r.iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    for (element, records) in definition_records(&def) {
        if element == "visit_system" {
            continue;
        }
        let theirs: Vec<Record> = export
            .entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Dimension {
                    element: el,
                    records,
                } if el == element => Some(records),
                _ => None,
            })
            .flatten()
            .map(without_nulls)
            .collect();
        assert_eq!(records.len(), theirs.len(), "{element}");
        for r in &records {
            let r = without_nulls(r);
            assert!(
                theirs.contains(&r),
                "{element}: {r:?} is not the generator's"
            );
        }
    }
}

#[test]
fn load_definition_reads_files_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cam.yaml");
    std::fs::write(
        &p,
        "name: Cam1\nclass_name: x.Cam\nvisit_max: 10\nexposure_max: 10\ndetector_max: 4\nphysical_filters: [{name: Cam1-G, band: g}]\ndetectors: [{id: 1, full_name: Aa, name_in_raft: a, raft: A, purpose: SCIENCE}]\n",
    )
    .unwrap();
    let def = load_definition(p.to_str().unwrap()).unwrap();
    assert_eq!(def.name, "Cam1");
    assert_eq!(load_definition("HSC").unwrap().name, "HSC");
    let e = load_definition("NoSuchCam").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

fn records_from_files(backend: Backend) {
    use valet::dimension_writes::ExistingRecords;
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.register_instrument_from("HSC", false).unwrap();
    let write = |name: &str, text: &str| {
        let p = t.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let yaml = write("systems.yaml", "- {instrument: HSC, id: 7, name: custom}\n");
    let s = repo
        .insert_dimension_records_from("visit_system", &yaml, ExistingRecords::Refuse)
        .unwrap();
    assert_eq!((s.records, s.inserted), (1, 1));
    let e = repo
        .insert_dimension_records_from("visit_system", &yaml, ExistingRecords::Refuse)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("already exists"), "{e}");
    let s = repo
        .insert_dimension_records_from("visit_system", &yaml, ExistingRecords::Skip)
        .unwrap();
    assert_eq!(s.inserted, 0);
    let renamed = write(
        "renamed.json",
        r#"[{"instrument": "HSC", "id": 7, "name": "other"}]"#,
    );
    let s = repo
        .insert_dimension_records_from("visit_system", &renamed, ExistingRecords::Update)
        .unwrap();
    assert_eq!((s.inserted, s.updated), (0, 1));
    let csv = write("filters.csv", "instrument,name,band\nHSC,HSC-NEW,x\n");
    let s = repo
        .insert_dimension_records_from("physical_filter", &csv, ExistingRecords::Refuse)
        .unwrap();
    assert_eq!(s.inserted, 1);
    assert_eq!(
        count(repo, "physical_filter", "HSC"),
        shipped("HSC").physical_filters.len() + 1
    );
    let orphan = write("orphan.csv", "instrument,name,band\nNope,F,x\n");
    let e = repo
        .insert_dimension_records_from("physical_filter", &orphan, ExistingRecords::Refuse)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        e.to_string()
            .contains("instrument {name: Nope} does not exist"),
        "{e}"
    );
    set_thread_user(Some("bob"));
    let e = repo
        .insert_dimension_records_from("physical_filter", &csv, ExistingRecords::Skip)
        .unwrap_err();
    set_thread_user(None);
    assert_eq!(e.kind(), ErrorKind::Denied);
}

on_both_backends!(
    register_shipped_then_again,
    different_definition_needs_update,
    only_admins_register,
    sample_definition_matches_the_sample_export,
    records_from_files,
);
