//! Answers over a key's consume logs for a range: whole quarter-hour buckets from each
//! token's image in memory (or the rollups) and partial edges summed from the log index, so
//! every figure equals the raw SQL aggregate for the same range as of ingest; log rows' text
//! from new-api.
//!
//! Imports only go down this list: `service` → `export`, `pieces`, `recent` → `cache` →
//! `image`, `range`, `model`; `sums` and `views` are plain arithmetic and shapes.

pub mod cache;
pub mod export;
pub mod image;
pub mod model;
pub mod params;
pub mod pieces;
pub mod range;
pub mod recent;
pub mod service;
pub mod sums;
pub mod views;
