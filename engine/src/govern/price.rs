//! Token prices and the cost of a usage record, in integer picodollars.
//!
//! Why picodollars: the cheapest prices are fractions of a cent per million tokens
//! ($0.005/Mtok is 5,000 pUSD per token), so an integer unit that small keeps every built-in
//! price exact, and a `u64` still holds 18 million dollars. Arithmetic saturates: a bogus
//! usage record can make a cost absurd, never wrap to a small one.
//!
//! The built-in table ([`builtin`]) prices the current models of each provider family;
//! configuration overrides it per deployment ([`Price::per_mtok`] validates those). A model
//! the table does not know has **no** price (`None`), never a zero one: the caller refuses
//! budgeted requests it cannot cost (logging $0 for custom-priced models is a bug users
//! reported against LiteLLM).
//!
//! Invariant: [`worst_case`]`(p, prompt, output) >= `[`cost`]`(p, u)` for every usage `u`
//! with `u.prompt_total() <= prompt` and `u.output <= output` — the reservation covers the
//! final charge.

use proto::chat::Usage;

use crate::config::ProviderKind;

pub use super::budget::Pusd;

/// Picodollars per token for one USD per million tokens.
const PUSD_PER_TOKEN_PER_USD_MTOK: f64 = 1e6;
/// The largest accepted price, USD per million tokens: far above any real price, low
/// enough that a typo (a price per token entered as per Mtok is a smaller number, but a
/// price per *billion* is not) is refused.
pub const USD_PER_MTOK_MAX: f64 = 10_000.0;

/// Per-token prices in picodollars. $2.50 per million tokens = 2.5e-6 USD per token =
/// 2,500,000 pUSD per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    /// Prompt tokens neither read from nor written to a cache.
    pub input: Pusd,
    /// Generated tokens that are not reasoning.
    pub output: Pusd,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: Pusd,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: Pusd,
    /// Generated reasoning tokens.
    pub reasoning: Pusd,
}

impl Price {
    /// From USD per million tokens; `cache_read`, `cache_write` and `reasoning` default
    /// to `input`, `input` and `output`. Refuses negative, NaN, infinite, or more than
    /// [`USD_PER_MTOK_MAX`].
    pub fn per_mtok(
        input: f64,
        output: f64,
        cache_read: Option<f64>,
        cache_write: Option<f64>,
        reasoning: Option<f64>,
    ) -> Result<Price, String> {
        let conv = |what: &str, usd: f64| -> Result<Pusd, String> {
            if !(0.0..=USD_PER_MTOK_MAX).contains(&usd) {
                return Err(format!(
                    "{what} price {usd} USD per million tokens is not between 0 and \
                     {USD_PER_MTOK_MAX}"
                ));
            }
            // Rounded: 0.075 × 1e6 is 75000.00000000001 in binary floating point.
            Ok((usd * PUSD_PER_TOKEN_PER_USD_MTOK).round() as Pusd)
        };
        Ok(Price {
            input: conv("input", input)?,
            output: conv("output", output)?,
            cache_read: conv("cache read", cache_read.unwrap_or(input))?,
            cache_write: conv("cache write", cache_write.unwrap_or(input))?,
            reasoning: conv("reasoning", reasoning.unwrap_or(output))?,
        })
    }

