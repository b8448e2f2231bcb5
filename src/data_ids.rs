//! Data IDs from dimension records alone (`query-data-ids` without `--datasets`):
//! the combinations of the records of the dimensions asked for that agree on the
//! dimensions they share, filtered by `--where`.

use valet_collections::search::{data_id_filter, FilteredRows};
use valet_config::DimensionGroup;
use valet_registry::db::quote_ident as q;
use valet_registry::expand::RecordCache;
use valet_registry::schema::dimension_reference;
use valet_registry::{DataId, RegistryError, Value};

use crate::queries::Binds;
use crate::{Repo, RepoError};

impl Repo {
    /// The distinct data IDs of `group` that its dimensions' records make, each as
    /// the values of `columns` (required then implied dimensions): the records of
    /// the required dimensions joined on the dimensions they share, `where_` applied,
    /// implied values read from the records.
    pub(crate) fn data_ids_from_records(
        &self,
        group: &DimensionGroup,
        columns: &[String],
        where_: &str,
        bind: &Binds,
    ) -> Result<Vec<Vec<Value>>, RepoError> {
        let universe = &self.registry.universe;
        let key_of = |d: &str| -> Result<String, RepoError> {
            let e = universe.get(d).map_err(RegistryError::from)?;
            match (e.has_table(), e.primary_key()) {
                (true, Some(k)) => Ok(k.name.clone()),
                _ => Err(RepoError::Invalid(format!(
                    "{d} has no records to list data IDs from; name a dataset type with --datasets"
                ))),
            }
        };
        let mut from = String::new();
        let mut select = Vec::new();
        for d in &group.required {
            let alias = format!("r_{d}");
            let table = format!("{} {alias}", q(d));
            let (source, target) = dimension_reference(universe, d)?;
            let mut on = Vec::new();
            for (s, column) in source.iter().zip(&target) {
                if s != d {
                    on.push(format!("{alias}.{} = r_{s}.{}", q(column), q(&key_of(s)?)));
                }
            }
            if from.is_empty() {
                from = table;
            } else if on.is_empty() {
                from.push_str(&format!(" CROSS JOIN {table}"));
            } else {
                from.push_str(&format!(" JOIN {table} ON {}", on.join(" AND ")));
            }
            select.push(format!("{alias}.{} AS {}", q(&key_of(d)?), q(d)));
        }
        let filter = data_id_filter(
            universe,
            &FilteredRows {
                dimensions: group,
                what: "these data IDs",
                alias: "t",
                dataset_type: None,
            },
            where_,
            bind,
            self.backend(),
        )?;
        let outer: Vec<String> = group
            .required
            .iter()
            .map(|d| format!("t.{}", q(d)))
            .collect();
        let mut sql = format!(
            "SELECT DISTINCT {} FROM (SELECT {} FROM {from}) t{}",
            outer.join(", "),
            select.join(", "),
            filter.joins
        );
        if !filter.condition.is_empty() {
            sql.push_str(&format!(" WHERE {}", filter.condition));
        }
        let mut conn = self.registry.db.conn()?;
        let found = conn
            .query(&sql, &filter.params)
            .map_err(RegistryError::from)?;
        let mut cache = RecordCache::new(universe.clone());
        cache.load_for(&mut conn, columns)?;
        found
            .into_iter()
            .map(|row| {
                let data_id: DataId = group.required.iter().cloned().zip(row).collect();
                let expanded = cache.expand(&group.required, &data_id)?;
                Ok(columns
                    .iter()
                    .map(|c| expanded.data_id.get(c).cloned().unwrap_or(Value::Null))
                    .collect())
            })
            .collect()
    }
}
