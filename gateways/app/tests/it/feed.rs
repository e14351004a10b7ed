//! Partner feeds end to end: uploads and `eventmall ingest feed` into events, dead letters and
//! runs, and CSV and JSON Lines through mappings. The reader's own tests are beside it, in the
//! feeds crate.

const HEADER: &str = "id\ttitle\tprice_pc\tnormal_price\tlink\timage_link\tcategory_name1\tcategory_name2\tcategory_name3\tcategory_name4\tbrand\tmodel_number\tshipping\tsearch_tag\toption_detail";

fn line(id: &str, title: &str, price: &str) -> String {
    format!(
        "{id}\t{title}\t{price}\t\thttps://shop.example/p/{id}\thttps://img.example/{id}.jpg\t가전\t청소기\t무선청소기\t\t삼성\tVS20A956A\t0\t청소기|무선\t색상^실버|블랙;구성^본체"
    )
}

fn feed(lines: &[String], line_end: &str) -> Vec<u8> {
    let mut text = HEADER.to_owned() + line_end;
    for l in lines {
        text.push_str(l);
        text.push_str(line_end);
    }
    text.into_bytes()
}

mod ingest {
    //! Feeds through `POST /v1/partners/{id}/feeds` and `eventmall ingest feed`, into events.

    use serde_json::Value;

    use super::{HEADER, feed, line};
    use crate::helpers::{
        Reply, TestApp, reopen, spawn_app, spawn_app_with, spawn_sqlite_app, sqlite_backend,
        sqlite_db,
    };

    impl TestApp {
        async fn upload(
            &self,
            partner: &str,
            query: &str,
            content_type: &str,
            body: Vec<u8>,
        ) -> Reply {
            self.send(
                self.client
                    .post(format!(
                        "{}/v1/partners/{partner}/feeds{query}",
                        self.address
                    ))
                    .header("content-type", content_type)
                    .body(body),
            )
            .await
        }

