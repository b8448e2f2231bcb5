//! IVOA SIAv2 over the live ObsCore table: parameters (`params`), footprint
//! geometry (`geometry`), the query (`query`); results go out as VOTable
//! (`crate::votable`).

pub mod geometry;
pub mod params;
pub mod query;

pub use params::{Interval, Pos, SiaQuery};
pub use query::{query, SiaAnswer};
