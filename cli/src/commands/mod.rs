//! One module per group of commands; each turns parsed arguments into calls on the
//! `valet` library and prints the answer.

pub mod dataset_types;
pub mod dimensions;
pub mod repo;
