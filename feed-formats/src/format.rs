//! The formats a feed comes in.

use serde::Serialize;

/// The feed formats a run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// Naver Shopping EP 3.0 TSV, full or summary.
    EpTsv,
    /// CSV with a header row, through the partner's field mapping.
    Csv,
    /// JSON Lines, through the partner's field mapping.
    Jsonl,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EpTsv => "ep-tsv",
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// Whether the format needs a field mapping.
    pub fn mapped(self) -> bool {
        self != Self::EpTsv
    }
}

impl std::str::FromStr for FeedFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "ep-tsv" => Ok(Self::EpTsv),
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!(
                "unknown feed format {other}; one of ep-tsv, csv, jsonl"
            )),
        }
    }
}
