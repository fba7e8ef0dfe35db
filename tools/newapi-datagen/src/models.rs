//! Model names and their pricing ratios (new-api's `model_ratio` and `completion_ratio`;
//! 1 ratio unit = $0.002 per 1K tokens at 500 000 quota per USD).

/// Built-in models: (name, model ratio, completion ratio), most used first.
const CATALOGUE: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.075, 4.0),
    ("claude-3-5-sonnet", 1.5, 5.0),
    ("gpt-4o", 1.25, 4.0),
    ("deepseek-chat", 0.135, 4.0),
    ("gemini-2.0-flash", 0.05, 4.0),
    ("claude-3-5-haiku", 0.4, 5.0),
    ("gpt-4.1", 1.0, 4.0),
    ("o3-mini", 0.55, 4.0),
    ("gpt-4.1-mini", 0.2, 4.0),
    ("claude-3-7-sonnet", 1.5, 5.0),
    ("gemini-1.5-pro", 0.625, 4.0),
    ("deepseek-reasoner", 0.275, 4.0),
    ("qwen-max", 0.8, 4.0),
    ("text-embedding-3-small", 0.01, 1.0),
    ("gpt-3.5-turbo", 0.25, 3.0),
    ("claude-3-opus", 7.5, 5.0),
];

/// `n` model names: the built-in catalogue in order (`gpt-4o-mini`, `claude-3-5-sonnet`,
/// `gpt-4o`, …), then `model-17`, `model-18`, … when `n` exceeds it.
pub fn default_models(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match CATALOGUE.get(i) {
            Some((name, _, _)) => (*name).to_owned(),
            None => format!("model-{}", i + 1),
        })
        .collect()
}

/// `(model ratio, completion ratio)` of a model: the catalogue's, or for an unknown name a
/// stable value derived from the name (ratio 0.05..2.0 in steps of 0.05, completion 1..5).
pub fn model_ratios(name: &str) -> (f64, f64) {
    if let Some((_, ratio, completion)) = CATALOGUE.iter().find(|(n, _, _)| *n == name) {
        return (*ratio, *completion);
    }
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let ratio = (1 + h % 40) as f64 * 0.05;
    let completion = (1 + (h >> 16) % 5) as f64;
    (ratio, completion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ratios() {
        let m = default_models(18);
        assert_eq!(m[0], "gpt-4o-mini");
        assert_eq!(m[1], "claude-3-5-sonnet");
        assert_eq!(m[17], "model-18");
        assert_eq!(model_ratios("gpt-4o-mini"), (0.075, 4.0));
        let (r, c) = model_ratios("my-model");
        assert!(r > 0.0 && r <= 2.0 && (1.0..=5.0).contains(&c));
        assert_eq!(model_ratios("my-model"), (r, c));
    }
}
