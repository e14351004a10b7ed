//! A schema submitted to the registry: bounded, parsed, resolved and normalized; then checked
//! for compatibility against itself and against a published version, as a new version of a
//! subject is.
#![no_main]

use eventmall_events::avro::compatibility::Level;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((schema, normalized)) = eventmall_events::avro::parse_submitted(text) else {
        return;
    };
    // What the registry stores parses back to the same schema.
    let (again, _) = eventmall_events::avro::parse_submitted(&normalized)
        .expect("a normalized schema parses again");
    assert_eq!(again, schema, "normalizing changed the schema");
    let published = eventmall_fuzz::published();
    let existing: Vec<(i64, apache_avro::Schema)> = published
        .into_iter()
        .take(2)
        .chain([schema.clone()])
        .enumerate()
        .map(|(version, schema)| (version as i64 + 1, schema))
        .collect();
    let _ = Level::FullTransitive.violations(&schema, &existing);
});
