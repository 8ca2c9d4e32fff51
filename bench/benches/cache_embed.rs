//! The semantic cache's per-lookup CPU before the index: the `lexical` and `static`
//! embedders and the precision guard.
//!
//! Run: `cargo bench -p sluice-bench --bench cache_embed -- --warm-up-time 1 --measurement-time 3`.
//! Before criterion starts, the binary counts allocations (the `Counting` global
//! allocator) and fails if one `Lexical::embed` allocates: the embedder runs on every
//! semantic lookup, on every core. It prints the guard's count too (zero for prompts with
//! fewer than `BAG_INLINE` features of each kind).
//!
//! - `lexical/20w`, `lexical/100w`: embed a 20-word and a 100-word prompt, 512 dims
//!   (the target: under 5 µs for 100 words).
//! - `guard/near-miss`: `guard::check` on "capital of France" vs "capital of Germany"
//!   style prompts that pass every rule up to names; `guard/pass-100w` on a 100-word
//!   prompt against a paraphrase of itself (every rule runs to the end).
//! - `cosine/512`: the similarity of two 512-dim vectors, for scale.
//! - `static/20w`, `static/100w`: the model2vec embedder on a synthetic model written to a
//!   temp dir (30,000-token WordPiece vocabulary, 256 dims, F32 like potion-base-8M's
//!   shape): the prompts' words are in the vocabulary, a few only as pieces
//!   (`book ##ings`), the rest of the vocabulary is filler; BERT's five special tokens
//!   are added tokens, as in potion-base-8M. The allocation check runs on
//!   a thread whose scratch buffers are already warm.

use std::hint::black_box;

use std::path::{Path, PathBuf};

use cache::embed::{cosine, Embedder, Lexical, StaticModel};
use cache::guard;
use criterion::{criterion_group, criterion_main, Criterion};
use sluice_bench::allocations;

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

const PROMPT_20W: &str = "How do I configure the connection pool size and timeout for a Postgres \
    database in a small web service?";

const PROMPT_100W: &str = "Our team is planning a small offsite for twelve people next month. We \
    need a venue within an hour of the city, with a meeting room, decent food and a few outdoor \
    activities. The budget is around four hundred dollars per person for two nights. Could you \
    suggest three kinds of places we should look at, explain the trade-offs of each, and list the \
    questions we should ask the venues before we sign anything? Please keep the answer short and \
    practical, and mention anything that usually goes wrong with group bookings like ours so that \
    we can plan around it early.";

const NEAR_A: &str = "What is the capital of France, and how many people live there?";
const NEAR_B: &str = "What is the capital of Germany, and how many people live there?";

/// Vocabulary and table of the synthetic static model.
const STATIC_VOCAB: usize = 30_000;
const STATIC_DIMS: usize = 256;

/// Words of the prompts that the synthetic vocabulary holds only as pieces.
const SPLIT: &[(&str, &[&str])] = &[
    ("bookings", &["book", "##ings"]),
    ("venues", &["venue", "##s"]),
    ("outdoor", &["out", "##door"]),
    ("activities", &["activ", "##ities"]),
    ("practical", &["practic", "##al"]),
    ("configure", &["config", "##ure"]),
];

