//! `usage-mix`: what a portal's usage pages ask usage-stats for, every request distinct (so a
//! result cache cannot answer it): a key drawn with a Zipf skew from a list of keys, a random
//! range not aligned to any bucket, a time zone, and one of `/detail`, `/chart` (day or
//! hour) and `/logs`. Request `n` is a pure function of `--seed` and `n`, and `n` keeps
//! counting from the warm-up into the measured phase, so no two requests of a run repeat.
//!
//! With `--clickhouse` the same requests skip usage-stats: the queries usage-stats would
//! send for them (its own `usage_stats::clickhouse::ChLogs`, the same SQL and parsing) go
//! straight to ClickHouse, for usage-stats' overhead over its log source.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::HeaderValue;
use reqwest::{Client, Url};

use super::{bearer, exchange, expect_status, parse_json, step, Fail};
use crate::report::{Failure, StepLog};
use crate::runner::Scenario;
use crate::target::local_endpoint;
use tollgate_domain::page::Page;
use tollgate_domain::zone::{Unit, Zone};
use usage_stats::clickhouse::{ChLogs, Selection};
use usage_stats::query::range::Range;
use usage_stats::query::views::{Answer, Chart, Detail, LogsPage};

/// One kind of request, with its share of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/detail` (totals, by model, by day, 20 newest logs).
    Detail,
    /// `/chart?granularity=day`.
    ChartDay,
    /// `/chart?granularity=hour` (ranges of at most `MAX_HOUR_DAYS`).
    ChartHour,
    /// `/logs` (pages 1–5, 20/50/100 per page).
    Logs,
}

/// Hourly charts are asked for short ranges (usage-stats allows up to 31 days).
pub const MAX_HOUR_DAYS: f64 = 7.0;

const DAY: i64 = 86_400;

impl Kind {
    fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "detail" => Kind::Detail,
            "chart-day" => Kind::ChartDay,
            "chart-hour" => Kind::ChartHour,
            "logs" => Kind::Logs,
            other => anyhow::bail!(
                "unknown request kind {other:?} (detail, chart-day, chart-hour, logs)"
            ),
        })
    }

    /// Parse the answer as usage-stats' own type for this kind: a `bad_json` failure when it
    /// does not fit.
    fn check_answer(self, body: &[u8]) -> Result<(), Fail> {
        match self {
            Kind::Detail => parse_json::<Answer<Detail>>(body).map(drop),
            Kind::ChartDay | Kind::ChartHour => parse_json::<Answer<Chart>>(body).map(drop),
            Kind::Logs => parse_json::<Answer<LogsPage>>(body).map(drop),
        }
    }

    fn note(self) -> &'static str {
        match self {
            Kind::Detail => "detail",
            Kind::ChartDay => "chart_day",
            Kind::ChartHour => "chart_hour",
            Kind::Logs => "logs",
        }
    }
}

