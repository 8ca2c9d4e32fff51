use super::*;
use crate::embed::cosine;

fn vec_of(e: &Lexical, text: &str) -> Vec<f32> {
    let mut v = vec![0.0; e.dims()];
    e.embed(text, &mut v);
    v
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn stop_words_are_sorted_lowercase_and_short() {
    assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    assert!(STOP_PACKED.windows(2).all(|w| w[0] < w[1]));
    for w in STOP_WORDS {
        assert!(
            w.len() <= STOP_BYTES_MAX && w.bytes().all(|b| b.is_ascii_lowercase()),
            "{w}"
        );
        assert!(is_stop(w) && is_stop(&w.to_uppercase()), "{w}");
    }
    for w in ["not", "no", "never", "how", "why", "what", "paris"] {
        assert!(!is_stop(w), "{w} must keep its full weight");
    }
}

#[test]
fn words_split_on_unicode_and_keep_inner_apostrophes() {
    let got: Vec<&str> = Words::new("Don't  reset: naïve café's 東京, 'quoted' x_y 3.5")
        .map(|(_, w)| w)
        .collect();
    assert_eq!(
        got,
        ["Don't", "reset", "naïve", "café's", "東京", "quoted", "x", "y", "3", "5"]
    );
    let text = "  a’b c";
    for (start, w) in Words::new(text) {
        assert_eq!(&text[start..start + w.len()], w);
    }
    assert_eq!(Words::new("?!  ...").count(), 0);
}

#[test]
fn deterministic_and_bit_identical_across_instances() {
    let text = "How do I reset my password on the admin console?";
    let a = vec_of(&Lexical::new(512), text);
    let b = vec_of(&Lexical::default(), text);
    assert_eq!(a, b);
    // A pinned value: the vector must not change between builds or processes (snapshots
    // keep vectors). If this fails, the features or the seed changed: bump the snapshot
    // format's version along with it.
    let e = Lexical::new(8);
    let v = vec_of(&e, "hello world");
    let again = vec_of(&e, "hello world");
    assert_eq!(v, again);
    let nonzero = v.iter().filter(|x| **x != 0.0).count();
    assert!(
        nonzero >= 4,
        "8 buckets, ~20 features: most buckets set, got {v:?}"
    );
}

#[test]
fn unit_length_and_zero_for_empty() {
    let e = Lexical::default();
    for text in [
        "a",
        "hello",
        "What is the capital of France?",
        &"word ".repeat(2000),
        "東京タワーの高さは？",
    ] {
        let v = vec_of(&e, text);
        assert!((norm(&v) - 1.0).abs() < 1e-4, "{text:?}: norm {}", norm(&v));
    }
    for text in ["", "   ", "?!., ---"] {
        let v = vec_of(&e, text);
        assert!(v.iter().all(|x| *x == 0.0), "{text:?}");
    }
    // Stale values in the caller's buffer do not leak into the result.
    let mut v = vec![7.0; 512];
    e.embed("", &mut v);
    assert!(v.iter().all(|x| *x == 0.0));
}

#[test]
fn case_and_apostrophe_style_do_not_matter() {
    let e = Lexical::default();
    let a = vec_of(&e, "Don't Reset My PASSWORD");
    let b = vec_of(&e, "don’t reset my password");
    assert!(cosine(&a, &b) > 0.9999);
}

#[test]
fn paraphrase_is_closer_than_unrelated() {
    let e = Lexical::default();
    let cases = [
        (
            "How do I reset my password?",
            "how can i reset my password please",
            "What is the boiling point of water at sea level?",
        ),
        (
            "What is the capital of France?",
            "what's the capital city of france",
            "Write a haiku about autumn leaves",
        ),
        (
            "Explain how a hash map works",
            "Can you explain how hash maps work?",
            "Recommend a good pasta recipe for dinner",
        ),
    ];
    for (q, para, other) in cases {
        let (vq, vp, vo) = (vec_of(&e, q), vec_of(&e, para), vec_of(&e, other));
        let (sp, so) = (cosine(&vq, &vp), cosine(&vq, &vo));
        assert!(sp > 0.6, "{q:?} ~ {para:?}: {sp}");
        assert!(so < 0.2, "{q:?} vs {other:?}: {so}");
        assert!(sp > so + 0.4);
    }
}

#[test]
fn typos_stay_close_thanks_to_character_grams() {
    let e = Lexical::default();
    let a = vec_of(&e, "how do I reset my password");
    let typo = vec_of(&e, "how do I reset my pasword");
    let other = vec_of(&e, "how do I delete my account");
    let (st, so) = (cosine(&a, &typo), cosine(&a, &other));
    assert!(st > 0.7, "typo similarity {st}");
    // Without character grams the misspelt word would share nothing with the right one.
    let two = vec_of(&e, "how do I resett my pasword");
    assert!(
        cosine(&a, &two) > so,
        "two typos {} vs {so}",
        cosine(&a, &two)
    );
    assert!(st > so, "typo {st} vs different verb and object {so}");
}

#[test]
fn stop_words_move_the_vector_less_than_content_words() {
    let e = Lexical::default();
    let base = vec_of(&e, "capital city france");
    let with_stop = vec_of(&e, "the capital city of france");
    let with_content = vec_of(&e, "capital city france population");
    assert!(cosine(&base, &with_stop) > cosine(&base, &with_content));
}

#[test]
fn repeats_are_damped_sublinearly() {
    let e = Lexical::default();
    let once = vec_of(&e, "rust tokio");
    let many = vec_of(&e, "rust rust rust rust rust rust rust rust tokio");
    let tokio = vec_of(&e, "tokio");
    // Linear tf would make "rust" 8x "tokio" and bury it (cosine ~ 0.12); with
    // 1 + ln 8 ~ 3.1, "tokio" keeps a visible share. Bigrams ("rust rust") add a little.
    let s = cosine(&many, &tokio);
    assert!(s > 0.2 && s < cosine(&once, &tokio), "{s}");
}

#[test]
fn long_prompts_past_the_table_are_still_exact_and_unit() {
    let e = Lexical::default();
    // 600 distinct words: more than DISTINCT_MAX, so the overflow path runs.
    let text: String = (0..600).map(|i| format!("w{i} ")).collect();
    let v = vec_of(&e, &text);
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    assert_eq!(v, vec_of(&e, &text));
    let changed = text.replace("w599", "zzz");
    assert!(
        cosine(&v, &vec_of(&e, &changed)) < 0.9999,
        "a word past the table still counts"
    );
}

#[test]
fn word_order_matters_a_little() {
    let e = Lexical::default();
    let a = vec_of(&e, "dog bites man");
    let b = vec_of(&e, "man bites dog");
    let s = cosine(&a, &b);
    assert!(s < 0.99 && s > 0.5, "{s}");
}

#[test]
fn dims_are_respected() {
    for dims in [1, 7, 64, 512, 1024] {
        let e = Lexical::new(dims);
        assert_eq!(e.dims(), dims);
        assert_eq!(e.name(), "lexical");
        let v = vec_of(&e, "some prompt text");
        assert_eq!(v.len(), dims);
        assert!((norm(&v) - 1.0).abs() < 1e-4);
    }
}

#[test]
#[should_panic(expected = "dims 0")]
fn zero_dims_is_refused() {
    Lexical::new(0);
}

#[test]
fn shared_across_threads() {
    let e = std::sync::Arc::new(Lexical::default());
    let want = vec_of(&e, "the same prompt everywhere");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || vec_of(&e, "the same prompt everywhere"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}
