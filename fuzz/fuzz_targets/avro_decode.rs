//! A Kafka record's value, decoded as an event and as an ingest record: the Confluent wire
//! format's header, then Avro resolved from the writer's schema to ours.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = eventmall_fuzz::codec();
    let _ = codec.decode(data);
    let _ = codec.decode_ingest(data);
});
