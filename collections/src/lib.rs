//! Collection semantics over the registry: chain edits with cycle checks, flattening,
//! and collection queries.

pub mod chains;

pub use chains::{flatten, get_chain};
