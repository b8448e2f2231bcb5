//! Raws from their files: the headers' translation into observations
//! ([`translate`]) and their ingest (the reference's `ingest-raws`, [`ingest`]).

pub mod astro;
pub mod ingest;
pub mod translate;
pub mod visits;
pub mod wcs;

pub use ingest::{IngestRawsOptions, IngestRawsSummary};
pub use translate::{translate, ObservationInfo};
