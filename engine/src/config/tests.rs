use super::*;

fn ov() -> Overrides {
    Overrides::default()
}

fn compile(text: &str) -> Result<Snapshot, ConfigError> {
    from_str("sluice.toml", text, &ov())
}

const BASIC: &str = r#"
[server]
listen = "127.0.0.1:0"
workers = 2
driver = "epoll"

[auth]
keys = ["sk-test-1", "env:PATH"]

[[providers]]
name = "local"
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1/"
api_key = "upstream-secret"
headers = { "x-team" = "ml" }
timeouts = { connect_timeout_ms = 250, first_byte_timeout_ms = 1000 }

[[models]]
name = "llama"
provider = "local"
model = "meta-llama/Llama-3.1-8B"

[[models]]
name = "local/*"
provider = "local"
"#;

#[test]
fn compiles_a_full_config() {
    let s = compile(BASIC).unwrap();
    assert_eq!(s.server.workers, 2);
    assert_eq!(s.server.driver, Driver::Epoll);
    let p = &s.providers[0];
    let up = p.upstream.as_ref().unwrap();
    assert_eq!(up.addr, "127.0.0.1:8000".parse().unwrap());
    assert_eq!(&*up.path_prefix, "/v1");
    assert_eq!(&*up.host_header, "127.0.0.1:8000");
    assert!(up.tls.is_none());
    assert_eq!(p.timeouts.connect, std::time::Duration::from_millis(250));
    assert_eq!(p.timeouts.idle, DEFAULT_TIMEOUTS.idle);
    assert_eq!(p.headers[0].0.as_ref(), "authorization");
    assert_eq!(p.headers[0].1 .0.as_ref(), "Bearer upstream-secret");
    let path = std::env::var("PATH").unwrap();
    assert!(
        s.key_is_valid(path.as_bytes())
            && s.key_is_valid(b"sk-test-1")
            && !s.key_is_valid(b"sk-test-3")
    );
    // Secrets never show in what `check` prints.
    let d = s.describe();
    assert!(
        !d.contains("upstream-secret") && !d.contains("sk-test-1"),
        "{d}"
    );
    assert!(d.contains("-> local:meta-llama/Llama-3.1-8B"), "{d}");
}

#[test]
fn resolves_exact_names_then_longest_prefix() {
    let s = compile(BASIC).unwrap();
    let r = s.resolve(b"llama").unwrap();
    assert_eq!(r.upstream_name, b"meta-llama/Llama-3.1-8B");
    let r = s.resolve(b"local/qwen2.5").unwrap();
    assert_eq!(r.upstream_name, b"qwen2.5");
    assert!(
        s.resolve(b"local/").is_none(),
        "a pattern needs a non-empty suffix"
    );
    assert!(s.resolve(b"gpt-4o").is_none());
}

fn err(text: &str) -> ConfigError {
    compile(text).expect_err("config should be rejected")
}

#[test]
fn unknown_fields_are_errors_with_a_line() {
    let e = err("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().starts_with("sluice.toml:3"), "{e}");
    assert!(e.message.contains("lisen"), "{e}");
}

#[test]
fn semantic_errors_name_file_line_and_field() {
    let e =
        err("[[providers]]\nname = \"a\"\nkind = \"openai-compatible\"\nbase_url = \"ftp://x\"\n");
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(4), "providers.base_url"),
        "{e}"
    );
    let e = err("[[providers]]\nname = \"a\"\nkind = \"martian\"\n");
    assert_eq!((e.line, e.field.as_str()), (Some(3), "providers.kind"));
    let e = err("[[providers]]\nname = \"d\"\nkind = \"demo\"\n\n[[models]]\nname = \"m\"\nprovider = \"nope\"\n");
    assert_eq!((e.line, e.field.as_str()), (Some(7), "models.provider"));
    let e = err("[server]\ndriver = \"kqueue\"\n");
    assert_eq!((e.line, e.field.as_str()), (Some(2), "server.driver"));
    let e = err("[limits]\nheader_count_max = 100000\n");
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(2), "limits.header_count_max")
    );
    let e = err("[auth]\nkeys = [\"env:SLUICE_TEST_DEFINITELY_UNSET\"]\n");
    assert_eq!((e.line, e.field.as_str()), (Some(2), "auth.keys"));
    assert!(e.message.contains("SLUICE_TEST_DEFINITELY_UNSET"));
    let e = err("[[providers]]\nname = \"d\"\nkind = \"demo\"\n[[providers]]\nname = \"d\"\nkind = \"demo\"\n");
    assert_eq!((e.line, e.field.as_str()), (Some(5), "providers.name"));
    let e = err("[[providers]]\nname = \"d\"\nkind = \"demo\"\n[[models]]\nname = \"a*b\"\nprovider = \"d\"\n");
    assert_eq!(e.field, "models.name");
}

