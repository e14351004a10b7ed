//! The embedded schema registry: Confluent's REST API and error codes, on both databases, and
//! two clients nobody here wrote, used unchanged: Rust's `schema_registry_converter` and
//! Confluent's own Python client.

use std::sync::Arc;

use eventmall_events::product::ProductStockChanged;
use eventmall_events::{AnyEvent, avro::contract};
use eventmall_registry::{RegisteredCodec, RemoteRegistry};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both_backends, spawn_sqlite_app};

const SUBJECT: &str = "eventmall.products.v1-partner.feed.PriceUpdate";

fn price(extra_fields: &[Value]) -> String {
    let mut fields = vec![
        json!({"name": "sku", "type": "string"}),
        json!({"name": "price", "type": "long"}),
    ];
    fields.extend_from_slice(extra_fields);
    json!({"type": "record", "name": "PriceUpdate", "namespace": "partner.feed", "fields": fields})
        .to_string()
}

impl TestApp {
    async fn register(&self, subject: &str, schema: &str) -> crate::helpers::Reply {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }
}

fn assert_error(reply: &crate::helpers::Reply, status: u16, code: u64) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error_code"], code, "{}", reply.body);
    assert!(reply.body["message"].is_string());
    assert_eq!(
        reply.headers["content-type"],
        "application/vnd.schemaregistry.v1+json"
    );
}

