//! The analyzers as tantivy tokenizers.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use super::analyzer::{self, Piece};

/// Names the tokenizers are registered under.
pub const KOREAN: &str = "eventmall_korean";
pub const JAMO: &str = "eventmall_jamo";
pub const CHOSEONG: &str = "eventmall_choseong";
pub const WORDS: &str = "eventmall_words";

/// A tokenizer backed by one of the analyzer's functions.
#[derive(Clone, Copy)]
pub struct Analyzer(fn(&str) -> Vec<Piece>);

impl Analyzer {
    pub const KOREAN: Self = Self(analyzer::tokens);
    pub const JAMO: Self = Self(analyzer::jamo_tokens);
    pub const CHOSEONG: Self = Self(analyzer::choseong_tokens);
    pub const WORDS: Self = Self(analyzer::word_tokens);
}

pub struct Pieces {
    pieces: std::vec::IntoIter<Piece>,
    token: Token,
}

impl Tokenizer for Analyzer {
    type TokenStream<'a> = Pieces;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Pieces {
        Pieces {
            pieces: (self.0)(text).into_iter(),
            token: Token::default(),
        }
    }
}

impl TokenStream for Pieces {
    fn advance(&mut self) -> bool {
        let Some(piece) = self.pieces.next() else {
            return false;
        };
        self.token = Token {
            offset_from: piece.from,
            offset_to: piece.to,
            position: piece.position,
            text: piece.text,
            position_length: 1,
        };
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Registers the analyzers with an index.
pub fn register(index: &tantivy::Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(KOREAN, Analyzer::KOREAN);
    tokenizers.register(JAMO, Analyzer::JAMO);
    tokenizers.register(CHOSEONG, Analyzer::CHOSEONG);
    tokenizers.register(WORDS, Analyzer::WORDS);
}
