//! The deterministic part: which tokens exist and what every log row holds, as a pure
//! function of the [`Spec`] (seed included) and, for `token_id`, the ids the database gave
//! the tokens.

use tollgate_newapi_schema::{log_type, token_status, NewLog, NewToken, NEVER_EXPIRES};

use crate::models::model_ratios;
use crate::rng::Rng;
use crate::Spec;

/// Characters of a new-api key.
const KEY_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Length of a new-api key (without `sk-`).
pub const KEY_LEN: usize = 48;

const STREAM_KEY: u64 = 1;
const STREAM_ROW: u64 = 2;
const STREAM_BOUNDARY: u64 = 3;

/// Quota units per USD (new-api's default `QuotaPerUnit`).
const QUOTA_PER_UNIT: i64 = 500_000;

/// Relative request volume per UTC hour (percent) for the diurnal time distribution.
const DIURNAL: [u64; 24] = [
    25, 18, 14, 12, 12, 15, 22, 35, 55, 75, 88, 95, 100, 98, 96, 95, 92, 88, 80, 72, 62, 52, 42, 32,
];

/// Non-consume log types and their relative weights.
const OTHER_TYPES: [(i64, u64); 5] = [
    (log_type::ERROR, 40),
    (log_type::TOPUP, 20),
    (log_type::SYSTEM, 15),
    (log_type::REFUND, 15),
    (log_type::MANAGE, 10),
];

const ERRORS: [&str; 4] = [
    "status_code=429, upstream rate limit exceeded",
    "status_code=500, upstream server error",
    "status_code=400, context length exceeded",
    "status_code=504, upstream timeout",
];

/// The key of token `index` for `seed`: 48 characters of `[0-9a-zA-Z]` (no `sk-`).
pub fn token_key(seed: u64, index: u32) -> String {
    let mut rng = Rng::new(seed, STREAM_KEY, u64::from(index));
    (0..KEY_LEN)
        .map(|_| char::from(KEY_ALPHABET[rng.below(KEY_ALPHABET.len() as u64) as usize]))
        .collect()
}

pub(crate) struct ModelInfo {
    pub(crate) name: String,
    ratio: f64,
    completion_ratio: f64,
    channel_id: i64,
    content: String,
}

pub(crate) struct TokenInfo {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) user_id: i64,
    pub(crate) username: String,
    pub(crate) ip: String,
    pub(crate) status: i64,
}

/// The numbers of one log row; strings are added by [`Plan::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Core {
    pub(crate) token: u32,
    pub(crate) log_type: i64,
    pub(crate) created_at: i64,
    pub(crate) model: u32,
    pub(crate) quota: i64,
    pub(crate) prompt_tokens: i64,
    pub(crate) completion_tokens: i64,
    use_time: i64,
    is_stream: bool,
    aux: u64,
}

pub(crate) struct Plan {
    pub(crate) seed: u64,
    pub(crate) rows: u64,
    pub(crate) heavy_rows: u64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    consume_share: f64,
    diurnal: bool,
    time_ordered: bool,
    pub(crate) boundary: bool,
    pub(crate) models: Vec<ModelInfo>,
    /// Cumulative model weights (1/(k+1)).
    model_cdf: Vec<f64>,
    pub(crate) tokens: Vec<TokenInfo>,
    /// Cumulative weights of tokens 1.. (Zipf, 1/k).
    token_cdf: Vec<f64>,
}

fn cumulative(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|k| {
            acc += 1.0 / (k + 1) as f64;
            acc
        })
        .collect()
}

fn pick(cdf: &[f64], u: f64) -> usize {
    let target = u * cdf.last().copied().unwrap_or(0.0);
    cdf.partition_point(|&c| c <= target).min(cdf.len() - 1)
}