#[test]
fn secrets_come_from_files_and_never_print() {
    let path = std::env::temp_dir().join(format!("sluice-secret-{}", std::process::id()));
    std::fs::write(&path, "from-a-file\n").unwrap();
    let text = format!(
        "[[providers]]\nname = \"o\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"file:{}\"\n",
        path.display()
    );
    let s = compile(&text).unwrap();
    assert_eq!(&*s.providers[0].headers[0].1 .0, "Bearer from-a-file");
    assert!(!format!("{:?}", s.providers[0]).contains("from-a-file"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn urls_parse_strictly() {
    use super::compile::parse_url;
    let u = parse_url("https://api.openai.com/v1").unwrap();
    assert!(u.https && u.host == "api.openai.com" && u.port == 443 && u.path == "/v1");
    let u = parse_url("http://[::1]:8080").unwrap();
    assert!(u.host == "::1" && u.port == 8080 && u.path.is_empty());
    for bad in [
        "api.openai.com",
        "https://",
        "http://h:port/",
        "http://u@h/",
        "http://h/v1?x=1",
    ] {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn overrides_win_over_the_file() {
    let o = Overrides {
        workers: Some(3),
        listen: Some("127.0.0.1:7".parse().unwrap()),
        ..Overrides::default()
    };
    let s = from_str("x.toml", BASIC, &o).unwrap();
    assert_eq!(s.server.workers, 3);
    assert_eq!(s.server.listen.port(), 7);
}

#[test]
fn demo_has_the_demo_model_and_accepts_anonymous() {
    let (s, _) = demo(&ov()).unwrap();
    assert!(s.demo && s.auth.allow_anonymous);
    assert!(s.resolve(DEMO_MODEL.as_bytes()).is_some());
    assert!(s.key_is_valid(DEMO_KEY.as_bytes()));
}

#[test]
fn tls_files_are_checked() {
    let e = err("[server.tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n");
    assert_eq!(
        (e.line, e.field.as_str()),
        (Some(2), "server.tls.cert_file"),
        "{e}"
    );
}

fn provider(kind: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"p\"\nkind = \"{kind}\"\n{extra}\n\n[[models]]\nname = \"m\"\nprovider = \"p\"\n"
    )
}

#[test]
fn provider_kinds_put_the_key_in_their_own_header() {
    for (kind, header, value) in [
        ("openai", "authorization", "Bearer k1"),
        ("azure-openai", "api-key", "k1"),
        ("anthropic", "x-api-key", "k1"),
        ("gemini", "x-goog-api-key", "k1"),
    ] {
        // (The default base URLs need DNS, which tests do not have.)
        let base = "base_url = \"http://127.0.0.1:1\"\n";
        let s = compile(&provider(kind, &format!("{base}api_key = \"k1\""))).unwrap();
        let p = &s.providers[0];
        assert_eq!(p.kind.as_str(), kind);
        let got: Vec<_> = p.headers.iter().map(|(n, v)| (&**n, &*v.0)).collect();
        assert!(got.contains(&(header, value)), "{kind}: {got:?}");
    }
    let s = compile(&provider(
        "anthropic",
        "api_key = \"k\"\nbase_url = \"http://127.0.0.1:1\"",
    ))
    .unwrap();
    let p = &s.providers[0];
    assert!(p
        .headers
        .iter()
        .any(|(n, v)| &**n == "anthropic-version" && &*v.0 == "2023-06-01"));
    assert_eq!(p.opts.max_tokens_default, 4096);
    // A configured header replaces the kind's default.
    let s = compile(&provider(
        "anthropic",
        "api_key = \"k\"\nbase_url = \"http://127.0.0.1:1\"\nheaders = { \"anthropic-version\" = \"2024-01-01\" }",
    ))
    .unwrap();
    let versions: Vec<_> = s.providers[0]
        .headers
        .iter()
        .filter(|(n, _)| &**n == "anthropic-version")
        .map(|(_, v)| &*v.0)
        .collect();
    assert_eq!(versions, ["2024-01-01"]);
}

#[test]
fn kind_specific_options_are_checked() {
    let s = compile(&provider(
        "azure-openai",
        "base_url = \"http://127.0.0.1:1\"\napi_version = \"2025-01-01-preview\"",
    ))
    .unwrap();
    assert_eq!(&*s.providers[0].opts.api_version, "2025-01-01-preview");
    let e = err(&provider("azure-openai", ""));
    assert_eq!(e.field, "providers.base_url", "{e}");

    let e = err(&provider("openai", "api_version = \"x\""));
    assert_eq!(
        (e.field.as_str(), e.line),
        ("providers.api_version", Some(4)),
        "{e}"
    );
    assert!(e.message.contains("openai provider"), "{e}");
    let e = err(&provider("gemini", "drop_params = [\"logprobs\"]"));
    assert_eq!(e.field, "providers.drop_params", "{e}");
    let e = err(&provider(
        "openai-compatible",
        "base_url = \"http://127.0.0.1:1\"\nrename_params = { model = \"engine\" }",
    ));
    assert!(e.message.contains("`model` cannot be renamed"), "{e}");
    let e = err(&provider(
        "anthropic",
        "base_url = \"http://127.0.0.1:1\"\nmax_tokens_default = 0",
    ));
    assert_eq!(e.field, "providers.max_tokens_default", "{e}");
    let s = compile(&provider(
        "openai-compatible",
        "base_url = \"http://127.0.0.1:1\"\ndrop_params = [\"logprobs\"]\nrename_params = { max_completion_tokens = \"max_tokens\" }",
    ))
    .unwrap();
    let o = &s.providers[0].opts;
    assert_eq!(o.drop_params, vec![Box::<str>::from("logprobs")]);
    assert_eq!(o.rename_params[0].1.as_ref(), "max_tokens");
}

#[test]
fn bedrock_needs_region_and_credentials_never_shown() {
    let creds = "aws_access_key_id = \"AKIDEXAMPLE\"\naws_secret_access_key = \"s3cr3t-value\"";
    let e = err(&provider(
        "bedrock",
        &format!("api_key = \"k\"\nregion = \"us-east-1\"\n{creds}"),
    ));
    assert_eq!(e.field, "providers.api_key", "{e}");
    let e = err(&provider("openai", "region = \"us-east-1\""));
    assert!(e.message.contains("does not apply"), "{e}");
    let e = err(&provider(
        "bedrock",
        "region = \"us east\"\naws_access_key_id = \"AKID\"\naws_secret_access_key = \"s3cr3t\"",
    ));
    assert_eq!(e.field, "providers.region", "{e}");
    let s = compile(&provider(
        "bedrock",
        &format!("region = \"eu-west-1\"\nbase_url = \"http://127.0.0.1:1\"\n{creds}"),
    ))
    .unwrap();
    let p = &s.providers[0];
    let aws = p.opts.aws.as_ref().unwrap();
    assert_eq!(&*aws.region, "eu-west-1");
    assert_eq!(&*aws.access_key_id.0, "AKIDEXAMPLE");
    assert!(aws.session_token.is_none() || std::env::var_os("AWS_SESSION_TOKEN").is_some());
    let d = s.describe();
    assert!(
        !d.contains("s3cr3t-value") && !d.contains("AKIDEXAMPLE"),
        "{d}"
    );
}

const GROUP_PROVIDERS: &str = r#"
[[providers]]
name = "a"
kind = "openai-compatible"
base_url = "http://127.0.0.1:8001/v1"
timeouts = { first_byte_timeout_ms = 9000 }

[[providers]]
name = "b"
kind = "openai-compatible"
base_url = "http://127.0.0.1:8002/v1"

[[providers]]
name = "d"
kind = "demo"
"#;

#[test]
fn groups_compile_with_their_policies() {
    let text = format!(
        "{GROUP_PROVIDERS}{}",
        r#"
[[models]]
name = "g"
model = "shared-name"
strategy = "usage-aware"
timeouts = { first_byte_timeout_ms = 700 }
retry = { attempts = 4 }
deployments = [
  { provider = "a", weight = 5, tags = { region = "eu" }, rpm = 100 },
  { provider = "b", model = "own-name", priority = 2, tags = { region = "us", tier = "gold" } },
]
fallbacks = ["h"]
split = [{ to = "h", percent = 12.5 }]
sticky = "user"
shadow = { to = "h", percent = 1 }

[[models]]
name = "h"
provider = "b"
"#
    );
    let s = compile(&text).unwrap();
    let g = &s.models[0];
    assert_eq!(g.deployments.len(), 2);
    assert_eq!(g.route.strategy, crate::route::Strategy::UsageAware);
    assert_eq!(g.retry.attempts, 4);
    assert_eq!(g.fallbacks, vec![1]);
    assert_eq!(g.split[0].per_10k, 1250);
    assert_eq!(g.sticky, Sticky::User);
    assert_eq!(g.shadow.unwrap().per_10k, 100);
    assert_eq!(g.route.members[0].weight, 5);
    assert_eq!(g.route.members[0].rpm, 100);
    assert_eq!(g.route.members[1].priority, 2);
    // The group's timeouts override the provider's, per deployment.
    assert_eq!(g.deployments[0].timeouts.first_byte.as_millis(), 700);
    assert_eq!(
        g.deployments[0].timeouts.connect,
        s.providers[0].timeouts.connect
    );
    let r = s.resolve(b"g").unwrap();
    assert_eq!(r.upstream_name, b"shared-name");
    let found = s.find(b"g").unwrap();
    assert_eq!(s.deployment(&found, 1).upstream_name, b"own-name");
    assert_eq!(s.deployment_count(), 3);
    assert_eq!(&*s.deployment_labels[1], "g/b/own-name");
    assert_eq!(
        &*s.deployment_labels[2], "h/b/h",
        "no own name: the client's"
    );
    let eu = s.tag_mask([&b"region=eu"[..]].into_iter()).unwrap();
    assert_eq!(g.route.members[0].tags, eu);
    assert!(s.tag_mask([&b"region=mars"[..]].into_iter()).is_none());
    // A lone deployment without a retry table gets one attempt.
    assert_eq!(s.models[1].retry.attempts, 1);
}

#[test]
fn group_mistakes_name_their_line() {
    let cases: [(&str, &str); 9] = [
        ("[[models]]\nname = \"g\"\nstrategy = \"fastest\"\nprovider = \"a\"\n", "models.strategy"),
        ("[[models]]\nname = \"g\"\nprovider = \"a\"\nfallbacks = [\"nope\"]\n", "models.fallbacks"),
        ("[[models]]\nname = \"g\"\nprovider = \"a\"\nfallbacks = [\"g\"]\n", "models.fallbacks"),
        ("[[models]]\nname = \"g\"\nprovider = \"a\"\ndeployments = [{ provider = \"b\" }]\n", "models.provider"),
        ("[[models]]\nname = \"g\"\n", "models.provider"),
        ("[[models]]\nname = \"g\"\ndeployments = [{ provider = \"a\", weight = 0 }]\n", "models.deployments.weight"),
        ("[[models]]\nname = \"g\"\nstrategy = \"lowest-cost\"\ndeployments = [{ provider = \"a\" }]\n", "models.strategy"),
        ("[[models]]\nname = \"g\"\ndeployments = [{ provider = \"a\" }, { provider = \"d\" }]\n", "models.deployments"),
        ("[[models]]\nname = \"g\"\nprovider = \"a\"\nretry = { attempts = 9 }\n", "models.retry.attempts"),
    ];
    for (tables, field) in cases {
        let e = err(&format!("{GROUP_PROVIDERS}{tables}"));
        assert_eq!(e.field, field, "{tables}: {e}");
        assert!(e.line.is_some(), "{e}");
    }
    let e = err(&format!(
        "{GROUP_PROVIDERS}[[models]]\nname = \"g\"\nprovider = \"a\"\nsplit = [{{ to = \"h\", percent = 60 }}, {{ to = \"i\", percent = 50 }}]\n[[models]]\nname = \"h\"\nprovider = \"a\"\n[[models]]\nname = \"i\"\nprovider = \"a\"\n"
    ));
    assert_eq!(e.field, "models.split", "{e}");
}
