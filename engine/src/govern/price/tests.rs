use proptest::prelude::*;

use super::*;

fn usage(input: u64, cache_read: u64, cache_write: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
    }
}

#[test]
fn per_mtok_converts_exactly_and_defaults() {
    let p = Price::per_mtok(2.5, 10.0, None, None, None).unwrap();
    assert_eq!(
        p,
        Price {
            input: 2_500_000,
            output: 10_000_000,
            cache_read: 2_500_000,
            cache_write: 2_500_000,
            reasoning: 10_000_000
        }
    );
    let p = Price::per_mtok(0.075, 0.3, Some(0.0075), Some(0.09375), Some(0.6)).unwrap();
    assert_eq!(
        p,
        Price {
            input: 75_000,
            output: 300_000,
            cache_read: 7_500,
            cache_write: 93_750,
            reasoning: 600_000
        }
    );
    assert_eq!(
        Price::per_mtok(0.0, 0.0, None, None, None).unwrap().input,
        0
    );
    assert_eq!(
        Price::per_mtok(USD_PER_MTOK_MAX, 1.0, None, None, None)
            .unwrap()
            .input,
        10_000_000_000
    );
}

#[test]
fn per_mtok_refuses_bad_numbers_and_names_them() {
    for (args, needle) in [
        ((-1.0, 1.0, None, None, None), "input"),
        ((1.0, f64::NAN, None, None, None), "output"),
        ((1.0, 1.0, Some(f64::INFINITY), None, None), "cache read"),
        ((1.0, 1.0, None, Some(-0.5), None), "cache write"),
        ((1.0, 1.0, None, None, Some(10_000.01)), "reasoning"),
        ((20_000.0, 1.0, None, None, None), "input"),
    ] {
        let err = Price::per_mtok(args.0, args.1, args.2, args.3, args.4).unwrap_err();
        assert!(err.starts_with(needle), "{err}");
    }
    // A defaulted member inherits its source's check.
    assert!(Price::per_mtok(1.0, f64::NAN, None, None, None).is_err());
}

#[test]
fn builtin_matches_exact_names_and_date_or_version_suffixes() {
    use ProviderKind::*;
    let sonnet = Price::per_mtok(3.0, 15.0, Some(0.3), Some(3.75), None).unwrap();
    let gpt4o = Price::per_mtok(2.5, 10.0, Some(1.25), None, None).unwrap();
    let mini = Price::per_mtok(0.15, 0.6, Some(0.075), None, None).unwrap();
    let nova = Price::per_mtok(0.8, 3.2, None, None, None).unwrap();
    for (kind, model, want) in [
        (OpenAi, "gpt-4o", gpt4o),
        (OpenAi, "gpt-4o-2024-08-06", gpt4o),
        (AzureOpenAi, "gpt-4o", gpt4o),
        (OpenAi, "gpt-4o-mini", mini),
        (OpenAi, "gpt-4o-mini-2024-07-18", mini),
        (Anthropic, "claude-sonnet-4-5", sonnet),
        (Anthropic, "claude-sonnet-4-5-20250929", sonnet),
        (Anthropic, "claude-sonnet-4-20250514", sonnet),
        (Anthropic, "claude-sonnet-4-0", sonnet),
        (Anthropic, "claude-3-7-sonnet-latest", sonnet),
        (Anthropic, "claude-3-7-sonnet@20250219", sonnet),
        (Bedrock, "anthropic.claude-sonnet-4-5-20250929-v1:0", sonnet),
        (
            Bedrock,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            sonnet,
        ),
        (
            Bedrock,
            "eu.anthropic.claude-sonnet-4-20250514-v1:0",
            sonnet,
        ),
        (
            Bedrock,
            "apac.anthropic.claude-3-7-sonnet-20250219-v1:0",
            sonnet,
        ),
        (
            Bedrock,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            sonnet,
        ),
        (Bedrock, "amazon.nova-pro-v1:0", nova),
        (Bedrock, "us.amazon.nova-pro-v1:0", nova),
        (OpenAiCompatible, "gpt-4o", gpt4o),
    ] {
        assert_eq!(builtin(kind, model), Some(want), "{kind:?} {model}");
    }
    // Longest prefix: the Opus 4.1 id is not priced as Opus 4, nor Haiku 4.5 as anything else.
    let opus41 = Price::per_mtok(15.0, 75.0, Some(1.5), Some(18.75), None).unwrap();
    assert_eq!(
        builtin(Bedrock, "anthropic.claude-opus-4-1-20250805-v1:0"),
        Some(opus41)
    );
    let opus45 = Price::per_mtok(5.0, 25.0, Some(0.5), Some(6.25), None).unwrap();
    assert_eq!(builtin(Anthropic, "claude-opus-4-5-20251101"), Some(opus45));
    assert_eq!(
        builtin(Gemini, "gemini-2.0-flash-001"),
        Some(Price::per_mtok(0.1, 0.4, Some(0.025), None, None).unwrap())
    );
    assert_eq!(
        builtin(OpenAiCompatible, "mistral-large-2411"),
        Some(Price::per_mtok(2.0, 6.0, None, None, None).unwrap())
    );
    assert_eq!(
        builtin(OpenAiCompatible, "deepseek-reasoner"),
        Some(Price::per_mtok(0.28, 0.42, Some(0.028), None, None).unwrap())
    );
}