    /// A built-in price, exact: arguments in thousandths of a USD per million tokens
    /// (input, output, cache read, cache write); reasoning at the output price.
    const fn table(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Price {
        // $0.001 per Mtok = 1e-9 USD per token = 1,000 pUSD per token.
        const PUSD_PER_MILLI_USD_MTOK: Pusd = 1_000;
        Price {
            input: input * PUSD_PER_MILLI_USD_MTOK,
            output: output * PUSD_PER_MILLI_USD_MTOK,
            cache_read: cache_read * PUSD_PER_MILLI_USD_MTOK,
            cache_write: cache_write * PUSD_PER_MILLI_USD_MTOK,
            reasoning: output * PUSD_PER_MILLI_USD_MTOK,
        }
    }
}

/// Cost of a usage record: `input·p_in + cache_read·p_cr + cache_write·p_cw +
/// (output − reasoning)·p_out + reasoning·p_reasoning` (output includes reasoning; a
/// reported `reasoning` above `output` is taken as `output`). Saturating.
pub fn cost(p: &Price, u: &Usage) -> Pusd {
    let reasoning = u.reasoning.min(u.output);
    [
        (u.input, p.input),
        (u.cache_read, p.cache_read),
        (u.cache_write, p.cache_write),
        (u.output - reasoning, p.output),
        (reasoning, p.reasoning),
    ]
    .into_iter()
    .fold(0, |acc: Pusd, (n, price)| {
        acc.saturating_add(n.saturating_mul(price))
    })
}

/// The reservation for a request of `prompt` prompt tokens and at most `output` output
/// tokens: every prompt token at the dearest prompt price (input, cache read or cache
/// write; cache read is never the dearest in practice, but an override could make it so)
/// and every output token at the dearer of output and reasoning. Saturating.
pub fn worst_case(p: &Price, prompt: u64, output: u64) -> Pusd {
    let prompt_price = p.input.max(p.cache_write).max(p.cache_read);
    let output_price = p.output.max(p.reasoning);
    prompt
        .saturating_mul(prompt_price)
        .saturating_add(output.saturating_mul(output_price))
}

/// Whose price list an entry is from; the provider kind picks which lists it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vendor {
    OpenAi,
    Anthropic,
    Gemini,
    Mistral,
    DeepSeek,
    /// Model ids as AWS Bedrock names them (Anthropic and Amazon models).
    Bedrock,
}

/// The vendors whose names a provider kind's models are looked up in, in order of
/// preference: when two lists have the same name, the earlier vendor wins.
fn vendors(kind: ProviderKind) -> &'static [Vendor] {
    use Vendor::*;
    match kind {
        // Azure's global-standard deployments are priced as OpenAI's list.
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi => &[OpenAi],
        ProviderKind::Anthropic => &[Anthropic],
        ProviderKind::Gemini => &[Gemini],
        ProviderKind::Bedrock => &[Bedrock],
        // Hosted Mistral and DeepSeek speak OpenAI's API; so do proxies of the others.
        ProviderKind::OpenAiCompatible => &[Mistral, DeepSeek, OpenAi, Gemini, Anthropic],
        // The demo provider has no price: configure one to budget it.
        ProviderKind::Demo => &[],
    }
}

/// The built-in price of `upstream_model` on a provider of `kind`, or `None` when the
/// table does not know it. Matching: the exact name, else the longest table name that the
/// model's name extends by a date or version suffix only (`gpt-4o-2024-08-06`,
/// `claude-sonnet-4-5-20250929`, `claude-3-7-sonnet-latest`, `gemini-2.0-flash-001`,
/// `anthropic.claude-sonnet-4-5-20250929-v1:0`, `amazon.nova-pro-v1:0`). Bedrock
/// cross-region inference-profile prefixes (`us.`, `eu.`, `apac.`, `global.`) are
/// stripped first. A routing prefix (`mistral/…`) is not: configure such names.
pub fn builtin(kind: ProviderKind, upstream_model: &str) -> Option<Price> {
    let mut name = upstream_model;
    if kind == ProviderKind::Bedrock {
        for profile in ["us.", "eu.", "apac.", "global."] {
            if let Some(rest) = name.strip_prefix(profile) {
                name = rest;
                break;
            }
        }
    }
    let mut vendors = vendors(kind);
    if kind == ProviderKind::Bedrock {
        // Bedrock sells Anthropic's models at Anthropic's list prices.
        if let Some(rest) = name.strip_prefix("anthropic.") {
            name = rest;
            vendors = &[Vendor::Anthropic];
        }
    }
    for &vendor in vendors {
        let Some(&(_, list)) = TABLE.iter().find(|(v, _)| *v == vendor) else {
            continue;
        };
        if let Some(&(_, price)) = list.iter().find(|(n, _)| *n == name) {
            return Some(price);
        }
        let longest = list
            .iter()
            .filter(|(n, _)| name.strip_prefix(n).is_some_and(is_version_suffix))
            .max_by_key(|(n, _)| n.len());
        if let Some(&(_, price)) = longest {
            return Some(price);
        }
    }
    None
}

