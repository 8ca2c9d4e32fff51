//! `parse_request` and `parse_response` on arbitrary bytes: no panic, spans inside the
//! head, the same verdict as the naive reference, and `Partial` just before a complete
//! head's end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::http1::reference::{parse_request_naive, NaiveRequest};
use proto::http1::{parse_request, parse_response, Limits, Status, EMPTY_HEADERS};

fuzz_target!(|data: &[u8]| {
    // The first byte picks tight limits or the defaults, so the limit paths get hit too.
    let Some((&selector, buf)) = data.split_first() else {
        return;
    };
    let limits = if selector & 1 == 0 {
        Limits::DEFAULT
    } else {
        Limits {
            head_bytes_max: 256,
            header_count_max: 6,
            uri_bytes_max: 32,
            body_bytes_max: 1000,
        }
    };

    let mut headers = EMPTY_HEADERS;
    let fast = parse_request(buf, &mut headers, &limits);
    let naive = parse_request_naive(buf, &limits);
    match (&fast, &naive) {
        (Ok(Status::Complete(head)), Ok(Some(expected))) => {
            assert!(
                head.head_len <= limits.head_bytes_max
                    && head.header_count <= limits.header_count_max
            );
            assert_eq!(&NaiveRequest::from_parsed(buf, head, &headers), expected);
            let mut again = EMPTY_HEADERS;
            assert_eq!(
                parse_request(&buf[..head.head_len - 1], &mut again, &limits),
                Ok(Status::Partial)
            );
        }
        // The fast parser may reject an incomplete head early; it never accepts one the
        // reference rejects, nor rejects one it accepts.
        (Err(_), Err(_)) | (Err(_), Ok(None)) | (Ok(Status::Partial), Ok(None)) => {}
        _ => panic!("fast {fast:?} vs naive {naive:?}"),
    }

    if let Ok(Status::Complete(head)) =
        parse_response(buf, &mut headers, &limits, selector & 2 != 0)
    {
        assert!(
            head.head_len <= limits.head_bytes_max && head.header_count <= limits.header_count_max
        );
        assert!((100..=599).contains(&head.status));
        assert!(head.reason.end as usize <= head.head_len);
        for h in &headers[..head.header_count] {
            assert!(h.name.end as usize <= head.head_len && h.value.end as usize <= head.head_len);
        }
    }
});
