"""An upstream producer written with Confluent's Python clients: it publishes ProductUpserted
records to Eventmall's product ingest topic, serialized by AvroSerializer with the published
schema from schemas/ and Eventmall's registry.

Usage: EVENTMALL_KEY=<key> ingest_producer.py REGISTRY_URL BOOTSTRAP_SERVERS SCHEMA_FILE PARTNER

The serializer registers the schema on first use, which takes an admin key.

Publishes three products, then the first one again (a producer's retry). Prints one JSON object
with the schema id it wrote with; exits non-zero when a record is not delivered.
"""

import json
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

REGISTRY, BOOTSTRAP, SCHEMA_FILE, PARTNER = sys.argv[1:5]
TOPIC = "eventmall.ingest.products.v1"

with open(SCHEMA_FILE, encoding="utf-8") as schema:
    serializer = AvroSerializer(
        SchemaRegistryClient({
            "url": REGISTRY,
            "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": os.environ["EVENTMALL_KEY"],
            "bearer.auth.logical.cluster": "eventmall",
        }),
        schema.read(),
        conf={"subject.name.strategy": topic_record_subject_name_strategy},
    )

products = [
    {
        "event_id": f"py-{i}",
        "partner_id": PARTNER,
        "sku": f"PY-{i}",
        "title": f"아디다스 여성 러닝화 아디제로 {i}",
        "brand": "아디다스",
        "category": ["패션잡화", "여성신발", "운동화", "러닝화"],
        "model_number": f"IG{i:04d}",
        "price": {"amount": 119000 + i * 1000, "currency": "KRW"},
        "stock": None if i == 0 else 5,
    }
    for i in range(3)
]
producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True})
ctx = SerializationContext(TOPIC, MessageField.VALUE)
for product in products + products[:1]:
    producer.produce(TOPIC, key=product["sku"], value=serializer(product, ctx))
if producer.flush(30) != 0:
    print(json.dumps({"failed": "records were not delivered"}))
    sys.exit(1)
print(json.dumps({"published": len(products) + 1}))
