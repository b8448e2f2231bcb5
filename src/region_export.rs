//! `obscore export-regions`: the distinct regions of the datasets of one type in one
//! collection, as a FITS binary table of IVOA STC-S strings (the reference's
//! command), for footprint services and coverage maps.

use std::collections::BTreeMap;
use std::path::Path;

use valet_fits::write::{empty_primary, text_column_table, write_hdus};
use valet_fits::Value as Card;
use valet_registry::db::{quote_ident as q, Value};
use valet_registry::region::Region;
use valet_registry::schema::element_key_columns;
use valet_registry::RegistryError;

use crate::queries::DatasetSearch;
use crate::repo::io_err;
use crate::{Repo, RepoError};

/// Data IDs whose regions one statement reads.
const KEYS_PER_QUERY: usize = 200;

/// A value as a sort key: integers in numeric order before text.
fn sort_key(v: &Value) -> (bool, i64, String) {
    match v {
        Value::Int(i) => (false, *i, String::new()),
        other => (true, 0, other.to_string()),
    }
}

impl Repo {
    /// Write the distinct regions of the datasets of `dataset_type` in `collection`
    /// (that `where_` selects) to `destination` as a FITS file: an empty primary HDU
    /// and a `REGIONS` binary table whose `s_region` column holds each region as
    /// STC-S, in data-ID order. A region is the dataset type's most specific spatial
    /// element's (`visit_detector_region` for calexps, `patch` for coadds). The file
    /// appears whole or not at all. Returns the regions written.
    pub fn export_regions(
        &self,
        dataset_type: &str,
        collection: &str,
        where_: &str,
        destination: &Path,
    ) -> Result<u64, RepoError> {
        if collection.is_empty() {
            return Err(RepoError::Invalid(
                "one collection must be specified".into(),
            ));
        }
        let t = self.dataset_type(dataset_type)?;
        let universe = &self.registry.universe;
        let element = universe.region_element(&t.dimensions).ok_or_else(|| {
            RepoError::Invalid(format!(
                "dataset type {dataset_type:?} has no single unambiguous spatial region dimension"
            ))
        })?;
        let dims = universe
            .required_of(&element.name)
            .map_err(RegistryError::from)?;
        let positions: Vec<usize> = dims
            .iter()
            .map(|d| t.dimensions.required.iter().position(|r| r == d))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                RepoError::Invalid(format!(
                    "the regions of {} need dimensions {dataset_type} lacks",
                    element.name
                ))
            })?;
        // The data IDs of the element the datasets carry, once each, in order.
        let mut wanted: BTreeMap<Vec<(bool, i64, String)>, usize> = BTreeMap::new();
        let mut keys: Vec<Vec<Value>> = Vec::new();
        let search = DatasetSearch {
            dataset_types: vec![dataset_type.to_owned()],
            collections: vec![collection.to_owned()],
            where_: where_.to_owned(),
            find_first: false,
            ..Default::default()
        };
        self.search_dataset_rows(&search, &mut |row| {
            let key: Vec<Value> = positions
                .iter()
                .map(|&p| row.values.get(p).cloned().unwrap_or(Value::Null))
                .collect();
            let sortable = key.iter().map(sort_key).collect();
            wanted.entry(sortable).or_insert_with(|| {
                keys.push(key);
                keys.len() - 1
            });
            Ok(true)
        })?;
        // Their regions, looked up by key a few hundred at a time: a collection's
        // regions are a small part of the element's table in a large repository.
        let columns = element_key_columns(universe, element)?;
        let one_key = columns
            .iter()
            .map(|c| format!("{} = ?", q(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut regions: Vec<Option<String>> = vec![None; keys.len()];
        let mut failed = None;
        let mut conn = self.registry.db.conn()?;
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "SELECT {}, region FROM {} WHERE {}",
                columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
                q(&element.name),
                vec![format!("({one_key})"); chunk.len()].join(" OR ")
            );
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            conn.query_each(&sql, &params, &mut |row| {
                let sortable: Vec<_> = row[..columns.len()].iter().map(sort_key).collect();
                let Some(&i) = wanted.get(&sortable) else {
                    return Ok(());
                };
                let stcs = match &row[columns.len()] {
                    Value::Bytes(blob) => Region::decode(blob).ivoa_stcs(),
                    _ => Err("no region".to_owned()),
                };
                match stcs {
                    Ok(text) => regions[i] = Some(text),
                    Err(e) => {
                        failed.get_or_insert(format!("{} {:?}: {e}", element.name, keys[i]));
                    }
                }
                Ok(())
            })?;
        }
        drop(conn);
        if let Some(e) = failed {
            return Err(RepoError::Invalid(e));
        }
        // In data-ID order; a data ID whose record has no region has nothing to show.
        let stcs: Vec<String> = wanted.values().filter_map(|&i| regions[i].take()).collect();
        let (mut header, data) = text_column_table("s_region", &stcs);
        header.push("EXTNAME", Card::Str("REGIONS".into()));
        header.push(
            "TUTYP1",
            Card::Str("obscore:Char.SpatialAxis.Coverage.Support.Area".into()),
        );
        header.push("TUCD1", Card::Str("pos.outline;obs.field".into()));
        header.push("TXTYP1", Card::Str("stc-s".into()));
        header.push(
            "HISTORY",
            Card::Str(format!(
                "export-regions dataset_type={dataset_type} collection={collection} where=\"{where_}\""
            )),
        );
        let primary = empty_primary();
        crate::obscore_api::write_atomically(destination, &mut |out| {
            write_hdus(&mut &mut *out, &[(&primary, &[]), (&header, &data)])
                .and_then(|_| out.flush())
                .map_err(io_err(destination))?;
            Ok(stcs.len() as u64)
        })
    }
}
