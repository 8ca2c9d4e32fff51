//! SigV4 verification for the Bedrock endpoints: the request is signed again with
//! [`proto::aws::sigv4`] from what was received (method, path, query, the headers named
//! in `SignedHeaders`, the body) and the mock's one credential pair, and the signatures
//! compared. A gateway that signs the wrong bytes (the path encoded once instead of
//! twice, a header changed after signing, a body rewritten) is refused here as AWS
//! refuses it.
//!
//! Checked, in order, each failure answered with AWS's status and exception name:
//! 1. `authorization` is there (else 403 `MissingAuthenticationTokenException`);
//! 2. it is `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//!    SignedHeaders=a;b, Signature=hex` (else 403 `IncompleteSignatureException`);
//! 3. the key id is the configured one (else 403 `UnrecognizedClientException`), the
//!    service is `bedrock` and the region well-formed (else 403
//!    `InvalidSignatureException`);
//! 4. `x-amz-date` is there, in `YYYYMMDDTHHMMSSZ`, and its day is the scope's
//!    (`IncompleteSignatureException`, `InvalidSignatureException`);
//! 5. `host` and `x-amz-date` are signed, every signed header is present, and
//!    `x-amz-security-token`, when sent, is signed (`IncompleteSignatureException`);
//! 6. the signature matches (else 403 `InvalidSignatureException`, whose message quotes
//!    the canonical request the mock computed, as AWS does).
//!
//! Deliberately not checked, to stay deterministic and configuration-free: the age of
//! `x-amz-date` (AWS refuses a date more than 5 minutes from its clock; the mock reads
//! no clock), the region (any is accepted: the mock does not know which region it
//! plays), and the session token's value (any token is accepted, but it must be signed
//! — stricter than some AWS services, which is the point of the check).

use proto::aws::sigv4::{self, AmzDate, SigningKey};

use super::native::{Aws, Ctx};

/// AWS's namespace suffix for authentication exceptions in `x-amzn-errortype`.
pub(crate) const CORAL_SERVICE: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// A refused request: the status, the exception's name and the message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub exception: &'static str,
    pub message: String,
}

fn refuse<T>(exception: &'static str, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        status: 403,
        exception,
        message: message.into(),
    })
}

