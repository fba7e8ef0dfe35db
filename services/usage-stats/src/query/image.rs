//! A token's whole quarter-hour rollup in memory, kept under the token's ingest version.
//!
//! Any range in any zone is whole quarter hours plus two raw edges of less than 900 s (every
//! real UTC offset is a multiple of 15 minutes), so with a token's quarters at hand a request
//! reads only its raw edges from Postgres. Summing the quarters here costs microseconds where
//! reading a heavy token's hour rows for a 90-day range in a non-UTC zone (local days do not
//! line up with UTC days) took tens of milliseconds of scattered heap reads.
//!
//! The image is loaded once per version: what is read after the version holds at least that
//! version's logs, so it is exact for every request that reads that version (see
//! `query::cache`). A token written to all the time gets a new version at every ingest pass,
//! and its image is loaded again by the first request after one; concurrent requests share
//! that load.

use std::collections::HashMap;

use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tollgate_db::PreparedExt;

use super::model::Figures;

/// One quarter hour of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quarter {
    bucket: i64,
    /// Index into [`Image::models`].
    model: u32,
    sums: Sums,
}

/// requests, quota, prompt tokens, completion tokens, use time.
type Sums = [i64; 5];

/// A token's quarter-hour rollup, ascending by bucket.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Image {
    models: Vec<String>,
    quarters: Vec<Quarter>,
}

impl Image {
    /// Every quarter-hour rollup row of `token`.
    pub async fn load(conn: &mut AsyncPgConnection, token: i64) -> diesel::QueryResult<Self> {
        let rows: Vec<Figures> = diesel::sql_query(
            "SELECT bucket AS at, model_name, requests, quota, prompt_tokens, \
                    completion_tokens, use_time FROM usage_quarter WHERE token_id = $1 \
             ORDER BY bucket",
        )
        .bind::<BigInt, _>(token)
        .prepared()
        .load(conn)
        .await?;
        Ok(Self::from_rows(rows))
    }

    fn from_rows(rows: Vec<Figures>) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut models = Vec::new();
        let quarters = rows
            .into_iter()
            .map(|r| {
                let model = *ids.entry(r.model_name).or_insert_with_key(|name| {
                    models.push(name.clone());
                    u32::try_from(models.len() - 1).unwrap_or(u32::MAX)
                });
                Quarter {
                    bucket: r.at,
                    model,
                    sums: [
                        r.requests,
                        r.quota,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.use_time,
                    ],
                }
            })
            .collect();
        Self { models, quarters }
    }

    /// About how many bytes it holds (for the cache's bound).
    pub fn bytes(&self) -> usize {
        self.quarters.len() * std::mem::size_of::<Quarter>()
            + self.models.iter().map(|m| m.len() + 24).sum::<usize>()
            + 64
    }

    /// The figures of the quarters starting in `[from, to)`, optionally of one model, each
    /// counted at the start of its unit: the last of `cuts` (ascending) at or before it, or
    /// `start` before the first. Summed per unit and model.
    pub fn figures(
        &self,
        spans: &[(i64, i64)],
        model: Option<&str>,
        start: i64,
        cuts: &[i64],
    ) -> Vec<Figures> {
        let only = match model {
            Some(name) => match self.models.iter().position(|m| m == name) {
                Some(i) => Some(i as u32),
                None => return Vec::new(),
            },
            None => None,
        };
        // One slot per (unit, model): unit 0 starts at `start`, unit n at `cuts[n - 1]`.
        let models = self.models.len();
        let mut sums: Vec<Sums> = vec![[0; 5]; (cuts.len() + 1) * models];
        let mut seen = vec![false; sums.len()];
        for &(from, to) in spans {
            let first = self.quarters.partition_point(|q| q.bucket < from);
            let last = self.quarters.partition_point(|q| q.bucket < to);
            // Quarters ascend, so their unit only moves forward.
            let mut unit = cuts.partition_point(|&c| c <= from);
            for q in &self.quarters[first..last] {
                if only.is_some_and(|m| m != q.model) {
                    continue;
                }
                while unit < cuts.len() && cuts[unit] <= q.bucket {
                    unit += 1;
                }
                let slot = unit * models + q.model as usize;
                seen[slot] = true;
                for (total, v) in sums[slot].iter_mut().zip(q.sums) {
                    *total += v;
                }
            }
        }
        sums.into_iter()
            .zip(seen)
            .enumerate()
            .filter(|(_, (_, seen))| *seen)
            .map(|(slot, (s, _))| Figures {
                at: match slot / models {
                    0 => start,
                    n => cuts[n - 1],
                },
                model_name: self.models[slot % models].clone(),
                requests: s[0],
                quota: s[1],
                prompt_tokens: s[2],
                completion_tokens: s[3],
                use_time: s[4],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bucket: i64, model: &str, requests: i64, quota: i64) -> Figures {
        Figures {
            at: bucket,
            model_name: model.into(),
            requests,
            quota,
            prompt_tokens: requests * 10,
            completion_tokens: requests * 20,
            use_time: requests,
        }
    }

    fn sorted(mut f: Vec<Figures>) -> Vec<(i64, String, i64, i64)> {
        f.sort_by(|a, b| (a.at, &a.model_name).cmp(&(b.at, &b.model_name)));
        f.into_iter()
            .map(|f| (f.at, f.model_name, f.requests, f.quota))
            .collect()
    }

    #[test]
    fn sums_whole_quarters_per_unit_and_model() {
        let image = Image::from_rows(vec![
            row(0, "a", 1, 10),
            row(900, "b", 2, 20),
            row(1800, "a", 3, 30),
            row(2700, "a", 4, 40),
            row(3600, "a", 5, 50),
        ]);
        // Quarters 900..=2700 only; a unit starts at 1800; the range started at 100.
        let got = sorted(image.figures(&[(900, 3600)], None, 100, &[1800]));
        assert_eq!(
            got,
            vec![(100, "b".into(), 2, 20), (1800, "a".into(), 7, 70)]
        );
        let only_a = sorted(image.figures(&[(0, 900), (3600, 4500)], Some("a"), 0, &[]));
        assert_eq!(only_a, vec![(0, "a".into(), 6, 60)]);
        assert!(image.figures(&[(0, 4500)], Some("zzz"), 0, &[]).is_empty());
        assert!(image.figures(&[(4500, 9000)], None, 0, &[]).is_empty());
    }

    #[test]
    fn models_are_interned_once() {
        let image = Image::from_rows(vec![row(0, "a", 1, 1), row(900, "a", 1, 1)]);
        assert_eq!(image.models, vec!["a".to_string()]);
        assert!(image.bytes() > 0);
    }
}
