//! The published Avro contract in `schemas/`: in step with the Rust types, every version kept,
//! and each subject's history BACKWARD_TRANSITIVE compatible.
//!
//! After changing an event type, publish its new schema version with
//! `UPDATE_SCHEMAS=1 cargo test -p eventmall-events --test contract`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use eventmall_events::avro::contract;
use eventmall_events::ingest;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Every published version of every subject: `schemas/<topic>/<record>/v<N>.avsc`.
fn published() -> BTreeMap<(String, String), Vec<(u32, PathBuf)>> {
    let mut subjects = BTreeMap::new();
    for topic in fs::read_dir(schemas_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for record in fs::read_dir(topic.path()).unwrap().flatten() {
            let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(record.path())
                .unwrap()
                .flatten()
                .map(|file| {
                    let name = file.file_name().into_string().unwrap();
                    let version = name
                        .strip_prefix('v')
                        .and_then(|rest| rest.strip_suffix(".avsc"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("{name}: expected v<N>.avsc"));
                    (version, file.path())
                })
                .collect();
            versions.sort();
            let key = (
                topic.file_name().into_string().unwrap(),
                record.file_name().into_string().unwrap(),
            );
            subjects.insert(key, versions);
        }
    }
    subjects
}

fn parse(path: &Path) -> (Schema, serde_json::Value) {
    let text = fs::read_to_string(path).unwrap();
    let schema = Schema::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (schema, serde_json::from_str(&text).unwrap())
}

#[test]
fn every_event_type_is_published_at_its_current_schema() {
    let published = published();
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for event in contract().into_iter().chain(ingest::contract()) {
        let derived = serde_json::to_value(&event.schema).unwrap();
        let versions = published
            .get(&(event.topic.to_owned(), event.record_name.clone()))
            .cloned()
            .unwrap_or_default();
        let latest = versions.last();
        if latest.is_some_and(|(_, path)| parse(path).1 == derived) {
            continue;
        }
        let next = latest.map_or(1, |(version, _)| version + 1);
        let path = schemas_dir()
            .join(event.topic)
            .join(&event.record_name)
            .join(format!("v{next}.avsc"));
        if update {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(
                &path,
                serde_json::to_string_pretty(&derived).unwrap() + "\n",
            )
            .unwrap();
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "event types changed without a published schema; run with UPDATE_SCHEMAS=1 to write {stale:#?}"
    );
}

#[test]
fn every_published_schema_documents_every_field() {
    fn undocumented(json: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match json {
            serde_json::Value::Object(object) => {
                if let Some(serde_json::Value::Array(fields)) = object.get("fields") {
                    for field in fields {
                        let name = format!("{at}.{}", field["name"].as_str().unwrap_or("?"));
                        if field
                            .get("doc")
                            .and_then(|d| d.as_str())
                            .is_none_or(str::is_empty)
                        {
                            out.push(name.clone());
                        }
                        undocumented(&field["type"], &name, out);
                    }
                }
                object
                    .values()
                    .for_each(|value| undocumented(value, at, out));
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|item| undocumented(item, at, out))
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for ((_, record), versions) in published() {
        for (version, path) in versions {
            undocumented(
                &parse(&path).1,
                &format!("{record} v{version}"),
                &mut missing,
            );
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "fields without a doc: {missing:#?}");
}

#[test]
fn every_subject_is_backward_transitive_compatible() {
    let mut checked = 0;
    for ((topic, record), versions) in published() {
        let schemas: Vec<(u32, Schema)> = versions
            .iter()
            .map(|(v, path)| (*v, parse(path).0))
            .collect();
        for (i, (newer, reader)) in schemas.iter().enumerate() {
            for (older, writer) in &schemas[..i] {
                if let Err(error) = SchemaCompatibility::can_read(writer, reader) {
                    panic!("{topic}-{record}: v{newer} cannot read v{older}: {error}");
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 1,
        "no subject has two versions; the evolution example is missing"
    );
}

#[test]
fn the_checker_refuses_a_non_defaulted_added_field() {
    let v1 =
        Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#)
            .unwrap();
    let v2 = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#,
    )
    .unwrap();
    assert!(SchemaCompatibility::can_read(&v1, &v2).is_err());
}
