//! Interleavings that must still apply every event exactly once: two instances of one
//! projector over one database.

use std::time::Duration;

use chrono::Utc;
use eventmall_events::order::{OrderEvent, OrderLine, OrderPaid, OrderPlaced};
use eventmall_events::{AnyEvent, CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};
use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::{Batch, Checkpoint, Delivered, Envelope, Generation, Projection};
use eventmall_read_models::Recommendations;
use uuid::Uuid;

use crate::helpers::postgres_db;

const CLOCK: TrendClock = TrendClock {
    half_life_hours: 72.0,
};

/// A batch of one partition: kim places and pays an order of `sku`.
fn kims_order(partition: i32, sku: &str) -> Batch {
    let order_id = OrderId::new();
    let product_id = ProductId::for_partner_sku(&PartnerId::from("shop-1"), sku);
    let placed = OrderEvent::OrderPlaced(OrderPlaced {
        order_id,
        customer_id: CustomerId::from("kim"),
        partner_id: PartnerId::from("shop-1"),
        lines: vec![OrderLine {
            line_no: 1,
            product_id,
            title: sku.into(),
            category: vec!["가전".into()],
            unit_price: Money::krw(1_000),
            quantity: 1,
        }],
        total: Money::krw(1_000),
        wallet_id: None,
        shipping: None,
    });
    let paid = OrderEvent::OrderPaid(OrderPaid {
        payment_id: PaymentId::new(),
        amount: Money::krw(1_000),
    });
    let events = [placed, paid]
        .into_iter()
        .enumerate()
        .map(|(offset, event)| Delivered {
            topic: OrderEvent::TOPIC.into(),
            partition,
            offset: offset as i64,
            envelope: Envelope {
                event_id: Uuid::now_v7(),
                aggregate_id: order_id.to_string(),
                sequence: offset as i64 + 1,
                recorded_at: Utc::now(),
                event: AnyEvent::Order(event),
            },
            record: offset,
        })
        .collect();
    Batch {
        events,
        positions: vec![Checkpoint {
            topic: OrderEvent::TOPIC.into(),
            partition,
            next_offset: 2,
            position: 0,
        }],
    }
}

/// Whether a session of this database waits on a lock.
async fn waiting_on_a_lock(pool: &sqlx::AnyPool) -> bool {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
        > 0
}

/// A customer's orders fall on different partitions, so two instances apply them at once. Each
/// reads the customer's products and writes them back: unless one waits for the other, the
/// second overwrites the first (a count of 1 instead of 2, the pair between them lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_apply_one_customers_orders_without_losing_either() {
    let db = postgres_db().await;
    let pool = eventmall_read_models::connect(&db.url()).await.unwrap();
    let generation = Generation(1);
    let first = Recommendations::open(pool.clone(), generation, CLOCK)
        .await
        .unwrap();
    let second = first.clone();

    // The first instance's batch is applied but not committed when the second's starts.
    let (vacuum, filter) = (kims_order(0, "vacuum"), kims_order(1, "filter"));
    let held = first.prepare(&vacuum).await.unwrap();
    let racing = tokio::spawn(async move { second.prepare(&filter).await.map(|p| p.commit) });
    // Until the second has read and written, or waits on the first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !racing.is_finished() && !waiting_on_a_lock(&pool).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second batch did nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held.commit.await.unwrap();
    racing.await.unwrap().unwrap().await.unwrap();

    let kims: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT product_id, n, paired FROM {}customer_products WHERE customer_id = 'kim' \
         ORDER BY product_id",
        generation.table_prefix(Recommendations::NAME)
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kims.len(), 2, "{kims:?}");
    assert!(
        kims.iter().all(|(_, n, paired)| (*n, *paired) == (1, 1)),
        "{kims:?}"
    );
    let also: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {}also WHERE n = 1",
        generation.table_prefix(Recommendations::NAME)
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(also, 2, "vacuum → filter and filter → vacuum");
}

/// A record refused once is refused again when it is delivered again, whatever happened in
/// between: a `ProductWithdrawn` that came before the product existed must not delist the
/// product when it is redelivered (a crash before the offset commit, a rebalance, a new group)
/// after the product was listed.
#[tokio::test]
async fn a_refused_upstream_record_is_refused_again_on_redelivery() {
    use eventmall_events::ingest::{
        IngestRecord, ProductIngest, ProductUpserted, ProductWithdrawn,
    };
    use eventmall_kafka::ingest::Failure;

    let app = crate::helpers::spawn_sqlite_app().await;
    let ingest = app.ingest().await;
    let execute = |record: IngestRecord| {
        let ingest = &ingest;
        async move { ingest.run(&record, "mug").await }
    };
    let withdrawn: IngestRecord = ProductIngest::from(ProductWithdrawn {
        event_id: "w-1".into(),
        partner_id: PartnerId::from("shop-1"),
        sku: "mug".into(),
        reason: Some("단종".into()),
    })
    .into();
    let upserted: IngestRecord = ProductIngest::from(ProductUpserted {
        event_id: "u-1".into(),
        partner_id: PartnerId::from("shop-1"),
        sku: "mug".into(),
        title: "머그컵".into(),
        brand: None,
        category: vec!["주방".into()],
        model_number: None,
        price: Money::krw(9_000),
        stock: Some(1),
    })
    .into();

    let first = execute(withdrawn.clone()).await;
    assert!(
        matches!(&first, Err(Failure::Poison(reason)) if reason.contains("product-not-registered")),
        "{first:?}"
    );
    assert!(execute(upserted).await.is_ok());
    let again = execute(withdrawn).await;
    assert!(
        matches!(&again, Err(Failure::Poison(reason)) if reason.contains("product-not-registered")),
        "{again:?}"
    );

    let product = ProductId::for_partner_sku(&PartnerId::from("shop-1"), "mug");
    let state = app.get(&format!("/v1/products/{product}/state")).await;
    assert_eq!(state.body["state"]["listed"], true, "{}", state.body);
    let types: Vec<String> = app
        .stored()
        .await
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(types, ["ProductRegistered"]);
}

