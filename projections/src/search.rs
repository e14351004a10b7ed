//! Product search: a tantivy index with Korean-aware analysis, filters, facets, sorting and
//! highlighted snippets, built from the product topic and, for popularity, the order topic.

pub mod analyzer;
mod index;
mod product;
mod query;
mod tokenizer;

pub use index::{SearchChanges, SearchError, SearchIndex};
pub use product::ProductDoc;
pub use query::{FacetCount, Hit, SearchRequest, SearchResults, Sort};
