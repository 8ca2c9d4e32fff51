//! Requests, rendered from parts prepared once per workload entry and target: the head up
//! to the key, each key's `authorization` line, the body before the prompt, and the body
//! after it (streaming or not). Rendering a request is a handful of copies into the
//! connection's buffer: the parts, the content length, the nonce and a slice of a shared
//! filler text.

use std::sync::Arc;

use super::Target;
use crate::workload::{Endpoint, Spec, Workload, BYTES_PER_TOKEN, NONCE_BYTES};

struct Parts {
    /// Request line, host, content type and the entry's extra headers.
    head: Vec<u8>,
    /// `{"model":..., "messages":[{"role":"user","content":"`, or the equivalent.
    body_open: Vec<u8>,
    /// The rest of the body, for a non-streaming and a streaming request.
    body_close: [Vec<u8>; 2],
    unique: bool,
}

pub(crate) struct Renderer {
    entries: Vec<Parts>,
    /// `authorization: Bearer KEY\r\n` per key; empty when requests carry no key.
    keys: Vec<Vec<u8>>,
    filler: Arc<[u8]>,
}

impl Renderer {
    /// Parts for every entry of `workload` sent to `target`. `filler` holds at least
    /// [`Workload::prompt_bytes_max`] bytes of JSON-safe text.
    pub(crate) fn new(
        workload: &Workload,
        target: &Target,
        host: &str,
        default_key: Option<&str>,
        filler: Arc<[u8]>,
    ) -> Renderer {
        assert!(
            filler.len() >= workload.prompt_bytes_max(),
            "the filler covers every prompt"
        );
        let entries = workload
            .entries
            .iter()
            .map(|e| {
                let mut head = Vec::new();
                let path = e.endpoint.path();
                head.extend_from_slice(
                    format!(
                        "POST {}{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n",
                        target.base_path
                    )
                    .as_bytes(),
                );
                for (name, value) in &e.headers {
                    head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                }
                let mut body_open = b"{\"model\":".to_vec();
                proto::json::write_string(&mut body_open, e.model.as_bytes());
                body_open.extend_from_slice(match e.endpoint {
                    Endpoint::Chat => b",\"messages\":[{\"role\":\"user\",\"content\":\"",
                    Endpoint::Completions => b",\"prompt\":\"",
                    Endpoint::Embeddings => b",\"input\":\"",
                });
                let close = |stream: bool| {
                    let mut c = match e.endpoint {
                        Endpoint::Chat => b"\"}]".to_vec(),
                        _ => b"\"".to_vec(),
                    };
                    if let (Some(n), false) = (e.max_tokens, e.endpoint == Endpoint::Embeddings) {
                        c.extend_from_slice(format!(",\"max_tokens\":{n}").as_bytes());
                    }
                    if stream {
                        c.extend_from_slice(b",\"stream\":true");
                    }
                    c.push(b'}');
                    c
                };
                Parts {
                    head,
                    body_open,
                    body_close: [close(false), close(true)],
                    unique: e.unique,
                }
            })
            .collect();
        let keys: Vec<Vec<u8>> = if workload.keys.is_empty() {
            default_key.into_iter().map(auth_line).collect()
        } else {
            workload.keys.iter().map(|(k, _)| auth_line(k)).collect()
        };
        Renderer {
            entries,
            keys,
            filler,
        }
    }

    /// Append the request for `spec` to `out`.
    pub(crate) fn render(&self, spec: &Spec, out: &mut Vec<u8>) {
        let p = &self.entries[spec.entry as usize];
        let prompt = spec.prompt_tokens as usize * BYTES_PER_TOKEN;
        let (nonce, filler) = if p.unique {
            (NONCE_BYTES, prompt.saturating_sub(NONCE_BYTES))
        } else {
            (0, prompt)
        };
        let close = &p.body_close[usize::from(spec.stream)];
        let body_len = p.body_open.len() + nonce + filler + close.len();
        out.extend_from_slice(&p.head);
        if let Some(k) = self.keys.get(spec.key as usize).or(self.keys.first()) {
            out.extend_from_slice(k);
        }
        out.extend_from_slice(b"content-length: ");
        write_decimal(out, body_len as u64);
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&p.body_open);
        if p.unique {
            write_hex16(out, spec.nonce);
            out.push(b' ');
        }
        out.extend_from_slice(&self.filler[..filler]);
        out.extend_from_slice(close);
    }
}