/// An API process reads the index the search projector (another process) commits. Its
/// consistency check reads the newest commit, but its searcher follows commits with a delay:
/// a token the commit satisfies must be answered by a searcher that has it.
#[tokio::test]
async fn a_search_answer_called_fresh_has_what_the_token_names() {
    use eventmall_events::product::{ProductDetails, ProductEvent, ProductRegistered};
    use eventmall_read_models::Search;

    let dir = tempfile::tempdir().unwrap();
    let generation = Generation(1);
    let projector = Search::open(dir.path(), generation, "").unwrap();
    let api = Search::open(dir.path(), generation, "").unwrap();
    // The API has searched before the commit, as a running one has.
    let product_id = ProductId::for_partner_sku(&PartnerId::from("shop-1"), "mug");
    assert!(
        api.index()
            .product(&product_id.to_string())
            .unwrap()
            .is_none()
    );

    let registered = ProductEvent::ProductRegistered(ProductRegistered {
        product_id,
        partner_id: PartnerId::from("shop-1"),
        sku: "mug".into(),
        details: ProductDetails {
            title: "머그컵".into(),
            brand: None,
            category: vec!["주방".into()],
            model_number: None,
        },
        price: Money::krw(9_000),
        stock: 1,
    });
    let batch = Batch {
        events: vec![Delivered {
            topic: ProductEvent::TOPIC.into(),
            partition: 0,
            offset: 0,
            envelope: Envelope {
                event_id: Uuid::now_v7(),
                aggregate_id: product_id.to_string(),
                sequence: 1,
                recorded_at: Utc::now(),
                event: AnyEvent::Product(registered),
            },
            record: 0,
        }],
        positions: vec![Checkpoint {
            topic: ProductEvent::TOPIC.into(),
            partition: 0,
            next_offset: 1,
            position: 42,
        }],
    };
    projector
        .prepare(&batch)
        .await
        .unwrap()
        .commit
        .await
        .unwrap();

    let seen = api.checkpoints_for_reads().await.unwrap();
    assert_eq!(seen[0].position, 42, "the commit satisfies token 42");
    let answer = api.index().product(&product_id.to_string()).unwrap();
    assert!(
        answer.is_some(),
        "the searcher that answers has the product the token names"
    );
}

/// On PostgreSQL the relay reads only below the oldest transaction open in the cluster, so a
/// projector transaction held open while its dead letters are sent (as long as the send takes)
/// would hold back the relay and every read-your-writes wait with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_dead_letter_send_does_not_hold_back_the_relay() {
    use eventmall_kafka::dead_letters::DeadLetters;
    use eventmall_kafka::projector::Projector;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let app = crate::helpers::spawn_postgres_app().await;
    let broker = crate::kafka::TestBroker::in_memory().await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let first = app.register_product("p-1", "mug", 9_000).await;
    app.wait_published(app.last_position().await).await;
    // A record the order views cannot decode: its dead letter goes to a "cluster" that accepts
    // connections and never answers, so the send takes until the producer gives up.
    let producer: FutureProducer = eventmall_kafka::client_config(&broker.bootstrap())
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(OrderEvent::TOPIC)
                .key(&first)
                .payload("not avro"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            open.push(connection);
        }
    });
    let live: std::sync::Arc<dyn Projection> = std::sync::Arc::new(app.views.orders.clone());
    let settings = eventmall_kafka::ProjectorSettings {
        batch_size: 10,
        batch_wait_ms: 5,
        ..Default::default()
    };
    let projector = Projector::new(live, app.codec(), &broker.bootstrap(), &settings)
        .unwrap()
        .with_dead_letters(DeadLetters::new(&silent_address).unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let _running = projector.spawn(stop.clone());
    let _stop = stop.drop_guard();
    // The projector is in its dead-letter send well within this.
    tokio::time::sleep(Duration::from_secs(2)).await;

    app.register_product("p-1", "cup", 9_000).await;
    let position = app.last_position().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.published().await < position {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay is held back while the projector sends its dead letters"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
