//! The written form, the directory build and one request's admission over a key's path,
//! against a real compiled snapshot.

use std::collections::BTreeMap;

use serde_json::json;

use super::admit::{admit, settle, Ask, Outcome, Refusal};
use super::budget::PUSD_PER_USD;
use super::directory::{Directory, Lookup};
use super::secret;
use super::spec::{valid_id, Doc, Kind, Source};
use crate::config::{self, Overrides, Snapshot};

fn snap() -> Snapshot {
    let toml = r#"
[[providers]]
name = "p"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
[[models]]
name = "m"
deployments = [{ provider = "p", tags = { region = "eu" } }]
"#;
    config::from_str("t.toml", toml, &Overrides::default()).unwrap()
}

fn doc(v: serde_json::Value) -> Doc {
    serde_json::from_value(v).unwrap()
}

fn key_doc(id: &str, parent: (&str, &str), secret: &str, extra: serde_json::Value) -> Doc {
    let mut v = json!({"id": id, parent.0: parent.1, "hash": secret::to_hex(&secret::hash(secret.as_bytes()))});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    doc(v)
}

fn docs(list: Vec<(Kind, Doc)>) -> BTreeMap<(Kind, String), (Doc, Source)> {
    list.into_iter()
        .map(|(k, d)| ((k, d.id.clone()), (d, Source::Api)))
        .collect()
}

fn hierarchy(key_extra: serde_json::Value, org_extra: serde_json::Value) -> Directory {
    let mut org = json!({"id": "acme"});
    for (k, x) in org_extra.as_object().unwrap() {
        org[k] = x.clone();
    }
    Directory::build(
        docs(vec![
            (Kind::Org, doc(org)),
            (Kind::Team, doc(json!({"id": "ml", "org": "acme"}))),
            (Kind::User, doc(json!({"id": "bob", "team": "ml"}))),
            (
                Kind::Key,
                key_doc("k", ("user", "bob"), "sk-sluice-one", key_extra),
            ),
        ]),
        None,
        &snap(),
    )
    .unwrap()
}

#[test]
fn ids_and_kind_rules() {
    assert!(valid_id("key_0a.b-c"));
    assert!(!valid_id("") && !valid_id("a b") && !valid_id(&"x".repeat(65)));
    assert!(doc(json!({"id": "t", "models": ["m"]}))
        .check(Kind::Team)
        .unwrap_err()
        .contains("models does not apply to a team"));
    assert!(doc(json!({"id": "k", "user": "u", "org": "o"}))
        .check(Kind::Key)
        .unwrap_err()
        .contains("one of user, team or org"));
    assert!(doc(json!({"id": "k", "rpm": 0})).check(Kind::Key).is_err());
    assert!(doc(json!({"id": "k", "routes": ["chat", "bogus"]}))
        .check(Kind::Key)
        .unwrap_err()
        .contains("unknown route"));
    assert!(
        doc(json!({"id": "o", "budget": {"usd": 5, "period": "fortnightly"}}))
            .check(Kind::Org)
            .is_err()
    );
    assert!(doc(json!({"id": "k", "end_user": {"from": "cookie"}}))
        .check(Kind::Key)
        .is_err());
}

#[test]
fn patches_merge_recursively_and_protect_secrets() {
    let d =
        doc(json!({"id": "o", "rpm": 5, "budget": {"usd": 10, "period": "daily", "soft": [80]}}));
    let p = d
        .patched(&json!({"budget": {"soft": [50, 90]}, "rpm": null}))
        .unwrap();
    assert_eq!(p.rpm, None);
    let b = p.budget.unwrap();
    assert_eq!(
        (b.usd, b.period.as_str(), b.soft),
        (10.0, "daily", vec![50, 90])
    );
    assert!(d.patched(&json!({"hash": "00"})).is_err());
    assert!(d.patched(&json!({"id": "other"})).is_err());
    assert!(
        d.patched(&json!({"bogus": 1})).is_err(),
        "unknown members are refused"
    );
    // The API's view never carries secret material.
    let k = key_doc("k", ("org", "acme"), "sk-sluice-x", json!({}));
    assert!(k.public().hash.is_none());
}

#[test]
fn the_build_checks_parents_secrets_and_tags() {
    let s = snap();
    let e = Directory::build(
        docs(vec![(Kind::Team, doc(json!({"id": "ml", "org": "nope"})))]),
        None,
        &s,
    )
    .err()
    .unwrap();
    assert!(e.contains("team ml") && e.contains("does not exist"), "{e}");
    let dup = Directory::build(
        docs(vec![
            (Kind::Org, doc(json!({"id": "acme"}))),
            (
                Kind::Key,
                key_doc("a", ("org", "acme"), "sk-sluice-same", json!({})),
            ),
            (
                Kind::Key,
                key_doc("b", ("org", "acme"), "sk-sluice-same", json!({})),
            ),
        ]),
        None,
        &s,
    );
    assert!(dup.err().unwrap().contains("another key"));
    let d = hierarchy(json!({"tags": {"region": "eu"}}), json!({}));
    assert!(matches!(d.lookup(b"sk-sluice-one", 0), Lookup::Key(0)));
    assert!(matches!(d.lookup(b"sk-sluice-two", 0), Lookup::Unknown));
    assert_eq!(d.keys[0].required_tags, Some(1));
    let path: Vec<String> = d.path(&d.keys[0]).map(|n| n.id.to_string()).collect();
    assert_eq!(path, ["k", "bob", "ml", "acme"]);
    // A tag no deployment carries: routed requests will find no deployment.
    let d = hierarchy(json!({"tags": {"region": "mars"}}), json!({}));
    assert_eq!(d.keys[0].required_tags, None);
}

