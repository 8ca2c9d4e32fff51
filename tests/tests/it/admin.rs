//! The admin listener (/metrics, /healthz, /readyz) and the JSON access log.

use std::time::Duration;

use crate::*;

both_drivers!(
    fn admin_endpoints_and_metrics(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        assert_eq!(c.request(&post("/v1/chat/completions", &chat_body(MODEL, false), "")).status, 200);
        assert_eq!(c.request(&post("/v1/chat/completions", &chat_body("nope", false), "")).status, 404);

        let series = format!(r#"sluice_requests_total{{route="chat_completions",model="{MODEL}",status="200"}}"#);
        assert!(gw.wait_metric(r#"sluice_requests_total{route="chat_completions",model="",status="404"}"#, 1.0));
        let text = gw.metrics();
        assert_eq!(metric(&text, &series), Some(1.0), "{text}");
        assert_eq!(metric(&text, r#"sluice_requests_total{route="chat_completions",model="",status="404"}"#), Some(1.0));
        assert!(text.contains(r#"sluice_gateway_added_seconds_bucket{route="chat_completions",le="+Inf"} 2"#), "{text}");
        assert!(text.contains("# TYPE sluice_gateway_added_seconds histogram"));
        assert!(text.contains(r#"sluice_request_duration_seconds_count{route="chat_completions"} 2"#));
        assert_eq!(metric(&text, "sluice_open_connections"), Some(1.0), "the client connection is open");
        assert!(metric(&text, "process_resident_memory_bytes").unwrap() > 1e6);
        assert_eq!(metric(&text, "sluice_draining"), Some(0.0));
        // The handle renders the same counters.
        assert!(gw.handle().metrics_text().contains(&format!("{series} 1")));
        drop(c);
        assert!(wait_until(Duration::from_secs(2), || gw.metric("sluice_open_connections") == 0.0));

        let h = gw.admin_get("/healthz");
        assert_eq!((h.status, h.text().as_str()), (200, "ok\n"));
        assert_eq!(gw.admin_get("/readyz").status, 200);
        assert_eq!(gw.admin_get("/nope").status, 404);
        let mut a = Client::connect(gw.admin_addr);
        assert_eq!(a.request(b"POST /metrics HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n").status, 405);
    }
);

both_drivers!(
    fn access_log_has_one_json_object_per_request(d) {
        let m = mock(d);
        let dir = TempDir::new("access-log");
        let path = dir.path().join("access.log");
        let toml = config(m.addr, "", "").replace(r#"access_log = "off""#, &format!("access_log = \"{}\"", path.display()));
        let gw = Gateway::start(&toml, d);
        let chat = "/v1/chat/completions";
        let mut c = gw.client();
        let statuses = [
            c.request(&post(chat, &chat_body(MODEL, false), "")).status,
            c.request(&post(chat, &chat_body(MODEL, true), "")).status,
            c.request(&post(chat, &chat_body("no-such-model", false), "")).status,
            c.request(&post_with_key(chat, &chat_body(MODEL, false), Some("sk-bad"), "")).status,
            c.request(&get("/v1/models")).status,
            c.request(&get("/v1/nowhere")).status,
        ];
        assert_eq!(statuses, [200, 200, 404, 401, 200, 404]);
        drop(c);
        gw.stop().expect("stop");

        let text = std::fs::read_to_string(&path).expect("access log written");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
            .collect();
        assert_eq!(lines.len(), 6, "{text}");
        for (l, s) in lines.iter().zip(statuses) {
            assert_eq!(l["status"], s, "{l}");
            assert!(l["request_id"].as_str().is_some_and(|id| id.len() == 16), "{l}");
            assert!(l["duration_ms"].as_f64().is_some(), "{l}");
        }
        let routes: Vec<&str> = lines.iter().map(|l| l["route"].as_str().unwrap()).collect();
        assert_eq!(routes, ["chat_completions", "chat_completions", "chat_completions", "chat_completions", "models", "unknown"]);
        assert_eq!(lines[0]["model"], MODEL);
        assert_eq!(lines[0]["provider"], "mock");
        assert_eq!(lines[0]["method"], "POST");
        assert_eq!(lines[0]["stream"], false);
        assert_eq!(lines[0]["upstream_reused"], false);
        assert_eq!(lines[1]["model"], MODEL);
        assert_eq!(lines[1]["stream"], true);
        // Usage is read from the JSON answer and from the stream's (injected) usage chunk.
        for l in &lines[..2] {
            assert!(l["usage"]["input"].as_u64().is_some_and(|n| n > 0), "{l}");
            assert!(l["usage"]["output"].as_u64().is_some_and(|n| n > 0), "{l}");
        }
        assert!(lines[2].get("usage").is_none(), "{}", lines[2]);
        assert_eq!(lines[1]["upstream_reused"], true);
        assert!(lines[2].get("model").is_none(), "{}", lines[2]);
        assert_eq!(lines[2]["error"], "model_not_found");
        assert_eq!(lines[3]["error"], "invalid_api_key");
        assert_eq!(lines[4]["method"], "GET");
    }
);
