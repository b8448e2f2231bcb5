//! What an export file says, independent of its YAML spelling.

use uuid::Uuid;
use valet_registry::{CollectionType, DataId, Record, Timespan};

/// A whole export file.
#[derive(Debug, Clone, Default)]
pub struct ExportFile {
    /// Format version (`1.0.2`; `0` is read as `1.0.0`).
    pub version: String,
    /// Universe version the records were written with (0 when missing).
    pub universe_version: u32,
    /// Universe namespace.
    pub universe_namespace: String,
    /// Entries in file order, each with the line it starts on.
    pub entries: Vec<(usize, Entry)>,
}

impl ExportFile {
    /// The same file with only its dataset type definitions: importing it registers
    /// the types (for example before enabling an ObsCore table that names them).
    pub fn dataset_types_only(&self) -> ExportFile {
        ExportFile {
            entries: self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e, Entry::DatasetType { .. }))
                .cloned()
                .collect(),
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> ExportFile {
        ExportFile {
            version: self.version.clone(),
            universe_version: self.universe_version,
            universe_namespace: self.universe_namespace.clone(),
            entries: Vec::new(),
        }
    }
}

/// One collection definition.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionEntry {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: CollectionType,
    /// Documentation.
    pub doc: Option<String>,
    /// Children, for chains.
    pub children: Vec<String>,
}

/// One file of a `dataset` entry: one or more datasets stored in it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetFile {
    /// Dataset ids, paired with `data_ids`.
    pub ids: Vec<Uuid>,
    /// Data IDs (required dimensions).
    pub data_ids: Vec<DataId>,
    /// Path relative to the export directory.
    pub path: Option<String>,
    /// Formatter class name.
    pub formatter: Option<String>,
}

/// TAGGED or CALIBRATION memberships.
#[derive(Debug, Clone, PartialEq)]
pub enum Association {
    /// Members of a TAGGED collection.
    Tagged(Vec<Uuid>),
    /// Validity ranges of a CALIBRATION collection.
    Calibration(Vec<(Timespan, Vec<Uuid>)>),
}

/// One entry of `data:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Dimension records of one element.
    Dimension {
        /// Element name.
        element: String,
        /// Records.
        records: Vec<Record>,
    },
    /// A collection.
    Collection(CollectionEntry),
    /// A dataset type.
    DatasetType {
        /// Name.
        name: String,
        /// Dimensions.
        dimensions: Vec<String>,
        /// Storage class.
        storage_class: String,
        /// Calibration type.
        is_calibration: bool,
    },
    /// Datasets of one type in one RUN.
    Datasets {
        /// Dataset type.
        dataset_type: String,
        /// RUN.
        run: String,
        /// Files.
        files: Vec<DatasetFile>,
    },
    /// Memberships of a TAGGED or CALIBRATION collection.
    Associations {
        /// Collection.
        collection: String,
        /// The memberships.
        association: Association,
    },
}

impl Entry {
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            Entry::Dimension { element, .. } => format!("dimension records of {element}"),
            Entry::Collection(c) => format!("collection {:?}", c.name),
            Entry::DatasetType { name, .. } => format!("dataset type {name:?}"),
            Entry::Datasets {
                dataset_type, run, ..
            } => {
                format!("{dataset_type} datasets in run {run:?}")
            }
            Entry::Associations { collection, .. } => format!("associations of {collection:?}"),
        }
    }
}
