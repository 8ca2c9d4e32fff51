//! Tests on real model directories written to a temp dir: a tokenizer.json in the Hugging
//! Face format and a model.safetensors assembled byte by byte.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use super::{LoadError, StaticModel, TOKENS_MAX};
use crate::embed::Embedder;

/// The test vocabulary, by id. Median length 3 characters, so prompts are cut at
/// `512 * 3` characters.
const VOCAB: [&str; 40] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cafe", "play", "##ing", "##ed", "un",
    "##believ", "##able", ",", ".", "!", "?", "hello", "world", "naive", "'", "s", "##s", "token",
    "##izer", "a", "b", "c", "##a", "##b", "##c", "中", "国", "resume", "$", "5", "##0", "cat",
    "dog", "-",
];
const DIMS: usize = 4;

fn id(token: &str) -> u32 {
    VOCAB.iter().position(|t| *t == token).unwrap() as u32
}

/// Row `i` of the test table: small integers, exact in every float dtype.
fn row(i: usize) -> [f32; DIMS] {
    [
        (i % 5) as f32,
        ((i * 7) % 3) as f32 - 1.0,
        1.0,
        (i % 2) as f32,
    ]
}

fn table(rows: usize) -> Vec<f32> {
    (0..rows).flat_map(row).collect()
}

