//! Dataset ids: UUID v7 for new datasets, the reference's UUID v5 recipe for
//! deterministic ones.

use uuid::Uuid;

/// The reference's namespace for deterministic dataset ids
/// (`uuid5(NAMESPACE_DNS, "lsst.org")`).
pub const DATASET_ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x84, 0x0b, 0x31, 0xd9, 0x05, 0xcd, 0x51, 0x61, 0xb2, 0xc8, 0x00, 0xd3, 0x2b, 0x28, 0x0d, 0x0f,
]);

/// How a new dataset's id is made (the reference's `DatasetIdGenEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdGenerationMode {
    /// A fresh time-ordered UUID v7.
    #[default]
    Unique,
    /// UUID v5 of the dataset type and data ID: the same everywhere.
    DataIdType,
    /// UUID v5 of the dataset type, run and data ID (raw ingest).
    DataIdTypeRun,
}

impl IdGenerationMode {
    /// The reference's name for the mode (`UNIQUE`, …), as [`str::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            IdGenerationMode::Unique => "UNIQUE",
            IdGenerationMode::DataIdType => "DATAID_TYPE",
            IdGenerationMode::DataIdTypeRun => "DATAID_TYPE_RUN",
        }
    }
}

impl std::str::FromStr for IdGenerationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "UNIQUE" => Ok(IdGenerationMode::Unique),
            "DATAID_TYPE" => Ok(IdGenerationMode::DataIdType),
            "DATAID_TYPE_RUN" => Ok(IdGenerationMode::DataIdTypeRun),
            _ => Err(format!(
                "unknown id generation mode {s:?}: use UNIQUE, DATAID_TYPE or DATAID_TYPE_RUN"
            )),
        }
    }
}

/// Make a dataset id. `required` are the data ID's required dimension values as
/// `(name, value as text)`; they are sorted by name here, as the reference does.
pub fn dataset_id(
    mode: IdGenerationMode,
    dataset_type: &str,
    run: &str,
    required: &[(&str, String)],
) -> Uuid {
    match mode {
        IdGenerationMode::Unique => Uuid::now_v7(),
        IdGenerationMode::DataIdType | IdGenerationMode::DataIdTypeRun => {
            let mut items: Vec<&(&str, String)> = required.iter().collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            let mut s = format!("dataset_type={dataset_type}");
            if mode == IdGenerationMode::DataIdTypeRun {
                s.push_str(",run=");
                s.push_str(run);
            }
            for (k, v) in items {
                s.push(',');
                s.push_str(k);
                s.push('=');
                s.push_str(v);
            }
            Uuid::new_v5(&DATASET_ID_NAMESPACE, s.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_uuid5_of_lsst_org() {
        assert_eq!(
            DATASET_ID_NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"lsst.org")
        );
    }

    #[test]
    fn reference_examples() {
        let raw = dataset_id(
            IdGenerationMode::DataIdTypeRun,
            "raw",
            "HSC/raw/all",
            &[
                ("instrument", "HSC".into()),
                ("exposure", "903334".into()),
                ("detector", "16".into()),
            ],
        );
        assert_eq!(raw.to_string(), "57e68524-8eff-5787-ad73-9fc0c35fbe41");
        let bias = dataset_id(
            IdGenerationMode::DataIdType,
            "bias",
            "ignored",
            &[("instrument", "HSC".into()), ("detector", "16".into())],
        );
        assert_eq!(bias.to_string(), "010d1d6e-ee02-58c4-b59e-5ba4c0137bbe");
        let unique = dataset_id(IdGenerationMode::Unique, "raw", "r", &[]);
        assert_eq!(unique.get_version_num(), 7);
    }
}
