//! Bounds on a submitted schema. apache-avro's parser and compatibility check cost grows with
//! the square of an enum's symbols, a union's branches and a record's fields: without bounds
//! one request ties a thread up for tens of seconds. Real event schemas stay far inside these.

use apache_avro::Schema;

/// The longest schema text, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// Symbols of one enum, at most.
pub const MAX_ENUM_SYMBOLS: usize = 1_000;
/// Branches of one union, at most.
pub const MAX_UNION_BRANCHES: usize = 100;
/// Fields of one record, at most.
pub const MAX_RECORD_FIELDS: usize = 1_000;
/// Types in the whole schema (every record, field, branch, item and value type), at most.
pub const MAX_TYPES: usize = 10_000;

/// Whether `text` is small enough to parse.
pub fn check_size(text: &str) -> Result<(), String> {
    match text.len() {
        len if len > MAX_SCHEMA_BYTES => Err(format!(
            "the schema has {len} bytes, at most {MAX_SCHEMA_BYTES}"
        )),
        _ => Ok(()),
    }
}

/// Whether a parsed schema is within every bound.
pub fn check(schema: &Schema) -> Result<(), String> {
    let mut pending = vec![schema];
    let mut types = 0;
    while let Some(schema) = pending.pop() {
        types += 1;
        if types > MAX_TYPES {
            return Err(format!("the schema has more than {MAX_TYPES} types"));
        }
        match schema {
            Schema::Record(record) => {
                bounded("a record's fields", record.fields.len(), MAX_RECORD_FIELDS)?;
                pending.extend(record.fields.iter().map(|field| &field.schema));
            }
            Schema::Enum(enumeration) => {
                bounded(
                    "an enum's symbols",
                    enumeration.symbols.len(),
                    MAX_ENUM_SYMBOLS,
                )?;
            }
            Schema::Union(union) => {
                bounded(
                    "a union's branches",
                    union.variants().len(),
                    MAX_UNION_BRANCHES,
                )?;
                pending.extend(union.variants());
            }
            Schema::Array(array) => pending.push(&array.items),
            Schema::Map(map) => pending.push(&map.types),
            _ => {}
        }
    }
    Ok(())
}

fn bounded(what: &str, count: usize, max: usize) -> Result<(), String> {
    match count > max {
        true => Err(format!("{what} are {count}, at most {max}")),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enumeration(symbols: usize) -> Schema {
        let symbols: Vec<String> = (0..symbols).map(|n| format!("\"S{n}\"")).collect();
        let text = format!(
            r#"{{"type": "enum", "name": "E", "symbols": [{}]}}"#,
            symbols.join(",")
        );
        Schema::parse_str(&text).unwrap()
    }

    #[test]
    fn enums_unions_and_records_are_bounded() {
        assert_eq!(check(&enumeration(MAX_ENUM_SYMBOLS)), Ok(()));
        assert_eq!(
            check(&enumeration(MAX_ENUM_SYMBOLS + 1)),
            Err("an enum's symbols are 1001, at most 1000".into())
        );
        let branches: Vec<String> = (0..=MAX_UNION_BRANCHES)
            .map(|n| format!(r#"{{"type": "fixed", "name": "F{n}", "size": 1}}"#))
            .collect();
        let union = Schema::parse_str(&format!("[{}]", branches.join(","))).unwrap();
        assert!(check(&union).unwrap_err().contains("union's branches"));
        assert!(check_size(&" ".repeat(MAX_SCHEMA_BYTES + 1)).is_err());
    }
}
