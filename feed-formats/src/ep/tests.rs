//! The EP feed reader on a corpus of nasty feeds: each line is either a valid product or a
//! rejection with its exact line number and reason.

use std::io::Cursor;

use super::{Class, FeedError, FeedKind, MAX_LINE_BYTES, Shipping};
use crate::{EpRows, FeedEncoding, FeedRow};

const HEADER: &str = "id\ttitle\tprice_pc\tnormal_price\tlink\timage_link\tcategory_name1\tcategory_name2\tcategory_name3\tcategory_name4\tbrand\tmodel_number\tshipping\tsearch_tag\toption_detail";

fn line(id: &str, title: &str, price: &str) -> String {
    format!(
        "{id}\t{title}\t{price}\t\thttps://shop.example/p/{id}\thttps://img.example/{id}.jpg\t가전\t청소기\t무선청소기\t\t삼성\tVS20A956A\t0\t청소기|무선\t색상^실버|블랙;구성^본체"
    )
}

/// A line's outcome: `Ok(id)` or `Err((line, reason))`.
type Outcome = Result<String, (u64, String)>;

fn read(bytes: &[u8], encoding: FeedEncoding) -> (FeedKind, Vec<Outcome>) {
    let mut rows = EpRows::new(Cursor::new(bytes.to_vec()), encoding).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next_row().unwrap() {
        out.push(match row {
            FeedRow::Valid { product, .. } => Ok(product.id),
            FeedRow::Rejected(rejected) => {
                assert!(!rejected.raw.is_empty());
                Err((rejected.line, rejected.reason))
            }
        });
    }
    (rows.kind(), out)
}

fn feed(lines: &[String], line_end: &str) -> Vec<u8> {
    let mut text = HEADER.to_owned() + line_end;
    for l in lines {
        text.push_str(l);
        text.push_str(line_end);
    }
    text.into_bytes()
}

#[test]
fn a_valid_row_reads_every_ep_field() {
    let bytes = feed(
        &[line(
            "A-1",
            "삼성 비스포크 제트 무선청소기 VS20A956A",
            "990000",
        )],
        "\n",
    );
    let mut rows = EpRows::new(Cursor::new(bytes), FeedEncoding::Utf8).unwrap();
    let Some(FeedRow::Valid { line, product, .. }) = rows.next_row().unwrap() else {
        panic!("a valid row");
    };
    assert_eq!(line, 2);
    assert_eq!(product.price, 990_000);
    assert_eq!(product.category, ["가전", "청소기", "무선청소기"]);
    assert_eq!(product.brand.as_deref(), Some("삼성"));
    assert_eq!(product.shipping, Shipping::Free);
    assert_eq!(product.search_tags, ["청소기", "무선"]);
    assert_eq!(product.options.len(), 2);
    assert_eq!(product.options[0].values, ["실버", "블랙"]);
    assert!(rows.next_row().unwrap().is_none());
}

#[test]
fn crlf_a_bom_and_blank_lines_are_read() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(feed(
        &[
            line("A-1", "청소기", "1000"),
            String::new(),
            line("A-2", "필터", "9000"),
        ],
        "\r\n",
    ));
    let (kind, rows) = read(&bytes, FeedEncoding::Utf8);
    assert_eq!(kind, FeedKind::Full);
    assert_eq!(rows, [Ok("A-1".into()), Ok("A-2".into())]);
}

#[test]
fn euc_kr_feeds_decode_and_a_line_in_another_encoding_is_rejected() {
    let text = String::from_utf8(feed(&[line("A-1", "삼성 무선청소기", "1000")], "\n")).unwrap();
    let (mut bytes, _, _) = encoding_rs::EUC_KR.encode(&text);
    let mut bytes = bytes.to_mut().clone();
    bytes.extend_from_slice(line("A-2", "필터", "9000").as_bytes()); // UTF-8 in an EUC-KR feed
    bytes.push(b'\n');
    let (_, rows) = read(&bytes, FeedEncoding::EucKr);
    assert_eq!(rows[0], Ok("A-1".into()));
    assert_eq!(rows[1], Err((3, "the line is not valid euc-kr".into())));
    // Invalid UTF-8 in a UTF-8 feed.
    let mut bytes = feed(&[], "\n");
    bytes.extend_from_slice(b"A-3\t\xff\xfe\n");
    let (_, rows) = read(&bytes, FeedEncoding::Utf8);
    assert_eq!(rows, [Err((2, "the line is not valid utf-8".into()))]);
}

#[test]
fn tabs_and_newlines_inside_values_missing_and_extra_columns_are_rejected_by_line() {
    let tab = line("A-1", "무선\t청소기", "1000");
    let broken = line("A-2", "무선\n청소기", "1000");
    let short = "A-3\t청소기\t1000".to_owned();
    let long = line("A-4", "청소기", "1000") + "\textra";
    let (_, rows) = read(
        &feed(&[tab, broken, short, long, line("A-5", "필터", "10")], "\n"),
        FeedEncoding::Utf8,
    );
    let lines: Vec<u64> = rows
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.0))
        .collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert!(
        rows[0]
            .as_ref()
            .unwrap_err()
            .1
            .starts_with("16 columns where the header has 15")
    );
    assert!(
        rows[1]
            .as_ref()
            .unwrap_err()
            .1
            .starts_with("2 columns where the header has 15")
    );
    assert_eq!(rows[5], Ok("A-5".into()));
}

