use proptest::prelude::*;

use super::*;

// The AWS SigV4 test suite's signer (docs.aws.amazon.com, "Signature Version 4 test
// suite"; the same files ship in aws-sdk-rust's aws-signing-test-suite).
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z.
const SUITE_SECS: u64 = 1_440_938_160;
const HOST: &str = "example.amazonaws.com";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The suite's session token (post-sts-header-after / -before).
const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn suite_date() -> AmzDate {
    AmzDate::from_unix_secs(SUITE_SECS).unwrap()
}

fn request<'a>(method: &'a str, path: &'a str) -> Request<'a> {
    Request {
        method,
        host: HOST,
        path,
        query: &[],
        headers: &[],
        payload: b"",
        content_sha256_header: false,
    }
}

struct Outcome {
    canonical: String,
    authorization: String,
    signed: Signed,
}

fn run(req: &Request<'_>, region: &str, service: &str, token: Option<&str>) -> Outcome {
    let date = suite_date();
    let key = SigningKey::derive(SECRET, &date, region, service).unwrap();
    let mut canonical = Vec::new();
    canonical_request(req, &date, token, &mut canonical).unwrap();
    let mut authorization = Vec::new();
    let signed = sign(req, &date, AKID, token, &key, &mut authorization).unwrap();
    // The signature is over exactly the canonical request shown.
    let mut sts = format!("{ALGORITHM}\n{}\n{}\n", date.as_str(), key.scope()).into_bytes();
    sts.extend_from_slice(&hex(digest::digest(&digest::SHA256, &canonical).as_ref()));
    assert_eq!(
        signed.signature().as_bytes(),
        hex(hmac::sign(&key.key, &sts).as_ref())
    );
    Outcome {
        canonical: String::from_utf8(canonical).unwrap(),
        authorization: String::from_utf8(authorization).unwrap(),
        signed,
    }
}

fn suite_authz(signed_headers: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    String::from_utf8(hex(digest::digest(&digest::SHA256, bytes).as_ref()).to_vec()).unwrap()
}

// ---- the AWS test suite ----