/// A date or version suffix: a separator (`-` or `@`), then a date (`20250929`,
/// `2024-08-06`), `latest`, or a 3–4 digit snapshot number (`001`, `0613`, `2411`), each
/// optionally followed by `-v<major>[:<minor>]`; or the `-v<major>[:<minor>]` alone.
/// Deliberately narrow: `gpt-4o` + `-mini` is a different model, and so is
/// `claude-sonnet-4` + `-5-20250929` (a one-digit "version" would price a new model as an
/// old one).
fn is_version_suffix(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('@')) else {
        return false;
    };
    if bedrock_version(rest) {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (head, tail) = match rest.find("-v") {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let date_or_snapshot = head == "latest"
        || (digits(head) && matches!(head.len(), 3 | 4 | 8))
        || (head.len() == 10
            && head.split('-').map(str::len).eq([4, 2, 2])
            && head.split('-').all(digits));
    date_or_snapshot && tail.is_none_or(bedrock_version)
}

/// `v<digits>` optionally followed by `:<digits>`.
fn bedrock_version(s: &str) -> bool {
    let Some(v) = s.strip_prefix('v') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match v.split_once(':') {
        Some((major, minor)) => digits(major) && digits(minor),
        None => digits(v),
    }
}

// Prices in thousandths of a USD per million tokens — (input, output, cache read, cache
// write) — so every listed price is an exact integer: $2.50 → 2_500, $0.075 → 75,
// $0.005 → 5. Reasoning tokens are billed as output by every vendor listed.
//
// The dates are those of the author's knowledge of each price list (no page was fetched
// when writing this table); re-check against the URL before relying on a price.

/// OpenAI — https://openai.com/api/pricing/ (and platform.openai.com/docs/pricing),
/// standard tier, as known in 2025-08/2025-10. OpenAI bills no cache writes: cache write =
/// input.
const OPENAI: [(&str, Price); 15] = [
    ("gpt-5", Price::table(1_250, 10_000, 125, 1_250)),
    ("gpt-5-mini", Price::table(250, 2_000, 25, 250)),
    ("gpt-5-nano", Price::table(50, 400, 5, 50)),
    ("gpt-4.1", Price::table(2_000, 8_000, 500, 2_000)),
    ("gpt-4.1-mini", Price::table(400, 1_600, 100, 400)),
    ("gpt-4.1-nano", Price::table(100, 400, 25, 100)),
    ("gpt-4o", Price::table(2_500, 10_000, 1_250, 2_500)),
    ("gpt-4o-mini", Price::table(150, 600, 75, 150)),
    // o3 after the June 2025 price cut.
    ("o3", Price::table(2_000, 8_000, 500, 2_000)),
    ("o4-mini", Price::table(1_100, 4_400, 275, 1_100)),
    ("o3-mini", Price::table(1_100, 4_400, 550, 1_100)),
    ("o1", Price::table(15_000, 60_000, 7_500, 15_000)),
    // Embeddings: input only; output is never billed (and never produced).
    ("text-embedding-3-small", Price::table(20, 0, 20, 20)),
    ("text-embedding-3-large", Price::table(130, 0, 130, 130)),
    ("text-embedding-ada-002", Price::table(100, 0, 100, 100)),
];

/// Anthropic — https://www.anthropic.com/pricing#api (docs.claude.com "Pricing"), as
/// known in 2025-11. Cache write is the 5-minute write (1.25× input; 1-hour writes are 2×
/// and are not priced here), cache read 0.1× input. Sonnet 4 / 4.5 bill prompts over
/// 200k tokens at a higher tier (6 / 22.50); this table has the ≤200k tier.
const ANTHROPIC: [(&str, Price); 10] = [
    // Opus 4.5 (2025-11-24): the new lower Opus price.
    ("claude-opus-4-5", Price::table(5_000, 25_000, 500, 6_250)),
    (
        "claude-opus-4-1",
        Price::table(15_000, 75_000, 1_500, 18_750),
    ),
    ("claude-opus-4", Price::table(15_000, 75_000, 1_500, 18_750)),
    (
        "claude-opus-4-0",
        Price::table(15_000, 75_000, 1_500, 18_750),
    ),
    ("claude-sonnet-4-5", Price::table(3_000, 15_000, 300, 3_750)),
    ("claude-sonnet-4", Price::table(3_000, 15_000, 300, 3_750)),
    ("claude-sonnet-4-0", Price::table(3_000, 15_000, 300, 3_750)),
    ("claude-3-7-sonnet", Price::table(3_000, 15_000, 300, 3_750)),
    ("claude-haiku-4-5", Price::table(1_000, 5_000, 100, 1_250)),
    ("claude-3-5-haiku", Price::table(800, 4_000, 80, 1_000)),
];

/// Google Gemini API — https://ai.google.dev/gemini-api/docs/pricing, paid tier, text /
/// image / video input, as known in 2025-09. Gemini 2.5 Pro's ≤200k-token prompt tier
/// (prompts over 200k bill 2.50 / 15.00). Cache read is the context-caching price of
/// mid-2025 (25% of input; later lists may be lower, so this errs high); caches are
/// written at the input price plus hourly storage, which is not per token: cache write
/// = input. Output includes thinking tokens.
const GEMINI: [(&str, Price); 4] = [
    ("gemini-2.5-pro", Price::table(1_250, 10_000, 310, 1_250)),
    ("gemini-2.5-flash", Price::table(300, 2_500, 75, 300)),
    ("gemini-2.5-flash-lite", Price::table(100, 400, 25, 100)),
    ("gemini-2.0-flash", Price::table(100, 400, 25, 100)),
];

/// Mistral — https://mistral.ai/pricing#api-pricing, as known in 2025-07. No prompt
/// caching: cache prices = input.
const MISTRAL: [(&str, Price); 4] = [
    // Mistral Large 24.11.
    ("mistral-large", Price::table(2_000, 6_000, 2_000, 2_000)),
    // Mistral Medium 3 / 3.1.
    ("mistral-medium", Price::table(400, 2_000, 400, 400)),
    // Mistral Small 3.1 / 3.2.
    ("mistral-small", Price::table(100, 300, 100, 100)),
    ("codestral", Price::table(300, 900, 300, 300)),
];

/// DeepSeek — https://api-docs.deepseek.com/quick_start/pricing, as known from the
/// 2025-09-29 list (V3.2-Exp: both names, one price). Cache read = "input (cache hit)";
/// cache writes are billed as ordinary input ("cache miss").
const DEEPSEEK: [(&str, Price); 2] = [
    ("deepseek-chat", Price::table(280, 420, 28, 280)),
    ("deepseek-reasoner", Price::table(280, 420, 28, 280)),
];

/// AWS Bedrock on-demand — https://aws.amazon.com/bedrock/pricing/, as known in 2025-10:
/// Amazon's own models. Bedrock's `anthropic.*` ids are priced from [`ANTHROPIC`] (Bedrock
/// lists Anthropic's prices, same cache multipliers; see [`builtin`]). Known uncertainty:
/// regional (non-`global.`) endpoints of Claude 4.5 models may carry a 10% premium over
/// these; configure it if it applies. Nova: cache read assumed = input (errs high).
const BEDROCK: [(&str, Price); 3] = [
    ("amazon.nova-pro", Price::table(800, 3_200, 800, 800)),
    ("amazon.nova-lite", Price::table(60, 240, 60, 60)),
    ("amazon.nova-micro", Price::table(35, 140, 35, 35)),
];

/// Every vendor's list.
const TABLE: [(Vendor, &[(&str, Price)]); 6] = [
    (Vendor::OpenAi, &OPENAI),
    (Vendor::Anthropic, &ANTHROPIC),
    (Vendor::Gemini, &GEMINI),
    (Vendor::Mistral, &MISTRAL),
    (Vendor::DeepSeek, &DEEPSEEK),
    (Vendor::Bedrock, &BEDROCK),
];

#[cfg(test)]
mod tests;