const INCOMPLETE: &str = "IncompleteSignatureException";
const INVALID: &str = "InvalidSignatureException";
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parsed `authorization` value.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// Verify the request's signature against `aws`.
pub(crate) fn verify(ctx: &Ctx, aws: &Aws) -> Result<(), Refusal> {
    let Some(raw) = ctx.header(b"authorization") else {
        return refuse(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    };
    let Ok(raw) = std::str::from_utf8(raw) else {
        return refuse(INCOMPLETE, "The authorization header is not UTF-8.");
    };
    let auth = parse(raw)?;
    if auth.access_key_id != aws.access_key_id {
        return refuse(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    }
    if auth.service != "bedrock" {
        return refuse(
            INVALID,
            "Credential should be scoped to correct service: 'bedrock'.",
        );
    }
    let region_ok = !auth.region.is_empty()
        && auth
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return refuse(INVALID, "Credential should be scoped to a valid region.");
    }
    let date = amz_date(ctx, &auth)?;
    let signed = signed_headers(ctx, &auth)?;
    check(ctx, aws, &auth, &date, &signed)
}

fn parse(raw: &str) -> Result<Authorization<'_>, Refusal> {
    let Some(rest) = raw
        .strip_prefix(sigv4::ALGORITHM)
        .filter(|r| r.starts_with(' '))
    else {
        return refuse(
            INCOMPLETE,
            format!("Unsupported authorization type or algorithm: '{raw}'"),
        );
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (value, name) in [
        (credential, "Credential"),
        (signed, "SignedHeaders"),
        (signature, "Signature"),
    ] {
        if value.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return refuse(INCOMPLETE, missing);
    };
    if !missing.is_empty() {
        return refuse(INCOMPLETE, missing);
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = parts[..] else {
        return refuse(
            INCOMPLETE,
            format!("Credential should have the form AKID/YYYYMMDD/region/service/aws4_request, got '{credential}'."),
        );
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

/// The request's `x-amz-date`, checked against the credential scope.
fn amz_date(ctx: &Ctx, auth: &Authorization) -> Result<AmzDate, Refusal> {
    let Some(raw) = ctx.header(b"x-amz-date") else {
        return refuse(
            INCOMPLETE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    };
    let text = String::from_utf8_lossy(raw);
    let Some(date) = parse_amz_date(raw) else {
        return refuse(
            INCOMPLETE,
            format!("Date must be in ISO-8601 'basic format'. Got '{text}'."),
        );
    };
    if date.date() != auth.date {
        return refuse(
            INVALID,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{text}'.",
                auth.date,
                date.date()
            ),
        );
    }
    Ok(date)
}

/// `YYYYMMDDTHHMMSSZ` as an [`AmzDate`]; `None` unless it is exactly that, a real date.
pub(crate) fn parse_amz_date(raw: &[u8]) -> Option<AmzDate> {
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        raw.get(r)?.iter().try_fold(0u64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    if raw.len() != 16 || raw[8] != b'T' || raw[15] != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || d == 0 || h > 23 || mi > 59 {
        return None;
    }
    if s > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    // Round-tripping rejects days past the month's end (`20240231`).
    AmzDate::from_unix_secs(secs).filter(|a| a.as_str().as_bytes() == raw)
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian, `y >= 1970`): Howard Hinnant's
/// `days_from_civil`, the inverse of the one `proto::aws::sigv4` formats with.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The signed headers' names and values as received, in `SignedHeaders` order (a name
/// sent twice gives two pairs, in order), after the presence rules.
fn signed_headers<'a>(
    ctx: &Ctx<'a>,
    auth: &Authorization,
) -> Result<Vec<(String, &'a str)>, Refusal> {
    let names = &auth.signed_headers;
    for must in ["host", "x-amz-date"] {
        if !names.contains(&must) {
            return refuse(
                INCOMPLETE,
                format!("'{must}' must be a 'SignedHeader' in the AWS Authorization."),
            );
        }
    }
    if ctx.header(b"x-amz-security-token").is_some() && !names.contains(&"x-amz-security-token") {
        return refuse(
            INCOMPLETE,
            "'x-amz-security-token' is sent but not a 'SignedHeader' in the AWS Authorization.",
        );
    }
    let mut out = Vec::with_capacity(names.len());
    for &name in names {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return refuse(
                INCOMPLETE,
                format!(
                    "Invalid SignedHeaders entry '{name}': names are lower case and non-empty."
                ),
            );
        }
        let mut seen = false;
        for h in ctx.headers {
            if h.name.of(ctx.buf).eq_ignore_ascii_case(name.as_bytes()) {
                let Ok(value) = std::str::from_utf8(h.value.of(ctx.buf)) else {
                    return refuse(INVALID, format!("Signed header '{name}' is not UTF-8."));
                };
                out.push((name.to_owned(), value));
                seen = true;
            }
        }
        if !seen {
            return refuse(
                INCOMPLETE,
                format!("Signed header '{name}' is not in the request."),
            );
        }
    }
    Ok(out)
}

/// Sign the request again and compare.
fn check(
    ctx: &Ctx,
    aws: &Aws,
    auth: &Authorization,
    date: &AmzDate,
    signed: &[(String, &str)],
) -> Result<(), Refusal> {
    let value = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    const SET_BY_SIGNER: [&str; 4] = [
        "host",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ];
    let others: Vec<(&str, &str)> = signed
        .iter()
        .filter(|(n, _)| !SET_BY_SIGNER.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), *v))
        .collect();
    let query = query_pairs(ctx.head.target.of(ctx.buf));
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
    let method = String::from_utf8_lossy(ctx.head.method_span.of(ctx.buf));
    let path = String::from_utf8_lossy(ctx.head.path.of(ctx.buf));
    let request = sigv4::Request {
        method: &method,
        host: value("host").unwrap_or_default(),
        path: &path,
        query: &query,
        headers: &others,
        payload: ctx.body,
        content_sha256_header: value("x-amz-content-sha256").is_some(),
    };
    let token = value("x-amz-security-token");
    let key = SigningKey::derive(aws.secret_access_key, date, auth.region, auth.service)
        .or_else(|e| refuse(INVALID, format!("Cannot derive a signing key: {e}.")))?;
    let mut authorization = Vec::new();
    let ours = sigv4::sign(
        &request,
        date,
        auth.access_key_id,
        token,
        &key,
        &mut authorization,
    )
    .or_else(|e| refuse(INVALID, format!("The request cannot be signed: {e}.")))?;
    if let Some(sent) = value("x-amz-content-sha256") {
        if sent != ours.payload_sha256() {
            return Err(Refusal {
                status: 400,
                exception: INVALID,
                message:
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
            });
        }
    }
    if ours.signature() != auth.signature {
        let mut canonical = Vec::new();
        // INVARIANT: `sign` accepted the same request, so this cannot fail.
        let _ = sigv4::canonical_request(&request, date, token, &mut canonical);
        return refuse(
            INVALID,
            format!(
                "{MISMATCH}\n\nThe Canonical String for this request should have been\n'{}'\n",
                String::from_utf8_lossy(&canonical)
            ),
        );
    }
    Ok(())
}

/// The query pairs of `target`, percent-decoded (the signer encodes them again).
fn query_pairs(target: &[u8]) -> Vec<(String, String)> {
    let Some(at) = target.iter().position(|&b| b == b'?') else {
        return Vec::new();
    };
    target[at + 1..]
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Percent-decode `s` (`%XX`; a malformed escape is kept as is; `+` stays `+`, as SigV4
/// reads it).
pub(crate) fn decode(s: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates() {
        let d = parse_amz_date(b"20240620T123456Z").unwrap();
        assert_eq!(d.as_str(), "20240620T123456Z");
        assert_eq!(d, AmzDate::from_unix_secs(1_718_886_896).unwrap());
        assert_eq!(
            parse_amz_date(b"20000229T000000Z").unwrap().date(),
            "20000229"
        );
        for bad in [
            &b"20240231T000000Z"[..],
            b"20230229T000000Z",
            b"20240620T243456Z",
            b"20240620 123456Z",
            b"20240620T123456",
            b"2024062OT123456Z",
            b"",
        ] {
            assert_eq!(
                parse_amz_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            decode(b"anthropic.claude-3-5-sonnet-20240620-v1%3A0"),
            "anthropic.claude-3-5-sonnet-20240620-v1:0"
        );
        assert_eq!(decode(b"a%2Fb%2fc"), "a/b/c");
        assert_eq!(decode(b"100%"), "100%");
        assert_eq!(decode(b"%zz%4"), "%zz%4");
        assert_eq!(decode(b"a+b"), "a+b");
        assert_eq!(
            query_pairs(b"/p?b=%20x&a&=v"),
            [
                ("b".into(), " x".into()),
                ("a".into(), String::new()),
                (String::new(), "v".into())
            ]
        );
    }
}