#[test]
fn quotes_are_characters() {
    let (_, rows) = read(
        &feed(&[line("A-1", "\"특가\" 청소기 \"", "1000")], "\n"),
        FeedEncoding::Utf8,
    );
    assert_eq!(rows, [Ok("A-1".into())]);
}

#[test]
fn prices_ids_urls_categories_shipping_and_options_follow_the_ep_rules() {
    let mut bad_link = line("A-6", "청소기", "1000");
    bad_link = bad_link.replace("https://shop.example/p/A-6", "ftp://shop.example");
    let gap = line("A-7", "청소기", "1000").replace("\t청소기\t무선청소기\t", "\t\t무선청소기\t");
    let shipping = line("A-8", "청소기", "1000").replace("\t0\t청소기|무선", "\t-2\t청소기|무선");
    let option = line("A-9", "청소기", "1000").replace("색상^실버|블랙", "색상 실버");
    let rows = [
        line("A-1", "청소기", "-1000"),
        line("A-2", "청소기", "1000.5"),
        line("A-3", "청소기", "1,000"),
        line(&"x".repeat(51), "청소기", "1000"),
        line("A/5", "청소기", "1000"),
        bad_link,
        gap,
        shipping,
        option,
        line("A-10", &"가".repeat(101), "1000"),
        line("A-11", "청소기", "0"),
    ];
    let (_, read) = read(&feed(&rows, "\n"), FeedEncoding::Utf8);
    let reasons: Vec<String> = read.into_iter().map(|r| r.unwrap_err().1).collect();
    assert_eq!(
        reasons,
        [
            "price_pc must be a whole number of won, at least 1, got -1000",
            "price_pc must be a whole number of won, at least 1, got 1000.5",
            "price_pc must be a whole number of won, at least 1, got 1,000",
            "id has 51 characters, at most 50",
            "id \"A/5\" may hold only A-Z, a-z, 0-9, -, _ and .",
            "link must be an http(s) URL, got ftp://shop.example",
            "category_name2 is empty but a lower level is not",
            "shipping must be 0, -1 or a fee in won, got -2",
            "option_detail group \"색상 실버\" is not name^value|value",
            "title has 101 characters, at most 100",
            "price_pc must be a whole number of won, at least 1, got 0",
        ]
    );
}

#[test]
fn a_duplicate_id_is_rejected_after_its_first_row() {
    let (_, rows) = read(
        &feed(
            &[line("A-1", "청소기", "1000"), line("A-1", "청소기", "2000")],
            "\n",
        ),
        FeedEncoding::Utf8,
    );
    assert_eq!(
        rows,
        [
            Ok("A-1".into()),
            Err((3, "id A-1 appears earlier in this feed".into()))
        ]
    );
}

#[test]
fn a_one_megabyte_line_is_read_and_judged_and_an_overlong_one_is_skipped() {
    let huge = line("A-1", &"가".repeat(350_000), "1000");
    assert!(huge.len() > 1_000_000);
    let too_long = "y".repeat(MAX_LINE_BYTES + 10);
    let (_, rows) = read(
        &feed(&[huge, too_long, line("A-3", "필터", "10")], "\n"),
        FeedEncoding::Utf8,
    );
    assert_eq!(
        rows[0],
        Err((2, "title has 350000 characters, at most 100".into()))
    );
    assert!(
        rows[1]
            .as_ref()
            .unwrap_err()
            .1
            .starts_with("the line is longer than")
    );
    assert_eq!(rows[2], Ok("A-3".into()));
}

#[test]
fn summary_feeds_carry_class_and_update_time() {
    let header = format!("{HEADER}\tclass\tupdate_time\n");
    let mut text = header;
    text.push_str(&(line("A-1", "청소기", "1000") + "\tU\t2026-11-22 09:00:00\n"));
    text.push_str("A-2\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tD\t2026-11-22 09:00:01\n");
    text.push_str(&(line("A-3", "청소기", "1000") + "\tX\t2026-11-22\n"));
    let mut rows = EpRows::new(Cursor::new(text.into_bytes()), FeedEncoding::Utf8).unwrap();
    assert_eq!(rows.kind(), FeedKind::Summary);
    let Some(FeedRow::Valid { product, .. }) = rows.next_row().unwrap() else {
        panic!()
    };
    assert_eq!(product.class, Some(Class::Update));
    let Some(FeedRow::Valid { product, .. }) = rows.next_row().unwrap() else {
        panic!()
    };
    assert_eq!(
        (product.id.as_str(), product.class),
        ("A-2", Some(Class::Delete))
    );
    let Some(FeedRow::Rejected(rejected)) = rows.next_row().unwrap() else {
        panic!()
    };
    assert_eq!(
        rejected.reason,
        "class must be I, U or D, got \"X\"; update_time must be YYYY-MM-DD HH:MM:SS"
    );
}

#[test]
fn a_feed_without_a_header_or_its_required_columns_is_refused_whole() {
    let empty = EpRows::new(Cursor::new(Vec::new()), FeedEncoding::Utf8);
    assert!(matches!(empty, Err(FeedError::Empty)));
    let missing = EpRows::new(Cursor::new(b"id\ttitle\n".to_vec()), FeedEncoding::Utf8);
    let Err(FeedError::MissingColumns(columns)) = missing else {
        panic!()
    };
    assert_eq!(columns, "price_pc, link, image_link, category_name1");
}
