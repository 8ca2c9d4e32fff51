//! The built-in demo configuration used when `sluice serve` runs without a config file.

use super::{compile, ConfigError, Overrides, Snapshot};

/// The model name the demo provider answers to.
pub const DEMO_MODEL: &str = "demo";
/// The gateway key the demo accepts (requests without any key are accepted too).
pub const DEMO_KEY: &str = "sk-sluice-demo";

const DEMO_TOML: &str = r#"
[auth]
keys = ["sk-sluice-demo"]
allow_anonymous = true

[[providers]]
name = "demo"
kind = "demo"

[[models]]
name = "demo"
provider = "demo"
"#;

const OPENAI_TOML: &str = r#"
[[providers]]
name = "openai"
kind = "openai"
api_key = "env:OPENAI_API_KEY"

[[models]]
name = "openai/*"
provider = "openai"
"#;

/// Anthropic's Messages API, translated (and passed straight through for `/v1/messages`).
const ANTHROPIC_TOML: &str = r#"
[[providers]]
name = "anthropic"
kind = "anthropic"
api_key = "env:ANTHROPIC_API_KEY"

[[models]]
name = "anthropic/*"
provider = "anthropic"
"#;

pub(super) fn build(ov: &Overrides) -> Result<(Snapshot, Vec<String>), ConfigError> {
    let mut text = String::from(DEMO_TOML);
    let mut notes = Vec::new();
    for (var, extra, what) in [
        ("OPENAI_API_KEY", OPENAI_TOML, "openai/<model> -> OpenAI"),
        (
            "ANTHROPIC_API_KEY",
            ANTHROPIC_TOML,
            "anthropic/<model> -> Anthropic (Messages API)",
        ),
    ] {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            continue;
        }
        // A provider whose host does not resolve (an offline machine) is skipped with a
        // note rather than failing the whole demo.
        let candidate = format!("{text}{extra}");
        let raw = compile::parse("<demo>", &candidate)?;
        match compile::compile(
            raw,
            &compile::Source {
                file: "<demo>",
                text: &candidate,
            },
            ov,
            true,
        ) {
            Ok(_) => {
                text = candidate;
                notes.push(format!("{var} is set: registered {what}"));
            }
            Err(e) => notes.push(format!("{var} is set but the provider was skipped: {e}")),
        }
    }
    let raw = compile::parse("<demo>", &text)?;
    let snap = compile::compile(
        raw,
        &compile::Source {
            file: "<demo>",
            text: &text,
        },
        ov,
        true,
    )?;
    Ok((snap, notes))
}
