//! A Naver EP 3.0 TSV feed, full or summary, in UTF-8 or EUC-KR, through the row rules.
#![no_main]

use eventmall_feed_formats::EpRows;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (encoding, feed) = eventmall_fuzz::encoded(data);
    if let Ok(rows) = EpRows::new(feed, encoding) {
        let _ = eventmall_fuzz::drain(rows);
    }
});
