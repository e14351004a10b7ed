//! A CSV feed through a partner's field mapping, through the row rules.
#![no_main]

use eventmall_feed_formats::FeedRows;
use eventmall_feed_formats::mapped::CsvSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (encoding, feed) = eventmall_fuzz::encoded(data);
    if let Ok(source) = CsvSource::new(feed, encoding, &eventmall_fuzz::mapping()) {
        let _ = eventmall_fuzz::drain(FeedRows::from_source(source));
    }
});
