//! Prepaid-balance policy: when an organisation needs a recharge, how much, and the fee.
//!
//! Pure rules, applied by billing while it holds the organisation's row lock.

use crate::money::{Cents, MoneyError};

/// The fee added on top of a recharge: a percentage of the amount plus a fixed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    /// Percentage in basis points (hundredths of a percent): 290 = 2.90 %.
    pub percent_basis_points: i64,
    /// Fixed part per charge.
    pub fixed: Cents,
}

/// Why a fee setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// The percentage is not a decimal with at most two decimals.
    #[error("fee percent: {0}")]
    Percent(MoneyError),
    /// The percentage is negative or 100 % or more.
    #[error("fee percent must be at least 0 and below 100")]
    PercentRange,
    /// The fixed part is not a dollar amount.
    #[error("fixed fee: {0}")]
    Fixed(MoneyError),
    /// The fixed part is negative.
    #[error("fixed fee must not be negative")]
    FixedNegative,
}

impl FeeSchedule {
    /// Parse `percent` (`"2.9"`, at most two decimals) and `fixed` dollars (`"0.30"`).
    pub fn parse(percent: &str, fixed: &str) -> Result<Self, FeeError> {
        // A percentage with two decimals is a whole number of basis points, so the dollar
        // parser (two decimals, exact) reads it as "cents of a percent".
        let basis_points = Cents::parse_dollars(percent).map_err(FeeError::Percent)?.0;
        if !(0..10_000).contains(&basis_points) {
            return Err(FeeError::PercentRange);
        }
        let fixed = Cents::parse_dollars(fixed).map_err(FeeError::Fixed)?;
        if fixed.0 < 0 {
            return Err(FeeError::FixedNegative);
        }
        Ok(Self {
            percent_basis_points: basis_points,
            fixed,
        })
    }

    /// The fee for `amount`: the percentage rounded up to the cent, plus the fixed part.
    pub fn fee_for(&self, amount: Cents) -> Cents {
        let scaled = i128::from(amount.0.max(0)) * i128::from(self.percent_basis_points);
        let percent_part = (scaled + 9_999) / 10_000;
        Cents(
            i64::try_from(percent_part)
                .unwrap_or(i64::MAX)
                .saturating_add(self.fixed.0),
        )
    }

    /// Amount, fee and total for a recharge of `amount`.
    pub fn quote(&self, amount: Cents) -> Quote {
        let fee = self.fee_for(amount);
        Quote {
            amount,
            fee,
            total_charge: Cents(amount.0.saturating_add(fee.0)),
        }
    }
}

/// What one recharge costs: the credited `amount`, the `fee`, and the card's `total_charge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Credited to the organisation (raises its KMS quota).
    pub amount: Cents,
    /// Added on top.
    pub fee: Cents,
    /// Charged to the card: amount + fee.
    pub total_charge: Cents,
}

/// An organisation's recharge settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeSettings {
    /// Recharge when the balance falls below this.
    pub minimum_balance: Cents,
    /// A recharge brings the balance up to this.
    pub target_balance: Cents,
    /// Never recharge less than this.
    pub minimum_recharge_amount: Cents,
}

impl RechargeSettings {
    /// The amount to recharge at `balance`, or `None` when the balance is at least the
    /// minimum: `max(minimum_recharge_amount, target_balance - balance)`.
    pub fn amount_needed(&self, balance: Cents) -> Option<Cents> {
        if balance >= self.minimum_balance {
            return None;
        }
        let gap = self.target_balance.0.saturating_sub(balance.0);
        Some(Cents(gap.max(self.minimum_recharge_amount.0).max(1)))
    }
}

/// Everything the automatic decision looks at, read under the organisation's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSnapshot {
    /// Auto-recharge switched on.
    pub auto_recharge_enabled: bool,
    /// Auto-recharge paused (a dispute) until an admin switches it on again.
    pub paused: bool,
    /// A default payment method is saved.
    pub has_payment_method: bool,
    /// Automatic recharges today (UTC) that took or may take money.
    pub automatic_recharges_today: u32,
    /// The daily cap.
    pub max_daily_recharges: u32,
    /// Credit of automatic recharges this UTC month that took or may take money.
    pub automatic_this_month: Cents,
    /// The monthly cap on that credit (none: no cap).
    pub max_monthly_recharge: Option<Cents>,
    /// Delivered credit (the KMS quota).
    pub credited: Cents,
    /// Recharges recorded but not yet delivered: counted as credit so that concurrent
    /// events do not each charge.
    pub in_flight: Cents,
    /// Spend reported by the KMS.
    pub usage: Cents,
    /// The organisation's settings.
    pub settings: RechargeSettings,
}