#[test]
fn revoked_keys_vanish_and_rotated_secrets_expire() {
    let d = hierarchy(json!({"revoked": true}), json!({}));
    assert!(matches!(d.lookup(b"sk-sluice-one", 0), Lookup::Unknown));
    let old = secret::to_hex(&secret::hash(b"sk-sluice-old"));
    let d = hierarchy(json!({"old_hash": old, "old_valid_until": 100}), json!({}));
    assert!(matches!(d.lookup(b"sk-sluice-old", 99), Lookup::Key(0)));
    assert!(matches!(d.lookup(b"sk-sluice-old", 100), Lookup::Expired));
    assert!(matches!(d.lookup(b"sk-sluice-one", 100), Lookup::Key(0)));
}

#[test]
fn counters_survive_a_rebuild() {
    let d = hierarchy(json!({"rpm": 2}), json!({}));
    let ask = || Ask {
        model: b"m",
        end_user: None,
        tokens: 0,
        cost: Some(0),
    };
    assert!(admit(&d, 0, ask(), 0, 0).is_ok());
    // Another of the key's settings changes; what its rpm bucket used stays.
    let mut docs = d.docs.clone();
    docs.get_mut(&(Kind::Key, "k".into()))
        .unwrap()
        .0
        .max_concurrency = Some(9);
    let d2 = Directory::build(docs, Some(&d), &snap()).unwrap();
    assert!(admit(&d2, 0, ask(), 0, 0).is_ok());
    assert!(matches!(
        admit(&d2, 0, ask(), 0, 0),
        Err(Refusal::Limit { .. })
    ));
}

#[test]
fn a_refusal_at_any_level_leaves_no_trace() {
    // The org's budget covers one request; the key's rpm, the org's concurrency and the
    // key's tpm all have room.
    let d = hierarchy(
        json!({"rpm": 10, "tpm": 1000}),
        json!({"max_concurrency": 5, "budget": {"usd": 1, "period": "never"}}),
    );
    let cost = PUSD_PER_USD * 3 / 4;
    let ask = || Ask {
        model: b"m",
        end_user: None,
        tokens: 100,
        cost: Some(cost),
    };
    let t = admit(&d, 0, ask(), 0, 0).ok().unwrap();
    let refused = admit(&d, 0, ask(), 0, 0);
    let Err(Refusal::Budget { level, exceeded }) = refused else {
        panic!("the org's budget refuses");
    };
    assert_eq!(level, "org acme");
    assert_eq!((exceeded.settled, exceeded.reserved), (0, cost));
    // Nothing of the refused request stays: 9 requests and 900 tokens left, 1 in flight.
    let key = &d.nodes[d.keys[0].node];
    let spec = key.rpm.unwrap();
    assert_eq!(key.state.requests.peek(spec, 0).remaining, 9);
    assert_eq!(key.state.tokens.peek(key.tpm.unwrap(), 0).remaining, 900);
    let org = d.node(Kind::Org, "acme").unwrap();
    assert_eq!(org.state.inflight.get(), 1);
    // Settled to a real cost of a third: the rest is free again, tokens corrected.
    let mut crossed = Vec::new();
    let out = Outcome {
        tokens: Some(40),
        cost: Some(PUSD_PER_USD / 4),
        served: true,
    };
    assert_eq!(settle(&d, &t, &out, 0, 0, &mut crossed), PUSD_PER_USD / 4);
    assert_eq!(org.state.inflight.get(), 0);
    assert_eq!(key.state.tokens.peek(key.tpm.unwrap(), 0).remaining, 960);
    let v = org.state.budget.view(org.budget.as_ref().unwrap(), 0);
    assert_eq!((v.settled, v.reserved), (PUSD_PER_USD / 4, 0));
    assert!(
        admit(&d, 0, ask(), 0, 0).is_ok(),
        "$0.75 fits in the $0.75 left"
    );
    // A budgeted key without a known price is refused, and gives its slots back.
    let no_price = Ask {
        cost: None,
        ..ask()
    };
    assert!(matches!(
        admit(&d, 0, no_price, 0, 0),
        Err(Refusal::PriceUnknown)
    ));
    assert_eq!(org.state.inflight.get(), 1);
}
