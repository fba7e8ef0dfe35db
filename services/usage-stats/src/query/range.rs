//! The two values every query takes: the range (with its zone) and the page.

use tollgate_domain::zone::{LocalUnit, Unit, Zone};

/// An inclusive range of unix seconds, read in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range {
    /// First second (inclusive).
    pub start: i64,
    /// Last second (inclusive).
    pub end: i64,
    /// Where local days and hours are counted.
    pub zone: Zone,
}

impl Range {
    /// The local units from the one holding `start` to the one holding `end`.
    pub fn units(&self, unit: Unit) -> Vec<LocalUnit> {
        self.zone.units(unit, self.start, self.end)
    }
}

/// One page of a newest-first list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// 1-based page number.
    pub number: i64,
    /// Items per page.
    pub size: i64,
}

impl Page {
    /// The first page of `size` items.
    pub fn first(size: i64) -> Self {
        Self { number: 1, size }
    }

    /// Items before this page.
    pub fn offset(&self) -> i64 {
        (self.number - 1) * self.size
    }
}
