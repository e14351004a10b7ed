"""Confluent's own Python clients against Eventmall's schema registry and the relay's topics.

Usage: EVENTMALL_KEY=<admin key> confluent_clients.py REGISTRY_URL BOOTSTRAP_SERVERS

Registering schemas takes an admin key, sent as a bearer token the way Confluent's client
sends one (`bearer.auth.credentials.source = STATIC_TOKEN`).

1. SchemaRegistryClient + AvroSerializer (TopicRecordNameStrategy) produce records that
   AvroDeserializer reads back; the registry assigns, looks up and refuses as Confluent's does.
2. AvroDeserializer reads what Eventmall's relay published on eventmall.orders.v1.

Prints one JSON object with what it saw; exits non-zero on any mismatch.
"""

import json
import os
import sys
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    topic_record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

REGISTRY, BOOTSTRAP = sys.argv[1], sys.argv[2]
TOPIC = "interop.python.v1"

PRICE_V1 = {
    "type": "record",
    "name": "PriceUpdate",
    "namespace": "partner.feed",
    "doc": "A partner's price update.",
    "fields": [
        {"name": "sku", "type": "string", "doc": "The partner's id of the product."},
        {"name": "price", "type": "long", "doc": "Price in won."},
        {"name": "title", "type": "string", "doc": "Title."},
    ],
}
PRICE_V2 = dict(PRICE_V1, fields=PRICE_V1["fields"] + [
    {"name": "currency", "type": "string", "default": "KRW", "doc": "ISO 4217 code."}
])
PRICE_BROKEN = dict(PRICE_V1, fields=PRICE_V1["fields"] + [
    {"name": "stock", "type": "long", "doc": "No default: old data cannot be read."}
])


def check(condition, message):
    if not condition:
        print(json.dumps({"failed": message}))
        sys.exit(1)


client = SchemaRegistryClient({
    "url": REGISTRY,
    "bearer.auth.credentials.source": "STATIC_TOKEN",
    "bearer.auth.token": os.environ["EVENTMALL_KEY"],
    # Confluent Cloud's header; Eventmall ignores it, the client requires it.
    "bearer.auth.logical.cluster": "eventmall",
})
subject = f"{TOPIC}-partner.feed.PriceUpdate"

# Produce with the serializer registering v1 on the fly.
serializer = AvroSerializer(
    client,
    json.dumps(PRICE_V1),
    conf={"subject.name.strategy": topic_record_subject_name_strategy},
)
producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True})
sent = [{"sku": f"SKU-{i}", "price": 1000 * (i + 1), "title": f"삼성 무선청소기 {i}"} for i in range(10)]
ctx = SerializationContext(TOPIC, MessageField.VALUE)
for value in sent:
    producer.produce(TOPIC, key=value["sku"], value=serializer(value, ctx))
check(producer.flush(30) == 0, "records were not delivered")

registered = client.get_latest_version(subject)
check(registered.version == 1, f"latest version is {registered.version}")
v1_id = registered.schema_id

# Registration is idempotent; a compatible v2 becomes version 2; an incompatible one is refused.
check(client.register_schema(subject, Schema(json.dumps(PRICE_V1), "AVRO")) == v1_id, "v1 got a new id")
v2_id = client.register_schema(subject, Schema(json.dumps(PRICE_V2), "AVRO"))
check(v2_id != v1_id, "v2 got v1's id")
check(client.get_versions(subject) == [1, 2], f"versions {client.get_versions(subject)}")
check(client.test_compatibility(subject, Schema(json.dumps(PRICE_V2), "AVRO")), "v2 not compatible")
check(not client.test_compatibility(subject, Schema(json.dumps(PRICE_BROKEN), "AVRO")), "broken compatible")
try:
    client.register_schema(subject, Schema(json.dumps(PRICE_BROKEN), "AVRO"))
    check(False, "an incompatible schema was registered")
except SchemaRegistryError as error:
    check(error.http_status_code == 409, f"incompatible gave {error.http_status_code}")
    check(error.error_code == 409, f"incompatible gave error code {error.error_code}")
try:
    client.get_schema(987654)
    check(False, "an unknown id was found")
except SchemaRegistryError as error:
    check(error.error_code == 40403, f"unknown id gave {error.error_code}")
looked_up = client.lookup_schema(subject, Schema(json.dumps(PRICE_V1), "AVRO"))
check(looked_up.version == 1, f"lookup found version {looked_up.version}")
check(client.get_compatibility() == "BACKWARD_TRANSITIVE", client.get_compatibility())
client.set_compatibility(subject_name=subject, level="FULL")
check(client.get_compatibility(subject) == "FULL", "subject level not set")

# Read back what we produced, through the deserializer (writer's schema fetched by id).
deserializer = AvroDeserializer(client)


def read_all(topic):
    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": f"interop-{uuid.uuid4()}",
        "enable.auto.commit": False,
    })
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = []
    ends = {}
    for pid in metadata.topics[topic].partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
        if high > low:
            partitions.append(TopicPartition(topic, pid, low))
            ends[pid] = high
    consumer.assign(partitions)
    records = []
    while ends:
        message = consumer.poll(10)
        check(message is not None, f"timed out reading {topic}, left {ends}")
        check(message.error() is None, str(message.error()))
        value = deserializer(message.value(), SerializationContext(topic, MessageField.VALUE))
        records.append((message, value))
        if message.offset() + 1 >= ends.get(message.partition(), 0):
            ends.pop(message.partition(), None)
    consumer.close()
    return records


received = [value for _, value in read_all(TOPIC)]
check(sorted(received, key=lambda v: v["sku"]) == sorted(sent, key=lambda v: v["sku"]), "round trip differs")

orders = read_all("eventmall.orders.v1")
check(len(orders) > 0, "no orders on eventmall.orders.v1")
placed = [(m, v) for m, v in orders if dict(m.headers())["event_type"] == b"OrderPlaced"]
check(len(placed) > 0, "no OrderPlaced read")
message, value = placed[0]
check(str(value["order_id"]) == message.key().decode(), f"key {message.key()} is not the order id {value['order_id']!r}")
check(value["total"]["currency"] == "KRW", f"money is {value['total']}")
check(len(dict(message.headers())["event_id"]) == 36, "no event_id header")

print(json.dumps({
    "produced": len(sent),
    "read_back": len(received),
    "v1_id": v1_id,
    "v2_id": v2_id,
    "relay_records_read": len(orders),
    "first_order_total": value["total"],
}, ensure_ascii=False))