/// Parse `name=weight,…` into names and weights, at least one weight positive.
pub fn parse_weights(raw: &str) -> anyhow::Result<Vec<(String, u32)>> {
    let weights = raw
        .split(',')
        .map(|part| {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("entry {part:?} is not name=weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("weight {weight:?} is not a whole number"))?;
            Ok((name.trim().to_owned(), weight))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(
        weights.iter().any(|&(_, w)| w > 0),
        "{raw:?} needs a positive weight"
    );
    Ok(weights)
}

/// Parse `kind=weight,…` (e.g. `detail=50,chart-day=20,chart-hour=10,logs=20`).
pub fn parse_mix(raw: &str) -> anyhow::Result<Vec<(Kind, u32)>> {
    parse_weights(raw)?
        .into_iter()
        .map(|(kind, weight)| Ok((Kind::parse(&kind)?, weight)))
        .collect()
}

/// What the scenario draws from.
#[derive(Debug, Clone)]
pub struct MixOptions {
    /// usage-stats' base URL.
    pub base: String,
    /// Keys (without `sk-`), most requested first: key `k` (0-based) is drawn with weight
    /// `1 / (k + 1)^zipf`.
    pub keys: Vec<String>,
    /// The Zipf exponent.
    pub zipf: f64,
    /// Ranges lie in `[first, last]` (unix seconds).
    pub first: i64,
    /// See `first`.
    pub last: i64,
    /// Range lengths are uniform in `[min_days, max_days]`.
    pub min_days: f64,
    /// See `min_days`.
    pub max_days: f64,
    /// Request kinds and weights.
    pub mix: Vec<(Kind, u32)>,
    /// `tz` values and weights (`UTC` is sent as no `tz`).
    pub zones: Vec<(String, u32)>,
    /// Seed of every draw.
    pub seed: u64,
    /// Ask ClickHouse directly instead of usage-stats: its logs and each key's token id (in
    /// `keys` order).
    pub direct: Option<(ChLogs, Vec<i64>)>,
}

/// The `usage-mix` scenario.
pub struct UsageMix {
    base: Url,
    auth: Vec<HeaderValue>,
    /// Cumulative key weights.
    key_cdf: Vec<f64>,
    opts: MixOptions,
    next: AtomicU64,
}

/// One request: its URL, key and kind, and what the URL says (for the direct mode).
pub struct MixInput {
    url: Url,
    key: usize,
    kind: Kind,
    start: i64,
    end: i64,
    zone: String,
    page: Page,
}

impl UsageMix {
    /// Check the options and precompute the key distribution.
    pub fn new(opts: MixOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(!opts.keys.is_empty(), "give at least one key");
        anyhow::ensure!(
            opts.zipf.is_finite() && opts.zipf >= 0.0,
            "--zipf must be 0 or more"
        );
        anyhow::ensure!(
            opts.min_days > 0.0 && opts.min_days <= opts.max_days,
            "need 0 < --min-days <= --max-days"
        );
        anyhow::ensure!(
            (opts.last - opts.first) as f64 >= opts.max_days * DAY as f64,
            "[--first, --last] is shorter than --max-days"
        );
        anyhow::ensure!(!opts.zones.is_empty(), "give at least one zone");
        if let Some((_, tokens)) = &opts.direct {
            anyhow::ensure!(
                tokens.len() == opts.keys.len(),
                "one token id per key (--token-ids-file)"
            );
        }
        for (zone, _) in &opts.zones {
            Zone::parse(zone).map_err(|e| anyhow::anyhow!("zone {zone}: {e}"))?;
        }
        let auth = opts
            .keys
            .iter()
            .map(|k| bearer(&format!("sk-{k}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut total = 0.0;
        let key_cdf = (0..opts.keys.len())
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(opts.zipf);
                total
            })
            .collect();
        Ok(UsageMix {
            base: local_endpoint(&opts.base, "/api/usage/token/")?,
            auth,
            key_cdf,
            opts,
            next: AtomicU64::new(0),
        })
    }

    /// Request number `n` (a pure function of the seed and `n`).
    pub fn request(&self, n: u64) -> MixInput {
        let mut rng = StdRng::seed_from_u64(self.opts.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let total = *self.key_cdf.last().unwrap_or(&1.0);
        let x = rng.random::<f64>() * total;
        let key = self
            .key_cdf
            .partition_point(|&c| c < x)
            .min(self.key_cdf.len() - 1);
        let kind = pick(&mut rng, &self.opts.mix);
        let zone = pick(&mut rng, &self.opts.zones);
        let max_days = match kind {
            Kind::ChartHour => self.opts.max_days.min(MAX_HOUR_DAYS),
            _ => self.opts.max_days,
        };
        let min_days = self.opts.min_days.min(max_days);
        let len = (rng.random_range(min_days..=max_days) * DAY as f64) as i64;
        let mut start = rng.random_range(self.opts.first..=self.opts.last - len);
        // Never on a 15-minute boundary: every range has two raw edges.
        if start % 900 == 0 {
            start += 1;
        }
        let mut end = start + len;
        if end % 900 == 899 {
            end -= 1;
        }
        let path = match kind {
            Kind::Detail => "detail",
            Kind::ChartDay | Kind::ChartHour => "chart",
            Kind::Logs => "logs",
        };
        let mut url = self.base.join(path).expect("a fixed relative path");
        let mut page = Page::first(20);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("start", &start.to_string());
            q.append_pair("end", &end.to_string());
            if zone != "UTC" {
                q.append_pair("tz", &zone);
            }
            match kind {
                Kind::ChartDay => {
                    q.append_pair("granularity", "day");
                }
                Kind::ChartHour => {
                    q.append_pair("granularity", "hour");
                }
                Kind::Logs => {
                    page = Page {
                        number: rng.random_range(1..=5_i64),
                        size: [20, 50, 100][rng.random_range(0..3_usize)],
                    };
                    q.append_pair("page", &page.number.to_string());
                    q.append_pair("page_size", &page.size.to_string());
                }
                Kind::Detail => {}
            }
        }
        MixInput {
            url,
            key,
            kind,
            start,
            end,
            zone,
            page,
        }
    }

    /// The queries usage-stats sends ClickHouse for `input`, sent straight there.
    async fn direct(&self, logs: &ChLogs, token: i64, input: &MixInput) -> Result<(), Fail> {
        let range = Range {
            start: input.start,
            end: input.end,
            zone: Zone::parse(&input.zone).map_err(|e| Fail::new("zone", e.to_string()))?,
        };
        let tokens = [token];
        let sel = Selection {
            tokens: &tokens,
            range: &range,
            model: None,
        };
        let fail = |e: usage_stats::clickhouse::ChError| Fail::new("clickhouse", e.to_string());
        let figures = |unit: Option<Unit>| {
            let units = unit.map(|u| range.units(u)).unwrap_or_default();
            let step = unit.map_or(0, Unit::seconds);
            let sel = sel.clone();
            async move { logs.figures(&sel, &units, step).await }
        };
        let usd = |q: i64| q as f64 / 500_000.0;
        match input.kind {
            Kind::Detail => {
                let (f, p) = tokio::join!(
                    figures(Some(Unit::Day)),
                    logs.page(&sel, Page::first(20), usd)
                );
                f.map_err(fail)?;
                p.map_err(fail)?;
            }
            Kind::ChartDay => {
                figures(Some(Unit::Day)).await.map_err(fail)?;
            }
            Kind::ChartHour => {
                figures(Some(Unit::Hour)).await.map_err(fail)?;
            }
            Kind::Logs => {
                let (f, p) = tokio::join!(figures(None), logs.page(&sel, input.page, usd));
                f.map_err(fail)?;
                p.map_err(fail)?;
            }
        }
        Ok(())
    }
}

fn pick<T: Clone>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (value, w) in weighted {
        if x < *w {
            return value.clone();
        }
        x -= w;
    }
    weighted[0].0.clone()
}

impl Scenario for UsageMix {
    type Input = MixInput;

    fn name(&self) -> &'static str {
        "usage-mix"
    }

    fn steps(&self) -> &'static [&'static str] {
        &["get"]
    }

    fn prepare(&self, _seq: u64) -> MixInput {
        self.request(self.next.fetch_add(1, Ordering::Relaxed))
    }

    async fn iterate(
        &self,
        client: &Client,
        input: MixInput,
        log: &mut StepLog,
    ) -> Result<(), Failure> {
        log.notes.push(input.kind.note());
        if let Some((logs, tokens)) = &self.opts.direct {
            return step(log, 0, self.direct(logs, tokens[input.key], &input)).await;
        }
        step(log, 0, async {
            let request = client
                .get(input.url)
                .header(reqwest::header::AUTHORIZATION, self.auth[input.key].clone());
            let (status, body) = exchange(request).await?;
            expect_status(status, 200, &body)?;
            input.kind.check_answer(&body)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> UsageMix {
        UsageMix::new(MixOptions {
            base: "http://127.0.0.1:1".into(),
            keys: (0..100).map(|i| format!("k{i}")).collect(),
            zipf: 1.0,
            first: 1_700_000_000,
            last: 1_700_000_000 + 90 * DAY,
            min_days: 1.0,
            max_days: 90.0,
            mix: parse_mix("detail=50,chart-day=20,chart-hour=10,logs=20").unwrap(),
            zones: vec![("UTC".into(), 1), ("Asia/Kolkata".into(), 1)],
            seed: 7,
            direct: None,
        })
        .unwrap()
    }

    #[test]
    fn requests_are_distinct_reproducible_and_unaligned() {
        let m = mix();
        let urls: std::collections::HashSet<String> =
            (0..2000).map(|n| m.request(n).url.to_string()).collect();
        assert_eq!(urls.len(), 2000);
        assert_eq!(m.request(5).url, mix().request(5).url);
        for n in 0..2000 {
            let r = m.request(n);
            let q: std::collections::HashMap<_, _> = r.url.query_pairs().into_owned().collect();
            let start: i64 = q["start"].parse().unwrap();
            let end: i64 = q["end"].parse().unwrap();
            assert!(start % 900 != 0 && (end + 1) % 900 != 0, "{}", r.url);
            assert!(end - start >= DAY - 1 && end - start <= 90 * DAY);
            if r.kind == Kind::ChartHour {
                assert!(end - start <= 7 * DAY);
            }
        }
    }

    #[test]
    fn keys_follow_the_zipf_skew() {
        let m = mix();
        let mut counts = [0_u32; 100];
        for n in 0..20_000 {
            counts[m.request(n).key] += 1;
        }
        // 1/H(100) ≈ 19 % for the first key, half that for the second.
        assert!((3_300..4_400).contains(&counts[0]), "{}", counts[0]);
        assert!(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99]);
    }

    #[test]
    fn bad_mixes_are_refused() {
        assert!(parse_mix("detail").is_err());
        assert!(parse_mix("detail=x").is_err());
        assert!(parse_mix("weekly=1").is_err());
        assert!(parse_mix("detail=0").is_err());
    }
}