#[test]
fn unknown_models_have_no_price() {
    use ProviderKind::*;
    for (kind, model) in [
        (OpenAi, "gpt-4o-foo"),
        (OpenAi, "gpt-4o-mini-tts"),
        (OpenAi, "gpt-5.1-preview"),
        // A new minor version must not be priced as its predecessor.
        (Anthropic, "claude-sonnet-4-6-20260101"),
        (Anthropic, "claude-sonnet"),
        (Anthropic, "gpt-4o"),
        (OpenAi, "claude-sonnet-4-5"),
        (OpenAi, "deepseek-chat"),
        (Bedrock, "claude-sonnet-4-5"),
        (Bedrock, "xx.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        (Gemini, "gemini-2.5-flash-preview-09-2025"),
        (OpenAiCompatible, "llama-3.3-70b"),
        (OpenAiCompatible, "mistral/mistral-large-latest"),
        (Demo, "gpt-4o"),
        (OpenAi, ""),
    ] {
        assert_eq!(builtin(kind, model), None, "{kind:?} {model}");
    }
}

#[test]
fn kind_decides_which_list_a_name_is_looked_up_in() {
    // The same name through an OpenAI-compatible proxy finds the vendor's price; the
    // native kinds see only their own list.
    let sonnet = builtin(ProviderKind::Anthropic, "claude-sonnet-4-5");
    assert!(sonnet.is_some());
    assert_eq!(
        builtin(ProviderKind::OpenAiCompatible, "claude-sonnet-4-5"),
        sonnet
    );
    assert_eq!(builtin(ProviderKind::Gemini, "claude-sonnet-4-5"), None);
}

#[test]
fn every_table_entry_finds_itself_and_is_sane() {
    for (vendor, list) in TABLE {
        let kind = match vendor {
            Vendor::OpenAi => ProviderKind::OpenAi,
            Vendor::Anthropic => ProviderKind::Anthropic,
            Vendor::Gemini => ProviderKind::Gemini,
            Vendor::Bedrock => ProviderKind::Bedrock,
            Vendor::Mistral | Vendor::DeepSeek => ProviderKind::OpenAiCompatible,
        };
        for (name, price) in list {
            assert_eq!(builtin(kind, name), Some(*price), "{name}");
            assert!(price.input > 0, "{name}: a built-in price is never zero");
            assert!(price.cache_read <= price.input, "{name}");
            assert!(price.cache_write >= price.input, "{name}");
            assert_eq!(price.reasoning, price.output, "{name}");
            // Suffixed forms resolve to the same entry.
            assert_eq!(
                builtin(kind, &format!("{name}-20250101")),
                Some(*price),
                "{name}"
            );
        }
    }
}

#[test]
fn version_suffixes() {
    for ok in [
        "-20250929",
        "-2024-08-06",
        "-latest",
        "-001",
        "-0613",
        "-2411",
        "@20250219",
        "-20250929-v1:0",
        "-v1:0",
        "-v2",
        "-latest-v1",
    ] {
        assert!(is_version_suffix(ok), "{ok}");
    }
    for bad in [
        "",
        "-",
        "-mini",
        "-5-20250929",
        "-1",
        "-12",
        "-12345",
        "-2024-8-06",
        ".1",
        "-preview",
        "-v",
        "-v1:",
        "-20250929-v1:x",
        "20250929",
        "-latest2",
    ] {
        assert!(!is_version_suffix(bad), "{bad}");
    }
}

#[test]
fn cost_is_exact_for_known_usage() {
    // claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write.
    let p = builtin(ProviderKind::Anthropic, "claude-sonnet-4-5").unwrap();
    let u = usage(1_000, 2_000, 300, 500, 200);
    // 1000·3e6 + 2000·3e5 + 300·3.75e6 + 300·15e6 + 200·15e6 pUSD = $0.012225.
    assert_eq!(cost(&p, &u), 12_225_000_000);
    // Reasoning at its own price: only the reasoning part changes.
    let p = Price {
        reasoning: 20_000_000,
        ..p
    };
    assert_eq!(cost(&p, &u), 12_225_000_000 + 200 * 5_000_000);
    // Reasoning reported above output is capped at output.
    assert_eq!(cost(&p, &usage(0, 0, 0, 10, 50)), 10 * 20_000_000);
    assert_eq!(cost(&p, &Usage::default()), 0);
}

#[test]
fn cost_and_worst_case_saturate() {
    let p = Price::per_mtok(10_000.0, 10_000.0, None, None, None).unwrap();
    assert_eq!(cost(&p, &usage(u64::MAX, 0, 0, 0, 0)), u64::MAX);
    assert_eq!(
        cost(&p, &usage(u64::MAX / 2, u64::MAX / 2, 0, 1, 0)),
        u64::MAX
    );
    assert_eq!(worst_case(&p, u64::MAX, 1), u64::MAX);
    assert_eq!(worst_case(&p, 1_000, 1_000), 2_000 * 10_000_000_000);
}

#[test]
fn worst_case_uses_the_dearest_prices() {
    let p = Price {
        input: 3,
        output: 15,
        cache_read: 1,
        cache_write: 4,
        reasoning: 20,
    };
    assert_eq!(worst_case(&p, 10, 10), 10 * 4 + 10 * 20);
}

proptest! {
    /// The reservation always covers the final charge for usage within its bounds.
    #[test]
    fn worst_case_covers_cost(
        prices in proptest::array::uniform5(0u64..20_000_000_000),
        prompt in 0u64..2_000_000,
        output in 0u64..200_000,
        split in proptest::array::uniform4(0.0f64..=1.0),
    ) {
        let p = Price {
            input: prices[0], output: prices[1], cache_read: prices[2],
            cache_write: prices[3], reasoning: prices[4],
        };
        let cache_read = (prompt as f64 * split[0]) as u64;
        let cache_write = ((prompt - cache_read) as f64 * split[1]) as u64;
        let input = ((prompt - cache_read - cache_write) as f64 * split[2]) as u64;
        let out = (output as f64 * split[3]) as u64;
        let u = usage(input, cache_read, cache_write, out, out / 2);
        prop_assert!(u.prompt_total() <= prompt);
        prop_assert!(worst_case(&p, prompt, output) >= cost(&p, &u));
    }
}
