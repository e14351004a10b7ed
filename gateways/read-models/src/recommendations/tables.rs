//! The tables of a recommendations generation, and the statements that create them.

use eventmall_projections::Generation;

use super::Recommendations;

/// The table names of a generation.
#[derive(Clone, Debug)]
pub(super) struct Tables {
    pub(super) baskets: String,
    pub(super) items: String,
    pub(super) together: String,
    pub(super) customers: String,
    pub(super) customer_items: String,
    pub(super) also: String,
    pub(super) trending: String,
}

impl Tables {
    pub(super) fn of(generation: Generation) -> Self {
        let prefix = generation.table_prefix(Recommendations::NAME);
        Self {
            baskets: format!("{prefix}baskets"),
            items: format!("{prefix}items"),
            together: format!("{prefix}together"),
            customers: format!("{prefix}customers"),
            customer_items: format!("{prefix}customer_products"),
            also: format!("{prefix}also"),
            trending: format!("{prefix}trending"),
        }
    }

    pub(super) fn names(&self) -> Vec<String> {
        let Self {
            baskets,
            items,
            together,
            customers,
            customer_items,
            also,
            trending,
        } = self;
        [
            baskets,
            items,
            together,
            customers,
            customer_items,
            also,
            trending,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// `keyed` ends the tables of small keyed rows (see `database::keyed_rows`).
    pub(super) fn create_statements(&self, keyed: &str) -> Vec<String> {
        let Self {
            baskets,
            items,
            together,
            customers,
            customer_items,
            also,
            trending,
        } = self;
        let mut statements = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {baskets} (order_id TEXT PRIMARY KEY, \
                 customer_id TEXT NOT NULL, version BIGINT NOT NULL, basket TEXT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {items} (product_id TEXT PRIMARY KEY, \
                 baskets BIGINT NOT NULL, buyers BIGINT NOT NULL){keyed}"
            ),
            // A row per customer a batch touches, taken (updated) before the customer's
            // products are read: two instances' batches of one customer's orders (on different
            // partitions) take turns instead of both writing what they read.
            format!(
                "CREATE TABLE IF NOT EXISTS {customers} (customer_id TEXT PRIMARY KEY, \
                 batches BIGINT NOT NULL){keyed}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {customer_items} (customer_id TEXT NOT NULL, \
                 product_id TEXT NOT NULL, n BIGINT NOT NULL, paired BIGINT NOT NULL, \
                 PRIMARY KEY (customer_id, product_id)){keyed}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {trending} (category TEXT NOT NULL, \
                 product_id TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, \
                 PRIMARY KEY (category, product_id)){keyed}"
            ),
            format!("CREATE INDEX IF NOT EXISTS {trending}_rank ON {trending} (category, score)"),
        ];
        // Pairs are read by their first product (the primary key's prefix; a product has a few
        // hundred at most) and sorted then: an index on the count would be moved by every
        // additive upsert.
        for pairs in [together, also] {
            statements.push(format!(
                "CREATE TABLE IF NOT EXISTS {pairs} (a TEXT NOT NULL, b TEXT NOT NULL, \
                 n BIGINT NOT NULL, PRIMARY KEY (a, b)){keyed}"
            ));
        }
        statements
    }
}