/// A fresh empty directory under the system temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-model2vec-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tokenizer.json as `tokenizers` saves a BERT-uncased WordPiece model.
fn tokenizer_json() -> Value {
    let vocab: serde_json::Map<String, Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let added: Vec<Value> = (0..5)
        .map(|i| {
            json!({"id": i, "content": VOCAB[i], "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [], "special_tokens": {}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 20, "vocab": vocab}
    })
}

/// A tensor for [`safetensors`]: name, dtype, shape, little-endian bytes.
struct T {
    name: &'static str,
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f32s(name: &'static str, shape: Vec<usize>, v: &[f32]) -> T {
    let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    T {
        name,
        dtype: "F32",
        shape,
        bytes,
    }
}

/// The safetensors layout by hand: u64 LE header length, JSON header padded with spaces
/// to a multiple of 8 (as the reference writer does), then the tensors back to back.
fn safetensors(tensors: &[T]) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut offset = 0;
    for t in tensors {
        let end = offset + t.bytes.len();
        header.push_str(&format!(
            ",\"{}\":{{\"dtype\":\"{}\",\"shape\":{:?},\"data_offsets\":[{offset},{end}]}}",
            t.name, t.dtype, t.shape
        ));
        offset = end;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for t in tensors {
        out.extend_from_slice(&t.bytes);
    }
    out
}

fn write_model(dir: &Path, tokenizer: &Value, tensors: &[T], config: Option<&str>) {
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(dir.join("model.safetensors"), safetensors(tensors)).unwrap();
    if let Some(c) = config {
        std::fs::write(dir.join("config.json"), c).unwrap();
    }
}

fn model_with(tokenizer: &Value, tensors: &[T]) -> StaticModel {
    let dir = temp_dir();
    write_model(&dir, tokenizer, tensors, Some(r#"{"normalize": true}"#));
    let m = StaticModel::load(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    m
}

fn model() -> StaticModel {
    model_with(
        &tokenizer_json(),
        &[f32s("embeddings", vec![40, DIMS], &table(40))],
    )
}

fn ids(tokens: &[&str]) -> Vec<u32> {
    tokens.iter().map(|t| id(t)).collect()
}

fn embed(m: &StaticModel, text: &str) -> Vec<f32> {
    let mut out = vec![f32::NAN; m.dims()];
    m.embed(text, &mut out);
    out
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

fn unit(v: [f32; DIMS]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

#[test]
fn bert_uncased_tokenization_matches_hand_worked_ids() {
    let m = model();
    assert_eq!(m.name(), "static");
    assert_eq!((m.dims(), m.rows()), (DIMS, 40));
    // Lowercase, and punctuation split off as its own token.
    assert_eq!(
        m.tokenize("Hello, World!"),
        ids(&["hello", ",", "world", "!"])
    );
    // strip_accents follows lowercase when null: NFD, then nonspacing marks removed.
    assert_eq!(
        m.tokenize("Café NAÏVE résumé"),
        ids(&["cafe", "naive", "resume"])
    );
    // Greedy longest-match-first subwords.
    assert_eq!(
        m.tokenize("Playing played unbelievable tokenizers"),
        ids(&[
            "play", "##ing", "play", "##ed", "un", "##believ", "##able", "token", "##izer", "##s"
        ])
    );
    assert_eq!(
        m.tokenize("abc cab"),
        ids(&["a", "##b", "##c", "c", "##a", "##b"])
    );
    // ASCII symbols count as punctuation; digits split into pieces.
    assert_eq!(m.tokenize("$50-cat"), ids(&["$", "5", "##0", "-", "cat"]));
    // CJK ideographs are padded with spaces, so each is a word.
    assert_eq!(m.tokenize("中国"), ids(&["中", "国"]));
    // clean_text: tab and ideographic space are spaces, soft hyphen (Cf) and NUL vanish.
    assert_eq!(
        m.tokenize("hello\tworld\u{3000}th\u{ad}e\0"),
        ids(&["hello", "world", "the"])
    );
    // Apostrophes are punctuation too.
    assert_eq!(m.tokenize("cat's"), ids(&["cat", "'", "s"]));
}

#[test]
fn unknown_words_are_dropped_whole() {
    let m = model();
    // "helloq": "hello" matches but "##q" does not, so the whole word is [UNK], and
    // model2vec drops [UNK]: no partial "hello".
    assert_eq!(m.tokenize("xyz hello helloq"), ids(&["hello"]));
    // A word past max_input_chars_per_word (20) is [UNK] even though it could be spelled.
    assert_eq!(m.tokenize(&"a".repeat(20)).len(), 20);
    assert_eq!(m.tokenize(&"a".repeat(21)), Vec::<u32>::new());
    // Added tokens are matched in the raw text, before lowercasing: a literal [CLS]
    // gets its id, a literal [UNK] is dropped like any unknown token, and [mask] is
    // ordinary text ("[", "mask", "]": all unknown).
    assert_eq!(
        m.tokenize("[CLS] cat[SEP]"),
        ids(&["[CLS]", "cat", "[SEP]"])
    );
    assert_eq!(m.tokenize("hello [UNK] [mask]"), ids(&["hello"]));
    // Only unknown words: nothing to average, all zeros.
    assert_eq!(embed(&m, "xyz @@ ~~"), vec![0.0; DIMS]);
}

#[test]
fn empty_text_embeds_to_zeros() {
    let m = model();
    assert_eq!(embed(&m, ""), vec![0.0; DIMS]);
    assert_eq!(embed(&m, " \t\n "), vec![0.0; DIMS]);
}

#[test]
fn embedding_is_the_normalized_mean_of_rows() {
    let m = model();
    // hello = 17: [2, 1, 1, 1]; world = 18: [3, -1, 1, 0]. Mean [2.5, 0, 1, 0.5], which
    // normalizes like the sum [5, 0, 2, 1] (norm sqrt 30).
    assert_eq!(row(17), [2.0, 1.0, 1.0, 1.0]);
    assert_eq!(row(18), [3.0, -1.0, 1.0, 0.0]);
    let s = 30f32.sqrt();
    assert_close(&embed(&m, "Hello world"), &[5.0 / s, 0.0, 2.0 / s, 1.0 / s]);
    // A repeated token counts each time: hello hello world = [7, 1, 3, 2].
    assert_close(&embed(&m, "hello hello world"), &unit([7.0, 1.0, 3.0, 2.0]));
    // Unit length, deterministic, and insensitive to case and accents.
    let v = embed(&m, "Café naïve résumé, unbelievable tokenizers!");
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-6, "{norm}");
    assert_eq!(v, embed(&m, "CAFE NAIVE RESUME, UNBELIEVABLE TOKENIZERS!"));
}

#[test]
fn prompts_are_cut_at_the_character_and_token_limits() {
    let m = model();
    // 600 one-character words: 1,200 characters, under 512 * 3, so the token cap binds.
    assert_eq!(m.tokenize(&"a ".repeat(600)).len(), TOKENS_MAX);
    // "hello " is 6 characters: the first 1,536 hold 256 of them.
    assert_eq!(m.tokenize(&"hello ".repeat(600)).len(), 256);
}

#[test]
fn f16_bf16_i8_and_f64_tables_embed_like_f32() {
    let want = embed(&model(), "hello world, the cat");
    let t = table(40);
    let f16: Vec<u8> = t
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = t
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect();
    let i8s: Vec<u8> = t.iter().map(|&x| x as i8 as u8).collect();
    let f64s: Vec<u8> = t.iter().flat_map(|&x| (x as f64).to_le_bytes()).collect();
    for (dtype, bytes) in [("F16", f16), ("BF16", bf16), ("I8", i8s), ("F64", f64s)] {
        let m = model_with(
            &tokenizer_json(),
            &[T {
                name: "embeddings",
                dtype,
                shape: vec![40, DIMS],
                bytes,
            }],
        );
        assert_eq!(embed(&m, "hello world, the cat"), want, "{dtype}");
    }
}

#[test]
fn weights_scale_each_token_row() {
    let mut w = vec![1.0f32; 40];
    w[17] = 0.5;
    w[18] = 2.0;
    let m = model_with(
        &tokenizer_json(),
        &[
            f32s("embeddings", vec![40, DIMS], &table(40)),
            f32s("weights", vec![40], &w),
        ],
    );
    // 0.5 * [2, 1, 1, 1] + 2 * [3, -1, 1, 0] = [7, -1.5, 2.5, 0.5].
    assert_close(&embed(&m, "hello world"), &unit([7.0, -1.5, 2.5, 0.5]));
}

#[test]
fn mapping_picks_rows_of_a_quantized_vocabulary() {
    // Three rows; token i uses row i % 3, weighted like above.
    let rows = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 1.0],
    ];
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let mapping: Vec<u8> = (0..40i64).flat_map(|i| (i % 3).to_le_bytes()).collect();
    let mut w = vec![1.0f32; 40];
    w[17] = 0.5;
    w[18] = 2.0;
    let m = model_with(
        &tokenizer_json(),
        &[
            f32s("embeddings", vec![3, DIMS], &flat),
            f32s("weights", vec![40], &w),
            T {
                name: "mapping",
                dtype: "I64",
                shape: vec![40],
                bytes: mapping,
            },
        ],
    );
    assert_eq!(m.rows(), 3);
    // hello = 17 -> row 2, weight 0.5; world = 18 -> row 0, weight 2; cat = 37 -> row 1.
    assert_close(&embed(&m, "hello world cat"), &unit([2.0, 1.0, 0.5, 0.5]));
}

#[test]
fn sequence_normalizer_and_whitespace_pre_tokenizers() {
    let mut tok = tokenizer_json();
    tok["normalizer"] = json!({"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Lowercase"}]});
    tok["pre_tokenizer"] = json!({"type": "WhitespaceSplit"});
    let m = model_with(&tok, &[f32s("embeddings", vec![40, DIMS], &table(40))]);
    // Punctuation stays glued: "café," is cafe + "##," which does not exist: [UNK].
    assert_eq!(m.tokenize("Café, Naïve"), ids(&["naive"]));

    tok["pre_tokenizer"] = json!({"type": "Whitespace"});
    let m = model_with(&tok, &[f32s("embeddings", vec![40, DIMS], &table(40))]);
    // \w+|[^\w\s]+: runs of word characters and runs of other characters.
    assert_eq!(m.tokenize("Hello,World ..."), ids(&["hello", ",", "world"]));

    // A cased model: no lowercasing, so capitalized words are unknown.
    tok["normalizer"] = json!({"type": "BertNormalizer", "clean_text": true,
        "handle_chinese_chars": true, "strip_accents": null, "lowercase": false});
    tok["pre_tokenizer"] = json!({"type": "BertPreTokenizer"});
    let m = model_with(&tok, &[f32s("embeddings", vec![40, DIMS], &table(40))]);
    assert_eq!(m.tokenize("Hello hello café"), ids(&["hello"]));
}

#[test]
fn normalized_added_tokens_match_the_normalized_text() {
    let mut tok = tokenizer_json();
    tok["added_tokens"][4]["normalized"] = json!(true);
    let m = model_with(&tok, &[f32s("embeddings", vec![40, DIMS], &table(40))]);
    // "[MASK]" normalizes to "[mask]", and so does "[Mask]" in the text: one id. The raw
    // [CLS] still needs its exact spelling.
    assert_eq!(m.tokenize("[Mask] cat [cls]"), ids(&["[MASK]", "cat"]));
}

#[test]
fn config_max_length_truncates_before_unknown_tokens_are_dropped() {
    let dir = temp_dir();
    write_model(
        &dir,
        &tokenizer_json(),
        &good_tensors(),
        Some(r#"{"normalize": false, "max_length": 3}"#),
    );
    let m = StaticModel::load(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // Three ids are kept, then [UNK] is removed; prompts are first cut to 3 * 3 chars.
    assert_eq!(m.tokenize("a b c d"), ids(&["a", "b", "c"]));
    assert_eq!(m.tokenize("xyz a b c"), ids(&["a", "b"]));
    assert_eq!(m.tokenize("a b cat dog"), ids(&["a", "b", "cat"]));

    // The tokenizer.json's own truncation is overridden by max_length (512 by default).
    let mut tok = tokenizer_json();
    tok["truncation"] = json!({"direction": "Right", "max_length": 2,
                               "strategy": "LongestFirst", "stride": 0});
    let m = model_with(&tok, &good_tensors());
    assert_eq!(m.tokenize("a b c a").len(), 4);
}

/// Loads a directory written by `setup` and returns the error's message.
fn load_err(setup: impl FnOnce(&Path)) -> (LoadError, String) {
    let dir = temp_dir();
    setup(&dir);
    let err = StaticModel::load(&dir).err().expect("load should fail");
    let msg = err.to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    (err, msg)
}

fn good_tensors() -> Vec<T> {
    vec![f32s("embeddings", vec![40, DIMS], &table(40))]
}

#[test]
fn missing_files_name_the_file() {
    let (err, msg) = load_err(|_| {});
    assert!(matches!(err, LoadError::Io { .. }), "{msg}");
    assert!(
        msg.contains("tokenizer.json") && msg.contains("model.safetensors"),
        "{msg}"
    );

    let (err, msg) = load_err(|d| {
        std::fs::write(d.join("tokenizer.json"), tokenizer_json().to_string()).unwrap()
    });
    assert!(
        matches!(err, LoadError::Io { ref path, .. } if path.ends_with("model.safetensors")),
        "{msg}"
    );
}

#[test]
fn bad_json_is_reported_with_its_file() {
    let (err, msg) = load_err(|d| {
        write_model(d, &tokenizer_json(), &good_tensors(), None);
        std::fs::write(d.join("tokenizer.json"), "{\"model\": ").unwrap();
    });
    assert!(matches!(err, LoadError::Json { .. }), "{msg}");
    assert!(msg.contains("tokenizer.json: invalid JSON"), "{msg}");

    let (_, msg) = load_err(|d| write_model(d, &tokenizer_json(), &good_tensors(), Some("[1, 2")));
    assert!(msg.contains("config.json: invalid JSON"), "{msg}");
    let (_, msg) = load_err(|d| {
        write_model(
            d,
            &tokenizer_json(),
            &good_tensors(),
            Some(r#"{"normalize": "yes"}"#),
        )
    });
    assert!(
        msg.contains("config.json") && msg.contains("normalize"),
        "{msg}"
    );
    let (_, msg) = load_err(|d| {
        write_model(
            d,
            &tokenizer_json(),
            &good_tensors(),
            Some(r#"{"max_length": -1}"#),
        )
    });
    assert!(
        msg.contains("config.json") && msg.contains("max_length"),
        "{msg}"
    );
}

#[test]
fn unsupported_tokenizer_parts_are_named() {
    let cases: [(&str, Value, &str); 6] = [
        (
            "model",
            json!({"type": "BPE", "vocab": {}, "merges": []}),
            "model type \"BPE\"",
        ),
        (
            "normalizer",
            json!({"type": "Replace", "pattern": {"String": "a"}, "content": "b"}),
            "normalizer type \"Replace\"",
        ),
        (
            "pre_tokenizer",
            json!({"type": "Metaspace", "replacement": "▁"}),
            "pre_tokenizer type \"Metaspace\"",
        ),
        (
            "padding",
            json!({"strategy": {"Fixed": 8}, "pad_id": 0}),
            "\"padding\"",
        ),
        (
            "added_tokens",
            json!([{"id": 4, "content": "[MASK]", "lstrip": true}]),
            "added token \"[MASK]\" with lstrip: true",
        ),
        (
            "added_tokens",
            json!([{"id": 40, "content": "<extra>", "special": true}]),
            "added token \"<extra>\" outside the WordPiece vocab",
        ),
    ];
    for (key, value, want) in cases {
        let (err, msg) = load_err(|d| {
            let mut tok = tokenizer_json();
            tok[key] = value;
            write_model(d, &tok, &good_tensors(), None);
        });
        assert!(matches!(err, LoadError::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("tokenizer.json: unsupported") && msg.contains(want),
            "{msg}"
        );
    }
    let (err, msg) = load_err(|d| {
        let mut tok = tokenizer_json();
        tok["model"]["unk_token"] = json!("<unk>");
        write_model(d, &tok, &good_tensors(), None);
    });
    assert!(
        matches!(err, LoadError::Invalid { .. }) && msg.contains("\"<unk>\""),
        "{msg}"
    );
}

#[test]
fn shape_mismatches_are_refused() {
    let tok = tokenizer_json();
    let cases: Vec<(Vec<T>, &str)> = vec![
        (
            vec![f32s("embeddings", vec![39, DIMS], &table(39))],
            "39 rows but tokenizer.json has 40 tokens",
        ),
        (
            vec![f32s("embeddings", vec![40 * DIMS], &table(40))],
            "expected [rows, dims]",
        ),
        (
            vec![f32s("table", vec![40, DIMS], &table(40))],
            "no tensor \"embeddings\"",
        ),
        (
            vec![
                f32s("embeddings", vec![40, DIMS], &table(40)),
                f32s("weights", vec![39], &[1.0; 39]),
            ],
            "\"weights\" has shape [39]",
        ),
        (
            vec![
                f32s("embeddings", vec![3, DIMS], &table(3)),
                T {
                    name: "mapping",
                    dtype: "I64",
                    shape: vec![40],
                    bytes: (0..40i64).flat_map(|i| i.to_le_bytes()).collect(),
                },
            ],
            "\"mapping\" points past the 3 rows",
        ),
        (
            vec![T {
                name: "embeddings",
                dtype: "F32",
                shape: vec![40, DIMS + 1],
                bytes: table(40).iter().flat_map(|x| x.to_le_bytes()).collect(),
            }],
            "needs 800 bytes but data_offsets give 640",
        ),
        (
            vec![T {
                name: "embeddings",
                dtype: "F8_E4M3",
                shape: vec![40, DIMS],
                bytes: vec![0; 160],
            }],
            "unsupported dtype \"F8_E4M3\"",
        ),
    ];
    for (tensors, want) in cases {
        let (err, msg) = load_err(|d| write_model(d, &tok, &tensors, None));
        assert!(matches!(err, LoadError::Invalid { .. }), "{msg}");
        assert!(
            msg.contains("model.safetensors: ") && msg.contains(want),
            "{want}: {msg}"
        );
    }
    let mut t = table(40);
    t[9] = f32::NAN;
    let (_, msg) =
        load_err(|d| write_model(d, &tok, &[f32s("embeddings", vec![40, DIMS], &t)], None));
    assert!(msg.contains("row 2 holds a non-finite value"), "{msg}");
}

#[test]
fn truncated_files_are_refused() {
    let full = safetensors(&good_tensors());
    for (cut, want) in [
        (full.len() - 10, "outside the"),
        (20, "only 12 bytes follow"),
        (5, "shorter than the 8-byte header length"),
    ] {
        let (err, msg) = load_err(|d| {
            std::fs::write(d.join("tokenizer.json"), tokenizer_json().to_string()).unwrap();
            std::fs::write(d.join("model.safetensors"), &full[..cut]).unwrap();
        });
        assert!(matches!(err, LoadError::Invalid { .. }), "{msg}");
        assert!(
            msg.contains("model.safetensors: ") && msg.contains(want),
            "{want}: {msg}"
        );
    }
}

#[test]
#[should_panic(expected = "wrong length")]
fn a_wrong_output_length_panics() {
    model().embed("hello", &mut [0.0; DIMS + 1]);
}

#[test]
fn wide_tables_sum_in_blocks_like_a_naive_loop() {
    // 37 dims: one 32-column block and a 5-column tail; weights folded into the table.
    const WIDE: usize = 37;
    let value = |i: usize, c: usize| ((i * 31 + c * 7) % 11) as f32 - 5.0;
    let t: Vec<f32> = (0..40)
        .flat_map(|i| (0..WIDE).map(move |c| value(i, c)))
        .collect();
    let w: Vec<f32> = (0..40).map(|i| 0.25 * (i % 4 + 1) as f32).collect();
    let m = model_with(
        &tokenizer_json(),
        &[
            f32s("embeddings", vec![40, WIDE], &t),
            f32s("weights", vec![40], &w),
        ],
    );
    let text = "the cat, the dog! unbelievable";
    let mut want = [0f32; WIDE];
    for id in m.tokenize(text) {
        let i = id as usize;
        for (c, x) in want.iter_mut().enumerate() {
            *x += w[i] * value(i, c);
        }
    }
    let n = want.iter().map(|x| x * x).sum::<f32>().sqrt();
    let want: Vec<f32> = want.iter().map(|x| x / n).collect();
    assert_eq!(m.tokenize(text).len(), 9);
    assert_close(&embed(&m, text), &want);
}
