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

pub use tollgate_domain::page::Page;