#[test]
fn suite_get_vanilla() {
    let out = run(&request("GET", "/"), "us-east-1", "service", None);
    let creq = format!(
        "GET\n/\n\nhost:{HOST}\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
    );
    assert_eq!(out.canonical, creq);
    // The suite's get-vanilla.sts digest of the canonical request.
    assert_eq!(
        sha256_hex(creq.as_bytes()),
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
    assert_eq!(
        out.authorization,
        suite_authz(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    assert_eq!(out.signed.x_amz_date(), "20150830T123600Z");
    assert_eq!(out.signed.payload_sha256(), EMPTY_SHA256);
}

#[test]
fn suite_get_vanilla_query_order_key_case() {
    let req = Request {
        query: &[("Param2", "value2"), ("Param1", "value1")],
        ..request("GET", "/")
    };
    let out = run(&req, "us-east-1", "service", None);
    assert_eq!(
        out.canonical.lines().nth(2),
        Some("Param1=value1&Param2=value2")
    );
    assert_eq!(
        sha256_hex(out.canonical.as_bytes()),
        "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"
    );
    assert_eq!(
        out.authorization,
        suite_authz(
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        )
    );
}

#[test]
fn suite_post_x_www_form_urlencoded() {
    let req = Request {
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        payload: b"Param1=value1",
        ..request("POST", "/")
    };
    let out = run(&req, "us-east-1", "service", None);
    assert_eq!(
        out.canonical,
        format!(
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:{HOST}\n\
             x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
             9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        )
    );
    assert_eq!(
        sha256_hex(out.canonical.as_bytes()),
        "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
    );
    assert_eq!(
        out.authorization,
        suite_authz(
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        )
    );
}

#[test]
fn suite_post_sts_header_after() {
    let out = run(
        &request("POST", "/"),
        "us-east-1",
        "service",
        Some(SUITE_TOKEN),
    );
    assert_eq!(
        sha256_hex(out.canonical.as_bytes()),
        "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"
    );
    assert_eq!(
        out.authorization,
        suite_authz(
            "host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        )
    );
}

#[test]
fn suite_get_header_key_duplicate() {
    let req = Request {
        headers: &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        ..request("GET", "/")
    };
    let out = run(&req, "us-east-1", "service", None);
    assert!(out
        .canonical
        .contains("\nmy-header1:value2,value2,value1\n"));
    assert_eq!(
        out.authorization,
        suite_authz(
            "host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"
        )
    );
}

#[test]
fn suite_double_url_encode_path() {
    // aws-signing-test-suite's `double-url-encode` (a Lambda ARN in the path): the
    // published canonical URI. The case's own date and credentials differ from the
    // suite's, so the signature below is not the published one: it was computed with
    // an independent Python implementation (hmac, hashlib) for the suite's signer.
    let req = Request {
        host: "lambda.us-east-2.amazonaws.com",
        ..request(
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
        )
    };
    let out = run(&req, "us-east-2", "lambda", None);
    assert_eq!(
        out.canonical.lines().nth(1),
        Some("/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations")
    );
    assert_eq!(
        out.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-2/lambda/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5d37f70d5c630fa4b5480639e457f1b1afe87def1eadeef89b6bd1c3b555b809"
    );
    // And `double-encode-path` (API Gateway): `@` is encoded, `%3D` encoded again.
    let req = request("POST", "/test/@connections/JBDvjfGEIAMCERw%3D");
    let out = run(&req, "us-east-1", "service", None);
    assert_eq!(
        out.canonical.lines().nth(1),
        Some("/test/%40connections/JBDvjfGEIAMCERw%253D")
    );
}

#[test]
fn suite_get_unreserved() {
    // Unreserved characters pass through both encodings. Signature computed with the
    // independent Python implementation (the suite publishes this case; its request and
    // ours are the same, but we could not retrieve its expected file to quote).
    let path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let out = run(&request("GET", path), "us-east-1", "service", None);
    assert_eq!(out.canonical.lines().nth(1), Some(path));
    assert!(out
        .authorization
        .ends_with("Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"));
}

#[test]
fn derived_key_matches_the_aws_docs_example() {
    // "Examples of how to derive a signing key" (AWS General Reference): IAM, us-east-1,
    // 2012-02-15. Rechecked with Python's hmac.
    let date = AmzDate::from_unix_secs(1_329_264_000).unwrap();
    assert_eq!(date.as_str(), "20120215T000000Z");
    let key = SigningKey::derive(SECRET, &date, "us-east-1", "iam").unwrap();
    assert_eq!(
        &hex(key.bytes()),
        b"f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
    assert_eq!(key.scope(), "20120215/us-east-1/iam/aws4_request");
    let debug = format!("{key:?}");
    assert!(debug.contains("iam/aws4_request") && !debug.contains("f478"));
}

// ---- Bedrock ----

#[test]
fn bedrock_converse_stream_with_session_token() {
    // Computed with the independent Python implementation (hmac, hashlib).
    let body = br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#;
    let req = Request {
        method: "POST",
        host: "bedrock-runtime.us-east-1.amazonaws.com",
        path: "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
        query: &[],
        headers: &[
            ("content-type", "application/json"),
            ("accept", "application/vnd.amazon.eventstream"),
        ],
        payload: body,
        content_sha256_header: true,
    };
    // 2024-06-20T01:02:03Z.
    let date = AmzDate::from_unix_secs(1_718_845_323).unwrap();
    assert_eq!(date.as_str(), "20240620T010203Z");
    let key = SigningKey::derive(SECRET, &date, "us-east-1", "bedrock").unwrap();
    let mut creq = Vec::new();
    canonical_request(&req, &date, Some("session-token-example"), &mut creq).unwrap();
    let hash = "45e583fed2564dc00e823303d7609f8587af7f685b993cb0f998afc0d480b01d";
    assert_eq!(
        String::from_utf8(creq).unwrap(),
        format!(
            "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse-stream\n\n\
             accept:application/vnd.amazon.eventstream\ncontent-type:application/json\n\
             host:bedrock-runtime.us-east-1.amazonaws.com\nx-amz-content-sha256:{hash}\n\
             x-amz-date:20240620T010203Z\nx-amz-security-token:session-token-example\n\n\
             accept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n{hash}"
        )
    );
    let mut authz = b"authorization: ".to_vec();
    let signed = sign(
        &req,
        &date,
        AKID,
        Some("session-token-example"),
        &key,
        &mut authz,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(authz).unwrap(),
        "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request, \
         SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
         Signature=918af8a63e730557c6531f8f97afc85ee3c4fb54ff48292f7cd33b1ca70b057c"
    );
    assert_eq!(signed.payload_sha256(), hash);
    assert_eq!(
        signed.signature(),
        "918af8a63e730557c6531f8f97afc85ee3c4fb54ff48292f7cd33b1ca70b057c"
    );
}

#[test]
fn query_encoding_sorting_and_header_whitespace() {
    // Computed with the independent Python implementation.
    let req = Request {
        query: &[("b", "x y"), ("a", "z"), ("a", "y"), ("c", "~/?&=")],
        headers: &[
            ("X-Note", "  one \t  two  "),
            ("My-Header1", "a"),
            ("my-header1", "b"),
        ],
        ..request("GET", "")
    };
    let out = run(&req, "us-east-1", "service", None);
    assert_eq!(
        out.canonical,
        format!(
            "GET\n/\na=y&a=z&b=x%20y&c=~%2F%3F%26%3D\nhost:{HOST}\nmy-header1:a,b\n\
             x-amz-date:20150830T123600Z\nx-note:one two\n\nhost;my-header1;x-amz-date;x-note\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        out.authorization,
        suite_authz(
            "host;my-header1;x-amz-date;x-note",
            "91c6b60beef8d895792f5926e20786b5bdf56c5411c0965dea3de9aab4763612"
        )
    );
}

#[test]
fn long_paths_are_encoded_whole() {
    // Longer than the stack buffer, with escapes straddling its end.
    let wire = format!("/model/{}/converse", "v1%3A0.".repeat(60));
    let mut creq = Vec::new();
    let req = Request {
        path: &wire,
        ..request("POST", "/")
    };
    canonical_request(&req, &suite_date(), None, &mut creq).unwrap();
    let creq = String::from_utf8(creq).unwrap();
    let want = format!("/model/{}/converse", "v1%253A0.".repeat(60));
    assert_eq!(creq.lines().nth(1), Some(want.as_str()));
}

// ---- errors ----

#[test]
fn invalid_requests_are_refused_before_anything_is_written() {
    let date = suite_date();
    let key = SigningKey::derive(SECRET, &date, "us-east-1", "service").unwrap();
    let too_many = [("x-h", "v"); HEADERS_MAX + 1];
    let too_many_q = [("q", "v"); QUERY_PAIRS_MAX + 1];
    let cases: Vec<(Request<'_>, SigV4Error)> = vec![
        (
            Request {
                headers: &too_many,
                ..request("GET", "/")
            },
            SigV4Error::TooManyHeaders,
        ),
        (
            Request {
                query: &too_many_q,
                ..request("GET", "/")
            },
            SigV4Error::TooManyQueryPairs,
        ),
        (request("", "/"), SigV4Error::InvalidMethod),
        (request("GE T", "/"), SigV4Error::InvalidMethod),
        (request("GET", "x"), SigV4Error::InvalidPath),
        (request("GET", "/a b"), SigV4Error::InvalidPath),
        (request("GET", "/a?b=c"), SigV4Error::InvalidPath),
        (request("GET", "/a#b"), SigV4Error::InvalidPath),
        (request("GET", "/é"), SigV4Error::InvalidPath),
        (
            Request {
                host: "",
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderValue,
        ),
        (
            Request {
                host: "a\r\nb",
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderValue,
        ),
        (
            Request {
                headers: &[("", "v")],
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderName,
        ),
        (
            Request {
                headers: &[("a:b", "v")],
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderName,
        ),
        (
            Request {
                headers: &[("a", "v\n")],
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderValue,
        ),
        (
            Request {
                headers: &[("a", "v\0")],
                ..request("GET", "/")
            },
            SigV4Error::InvalidHeaderValue,
        ),
        (
            Request {
                headers: &[("Host", "h")],
                ..request("GET", "/")
            },
            SigV4Error::ReservedHeader,
        ),
        (
            Request {
                headers: &[("X-Amz-Date", "d")],
                ..request("GET", "/")
            },
            SigV4Error::ReservedHeader,
        ),
        (
            Request {
                headers: &[("authorization", "a")],
                ..request("GET", "/")
            },
            SigV4Error::ReservedHeader,
        ),
    ];
    for (req, want) in cases {
        let mut out = Vec::new();
        assert_eq!(
            sign(&req, &date, AKID, None, &key, &mut out),
            Err(want),
            "{req:?}"
        );
        assert!(out.is_empty());
        assert_eq!(canonical_request(&req, &date, None, &mut out), Err(want));
        assert!(out.is_empty());
    }
    let mut out = Vec::new();
    let req = request("GET", "/");
    assert_eq!(
        sign(&req, &date, AKID, Some("t\r\n"), &key, &mut out),
        Err(SigV4Error::InvalidHeaderValue)
    );
    assert_eq!(
        sign(&req, &date, "AKID\n", None, &key, &mut out),
        Err(SigV4Error::InvalidHeaderValue)
    );
    // Exactly at the limits is fine.
    let at_max = [("x-h", "v"); HEADERS_MAX];
    let q_max = [("q", "v"); QUERY_PAIRS_MAX];
    let req = Request {
        headers: &at_max,
        query: &q_max,
        ..request("GET", "/")
    };
    assert!(sign(&req, &date, AKID, Some("t"), &key, &mut out).is_ok());
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("SignedHeaders=host;x-amz-date;x-amz-security-token;x-h, "));
}

#[test]
fn a_key_signs_only_its_own_day() {
    let date = suite_date();
    let key = SigningKey::derive(SECRET, &date, "us-east-1", "service").unwrap();
    let end_of_day = AmzDate::from_unix_secs(SUITE_SECS + 41_039).unwrap();
    assert_eq!(end_of_day.as_str(), "20150830T235959Z");
    assert!(key.is_for(&end_of_day));
    let next_day = AmzDate::from_unix_secs(SUITE_SECS + 41_040).unwrap();
    assert!(!key.is_for(&next_day));
    let mut out = Vec::new();
    assert_eq!(
        sign(&request("GET", "/"), &next_day, AKID, None, &key, &mut out),
        Err(SigV4Error::KeyForAnotherDay)
    );
    assert!(out.is_empty());
}

#[test]
fn scope_parts_are_checked() {
    let date = suite_date();
    for (region, service) in [
        ("", "s"),
        ("r", ""),
        ("us-east-1/x", "s"),
        ("r", "Bedrock"),
        ("r", "a b"),
    ] {
        assert_eq!(
            SigningKey::derive(SECRET, &date, region, service).map(|_| ()),
            Err(SigV4Error::InvalidScope),
            "{region} {service}"
        );
    }
}

// ---- dates ----

#[test]
fn dates_known_values() {
    let cases = [
        (0, "19700101T000000Z"),
        (SUITE_SECS, "20150830T123600Z"),
        (68_255_999, "19720229T235959Z"),
        (94_694_399, "19721231T235959Z"),
        (951_782_400, "20000229T000000Z"),
        (951_868_800, "20000301T000000Z"),
        (1_709_164_800, "20240229T000000Z"),
        (4_107_456_000, "21000228T000000Z"),
        (4_107_542_400, "21000301T000000Z"),
        (AmzDate::UNIX_SECS_MAX, "99991231T235959Z"),
    ];
    for (secs, want) in cases {
        let d = AmzDate::from_unix_secs(secs).unwrap();
        assert_eq!(d.as_str(), want, "{secs}");
        assert_eq!(d.date(), &want[..8]);
        assert_eq!(format!("{d:?}"), want);
    }
    assert_eq!(AmzDate::from_unix_secs(AmzDate::UNIX_SECS_MAX + 1), None);
}

/// The Gregorian rule, spelt out.
// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#[allow(clippy::manual_is_multiple_of)]
fn leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A naive civil date: walk years, then months, from 1970.
fn naive_civil(mut days: u64) -> (u32, u32, u32) {
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    (year, month as u32 + 1, days as u32 + 1)
}

#[test]
fn every_day_for_three_centuries_matches_the_naive_walk() {
    // 1970 to 2270 crosses the 2000 (leap) and 2100, 2200 (not leap) century rules.
    let mut want = (1970, 1, 1);
    for days in 0..(300 * 366) {
        assert_eq!(civil_from_days(days), want, "day {days}");
        let len = [
            31,
            if leap(want.0) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        want.2 += 1;
        if want.2 > len[want.1 as usize - 1] {
            want = if want.1 == 12 {
                (want.0 + 1, 1, 1)
            } else {
                (want.0, want.1 + 1, 1)
            };
        }
    }
}

proptest! {
    #[test]
    fn dates_match_the_naive_walk(secs in 0..=AmzDate::UNIX_SECS_MAX) {
        let (y, m, d) = naive_civil(secs / 86_400);
        let s = secs % 86_400;
        let want = format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60);
        let got = AmzDate::from_unix_secs(secs).unwrap();
        prop_assert_eq!(got.as_str(), want);
    }

    #[test]
    fn sorting_and_encoding_match_a_naive_canonical_query(pairs in prop::collection::vec(("[a-zA-Z0-9 ~%/=&+é_.-]{0,6}", "[a-zA-Z0-9 ~%/=&+é_.-]{0,6}"), 0..QUERY_PAIRS_MAX)) {
        let naive_encode = |s: &str| -> String {
            s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
        };
        // Sorted as (name, value) pairs, not as "name=value" strings: '=' sorts between
        // '%' and the digits, so the two orders differ.
        let mut sorted: Vec<(String, String)> = pairs.iter().map(|(k, v)| (naive_encode(k), naive_encode(v))).collect();
        sorted.sort();
        let want: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut creq = Vec::new();
        canonical_request(&Request { query: &query, ..request("GET", "/") }, &suite_date(), None, &mut creq).unwrap();
        let creq = String::from_utf8(creq).unwrap();
        prop_assert_eq!(creq.split('\n').nth(2).unwrap(), want.join("&"));
    }
}