impl OrgSnapshot {
    /// Credit (delivered and in flight) minus usage.
    pub fn balance(&self) -> Cents {
        Cents(
            self.credited
                .0
                .saturating_add(self.in_flight.0)
                .saturating_sub(self.usage.0),
        )
    }
}

/// The automatic decision for a limit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoDecision {
    /// Auto-recharge is off (`none`).
    Disabled,
    /// Auto-recharge is paused after a dispute (`paused`).
    Paused,
    /// The balance already covers the minimum (`not_needed`).
    NotNeeded,
    /// No payment method saved (`no_payment_method`).
    NoPaymentMethod,
    /// The daily cap of automatic recharges is used up (`daily_limit_reached`).
    DailyLimitReached,
    /// The recharge would take this month's automatic credit past the cap
    /// (`monthly_limit_reached`).
    MonthlyLimitReached,
    /// Charge this.
    Recharge(Quote),
}

impl AutoDecision {
    /// The webhook answer's `action` for a decision that ends without a charge.
    pub fn action(&self) -> &'static str {
        match self {
            AutoDecision::Disabled => "none",
            AutoDecision::Paused => "paused",
            AutoDecision::NotNeeded => "not_needed",
            AutoDecision::NoPaymentMethod => "no_payment_method",
            AutoDecision::DailyLimitReached => "daily_limit_reached",
            AutoDecision::MonthlyLimitReached => "monthly_limit_reached",
            AutoDecision::Recharge(_) => "auto_recharged",
        }
    }
}

/// Decide, in this order: off → paused → covered → no card → daily cap → monthly cap →
/// recharge. The monthly cap counts credited amounts (fees excluded).
pub fn decide(org: &OrgSnapshot, fees: &FeeSchedule) -> AutoDecision {
    if !org.auto_recharge_enabled {
        return AutoDecision::Disabled;
    }
    if org.paused {
        return AutoDecision::Paused;
    }
    let Some(amount) = org.settings.amount_needed(org.balance()) else {
        return AutoDecision::NotNeeded;
    };
    if !org.has_payment_method {
        return AutoDecision::NoPaymentMethod;
    }
    if org.automatic_recharges_today >= org.max_daily_recharges {
        return AutoDecision::DailyLimitReached;
    }
    if let Some(cap) = org.max_monthly_recharge {
        if org.automatic_this_month.0.saturating_add(amount.0) > cap.0 {
            return AutoDecision::MonthlyLimitReached;
        }
    }
    AutoDecision::Recharge(fees.quote(amount))
}

