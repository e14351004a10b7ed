//! Product search: a tantivy index with Korean-aware analysis, filters, facets, sorting and
//! highlighted snippets, built from the product topic and, for popularity, the order topic.

pub mod analyzer;
mod cluster;
mod collect;
mod columns;
mod conjunction;
pub mod dictionary;
mod index;
mod product;
mod query;
mod results;
pub mod suggest;
mod tokenizer;
pub mod units;

pub use cluster::Cluster;
pub use dictionary::{Dictionary, DictionaryError};
pub use index::{SearchChanges, SearchError, SearchIndex};
pub use product::ProductDoc;
pub use results::{FacetCount, Hit, SearchRequest, SearchResults, Sort};
pub use suggest::Suggestion;
