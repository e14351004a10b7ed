//! The index's fields, and a product as a document of them.

use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::{TantivyDocument, doc};

use super::super::dictionary::Dictionary;
use super::super::product::ProductDoc;
use super::super::tokenizer::{CHOSEONG, JAMO, KOREAN, WORDS};
use super::super::units;
use super::SearchError;

/// The fields of the index.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// `product` or `order` (an order whose popularity was counted).
    pub kind: Field,
    pub id: Field,
    /// The whole [`ProductDoc`] as JSON.
    pub state: Field,
    /// The title, as highlights show it.
    pub title: Field,
    /// What a query's words match: title, brand, model number and categories as one text.
    pub text: Field,
    pub jamo: Field,
    pub choseong: Field,
    /// The dictionary's concepts the product's text names (`c12`).
    pub concepts: Field,
    /// Each word of the title, brand and categories, whole and lowercased: what did-you-mean
    /// corrects to and what suggestions complete.
    pub words: Field,
    /// The model a listing is of, across partners: a hash of [`cluster_of`]; none without one.
    pub cluster_key: Field,
    /// A hash of the partner, to count a model's partners from a column.
    pub partner_key: Field,
    /// The product id (a UUID) as two numbers, so a model's offers are named from columns.
    pub id_high: Field,
    pub id_low: Field,
    pub category: Field,
    pub brand: Field,
    pub partner: Field,
    pub price: Field,
    pub in_stock: Field,
    pub listed: Field,
    pub newest: Field,
    pub popularity: Field,
    /// [`ProductDoc::demand`], or `i64::MIN` when never ordered.
    pub demand: Field,
}

pub fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |name: &str, record| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(name)
                .set_index_option(record),
        )
    };
    let positions = IndexRecordOption::WithFreqsAndPositions;
    let fields = Fields {
        kind: builder.add_text_field("kind", STRING),
        id: builder.add_text_field("id", STRING | STORED),
        state: builder.add_text_field("state", STORED),
        title: builder.add_text_field("title", text(KOREAN, positions).set_stored()),
        text: builder.add_text_field("text", text(KOREAN, IndexRecordOption::WithFreqs)),
        jamo: builder.add_text_field("jamo", text(JAMO, positions)),
        choseong: builder.add_text_field("choseong", text(CHOSEONG, positions)),
        concepts: builder
            .add_text_field("concepts", text("whitespace", IndexRecordOption::WithFreqs)),
        words: builder.add_text_field("words", text(WORDS, IndexRecordOption::Basic)),
        cluster_key: builder.add_u64_field("cluster_key", INDEXED | FAST),
        partner_key: builder.add_u64_field("partner_key", FAST),
        id_high: builder.add_u64_field("id_high", FAST),
        id_low: builder.add_u64_field("id_low", FAST),
        category: builder.add_facet_field("category", FacetOptions::default()),
        brand: builder.add_facet_field("brand", FacetOptions::default()),
        partner: builder.add_text_field("partner", STRING),
        price: builder.add_i64_field("price", INDEXED | FAST),
        in_stock: builder.add_u64_field("in_stock", INDEXED | FAST),
        listed: builder.add_u64_field("listed", INDEXED | FAST),
        newest: builder.add_i64_field("newest", FAST),
        popularity: builder.add_i64_field("popularity", FAST),
        demand: builder.add_i64_field("demand", FAST),
    };
    (builder.build(), fields)
}

/// The model a listing is of: its model number, or else the first word of its title with both
/// letters and digits that is not a quantity, lowercased and without connectors (`SM-S928N`
/// and `sms928n` are one).
pub fn cluster_of(product: &ProductDoc) -> Option<String> {
    let model_like = |word: &str| {
        if units::quantity(word).is_some() {
            return None;
        }
        let key: String = word
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .flat_map(|c| c.to_lowercase())
            .collect();
        let letters = key.chars().any(|c| c.is_ascii_alphabetic());
        let digits = key.chars().filter(char::is_ascii_digit).count();
        (key.len() >= 5 && letters && digits >= 2).then_some(key)
    };
    product
        .model_number
        .as_deref()
        .and_then(model_like)
        .or_else(|| product.title.split_whitespace().find_map(model_like))
}

impl Fields {
    pub fn document(
        &self,
        product: &ProductDoc,
        dictionary: &Dictionary,
    ) -> Result<TantivyDocument, SearchError> {
        let state =
            serde_json::to_string(product).map_err(|e| SearchError::Document(e.to_string()))?;
        let mut doc = doc!(
            self.kind => "product",
            self.id => product.product_id.as_str(),
            self.state => state,
            self.title => product.title.as_str(),
            self.partner => product.partner_id.as_str(),
            self.price => product.price.amount,
            self.in_stock => u64::from(product.in_stock()),
            self.listed => u64::from(product.listed),
            self.newest => product.registered_at.map_or(0, |at| at.timestamp_millis()),
            self.popularity => product.popularity,
            self.demand => product.demand().unwrap_or(i64::MIN),
        );
        let brand = product.brand.as_deref().unwrap_or_default();
        let words = format!("{} {brand}", product.title);
        doc.add_text(self.jamo, &words);
        doc.add_text(self.choseong, &words);
        let all = format!("{words} {}", product.category.join(" "));
        doc.add_text(self.words, &all);
        let concepts: Vec<String> = dictionary
            .concepts(&all)
            .into_iter()
            .map(concept_term)
            .collect();
        doc.add_text(self.concepts, concepts.join(" "));
        if let Some(cluster) = cluster_of(product) {
            doc.add_u64(self.cluster_key, key_of(&cluster));
        }
        doc.add_u64(self.partner_key, key_of(&product.partner_id));
        if let Ok(id) = uuid::Uuid::parse_str(&product.product_id) {
            let (high, low) = id.as_u64_pair();
            doc.add_u64(self.id_high, high);
            doc.add_u64(self.id_low, low);
        }
        let model = product.model_number.as_deref().unwrap_or_default();
        doc.add_text(self.text, format!("{all} {model}"));
        if let Some(brand) = &product.brand {
            doc.add_facet(self.brand, Facet::from_path([brand.as_str()]));
        }
        if !product.category.is_empty() {
            doc.add_facet(self.category, Facet::from_path(product.category.iter()));
        }
        Ok(doc)
    }
}

/// A stable 64-bit key of a text (FNV-1a), never 0.
fn key_of(text: &str) -> u64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash.max(1)
}

/// A concept as the index spells it.
pub fn concept_term(concept: u32) -> String {
    format!("c{concept}")
}