/// Writes a model2vec directory (tokenizer.json in the Hugging Face format, and
/// model.safetensors by hand) whose vocabulary covers the bench prompts.
fn write_static_model() -> PathBuf {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .map(String::from)
        .to_vec();
    let push = |t: &str, vocab: &mut Vec<String>| {
        if !vocab.iter().any(|v| v == t) {
            vocab.push(t.to_owned());
        }
    };
    for c in ".,?!-'".chars() {
        push(&c.to_string(), &mut vocab);
    }
    for w in [PROMPT_20W, PROMPT_100W].iter().flat_map(|p| {
        p.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
    }) {
        match SPLIT.iter().find(|(word, _)| *word == w) {
            Some((_, pieces)) => pieces.iter().for_each(|p| push(p, &mut vocab)),
            None => push(&w, &mut vocab),
        }
    }
    let mut i = 0;
    while vocab.len() < STATIC_VOCAB {
        let filler = if i % 3 == 0 {
            format!("##q{i}")
        } else {
            format!("filler{i}")
        };
        push(&filler, &mut vocab);
        i += 1;
    }
    let vocab_json: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), serde_json::json!(id)))
        .collect();
    // BERT's special tokens, as potion-base-8M's tokenizer.json lists them: matched in
    // the raw text on every call (a memchr for '[').
    let added: Vec<serde_json::Value> = (0..5)
        .map(|id| {
            serde_json::json!({"id": id, "content": vocab[id], "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab_json}
    });
    // xorshift64: a fixed, dependency-free table.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut data = Vec::with_capacity(STATIC_VOCAB * STATIC_DIMS * 4);
    for _ in 0..STATIC_VOCAB * STATIC_DIMS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut header = format!(
        "{{\"embeddings\":{{\"dtype\":\"F32\",\"shape\":[{STATIC_VOCAB},{STATIC_DIMS}],\"data_offsets\":[0,{}]}}}}",
        data.len()
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    let dir = std::env::temp_dir().join(format!("sluice-bench-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(dir.join("model.safetensors"), file).unwrap();
    dir
}

fn load_static(dir: &Path) -> StaticModel {
    let began = std::time::Instant::now();
    let m = StaticModel::load(dir).unwrap();
    println!(
        "static: loaded {} x {} in {:.0} ms",
        m.rows(),
        m.dims(),
        began.elapsed().as_secs_f64() * 1e3
    );
    for (name, p) in [("20w", PROMPT_20W), ("100w", PROMPT_100W)] {
        let ids = m.tokenize(p);
        assert!(
            ids.len() > words(p),
            "the prompts' words are in the vocabulary"
        );
        println!("static/{name}: {} tokens", ids.len());
    }
    m
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

fn check_allocations() {
    let e = Lexical::default();
    let mut out = vec![0.0f32; e.dims()];
    for (name, p) in [("20w", PROMPT_20W), ("100w", PROMPT_100W)] {
        e.embed(p, &mut out);
        let n = allocations(|| e.embed(black_box(p), &mut out));
        println!(
            "lexical/{name} ({} words): {n} allocations per embed",
            words(p)
        );
        assert_eq!(n, 0, "Lexical::embed must not allocate");
    }
    let paraphrase = PROMPT_100W.replace("Could you", "Can you");
    let n = allocations(|| {
        black_box(guard::check(black_box(NEAR_A), black_box(NEAR_B)).ok());
    });
    println!(
        "guard/near-miss: {n} allocations per check (refused: {:?})",
        guard::check(NEAR_A, NEAR_B)
    );
    let n = allocations(|| {
        black_box(guard::check(black_box(PROMPT_100W), black_box(&paraphrase)).ok());
    });
    println!(
        "guard/pass-100w: {n} allocations per check ({:?})",
        guard::check(PROMPT_100W, &paraphrase)
    );
}

fn check_static_allocations(m: &StaticModel) {
    let mut out = vec![0.0f32; m.dims()];
    for (name, p) in [("20w", PROMPT_20W), ("100w", PROMPT_100W)] {
        m.embed(p, &mut out);
        let n = allocations(|| m.embed(black_box(p), &mut out));
        println!("static/{name}: {n} allocations per embed (warm thread)");
        assert_eq!(
            n, 0,
            "StaticModel::embed must not allocate on a warm thread"
        );
    }
}

fn bench(c: &mut Criterion) {
    check_allocations();
    let dir = write_static_model();
    let model = load_static(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    check_static_allocations(&model);
    let e = Lexical::default();
    let mut out = vec![0.0f32; e.dims()];
    let mut g = c.benchmark_group("lexical");
    g.bench_function("20w", |b| {
        b.iter(|| e.embed(black_box(PROMPT_20W), black_box(&mut out)))
    });
    g.bench_function("100w", |b| {
        b.iter(|| e.embed(black_box(PROMPT_100W), black_box(&mut out)))
    });
    g.finish();

    let paraphrase = PROMPT_100W.replace("Could you", "Can you");
    let mut g = c.benchmark_group("guard");
    g.bench_function("near-miss", |b| {
        b.iter(|| guard::check(black_box(NEAR_A), black_box(NEAR_B)))
    });
    g.bench_function("pass-100w", |b| {
        b.iter(|| guard::check(black_box(PROMPT_100W), black_box(&paraphrase)))
    });
    g.finish();

    let mut out = vec![0.0f32; model.dims()];
    let mut g = c.benchmark_group("static");
    g.bench_function("20w", |b| {
        b.iter(|| model.embed(black_box(PROMPT_20W), black_box(&mut out)))
    });
    g.bench_function("100w", |b| {
        b.iter(|| model.embed(black_box(PROMPT_100W), black_box(&mut out)))
    });
    g.finish();

    let (mut va, mut vb) = (vec![0.0f32; 512], vec![0.0f32; 512]);
    e.embed(NEAR_A, &mut va);
    e.embed(NEAR_B, &mut vb);
    c.bench_function("cosine/512", |b| {
        b.iter(|| cosine(black_box(&va), black_box(&vb)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
