//! The baseline the relevance set measures Eventmall against: tantivy's default tokenizer
//! (split on what is not a letter or digit, lowercased) with plain CJK bigrams over Hangul, one
//! text field, BM25, and tantivy's query parser. No jamo, no synonyms, no boosts.

use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexReader, TantivyDocument, doc};

const BIGRAMS: &str = "default_cjk_bigrams";

/// Lucene's CJK bigrams after tantivy's `SimpleTokenizer` and `LowerCaser`.
#[derive(Clone)]
struct DefaultWithBigrams;

struct Tokens {
    tokens: std::vec::IntoIter<Token>,
    token: Token,
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

impl Tokenizer for DefaultWithBigrams {
    type TokenStream<'a> = Tokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens {
        let mut tokens = Vec::new();
        let push = |from: usize, to: usize, tokens: &mut Vec<Token>| {
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position: tokens.len(),
                text: text[from..to].to_lowercase(),
                position_length: 1,
            });
        };
        let mut words = Vec::new();
        let mut start = None;
        for (offset, c) in text.char_indices().chain([(text.len(), ' ')]) {
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(offset),
                (false, Some(from)) => {
                    words.push((from, &text[from..offset]));
                    start = None;
                }
                _ => {}
            }
        }
        for (start, word) in words {
            if !word.chars().any(is_hangul) {
                push(start, start + word.len(), &mut tokens);
                continue;
            }
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            if chars.len() == 1 {
                push(start, start + word.len(), &mut tokens);
            }
            for pair in chars.windows(2) {
                let end = chars
                    .iter()
                    .find(|(o, _)| *o > pair[1].0)
                    .map_or(word.len(), |(o, _)| *o);
                push(start + pair[0].0, start + end, &mut tokens);
            }
        }
        Tokens {
            tokens: tokens.into_iter(),
            token: Token::default(),
        }
    }
}

impl TokenStream for Tokens {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.token = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

pub struct Baseline {
    index: Index,
    reader: IndexReader,
    key: Field,
    text: Field,
}

impl Baseline {
    /// Indexes each listing's title, brand, category path and model number as one text.
    pub fn build(listings: &[(String, String)]) -> Self {
        let mut schema = Schema::builder();
        let key = schema.add_text_field("key", STRING | STORED);
        let text = schema.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(BIGRAMS)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(BIGRAMS, DefaultWithBigrams);
        // One thread, so documents keep their order and ties break the same way in every run.
        let mut writer = index.writer_with_num_threads(1, 64 * 1024 * 1024).unwrap();
        for (listing, words) in listings {
            writer
                .add_document(doc!(key => listing.as_str(), text => words.as_str()))
                .unwrap();
        }
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        Self {
            index,
            reader,
            key,
            text,
        }
    }

    /// The keys of the top ten listings for `q`.
    pub fn search(&self, q: &str) -> Vec<String> {
        let parser = QueryParser::for_index(&self.index, vec![self.text]);
        let (query, _) = parser.parse_query_lenient(q);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(10).order_by_score())
            .unwrap();
        top.into_iter()
            .map(|(_, address)| {
                let doc: TantivyDocument = searcher.doc(address).unwrap();
                let key = doc.get_first(self.key).and_then(|v| v.as_str());
                key.unwrap_or_default().to_owned()
            })
            .collect()
    }
}
