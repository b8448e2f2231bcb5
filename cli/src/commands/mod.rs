//! One module per group of commands; each turns parsed arguments into calls on the
//! `valet` library and prints the answer.

pub mod admin;
pub mod adopt;
pub mod check;
pub mod collections;
pub mod config;
pub mod dataset_types;
pub mod datasets;
pub mod dimensions;
pub mod dregs;
pub mod instruments;
pub mod obscore;
pub mod provenance;
pub mod repo;
pub mod sample;
pub mod serve;
pub mod transfers;