fn auth_line(key: impl AsRef<str>) -> Vec<u8> {
    format!("authorization: Bearer {}\r\n", key.as_ref()).into_bytes()
}

fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn write_hex16(out: &mut Vec<u8>, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

/// Prompt text: lowercase words and spaces, deterministic, `len` bytes.
pub(crate) fn filler(len: usize) -> Arc<[u8]> {
    const WORDS: [&str; 16] = [
        "the",
        "gateway",
        "routes",
        "each",
        "request",
        "to",
        "a",
        "model",
        "and",
        "streams",
        "tokens",
        "back",
        "while",
        "counting",
        "usage",
        "carefully",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(WORDS[(i * 7 + i / 16) % WORDS.len()].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(len);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Picker;

    fn target() -> Target {
        Target::from_addr("127.0.0.1:9".parse().unwrap())
    }

    #[test]
    fn renders_valid_requests() {
        let w = Workload::parse(
            r#"
[keys]
list = ["sk-1", "sk-2"]
[[request]]
model = "m\"q"
prompt_tokens = 10
max_tokens = 5
stream = 1.0
headers = { "x-mock-chunks" = "3" }
[[request]]
endpoint = "embeddings"
model = "e"
prompt_tokens = 2
unique = false
"#,
        )
        .unwrap();
        let r = Renderer::new(
            &w,
            &target(),
            "h:1",
            Some("ignored"),
            filler(w.prompt_bytes_max()),
        );
        let mut p = Picker::new(&w, 3);
        let mut out = Vec::new();
        let mut seen = [false; 2];
        for _ in 0..50 {
            let spec = p.next_spec();
            out.clear();
            r.render(&spec, &mut out);
            let text = std::str::from_utf8(&out).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len(), "{text}");
            let key = if spec.key == 0 { "sk-1" } else { "sk-2" };
            assert!(head.contains(&format!("authorization: Bearer {key}\r\n")));
            assert!(head.contains("host: h:1\r\n"));
            let v: serde_json::Value = serde_json::from_str(body).expect(body);
            if spec.entry == 0 {
                seen[0] = true;
                assert!(head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
                assert!(head.contains("x-mock-chunks: 3\r\n"));
                assert_eq!(v["model"], "m\"q");
                assert_eq!(v["stream"], true);
                assert_eq!(v["max_tokens"], 5);
                let content = v["messages"][0]["content"].as_str().unwrap();
                assert_eq!(content.len(), 40);
                assert_eq!(&content[..16], format!("{:016x}", spec.nonce));
            } else {
                seen[1] = true;
                assert!(head.starts_with("POST /v1/embeddings HTTP/1.1\r\n"));
                assert_eq!(v["input"].as_str().unwrap().len(), 8);
                assert!(v.get("stream").is_none() && v.get("max_tokens").is_none());
            }
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn default_key_and_no_key() {
        let w = Workload::default_chat("m");
        let spec = Picker::new(&w, 0).next_spec();
        let f = filler(w.prompt_bytes_max());
        let mut out = Vec::new();
        Renderer::new(&w, &target(), "h", Some("sk-d"), f.clone()).render(&spec, &mut out);
        assert!(String::from_utf8_lossy(&out).contains("authorization: Bearer sk-d\r\n"));
        out.clear();
        Renderer::new(&w, &target(), "h", None, f).render(&spec, &mut out);
        assert!(!String::from_utf8_lossy(&out).contains("authorization"));
        // The built-in workload sends about 1 KiB bodies.
        let body = out.len() - out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4;
        assert!((900..1200).contains(&body), "{body}");
    }
}
