//! Usage arithmetic: rollup buckets, and splitting an inclusive `[start, end]` range of unix
//! seconds into the fewest pieces of whole rollup buckets plus raw edges.

/// Seconds in a 15-minute bucket (divides every real UTC offset, e.g. +05:45).
pub const QUARTER: i64 = 900;
/// Seconds in an hour bucket.
pub const HOUR: i64 = 3_600;
/// Seconds in a (UTC) day bucket.
pub const DAY: i64 = 86_400;

/// The start of the bucket of `size` seconds holding `ts`.
pub fn bucket_of(ts: i64, size: i64) -> i64 {
    ts - ts.rem_euclid(size)
}

/// One piece of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Raw logs with `first <= created_at <= last`.
    Raw {
        /// First second.
        first: i64,
        /// Last second.
        last: i64,
    },
    /// Whole buckets of `size` with starts `first..=last` (step `size`).
    Buckets {
        /// Bucket size in seconds.
        size: i64,
        /// First bucket start.
        first: i64,
        /// Last bucket start.
        last: i64,
    },
}

/// Split `[start, end]` (inclusive) into raw edges and whole buckets, using buckets of the
/// given sizes (each a multiple of the next, largest first, e.g. `[DAY, HOUR, QUARTER]`).
/// Pieces do not overlap and cover exactly the range.
pub fn split(start: i64, end: i64, sizes: &[i64]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    if start > end {
        return pieces;
    }
    split_into(start, end + 1, sizes, &mut pieces);
    pieces
}

/// The rollup sizes, largest first.
pub const SIZES: [i64; 3] = [DAY, HOUR, QUARTER];

/// Split `[start, end]` (inclusive) into raw edges and whole rollup buckets such that no
/// bucket holds one of `cuts` (ascending unix seconds, e.g. the starts of local days) except
/// at its own start: then every bucket lies inside one local unit, and figures summed per
/// unit equal the raw rows'. Contiguous buckets of one size are merged into one piece; raw
/// pieces are not merged, so each lies between two cuts too.
pub fn plan(start: i64, end: i64, cuts: &[i64]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    if start > end {
        return pieces;
    }
    let mut lo = start;
    for &cut in cuts.iter().filter(|&&c| c > start && c <= end) {
        if cut > lo {
            split_into(lo, cut, &SIZES, &mut pieces);
            lo = cut;
        }
    }
    split_into(lo, end + 1, &SIZES, &mut pieces);
    let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match (merged.last_mut(), p) {
            (
                Some(Piece::Buckets { size, last, .. }),
                Piece::Buckets {
                    size: s,
                    first: f,
                    last: l,
                },
            ) if *size == s && *last + s == f => *last = l,
            _ => merged.push(p),
        }
    }
    merged
}