/// Payment failures in a row after which auto-recharge is switched off.
pub const MAX_CONSECUTIVE_PAYMENT_FAILURES: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RechargeSettings {
        RechargeSettings {
            minimum_balance: Cents::from_dollars(100),
            target_balance: Cents::from_dollars(500),
            minimum_recharge_amount: Cents::from_dollars(200),
        }
    }

    fn org(usage: Cents) -> OrgSnapshot {
        OrgSnapshot {
            auto_recharge_enabled: true,
            paused: false,
            has_payment_method: true,
            automatic_recharges_today: 0,
            max_daily_recharges: 5,
            automatic_this_month: Cents::ZERO,
            max_monthly_recharge: None,
            credited: Cents::ZERO,
            in_flight: Cents::ZERO,
            usage,
            settings: settings(),
        }
    }

    #[test]
    fn seed_example_recharges_to_target() {
        // The seed's e2e: usage 520 against nothing credited → balance −520 → 1020.
        let d = decide(&org(Cents::from_dollars(520)), &FeeSchedule::default());
        let AutoDecision::Recharge(q) = d else {
            panic!("{d:?}")
        };
        assert_eq!(q.amount, Cents::from_dollars(1020));
        assert_eq!(q.fee, Cents::ZERO);
        assert_eq!(q.total_charge, Cents::from_dollars(1020));
    }

    #[test]
    fn minimum_recharge_amount_applies_when_the_gap_is_small() {
        let mut o = org(Cents::from_dollars(420));
        o.credited = Cents::from_dollars(500); // balance 80 < 100, gap 420 > 200
        assert_eq!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::Recharge(FeeSchedule::default().quote(Cents::from_dollars(420)))
        );
        o.usage = Cents(40_001); // balance 99.99, gap 400.01
        let AutoDecision::Recharge(q) = decide(&o, &FeeSchedule::default()) else {
            panic!()
        };
        assert_eq!(q.amount, Cents(40_001));
        let mut s = settings();
        s.minimum_recharge_amount = Cents::from_dollars(450);
        o.settings = s;
        let AutoDecision::Recharge(q) = decide(&o, &FeeSchedule::default()) else {
            panic!()
        };
        assert_eq!(q.amount, Cents::from_dollars(450));
    }

    #[test]
    fn balance_at_minimum_is_covered_and_in_flight_counts() {
        let mut o = org(Cents::from_dollars(400));
        o.credited = Cents::from_dollars(500); // balance exactly 100
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::NotNeeded);
        o.credited = Cents::ZERO;
        o.in_flight = Cents::from_dollars(500);
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::NotNeeded);
    }

    #[test]
    fn decision_order() {
        let mut o = org(Cents::from_dollars(520));
        o.auto_recharge_enabled = false;
        o.has_payment_method = false;
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::Disabled);
        o.auto_recharge_enabled = true;
        assert_eq!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::NoPaymentMethod
        );
        o.has_payment_method = true;
        o.automatic_recharges_today = 5;
        assert_eq!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::DailyLimitReached
        );
        o.max_daily_recharges = 6;
        assert!(matches!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::Recharge(_)
        ));
        o.credited = Cents::from_dollars(10_000);
        o.has_payment_method = false;
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::NotNeeded);
        assert_eq!(AutoDecision::NotNeeded.action(), "not_needed");
    }

    #[test]
    fn pause_and_monthly_cap() {
        let mut o = org(Cents::from_dollars(520)); // needs 1020
        o.paused = true;
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::Paused);
        assert_eq!(AutoDecision::Paused.action(), "paused");
        o.paused = false;
        o.max_monthly_recharge = Some(Cents::from_dollars(2000));
        o.automatic_this_month = Cents::from_dollars(980);
        assert!(
            matches!(
                decide(&o, &FeeSchedule::default()),
                AutoDecision::Recharge(_)
            ),
            "980 + 1020 is exactly the cap"
        );
        o.automatic_this_month = Cents(98_001);
        assert_eq!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::MonthlyLimitReached
        );
        assert_eq!(
            AutoDecision::MonthlyLimitReached.action(),
            "monthly_limit_reached"
        );
        // The daily cap is looked at first; a covered balance never reaches either.
        o.automatic_recharges_today = 5;
        assert_eq!(
            decide(&o, &FeeSchedule::default()),
            AutoDecision::DailyLimitReached
        );
        o.credited = Cents::from_dollars(10_000);
        assert_eq!(decide(&o, &FeeSchedule::default()), AutoDecision::NotNeeded);
    }

    #[test]
    fn fees_round_up_to_the_cent() {
        let f = FeeSchedule::parse("2.9", "0.30").unwrap();
        assert_eq!(f.percent_basis_points, 290);
        assert_eq!(f.fee_for(Cents::from_dollars(100)), Cents(320));
        // 2.9 % of 10.01 = 0.29029 → 0.30, + 0.30
        assert_eq!(f.fee_for(Cents(1001)), Cents(60));
        let q = f.quote(Cents(1001));
        assert_eq!(q.total_charge, Cents(1061));
        assert_eq!(
            FeeSchedule::parse("0", "0").unwrap().fee_for(Cents(999)),
            Cents::ZERO
        );
    }

    #[test]
    fn fee_settings_are_validated() {
        assert_eq!(FeeSchedule::parse("100", "0"), Err(FeeError::PercentRange));
        assert_eq!(FeeSchedule::parse("-1", "0"), Err(FeeError::PercentRange));
        assert!(matches!(
            FeeSchedule::parse("2.999", "0"),
            Err(FeeError::Percent(_))
        ));
        assert_eq!(
            FeeSchedule::parse("1", "-0.3"),
            Err(FeeError::FixedNegative)
        );
        assert!(matches!(
            FeeSchedule::parse("1", "x"),
            Err(FeeError::Fixed(_))
        ));
    }
}
