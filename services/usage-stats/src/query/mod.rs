//! Answers over a key's consume logs for `[start, end]`: whole rollup buckets from
//! Tollgate's Postgres, partial edges straight from new-api's `logs`, so every figure equals
//! the raw SQL aggregate for the same range.

pub mod cache;
pub mod detail;
pub mod params;
pub mod pieces;
pub mod recent;
