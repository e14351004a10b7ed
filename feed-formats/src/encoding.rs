//! A feed's text encoding: UTF-8 (with or without a byte-order mark) or EUC-KR/CP949.
//!
//! Feeds are decoded a line at a time. Neither encoding puts a tab or a line feed byte inside
//! a multi-byte character (EUC-KR and CP949 trail bytes are 0x41 and above), so splitting the
//! raw bytes on `\n` and `\t` first is safe, and a line that does not decode is one rejected
//! row, not a failed feed.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// How a feed's bytes are text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeedEncoding {
    #[default]
    Utf8,
    /// EUC-KR and its superset CP949 (Unified Hangul Code), as Korean shops export it.
    EucKr,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

impl FeedEncoding {
    /// The text of one line (without its line end), or `None` when its bytes are not in this
    /// encoding. The first line may start with a UTF-8 byte-order mark, which is dropped.
    pub fn decode<'a>(self, line: &'a [u8], first: bool) -> Option<Cow<'a, str>> {
        let line = match first {
            true => line.strip_prefix(UTF8_BOM).unwrap_or(line),
            false => line,
        };
        match self {
            Self::Utf8 => std::str::from_utf8(line).ok().map(Cow::Borrowed),
            // encoding_rs's EUC-KR is the WHATWG one: CP949 with its extensions.
            Self::EucKr => {
                encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(line)
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::EucKr => "euc-kr",
        }
    }
}

impl fmt::Display for FeedEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedEncoding {
    type Err = String;

    /// `utf-8`, `utf8`, `euc-kr`, `euckr`, `cp949`, `ks_c_5601-1987`, any case.
    fn from_str(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "euc-kr" | "euckr" | "cp949" | "ks-c-5601-1987" | "windows-949" => Ok(Self::EucKr),
            other => Err(format!(
                "unknown encoding {other}; one of utf-8, euc-kr (cp949)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_or_without_a_bom() {
        let text = "id\ttitle".as_bytes();
        let mut marked = UTF8_BOM.to_vec();
        marked.extend_from_slice(text);
        assert_eq!(
            FeedEncoding::Utf8.decode(&marked, true).unwrap(),
            "id\ttitle"
        );
        assert_eq!(FeedEncoding::Utf8.decode(text, true).unwrap(), "id\ttitle");
        assert!(FeedEncoding::Utf8.decode(b"\xff\xfe", false).is_none());
    }

    #[test]
    fn euc_kr_and_cp949_decode_and_bad_bytes_are_refused() {
        let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode("삼성 무선청소기 똠방각하");
        assert!(!unmappable);
        assert_eq!(
            FeedEncoding::EucKr.decode(&bytes, false).unwrap(),
            "삼성 무선청소기 똠방각하"
        );
        assert!(FeedEncoding::EucKr.decode(b"\xb0", false).is_none());
        assert!(bytes.iter().all(|b| *b != b'\t' && *b != b'\n'));
    }

    #[test]
    fn names() {
        assert_eq!("CP949".parse(), Ok(FeedEncoding::EucKr));
        assert_eq!("ks_c_5601-1987".parse(), Ok(FeedEncoding::EucKr));
        assert_eq!("UTF-8".parse(), Ok(FeedEncoding::Utf8));
        assert!("latin1".parse::<FeedEncoding>().is_err());
    }
}
