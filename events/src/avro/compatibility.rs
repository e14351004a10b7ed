//! Compatibility levels and the check a new schema must pass against a subject's versions.

use std::fmt;
use std::str::FromStr;

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

/// Which earlier versions a new schema must be compatible with, and in which direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// No check.
    None,
    /// The new schema reads data written with the latest one.
    Backward,
    /// The new schema reads data written with every earlier one.
    BackwardTransitive,
    /// The latest schema reads data written with the new one.
    Forward,
    /// Every earlier schema reads data written with the new one.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every earlier one.
    FullTransitive,
}

impl Level {
    const NAMES: [(Level, &'static str); 7] = [
        (Level::None, "NONE"),
        (Level::Backward, "BACKWARD"),
        (Level::BackwardTransitive, "BACKWARD_TRANSITIVE"),
        (Level::Forward, "FORWARD"),
        (Level::ForwardTransitive, "FORWARD_TRANSITIVE"),
        (Level::Full, "FULL"),
        (Level::FullTransitive, "FULL_TRANSITIVE"),
    ];

    /// The level as the REST API spells it.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(level, _)| *level == self)
            .map_or("NONE", |(_, name)| name)
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Why `new` may not follow `existing` (oldest first) at this level; empty when it may.
    pub fn violations(self, new: &Schema, existing: &[(i64, Schema)]) -> Vec<String> {
        let against = match (self.transitive(), existing.last()) {
            (true, _) => existing,
            (false, Some(_)) => &existing[existing.len() - 1..],
            (false, None) => &[],
        };
        let mut violations = Vec::new();
        for (version, old) in against {
            if self.backward()
                && let Err(error) = SchemaCompatibility::can_read(old, new)
            {
                violations.push(format!(
                    "cannot read data written with version {version}: {error}"
                ));
            }
            if self.forward()
                && let Err(error) = SchemaCompatibility::can_read(new, old)
            {
                violations.push(format!(
                    "version {version} cannot read data written with it: {error}"
                ));
            }
        }
        violations
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(s))
            .map(|(level, _)| *level)
            .ok_or_else(|| format!("invalid compatibility level {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(fields: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn levels_check_the_right_direction_and_depth() {
        let a = record(r#"{"name":"a","type":"long"}"#);
        let ab = record(r#"{"name":"a","type":"long"},{"name":"b","type":"string","default":""}"#);
        let b_only = record(r#"{"name":"b","type":"string","default":""}"#);
        let history = vec![(1, a.clone()), (2, ab.clone())];

        // Dropping `a` (no default) is backward compatible (a new reader ignores it) but not
        // forward: the old reader needs `a`.
        assert!(Level::Backward.violations(&b_only, &history).is_empty());
        assert_eq!(Level::Forward.violations(&b_only, &history).len(), 1);
        assert_eq!(Level::Full.violations(&b_only, &history).len(), 1);
        // Transitive levels check every version, not only the latest.
        assert_eq!(
            Level::ForwardTransitive.violations(&b_only, &history).len(),
            2
        );
        assert!(Level::None.violations(&b_only, &history).is_empty());

        // Adding a field without a default cannot read old data.
        let ac = record(r#"{"name":"a","type":"long"},{"name":"c","type":"string"}"#);
        assert_eq!(Level::BackwardTransitive.violations(&ac, &history).len(), 2);
    }

    #[test]
    fn names_round_trip() {
        for (level, name) in Level::NAMES {
            assert_eq!(name.parse::<Level>().unwrap(), level);
            assert_eq!(level.to_string(), name);
        }
        assert!("SIDEWAYS".parse::<Level>().is_err());
    }
}
