//! Shipping addresses as personal data that can be forgotten: only ever ciphertext in the event
//! store, on Kafka and in the read models; shown to the order's customer and partner; redacted
//! for good once the customer is forgotten, through a rebuild too, with every sum unchanged.

use eventmall_kafka::replay::RebuildOptions;
use eventmall_projections::Generation;
use eventmall_store::keys::Role;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, client_with, issue};
use crate::kafka::{TestBroker, drain};
use crate::projector::Subject;
use crate::replay::{rebuild, replay_app};

/// What the customers send that must never be stored in the clear.
const KIM: [&str; 4] = [
    "김민수",
    "010-1234-5678",
    "테헤란로 152 삼성빌딩",
    "경비실 앞 보관",
];
const LEE: [&str; 3] = ["이서연", "010-9876-5432", "해운대로 77 센텀타워"];

async fn send(app: &TestApp, client: &Client, path: &str, body: Value) -> Value {
    let reply = app
        .send(client.post(format!("{}{path}", app.address)).json(&body))
        .await;
    assert!(
        reply.status < 300,
        "{path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

async fn read(app: &TestApp, client: &Client, path: &str) -> Value {
    let reply = app.send(client.get(format!("{}{path}", app.address))).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.body
}

/// An order of `customer` to `[recipient, phone, address]`, paid.
async fn order(app: &TestApp, customer: &Client, who: &str, product: &str, to: &[&str]) -> String {
    let shipping = json!({"recipient": to[0], "phone": to[1], "address": to[2],
                          "postal_code": "06236"});
    let placed = send(
        app,
        customer,
        "/v1/orders",
        json!({"customer_id": who, "lines": [{"product_id": product, "quantity": 1}],
               "shipping": shipping}),
    )
    .await;
    let order = placed["aggregate_id"].as_str().unwrap().to_owned();
    app.pay(&order).await;
    order
}

/// The order's view once it reached `status`.
async fn view(app: &TestApp, client: &Client, order: &str, status: &str) -> Value {
    for _ in 0..500 {
        let reply = app
            .send(client.get(format!("{}/v1/orders/{order}", app.address)))
            .await;
        if reply.status == 200 && reply.body["status"] == status {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("order {order} did not reach {status} in the order views");
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every byte of the SQLite files in `dir` (the database, its WAL and shared memory).
fn files_of(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".db") || name.ends_with(".db-wal") || name.ends_with(".db-shm") {
            bytes.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_customers_address_is_ciphertext_everywhere_and_redacted_after_a_rebuild() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let shop = client_with(&issue(&app.keys, Role::Partner, Some("shop")).await);
    let kim = client_with(&issue(&app.keys, Role::Customer, Some("kim")).await);
    let lee = client_with(&issue(&app.keys, Role::Customer, Some("lee")).await);

    let registered = send(
        &app,
        &shop,
        "/v1/products",
        json!({"partner_id": "shop", "sku": "VS-1", "title": "무선청소기", "category": ["가전"],
               "price": {"amount": 300_000}, "stock": 10}),
    )
    .await;
    let product = registered["aggregate_id"].as_str().unwrap().to_owned();
    let kims = order(&app, &kim, "kim", &product, &KIM).await;
    let lees = order(&app, &lee, "lee", &product, &LEE).await;
    send(
        &app,
        &shop,
        &format!("/v1/orders/{kims}/ship"),
        json!({"carrier": "CJ대한통운", "tracking_number": "1", "partner_id": "shop"}),
    )
    .await;
    send(
        &app,
        &shop,
        &format!("/v1/orders/{kims}/deliver"),
        json!({"partner_id": "shop", "receiver": KIM[3]}),
    )
    .await;

    // The order's customer and its partner see the address; the receiver in the timeline.
    for reader in [&kim, &shop] {
        let seen = view(&app, reader, &kims, "delivered").await;
        assert_eq!(seen["shipping"]["recipient"], KIM[0], "{seen}");
        assert_eq!(seen["shipping"]["phone"], KIM[1]);
        assert_eq!(seen["shipping"]["address"], KIM[2]);
        assert!(seen.to_string().contains(KIM[3]), "{seen}");
    }
    let queue = read(&app, &shop, "/v1/partners/shop/orders").await;
    assert!(queue.to_string().contains(LEE[2]), "{queue}");
    let today = chrono::Utc::now().date_naive();
    let sales_path = format!(
        "/v1/partners/shop/sales?from={}&to={}",
        today.pred_opt().unwrap(),
        today.succ_opt().unwrap()
    );
    let settlement_path = format!(
        "/v1/partners/shop/settlements?month={}",
        today.format("%Y-%m")
    );
    let sales = read(&app, &shop, &sales_path).await;
    let settlement = read(&app, &shop, &settlement_path).await;

    // No plaintext in the event store's files, on any topic, or in the read models' files.
    let store_dir = app.store_url().trim_start_matches("sqlite://").to_owned();
    let store = files_of(std::path::Path::new(&store_dir).parent().unwrap());
    let topics = [
        "eventmall.orders.v1",
        "eventmall.payments.v1",
        "eventmall.products.v1",
    ];
    let records = drain(&broker.bootstrap(), &topics);
    assert!(records.len() >= 10, "{}", records.len());
    let mut kafka = Vec::new();
    for record in &records {
        kafka.extend(record.key.as_bytes());
        kafka.extend(record.payload());
        for (name, value) in &record.headers {
            kafka.extend(name.as_bytes());
            kafka.extend(value.as_bytes());
        }
    }
    let views = files_of(app.data.path());
    assert!(
        holds(&store, "무선청소기"),
        "the scan reads the store's own text"
    );
    assert!(
        holds(&kafka, "무선청소기"),
        "the scan reads the records' own text"
    );
    for plaintext in KIM.iter().chain(&LEE) {
        assert!(
            !holds(&store, plaintext),
            "{plaintext} is in the event store"
        );
        assert!(!holds(&kafka, plaintext), "{plaintext} is on Kafka");
        assert!(
            !holds(&views, plaintext),
            "{plaintext} is in the read models"
        );
    }

    // Forgotten: redacted at once, and in a rebuilt generation; the other customer's stays.
    let admin = app.client.clone();
    let forgotten = send(&app, &admin, "/v1/admin/customers/kim/forget", json!({})).await;
    assert_eq!(forgotten["keys_destroyed"], 1, "{forgotten}");
    let replay = app.replay(&broker);
    rebuild(&replay, "order-views", &RebuildOptions::default()).await;
    app.wait_serving(Subject::OrderViews, Generation(2)).await;
    let seen = view(&app, &kim, &kims, "delivered").await;
    for field in ["recipient", "phone", "address", "postal_code"] {
        assert_eq!(seen["shipping"][field], "[redacted]", "{seen}");
    }
    let text = seen.to_string();
    assert!(KIM.iter().all(|plain| !text.contains(plain)), "{text}");
    assert!(text.contains("[redacted]"));
    let others = view(&app, &lee, &lees, "paid").await;
    assert_eq!(others["shipping"]["address"], LEE[2], "{others}");

    // Orders, sales and settlements add up as before.
    assert_eq!(read(&app, &shop, &sales_path).await, sales);
    assert_eq!(read(&app, &shop, &settlement_path).await, settlement);
    let orders = read(&app, &kim, "/v1/customers/kim/orders").await;
    assert_eq!(orders["total"], 1);
    assert_eq!(orders["orders"][0]["total"]["amount"], 300_000);
    // Forgetting again destroys nothing more.
    let again = send(&app, &admin, "/v1/admin/customers/kim/forget", json!({})).await;
    assert_eq!(again["keys_destroyed"], 0);
}