async fn speaks_confluents_api(app: TestApp) {
    let v1 = price(&[]);
    let v2 = price(&[json!({"name": "currency", "type": "string", "default": "KRW"})]);
    let breaking = price(&[json!({"name": "stock", "type": "long"})]);

    let first = app.register(SUBJECT, &v1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.headers["content-type"],
        "application/vnd.schemaregistry.v1+json"
    );
    let v1_id = first.body["id"].as_i64().unwrap();
    assert_eq!(
        app.register(SUBJECT, &v1).await.body["id"],
        v1_id,
        "registration is idempotent"
    );
    let v2_id = app.register(SUBJECT, &v2).await.body["id"]
        .as_i64()
        .unwrap();
    assert_ne!(v1_id, v2_id);
    // The same schema under another subject keeps its id.
    assert_eq!(
        app.register("other-partner.feed.PriceUpdate", &v1)
            .await
            .body["id"],
        v1_id
    );

    assert_eq!(
        app.get(&format!("/subjects/{SUBJECT}/versions")).await.body,
        json!([1, 2])
    );
    let latest = app
        .get(&format!("/subjects/{SUBJECT}/versions/latest"))
        .await;
    assert_eq!(latest.body["version"], 2);
    assert_eq!(latest.body["id"], v2_id);
    assert_eq!(latest.body["subject"], SUBJECT);
    let raw = app
        .get(&format!("/subjects/{SUBJECT}/versions/1/schema"))
        .await;
    assert_eq!(raw.body["name"], "PriceUpdate");
    let by_id = app.get(&format!("/schemas/ids/{v1_id}")).await;
    let schema: Value = serde_json::from_str(by_id.body["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get(&format!("/schemas/ids/{v1_id}/versions"))
            .await
            .body,
        json!([{"subject": SUBJECT, "version": 1}, {"subject": "other-partner.feed.PriceUpdate", "version": 1}])
    );
    let subjects = app.get("/subjects").await.body;
    assert!(subjects.as_array().unwrap().contains(&json!(SUBJECT)));
    assert_eq!(app.get("/schemas/types").await.body, json!(["AVRO"]));

    let found = app
        .post(&format!("/subjects/{SUBJECT}"), json!({ "schema": v2 }))
        .await;
    assert_eq!(found.body["version"], 2, "{}", found.body);

    // Compatibility: checked before registration, refused with 409.
    let check = app
        .post(
            &format!("/compatibility/subjects/{SUBJECT}/versions?verbose=true"),
            json!({ "schema": breaking }),
        )
        .await;
    assert_eq!(check.body["is_compatible"], false, "{}", check.body);
    assert!(!check.body["messages"].as_array().unwrap().is_empty());
    let check = app
        .post(
            &format!("/compatibility/subjects/{SUBJECT}/versions/latest"),
            json!({ "schema": v2 }),
        )
        .await;
    assert_eq!(check.body["is_compatible"], true);
    assert_error(&app.register(SUBJECT, &breaking).await, 409, 409);

    // Errors, with Confluent's codes.
    assert_error(&app.get("/subjects/nope/versions").await, 404, 40401);
    assert_error(
        &app.get(&format!("/subjects/{SUBJECT}/versions/9")).await,
        404,
        40402,
    );
    assert_error(
        &app.get(&format!("/subjects/{SUBJECT}/versions/zero")).await,
        422,
        42202,
    );
    assert_error(&app.get("/schemas/ids/99999").await, 404, 40403);
    assert_error(
        &app.post(
            &format!("/subjects/{SUBJECT}"),
            json!({ "schema": price(&[json!({"name": "x", "type": "int"})]) }),
        )
        .await,
        404,
        40403,
    );
    assert_error(
        &app.post("/subjects/nope", json!({ "schema": v1 })).await,
        404,
        40401,
    );
    assert_error(
        &app.register(SUBJECT, "{\"type\": \"recrod\"}").await,
        422,
        42201,
    );
    assert_error(&app.register(SUBJECT, "not json").await, 422, 42201);
    let malformed = app
        .send(
            app.client
                .post(format!("{}/subjects/{SUBJECT}/versions", app.address))
                .body("{\"schema\":"),
        )
        .await;
    assert_error(&malformed, 400, 400);
    let protobuf = app
        .post(
            &format!("/subjects/{SUBJECT}/versions"),
            json!({ "schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF" }),
        )
        .await;
    assert_error(&protobuf, 422, 42201);

    // Levels: global, per subject, with and without falling back to the global one.
    assert_eq!(
        app.get("/config").await.body,
        json!({"compatibilityLevel": "BACKWARD_TRANSITIVE"})
    );
    assert_error(&app.get(&format!("/config/{SUBJECT}")).await, 404, 40408);
    let fallback = app
        .get(&format!("/config/{SUBJECT}?defaultToGlobal=true"))
        .await;
    assert_eq!(fallback.body["compatibilityLevel"], "BACKWARD_TRANSITIVE");
    let put = app
        .send(
            app.client
                .put(format!("{}/config/{SUBJECT}", app.address))
                .json(&json!({"compatibility": "NONE"})),
        )
        .await;
    assert_eq!(put.body, json!({"compatibility": "NONE"}));
    assert_eq!(
        app.register(SUBJECT, &breaking).await.status,
        200,
        "NONE lets anything through"
    );
    let bad_level = app
        .send(
            app.client
                .put(format!("{}/config", app.address))
                .json(&json!({"compatibility": "SIDEWAYS"})),
        )
        .await;
    assert_error(&bad_level, 422, 42203);
    let deleted = app
        .send(
            app.client
                .delete(format!("{}/config/{SUBJECT}", app.address)),
        )
        .await;
    assert_eq!(deleted.body["compatibilityLevel"], "NONE");
}

on_both_backends!(speaks_confluents_api);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_subject_get_distinct_versions() {
    let app = Arc::new(spawn_sqlite_app().await);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let field = json!({"name": format!("f{i}"), "type": "string", "default": ""});
            app.register(SUBJECT, &price(&[field])).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let versions = app.get(&format!("/subjects/{SUBJECT}/versions")).await.body;
    assert_eq!(versions, json!((1..=12).collect::<Vec<_>>()));
}

#[tokio::test]
async fn schema_registry_converter_works_against_it_unchanged() {
    let app = spawn_sqlite_app().await;
    // Registering takes an admin key, sent as the client sends a bearer token.
    let settings = SrSettings::new_builder(app.address.clone())
        .set_token_authorization(&app.admin_key)
        .build()
        .unwrap();

    // Their encoder registers our published v1 of an evolved event and writes a record with it.
    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/eventmall.products.v1/eventmall.product.ProductStockChanged/v1.avsc"
    ))
    .unwrap();
    let name = "eventmall.product.ProductStockChanged".to_owned();
    let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
        "eventmall.products.v1".into(),
        SuppliedSchema::new(Some(name.clone()), SchemaType::Avro, v1),
    );
    let encoder = AvroEncoder::new(settings.clone());
    let theirs = encoder
        .encode(
            vec![("stock", apache_avro::types::Value::Long(7))],
            strategy,
        )
        .await
        .unwrap();

    // Our codec, asking the registry over HTTP, reads it as today's (v2) type.
    let registry = RemoteRegistry::with_key(&app.address, &app.admin_key).unwrap();
    let codec = RegisteredCodec::new(Arc::new(registry));
    codec.register(&contract()).await.unwrap();
    assert_eq!(
        codec.decode(&theirs).await.unwrap(),
        AnyEvent::Product(
            ProductStockChanged {
                stock: 7,
                previous: None
            }
            .into()
        )
    );

    // Their decoder reads what we write.
    let ours = AnyEvent::Product(
        ProductStockChanged {
            stock: 3,
            previous: Some(7),
        }
        .into(),
    );
    let mut bytes = Vec::new();
    codec.codec().await.encode(&ours, &mut bytes).unwrap();
    let decoded = AvroDecoder::new(settings.clone())
        .decode(Some(&bytes))
        .await
        .unwrap();
    assert_eq!(decoded.name.unwrap().fullname(None), name);
    let apache_avro::types::Value::Record(fields) = decoded.value else {
        panic!("not a record: {:?}", decoded.value);
    };
    assert_eq!(
        fields[0],
        ("stock".into(), apache_avro::types::Value::Long(3))
    );

    // And their encoder finds our registration by subject alone.
    let by_name =
        SubjectNameStrategy::TopicRecordNameStrategy("eventmall.products.v1".into(), name);
    let fields = vec![
        ("stock", apache_avro::types::Value::Long(5)),
        (
            "previous",
            apache_avro::types::Value::Union(1, Box::new(apache_avro::types::Value::Long(3))),
        ),
    ];
    let latest = AvroEncoder::new(settings)
        .encode(fields, by_name)
        .await
        .unwrap();
    assert_eq!(
        codec.decode(&latest).await.unwrap(),
        AnyEvent::Product(
            ProductStockChanged {
                stock: 5,
                previous: Some(3)
            }
            .into()
        )
    );
}
