//! The simulator's fixed model catalogue and new-api's ratio-based billing.
//!
//! new-api bills `round((prompt + completion × completion_ratio) × model_ratio × group_ratio)`
//! quota units (at least 1 when the ratio is positive); model ratio 1 means $2 per million
//! prompt tokens, and 500000 quota units are $1.

/// One model the simulator serves, with its price ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    /// Model id, as in `/v1/models` and the `model` request field.
    pub id: &'static str,
    /// `owned_by` in the model list.
    pub owned_by: &'static str,
    /// new-api model ratio, in thousandths (75 = 0.075).
    pub model_ratio_milli: i64,
    /// new-api completion ratio, in thousandths (4000 = 4).
    pub completion_ratio_milli: i64,
}

impl ModelPrice {
    /// The model ratio as new-api shows it.
    pub fn model_ratio(&self) -> f64 {
        self.model_ratio_milli as f64 / 1000.0
    }

    /// The completion ratio as new-api shows it.
    pub fn completion_ratio(&self) -> f64 {
        self.completion_ratio_milli as f64 / 1000.0
    }
}

/// The models the simulator serves.
pub const MODELS: &[ModelPrice] = &[
    ModelPrice {
        id: "gpt-4o-mini",
        owned_by: "openai",
        model_ratio_milli: 75,
        completion_ratio_milli: 4000,
    },
    ModelPrice {
        id: "gpt-4o",
        owned_by: "openai",
        model_ratio_milli: 1250,
        completion_ratio_milli: 4000,
    },
    ModelPrice {
        id: "claude-3-5-haiku-20241022",
        owned_by: "anthropic",
        model_ratio_milli: 400,
        completion_ratio_milli: 5000,
    },
];

/// `created` timestamp shown for every model.
pub const MODEL_CREATED: i64 = 1_626_777_600;

/// The assistant's answer to every chat completion.
pub const REPLY: &str = "Hello from newapi-sim. This is a simulated answer.";

/// Group ratio of every group in the simulator, in thousandths (1000 = 1).
pub const GROUP_RATIO_MILLI: i64 = 1000;

/// The catalogue entry of `model`.
pub fn find_model(model: &str) -> Option<&'static ModelPrice> {
    MODELS.iter().find(|m| m.id == model)
}

/// Deterministic token estimate of a text: one token per started 4 characters.
pub fn estimate_tokens(text: &str) -> i64 {
    let chars = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    chars.saturating_add(3) / 4
}

/// Prompt tokens of a chat request whose message texts have `chars` characters in total
/// (at least 1).
pub fn prompt_tokens_for_chars(chars: usize) -> i64 {
    let chars = i64::try_from(chars).unwrap_or(i64::MAX);
    (chars.saturating_add(3) / 4).max(1)
}

/// Completion tokens of every answer ([`REPLY`]).
pub fn completion_tokens() -> i64 {
    estimate_tokens(REPLY)
}

/// Quota new-api charges for `prompt` and `completion` tokens of `model`, computed exactly
/// (new-api uses decimal arithmetic) and rounded half away from zero.
pub fn quota_for(model: &ModelPrice, prompt: i64, completion: i64) -> i64 {
    const SCALE: i128 = 1_000_000_000; // three thousandths factors
    let tokens = i128::from(prompt.max(0)) * 1000
        + i128::from(completion.max(0)) * i128::from(model.completion_ratio_milli);
    let scaled = tokens * i128::from(model.model_ratio_milli) * i128::from(GROUP_RATIO_MILLI);
    let quota = i64::try_from((scaled + SCALE / 2) / SCALE).unwrap_or(i64::MAX);
    if model.model_ratio_milli > 0 && quota <= 0 {
        1
    } else {
        quota
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_deterministic_and_at_least_one() {
        let mini = find_model("gpt-4o-mini").unwrap();
        assert_eq!(quota_for(mini, 100, 10), 11); // (100 + 40) * 0.075 = 10.5 → 11
        assert_eq!(quota_for(mini, 1, 0), 1);
        let gpt4o = find_model("gpt-4o").unwrap();
        assert_eq!(quota_for(gpt4o, 1000, 100), 1750);
        assert!(find_model("gpt-5-ultra").is_none());
    }

    #[test]
    fn token_estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(prompt_tokens_for_chars(0), 1);
        assert_eq!(prompt_tokens_for_chars(9), 3);
        assert!(completion_tokens() > 0);
    }
}