/// `[lo, hi)` half-open.
fn split_into(lo: i64, hi: i64, sizes: &[i64], out: &mut Vec<Piece>) {
    let Some((&size, finer)) = sizes.split_first() else {
        if lo < hi {
            out.push(Piece::Raw {
                first: lo,
                last: hi - 1,
            });
        }
        return;
    };
    let first = lo + (size - lo.rem_euclid(size)) % size; // first boundary >= lo
    let last_end = bucket_of(hi, size); // last boundary <= hi
    if first >= last_end {
        split_into(lo, hi, finer, out);
        return;
    }
    split_into(lo, first, finer, out);
    out.push(Piece::Buckets {
        size,
        first,
        last: last_end - size,
    });
    split_into(last_end, hi, finer, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIZES: &[i64] = &[DAY, HOUR, QUARTER];

    fn covered(pieces: &[Piece]) -> Vec<(i64, i64)> {
        pieces
            .iter()
            .map(|p| match *p {
                Piece::Raw { first, last } => (first, last),
                Piece::Buckets { size, first, last } => (first, last + size - 1),
            })
            .collect()
    }

    fn assert_exact_cover(start: i64, end: i64) {
        let pieces = split(start, end, SIZES);
        let spans = covered(&pieces);
        assert_eq!(spans.first().map(|s| s.0), Some(start), "{pieces:?}");
        assert_eq!(spans.last().map(|s| s.1), Some(end), "{pieces:?}");
        for pair in spans.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "gap or overlap in {pieces:?}");
        }
        for p in &pieces {
            if let Piece::Buckets { size, first, last } = *p {
                assert_eq!(first.rem_euclid(size), 0);
                assert!(last >= first);
            }
        }
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_of(1_700_000_123, QUARTER), 1_700_000_100);
        assert_eq!(bucket_of(-1, HOUR), -HOUR);
        assert_eq!(bucket_of(0, DAY), 0);
    }

    #[test]
    fn a_thirty_day_range_uses_days_in_the_middle() {
        let start = 1_700_000_123;
        let end = start + 30 * DAY;
        let pieces = split(start, end, SIZES);
        assert_exact_cover(start, end);
        let days = pieces.iter().find_map(|p| match p {
            Piece::Buckets {
                size: DAY,
                first,
                last,
            } => Some((last - first) / DAY + 1),
            _ => None,
        });
        assert_eq!(days, Some(29));
        assert!(pieces.len() <= 7, "{pieces:?}");
    }

    #[test]
    fn every_kind_of_range_is_covered_exactly() {
        let base = 1_700_006_400; // a UTC midnight
        for (s, e) in [
            (0, 0),
            (0, QUARTER - 1),
            (1, QUARTER),
            (0, DAY - 1),
            (0, DAY),
            (-1, DAY),
            (17, 3 * DAY + 123),
            (HOUR - 1, HOUR),
            (DAY - 1, DAY),
        ] {
            assert_exact_cover(base + s, base + e);
        }
        assert_eq!(
            split(base, base + DAY - 1, SIZES),
            vec![Piece::Buckets {
                size: DAY,
                first: base,
                last: base
            }]
        );
        assert_eq!(
            split(base + 5, base + 9, SIZES),
            vec![Piece::Raw {
                first: base + 5,
                last: base + 9
            }]
        );
        assert!(split(base + 1, base, SIZES).is_empty());
    }

    fn bucket_spans(pieces: &[Piece]) -> Vec<(i64, i64)> {
        pieces
            .iter()
            .flat_map(|p| match *p {
                Piece::Raw { first, last } => vec![(first, last)],
                Piece::Buckets { size, first, last } => (0..=(last - first) / size)
                    .map(|i| (first + i * size, first + (i + 1) * size - 1))
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn a_plan_over_whole_utc_days_with_hour_cuts_uses_hours() {
        let base = 1_700_006_400; // a UTC midnight
        let cuts: Vec<i64> = (1..72).map(|h| base + h * HOUR).collect();
        let pieces = plan(base + 100, base + 3 * DAY - 5, &cuts);
        assert!(pieces
            .iter()
            .all(|p| !matches!(p, Piece::Buckets { size: DAY, .. })));
        assert!(pieces.len() <= 6, "{pieces:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Pieces cover the range exactly, buckets are aligned, and no bucket or raw piece
        /// holds a cut anywhere but at its first second.
        #[test]
        fn plans_cover_exactly_and_never_straddle_a_cut(
            start in 0i64..10 * DAY,
            len in 0i64..8 * DAY,
            cuts in proptest::collection::vec(0i64..20 * DAY, 0..40),
            snap in proptest::collection::vec(prop_oneof![Just(1i64), Just(QUARTER), Just(HOUR)], 40),
        ) {
            let end = start + len;
            let mut cuts: Vec<i64> = cuts.iter().zip(&snap).map(|(c, s)| c - c % s).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let pieces = plan(start, end, &cuts);
            let spans = bucket_spans(&pieces);
            prop_assert_eq!(spans.first().map(|s| s.0), Some(start));
            prop_assert_eq!(spans.last().map(|s| s.1), Some(end));
            for pair in spans.windows(2) {
                prop_assert_eq!(pair[0].1 + 1, pair[1].0);
            }
            for (lo, hi) in &spans {
                prop_assert!(!cuts.iter().any(|c| c > lo && c <= hi), "{} {} {:?}", lo, hi, pieces);
            }
            for p in &pieces {
                if let Piece::Buckets { size, first, .. } = *p {
                    prop_assert_eq!(first.rem_euclid(size), 0);
                }
            }
        }
    }
}