        async fn events(&self) -> Vec<(String, String)> {
            crate::helpers::read_until(
                &**self.backend(),
                0,
                self.backend().count_after(0).await.unwrap() as usize,
            )
            .await
            .into_iter()
            .map(|e| (e.event_type, e.aggregate_id))
            .collect()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rejected_lines_are_dead_letters_with_their_raw_bytes_and_are_not_retried() {
        use eventmall_events::dead_letter::{TOPIC as DEAD_LETTER_TOPIC, header};

        let broker = crate::kafka::TestBroker::in_memory().await;
        eventmall_kafka::ensure_topics(
            &broker.bootstrap(),
            &crate::kafka::kafka_settings(),
            &[DEAD_LETTER_TOPIC],
        )
        .await
        .unwrap();
        let app = crate::read_api::app_on(&broker, 100).await;
        let lines = [
            line("A-1", "삼성 무선청소기", "1000"),
            line("A-2", "한글 청소기", "-5"),
            line("A-3", "청소기", "1.5"),
        ];
        let text = String::from_utf8(feed(&lines, "\n")).unwrap();
        let body = encoding_rs::EUC_KR.encode(&text).0.into_owned();
        let reply = app
            .upload(
                "shop-1",
                "",
                "text/tab-separated-values; charset=euc-kr",
                body,
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.body["rejected"], 2);
        let run = reply.body["run_id"].as_str().unwrap();

        let mut letters = crate::kafka::drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
        letters.sort_by_key(|letter| letter.header(header::FEED_LINE).to_owned());
        assert_eq!(letters.len(), 2);
        for (letter, (number, raw)) in letters.iter().zip([(3, &lines[1]), (4, &lines[2])]) {
            assert_eq!(letter.header(header::STAGE), "feed");
            assert_eq!(letter.header(header::FEED_PARTNER), "shop-1");
            assert_eq!(letter.header(header::FEED_RUN), run);
            assert_eq!(letter.header(header::FEED_LINE), number.to_string());
            assert!(
                letter.header(header::REASON).contains("price_pc"),
                "{}",
                letter.header(header::REASON)
            );
            assert_eq!(letter.key, "shop-1");
            // The line as the partner sent it: EUC-KR, not re-encoded.
            assert_eq!(letter.payload(), encoding_rs::EUC_KR.encode(raw).0.as_ref());
        }

        let listed = app.get("/v1/admin/dead-letters").await;
        let first = &listed.body["letters"][0];
        let retried = app
            .send(app.client.post(format!(
                "{}/v1/admin/dead-letters/{}/{}/retry",
                app.address, first["partition"], first["offset"]
            )))
            .await;
        retried.assert_problem(422, "not-retriable");
        assert!(
            retried.body["detail"]
                .as_str()
                .unwrap()
                .contains("upload it again"),
            "{}",
            retried.body
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_line_over_the_brokers_record_size_is_rejected_without_failing_its_run() {
        use eventmall_events::dead_letter::{TOPIC as DEAD_LETTER_TOPIC, header};

        let broker = crate::kafka::TestBroker::in_memory().await;
        eventmall_kafka::ensure_topics(
            &broker.bootstrap(),
            &crate::kafka::kafka_settings(),
            &[DEAD_LETTER_TOPIC],
        )
        .await
        .unwrap();
        let app = crate::read_api::app_on(&broker, 100).await;
        // librdkafka's and Kafka's message.max.bytes is 1,000,000: the line alone is over it.
        let huge = line("BIG-1", &"x".repeat(1_000_001), "1000");
        let lines = [
            line("A-1", "삼성 무선청소기", "1000"),
            huge.clone(),
            line("A-3", "필터", "2000"),
        ];
        for attempt in ["first", "again"] {
            let reply = app.upload("shop-1", "", TSV, feed(&lines, "\n")).await;
            assert_eq!(reply.status, 201, "{attempt}: {}", reply.body);
            assert_eq!(
                reply.body["rejections"],
                serde_json::json!([{"line": 3, "reason": "title has 1000001 characters, at most 100"}]),
                "{attempt}"
            );
            assert_eq!(reply.body["rows_read"], 3, "the rows after it are read");
        }
        let state = app
            .get(&format!(
                "/v1/products/{}/state",
                eventmall_events::ProductId::for_partner_sku(&"shop-1".into(), "A-3")
            ))
            .await;
        assert_eq!(
            state.status, 200,
            "the line after the big one registered its product"
        );

        // The dead letter is cut to fit and says so; the run keeps every byte.
        let letters = crate::kafka::drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
        assert_eq!(letters.len(), 2, "one letter a run");
        for letter in &letters {
            assert_eq!(letter.header(header::FEED_LINE), "3");
            assert_eq!(
                letter.header(header::VALUE_TRUNCATED_FROM),
                huge.len().to_string()
            );
            assert!(letter.payload().len() < 1_000_000);
            assert!(huge.as_bytes().starts_with(letter.payload()));
        }
        let kept: Vec<i64> = sqlx::query_scalar("SELECT length(raw) FROM feed_rejections")
            .fetch_all(&app.store_pool)
            .await
            .unwrap();
        assert_eq!(kept, [huge.len() as i64, huge.len() as i64]);
    }

    const TSV: &str = "text/tab-separated-values";

    fn counts(run: &Value) -> [i64; 6] {
        [
            "rows_read",
            "registered",
            "updated",
            "unchanged",
            "delisted",
            "rejected",
        ]
        .map(|name| run[name].as_i64().unwrap())
    }

    crate::helpers::on_both_backends!(
        a_feed_registers_its_products_reports_its_bad_rows_and_a_second_run_appends_nothing
    );

    async fn a_feed_registers_its_products_reports_its_bad_rows_and_a_second_run_appends_nothing(
        app: TestApp,
    ) {
        let body = feed(
            &[
                line("A-1", "삼성 비스포크 제트 무선청소기", "990000"),
                line("A-2", "청소기", "-5"),
                line("A-3", "먼지봉투", "9000"),
                line("A-3", "먼지봉투", "9500"),
                line("A-4", "거치대", "30000"),
            ],
            "\n",
        );
        let first = app.upload("shop-1", "", TSV, body.clone()).await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!(counts(&first.body), [5, 3, 0, 0, 0, 2]);
        assert_eq!(first.body["kind"], "full");
        assert_eq!(first.body["status"], "completed");
        let rejections: Vec<(i64, String)> = first.body["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["line"].as_i64().unwrap(),
                    r["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            rejections,
            [
                (
                    3,
                    "price_pc must be a whole number of won, at least 1, got -5".to_owned()
                ),
                (5, "id A-3 appears earlier in this feed".to_owned()),
            ]
        );
        let location = first.headers["location"].to_str().unwrap().to_owned();
        let stored = app.get(&location).await;
        assert_eq!(stored.body, first.body);
        let listed = app.get("/v1/partners/shop-1/feeds").await;
        assert_eq!(listed.body["total"], 1, "{}", listed.body);
        assert_eq!(listed.body["runs"][0]["run_id"], first.body["run_id"]);
        assert!(listed.body["runs"][0].get("rejections").is_none());
        let events = app.events().await;
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|(kind, _)| kind == "ProductRegistered"));

        let again = app.upload("shop-1", "", TSV, body).await;
        assert_eq!(counts(&again.body), [5, 0, 0, 3, 0, 2]);
        let listed = app.get("/v1/partners/shop-1/feeds?limit=1").await;
        assert_eq!(listed.body["total"], 2);
        assert_eq!(
            listed.body["runs"][0]["run_id"], again.body["run_id"],
            "newest first"
        );
        assert_eq!(
            app.events().await.len(),
            3,
            "the same feed twice appends nothing"
        );
    }

    #[tokio::test]
    async fn a_full_feed_that_drops_products_delists_them_and_changes_show_as_updates() {
        let app = spawn_sqlite_app().await;
        let first = feed(
            &[
                line("A-1", "청소기", "1000"),
                line("A-2", "필터", "2000"),
                line("A-3", "거치대", "3000"),
            ],
            "\n",
        );
        assert_eq!(app.upload("shop-1", "", TSV, first).await.status, 201);
        let second = feed(
            &[line("A-1", "청소기", "1200"), line("A-2", "필터", "2000")],
            "\n",
        );
        let run = app.upload("shop-1", "", TSV, second).await;
        assert_eq!(counts(&run.body), [2, 0, 1, 1, 1, 0]);
        let kinds: Vec<String> = app
            .events()
            .await
            .into_iter()
            .skip(3)
            .map(|e| e.0)
            .collect();
        assert_eq!(kinds.len(), 2);
        assert!(kinds.contains(&"ProductPriceChanged".to_owned()));
        assert!(kinds.contains(&"ProductDelisted".to_owned()));
        // Listed again by a later full feed.
        let third = feed(
            &[
                line("A-1", "청소기", "1200"),
                line("A-2", "필터", "2000"),
                line("A-3", "거치대", "3000"),
            ],
            "\n",
        );
        let run = app.upload("shop-1", "", TSV, third).await;
        assert_eq!(counts(&run.body), [3, 0, 1, 2, 0, 0]);
        assert_eq!(app.events().await.last().unwrap().0, "ProductRelisted");
    }

    #[tokio::test]
    async fn euc_kr_by_charset_or_query_and_summary_feeds() {
        let app = spawn_sqlite_app().await;
        let text =
            String::from_utf8(feed(&[line("K-1", "삼성 무선청소기", "1000")], "\r\n")).unwrap();
        let (bytes, _, _) = encoding_rs::EUC_KR.encode(&text);
        let run = app
            .upload(
                "shop-2",
                "",
                "text/tab-separated-values; charset=EUC-KR",
                bytes.to_vec(),
            )
            .await;
        assert_eq!(counts(&run.body), [1, 1, 0, 0, 0, 0], "{}", run.body);
        let run = app
            .upload("shop-2", "?encoding=cp949", TSV, bytes.to_vec())
            .await;
        assert_eq!(counts(&run.body), [1, 0, 0, 1, 0, 0], "{}", run.body);
        let as_utf8 = app
            .upload("shop-2", "?encoding=utf-8", TSV, bytes.to_vec())
            .await;
        assert_eq!(as_utf8.status, 201);
        assert_eq!(
            as_utf8.body["rejections"][0]["reason"],
            "the line is not valid utf-8"
        );

        let summary = format!(
            "{HEADER}\tclass\tupdate_time\n{}\tU\t2026-11-22 10:00:00\nK-1{}\tD\t2026-11-22 10:00:01\nK-9{}\tD\t2026-11-22 10:00:02\n",
            line("K-2", "필터", "500"),
            "\t".repeat(14),
            "\t".repeat(14),
        );
        let run = app.upload("shop-2", "", TSV, summary.into_bytes()).await;
        assert_eq!(run.body["kind"], "summary");
        assert_eq!(counts(&run.body), [3, 1, 0, 0, 1, 1], "{}", run.body);
        assert!(
            run.body["rejections"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("product-not-registered")
        );
    }

    #[tokio::test]
    async fn a_feed_without_its_header_an_unknown_encoding_or_format_and_an_oversized_feed_are_problems()
     {
        let app = spawn_app_with(sqlite_backend().await, |settings| {
            settings.http.feed_limit_bytes = 2_000;
        })
        .await;
        let no_header = app
            .upload("shop-1", "", TSV, b"sku\tname\n1\tx\n".to_vec())
            .await;
        no_header.assert_problem(422, "invalid-feed");
        assert_eq!(
            no_header.body["detail"],
            "the header row lacks the columns id, title, price_pc, link, image_link, category_name1"
        );
        app.upload("shop-1", "?encoding=latin1", TSV, feed(&[], "\n"))
            .await
            .assert_problem(400, "bad-request");
        app.upload("shop-1", "?format=xml", TSV, feed(&[], "\n"))
            .await
            .assert_problem(400, "bad-request");
        let kept = app
            .upload(
                "shop-1",
                "",
                TSV,
                feed(&[line("KEEP-1", "청소기", "1000")], "\n"),
            )
            .await;
        assert_eq!(kept.body["registered"], 1, "{}", kept.body);
        // A full feed cut off by the limit lists no KEEP-1, but a feed not read to its end
        // delists nothing.
        let big: Vec<String> = (0..40)
            .map(|i| line(&format!("B-{i}"), "청소기", "1000"))
            .collect();
        app.upload("shop-1", "", TSV, feed(&big, "\n"))
            .await
            .assert_problem(413, "payload-too-large");
        let id = eventmall_events::ProductId::for_partner_sku(&"shop-1".into(), "KEEP-1");
        let state = app.get(&format!("/v1/products/{id}/state")).await;
        assert_eq!(state.body["state"]["listed"], true, "{}", state.body);
        app.get("/v1/partners/shop-1/feeds/0190a000-0000-7000-8000-000000000001")
            .await
            .assert_problem(404, "not-found");
    }

    #[tokio::test]
    async fn the_cli_ingests_a_file_through_the_same_path() {
        // The CLI writes the store alone (SQLite has one writer); the app reads it afterwards.
        let db = sqlite_db().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("feed.tsv");
        let rows = [line("C-1", "청소기", "1000"), line("C-2", "필터", "x")];
        std::fs::write(&file, feed(&rows, "\n")).unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
            .args(["ingest", "feed", "--partner", "shop-3"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path())
            .env("EVENTMALL__STORE__URL", db.url())
            .env("EVENTMALL__LOG__FILTER", "warn")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let run: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(counts(&run), [2, 1, 0, 0, 0, 1]);
        let app = spawn_app((reopen(&db).await, db)).await;
        let stored = app
            .get(&format!(
                "/v1/partners/shop-3/feeds/{}",
                run["run_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(stored.body, run);
    }
}

mod mapped {
    //! CSV and JSON Lines feeds through versioned per-partner field mappings.

    use serde_json::{Value, json};

    use crate::helpers::{TestApp, spawn_sqlite_app};

    async fn put_mapping(
        app: &TestApp,
        partner: &str,
        format: &str,
        fields: Value,
    ) -> crate::helpers::Reply {
        app.send(
            app.client
                .put(format!(
                    "{}/v1/partners/{partner}/feed-mappings/{format}",
                    app.address
                ))
                .json(&json!({ "fields": fields })),
        )
        .await
    }

    async fn upload(
        app: &TestApp,
        partner: &str,
        format: &str,
        body: &str,
    ) -> crate::helpers::Reply {
        app.send(
            app.client
                .post(format!(
                    "{}/v1/partners/{partner}/feeds?format={format}",
                    app.address
                ))
                .body(body.to_owned()),
        )
        .await
    }

    fn fields() -> Value {
        json!({"id": "sku", "title": "name", "price_pc": "price", "link": "url",
               "image_link": "image", "category_name1": "cat1", "category_name2": "cat2",
               "brand": "brand", "shipping": "ship"})
    }

    fn rejections(run: &Value) -> Vec<(i64, String)> {
        run["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["line"].as_i64().unwrap(),
                    r["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn mappings_are_versioned_and_checked() {
        let app = spawn_sqlite_app().await;
        app.get("/v1/partners/shop-9/feed-mappings/csv")
            .await
            .assert_problem(404, "not-found");
        let first = put_mapping(&app, "shop-9", "csv", fields()).await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!(first.body["version"], 1);
        let mut changed = fields();
        changed["title"] = json!("product_name");
        assert_eq!(
            put_mapping(&app, "shop-9", "csv", changed).await.body["version"],
            2
        );
        let newest = app.get("/v1/partners/shop-9/feed-mappings/csv").await;
        assert_eq!(
            (
                newest.body["version"].clone(),
                newest.body["fields"]["title"].clone()
            ),
            (json!(2), json!("product_name"))
        );
        let mut unknown = fields();
        unknown["colour"] = json!("colour");
        put_mapping(&app, "shop-9", "csv", unknown)
            .await
            .assert_problem(422, "invalid-feed");
        let mut missing = fields();
        missing.as_object_mut().unwrap().remove("id");
        let reply = put_mapping(&app, "shop-9", "jsonl", missing).await;
        reply.assert_problem(422, "invalid-feed");
        assert_eq!(reply.body["detail"], "the header row lacks the columns id");
        put_mapping(&app, "shop-9", "ep-tsv", fields())
            .await
            .assert_problem(400, "bad-request");
        // Without a mapping, a CSV feed is refused whole.
        upload(&app, "shop-8", "csv", "sku,name\n")
            .await
            .assert_problem(422, "invalid-feed");
    }

    #[tokio::test]
    async fn a_csv_feed_with_quoted_commas_newlines_and_quotes_is_read_record_by_record() {
        let app = spawn_sqlite_app().await;
        put_mapping(&app, "shop-7", "csv", fields()).await;
        let csv = "\u{feff}sku,name,price,url,image,cat1,cat2,brand,ship\n\
                   C-1,\"삼성 청소기, 화이트\",1000,https://s.example/1,https://i.example/1.jpg,가전,청소기,삼성,0\n\
                   C-2,\"두 줄\n이름 \"\"특가\"\"\",2000,https://s.example/2,https://i.example/2.jpg,가전,청소기,LG,3000\n\
                   C-3,짧은 줄,3000\n\
                   C-4,소수 가격,10.5,https://s.example/4,https://i.example/4.jpg,가전,,LG,0\n\
                   C-5,필터,9000,https://s.example/5,https://i.example/5.jpg,가전,청소기,LG,0\n";
        let run = upload(&app, "shop-7", "csv", csv).await;
        assert_eq!(run.status, 201, "{}", run.body);
        assert_eq!(run.body["mapping_version"], 1);
        assert_eq!(run.body["registered"], 3, "{}", run.body);
        assert_eq!(
            rejections(&run.body),
            [
                (5, "3 columns where the header has 9".to_owned()),
                (
                    6,
                    "price_pc must be a whole number of won, at least 1, got 10.5".to_owned()
                ),
            ]
        );
        let product = app
            .get(&format!(
                "/v1/products/{}/state",
                eventmall_events::ProductId::for_partner_sku(&"shop-7".into(), "C-2")
            ))
            .await;
        assert_eq!(
            product.body["state"]["details"]["title"],
            "두 줄\n이름 \"특가\""
        );
        // The format and the encoding may come from `Content-Type` instead of the query.
        let again = app
            .send(
                app.client
                    .post(format!("{}/v1/partners/shop-7/feeds", app.address))
                    .header("content-type", "text/csv; charset=utf-8")
                    .body(csv),
            )
            .await;
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(
            (
                again.body["format"].clone(),
                again.body["registered"].clone(),
                again.body["unchanged"].clone()
            ),
            (json!("csv"), json!(0), json!(3))
        );
    }

    #[tokio::test]
    async fn a_json_lines_feed_rejects_lines_that_are_not_objects() {
        let app = spawn_sqlite_app().await;
        put_mapping(&app, "shop-6", "jsonl", fields()).await;
        let jsonl = [
            json!({"sku": "J-1", "name": "청소기", "price": 1000, "url": "https://s.example/1",
                   "image": "https://i.example/1.jpg", "cat1": "가전", "brand": "삼성", "ship": 0})
            .to_string(),
            "{\"sku\": \"J-2\", \"name\": ".to_owned(),
            "[1, 2]".to_owned(),
            json!({"sku": "J-3", "name": "필터", "price": "9000", "url": "https://s.example/3",
                   "image": "https://i.example/3.jpg", "cat1": "가전", "ship": -1, "extra": true})
            .to_string(),
        ]
        .join("\n");
        let run = upload(&app, "shop-6", "jsonl", &jsonl).await;
        assert_eq!(run.status, 201, "{}", run.body);
        assert_eq!(run.body["registered"], 2, "{}", run.body);
        let reasons = rejections(&run.body);
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0].0, 2);
        assert!(reasons[0].1.starts_with("not JSON: "), "{reasons:?}");
        assert_eq!(reasons[1], (3, "the line is not a JSON object".to_owned()));
    }
}
