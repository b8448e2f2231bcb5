//! Collection semantics over the registry: CHAINED edits with cycle checks and
//! history, TAGGED associations, CALIBRATION validity ranges, removal, queries and the
//! naming conventions.

pub mod calibration;
pub mod chains;
pub mod naming;
pub mod provenance;
pub mod query;
pub mod removal;
pub mod search;
pub mod tagged;
pub mod where_filter;

pub use chains::{
    chain_history, collection_chain, edit_chain, flatten, get_chain, ChainEdit, ChainMode,
};
pub use query::{query_collections, CollectionQuery};
pub use search::{DatasetQuery, FindRequest, Found, FoundRow, Resolver, SearchPath};