/// `YYYYMMDDhhmmss` (UTC) of unix seconds `t`.
fn time_string(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl Plan {
    pub(crate) fn new(spec: &Spec, end: i64) -> anyhow::Result<Plan> {
        anyhow::ensure!(spec.tokens >= 1, "tokens must be at least 1");
        anyhow::ensure!(
            spec.heavy_token_rows <= spec.rows,
            "heavy_token_rows ({}) exceeds rows ({})",
            spec.heavy_token_rows,
            spec.rows
        );
        anyhow::ensure!(
            spec.tokens >= 2 || spec.heavy_token_rows == spec.rows,
            "with a single token every row belongs to it: set heavy_token_rows = rows or tokens >= 2"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&spec.consume_share),
            "consume_share must be within [0, 1]"
        );
        anyhow::ensure!(!spec.models.is_empty(), "at least one model is needed");
        anyhow::ensure!(spec.batch >= 1, "batch must be at least 1");
        anyhow::ensure!(spec.parallel >= 1, "parallel must be at least 1");
        let span = i64::from(spec.days)
            .checked_mul(86_400)
            .ok_or_else(|| anyhow::anyhow!("days is too large"))?;
        let start = end - span;
        for (index, status) in &spec.token_status {
            anyhow::ensure!(
                *index < spec.tokens,
                "token_status names token {index}, but there are only {} tokens",
                spec.tokens
            );
            anyhow::ensure!(
                (1..=4).contains(status),
                "token status must be 1..=4, not {status}"
            );
        }

        let models = spec
            .models
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (ratio, completion_ratio) = model_ratios(name);
                ModelInfo {
                    name: name.clone(),
                    ratio,
                    completion_ratio,
                    channel_id: 1 + (i as i64 % 8),
                    content: format!(
                        "model ratio {ratio}, completion ratio {completion_ratio}, group ratio 1"
                    ),
                }
            })
            .collect();
        let tokens = (0..spec.tokens)
            .map(|i| {
                let user_id = i64::from(i) + 1;
                let status = spec
                    .token_status
                    .iter()
                    .rev()
                    .find(|(index, _)| *index == i)
                    .map_or(token_status::ENABLED, |(_, s)| *s);
                TokenInfo {
                    key: token_key(spec.seed, i),
                    name: if i == 0 {
                        "heavy".to_owned()
                    } else {
                        format!("token-{i}")
                    },
                    user_id,
                    username: format!("user{user_id}"),
                    ip: if i % 3 == 0 {
                        format!("192.0.2.{}", 1 + i % 254)
                    } else {
                        String::new()
                    },
                    status,
                }
            })
            .collect();
        Ok(Plan {
            seed: spec.seed,
            rows: spec.rows,
            heavy_rows: spec.heavy_token_rows,
            start,
            end,
            consume_share: spec.consume_share,
            diurnal: spec.diurnal,
            time_ordered: spec.time_ordered,
            boundary: spec.boundary,
            model_cdf: cumulative(spec.models.len()),
            models,
            token_cdf: cumulative(spec.tokens as usize - 1),
            tokens,
        })
    }

    /// Whether row `i` belongs to the heavy token: exactly `heavy_rows` of `rows` rows,
    /// evenly interleaved.
    fn is_heavy(&self, i: u64) -> bool {
        let (h, n) = (u128::from(self.heavy_rows), u128::from(self.rows));
        (u128::from(i) + 1) * h / n > u128::from(i) * h / n
    }

    fn time(&self, i: u64, rng: &mut Rng) -> i64 {
        let span = (self.end - self.start) as u64 + 1;
        if self.time_ordered {
            let base = (u128::from(i) * u128::from(span) / u128::from(self.rows.max(1))) as i64;
            return (self.start + base + rng.below(60) as i64).min(self.end);
        }
        let mut t = self.start + rng.below(span) as i64;
        if self.diurnal {
            for _ in 0..32 {
                let hour = (t.rem_euclid(86_400) / 3600) as usize;
                if rng.below(100) < DIURNAL[hour] {
                    break;
                }
                t = self.start + rng.below(span) as i64;
            }
        }
        t
    }

    /// Generated row `i` (`0..rows`).
    pub(crate) fn core(&self, i: u64) -> Core {
        let mut rng = Rng::new(self.seed, STREAM_ROW, i);
        let token = if self.is_heavy(i) {
            0
        } else {
            1 + pick(&self.token_cdf, rng.unit()) as u32
        };
        let created_at = self.time(i, &mut rng);
        let log_type = if rng.unit() < self.consume_share {
            log_type::CONSUME
        } else {
            let total: u64 = OTHER_TYPES.iter().map(|(_, w)| w).sum();
            let mut x = rng.below(total);
            let mut chosen = log_type::ERROR;
            for (t, w) in OTHER_TYPES {
                if x < w {
                    chosen = t;
                    break;
                }
                x -= w;
            }
            chosen
        };
        self.fill(token, log_type, created_at, &mut rng)
    }

    /// The extra heavy-token consume rows at exactly `start` (`which = 0`) and `end` (1).
    pub(crate) fn boundary_core(&self, which: u64) -> Core {
        let mut rng = Rng::new(self.seed, STREAM_BOUNDARY, which);
        let at = if which == 0 { self.start } else { self.end };
        self.fill(0, log_type::CONSUME, at, &mut rng)
    }

    fn fill(&self, token: u32, log_type: i64, created_at: i64, rng: &mut Rng) -> Core {
        let model = pick(&self.model_cdf, rng.unit()) as u32;
        let m = &self.models[model as usize];
        let mut core = Core {
            token,
            log_type,
            created_at,
            model,
            quota: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            use_time: 0,
            is_stream: false,
            aux: rng.next_u64(),
        };
        match log_type {
            log_type::CONSUME => {
                // Log-uniform-ish sizes: 8..16K prompt, 1..2K completion tokens.
                let pb = 1i64 << (3 + rng.below(11));
                core.prompt_tokens = pb + rng.below(pb as u64) as i64;
                let cb = 1i64 << rng.below(11);
                core.completion_tokens = cb + rng.below(cb as u64) as i64;
                let raw = (core.prompt_tokens as f64
                    + core.completion_tokens as f64 * m.completion_ratio)
                    * m.ratio;
                core.quota = (raw.round() as i64).max(1);
                core.use_time = (1 + core.completion_tokens / 100 + rng.below(3) as i64).min(120);
                core.is_stream = rng.below(10) < 6;
            }
            log_type::ERROR => {
                core.use_time = rng.below(30) as i64;
                core.is_stream = rng.below(10) < 6;
            }
            log_type::TOPUP => core.quota = QUOTA_PER_UNIT * (1 + rng.below(100) as i64),
            log_type::REFUND => core.quota = 1 + rng.below(50_000) as i64,
            _ => {}
        }
        core
    }

    /// The `logs` row of `core`; `token_ids[k]` is the database id of token `k`.
    pub(crate) fn log(&self, core: &Core, token_ids: &[i64]) -> NewLog {
        let t = &self.tokens[core.token as usize];
        let m = &self.models[core.model as usize];
        let with_model = matches!(
            core.log_type,
            log_type::CONSUME | log_type::ERROR | log_type::REFUND
        );
        let content = match core.log_type {
            log_type::CONSUME => m.content.clone(),
            log_type::ERROR => ERRORS[(core.aux % ERRORS.len() as u64) as usize].to_owned(),
            log_type::TOPUP => format!(
                "top-up of ${}.00 via redemption code",
                core.quota / QUOTA_PER_UNIT
            ),
            log_type::REFUND => format!("refund of {} quota for a failed request", core.quota),
            log_type::MANAGE => "administrator adjusted the user's quota".to_owned(),
            _ => "system notice".to_owned(),
        };
        let mut request_id = time_string(core.created_at);
        let mut aux = core.aux;
        for _ in 0..8 {
            request_id.push(char::from(KEY_ALPHABET[(aux % 62) as usize]));
            aux /= 62;
        }
        NewLog {
            user_id: t.user_id,
            created_at: core.created_at,
            log_type: core.log_type,
            content,
            username: t.username.clone(),
            token_name: t.name.clone(),
            model_name: if with_model {
                m.name.clone()
            } else {
                String::new()
            },
            quota: core.quota,
            prompt_tokens: core.prompt_tokens,
            completion_tokens: core.completion_tokens,
            use_time: core.use_time,
            is_stream: core.is_stream,
            channel_id: if with_model { m.channel_id } else { 0 },
            token_id: token_ids[core.token as usize],
            group: "default".to_owned(),
            ip: t.ip.clone(),
            request_id,
            other: if core.log_type == log_type::CONSUME {
                "{}".to_owned()
            } else {
                String::new()
            },
        }
    }

    /// The `tokens` row of token `index`, given what its logs add up to.
    pub(crate) fn token(&self, index: usize, used_quota: i64, accessed_time: i64) -> NewToken {
        let t = &self.tokens[index];
        let created = self.start - 86_400;
        NewToken {
            user_id: t.user_id,
            key: t.key.clone(),
            status: t.status,
            name: t.name.clone(),
            created_time: created,
            accessed_time: accessed_time.max(created),
            expired_time: NEVER_EXPIRES,
            remain_quota: 0,
            unlimited_quota: true,
            model_limits_enabled: false,
            model_limits: String::new(),
            allow_ips: String::new(),
            used_quota,
            group: "default".to_owned(),
            cross_group_retry: false,
            billing_type: 0,
            external_user_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rows: u64, heavy: u64, tokens: u32) -> Spec {
        Spec {
            rows,
            heavy_token_rows: heavy,
            tokens,
            end: Some(1_700_000_000),
            ..Spec::default()
        }
    }

    #[test]
    fn keys_are_48_alnum_and_stable() {
        let k = token_key(5, 0);
        assert_eq!(k.len(), KEY_LEN);
        assert!(k.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(k, token_key(5, 0));
        assert_ne!(k, token_key(5, 1));
        assert_ne!(k, token_key(6, 0));
    }

    #[test]
    fn heavy_count_is_exact_and_spread() {
        for (rows, heavy) in [(1000, 0), (1000, 1), (1000, 333), (1000, 1000), (7, 3)] {
            let p = Plan::new(&spec(rows, heavy, 10), 1_700_000_000).unwrap();
            let flags: Vec<bool> = (0..rows).map(|i| p.is_heavy(i)).collect();
            assert_eq!(flags.iter().filter(|h| **h).count() as u64, heavy);
            let cores: Vec<Core> = (0..rows).map(|i| p.core(i)).collect();
            for (c, h) in cores.iter().zip(&flags) {
                assert_eq!(c.token == 0, *h);
                assert!(c.created_at >= p.start && c.created_at <= p.end);
            }
        }
    }

    #[test]
    fn time_ordered_rows_follow_their_number() {
        let spec = Spec {
            time_ordered: true,
            ..spec(10_000, 100, 10)
        };
        let p = Plan::new(&spec, 1_700_000_000).unwrap();
        let times: Vec<i64> = (0..10_000).map(|i| p.core(i).created_at).collect();
        assert!(times.iter().all(|&t| t >= p.start && t <= p.end));
        let step = (p.end - p.start) / 10_000;
        for w in times.windows(2) {
            // Never earlier than the jitter allows, and never far ahead.
            assert!(w[1] >= w[0] - 59 && w[1] <= w[0] + step + 60, "{w:?}");
        }
        assert!(times[9_999] - times[0] > (p.end - p.start) * 9 / 10);
    }

    #[test]
    fn validation() {
        assert!(Plan::new(&spec(10, 11, 5), 0).is_err());
        assert!(Plan::new(&spec(10, 5, 1), 0).is_err());
        assert!(Plan::new(&spec(10, 10, 1), 0).is_ok());
        assert!(Plan::new(&spec(10, 5, 0), 0).is_err());
    }

    #[test]
    fn time_strings() {
        assert_eq!(time_string(0), "19700101000000");
        assert_eq!(time_string(1_700_000_000), "20231114221320");
        assert_eq!(time_string(951_782_400), "20000229000000");
    }

    #[test]
    fn consume_rows_are_priced() {
        let p = Plan::new(&spec(5000, 100, 10), 1_700_000_000).unwrap();
        let ids: Vec<i64> = (1..=10).collect();
        for i in 0..5000 {
            let c = p.core(i);
            let log = p.log(&c, &ids);
            assert_eq!(log.token_id, i64::from(c.token) + 1);
            assert!(log.request_id.len() <= 64);
            if c.log_type == log_type::CONSUME {
                assert!(c.quota >= 1 && c.prompt_tokens >= 8 && c.completion_tokens >= 1);
                assert!(!log.model_name.is_empty());
                assert!((1..=120).contains(&log.use_time));
            }
        }
    }
}
