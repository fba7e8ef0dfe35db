//! One page of a list, as every list route takes it: `?page` (1-based) and `?page_size`.

/// Deepest row a page may reach (`page × page_size`): lists are read with OFFSET, which
/// walks every skipped row, so a deeper page is refused rather than scanned.
pub const MAX_DEPTH: i64 = 1_000_000;

/// One page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// 1-based page number.
    pub number: i64,
    /// Items per page.
    pub size: i64,
}

/// What a list allows: the size when none is asked for, and the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// `page_size` when the query has none.
    pub default_size: i64,
    /// Largest `page_size`.
    pub max_size: i64,
}

/// Why `page`/`page_size` were refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Not an integer.
    #[error("{0} must be a whole number")]
    NotANumber(&'static str),
    /// `page` below 1.
    #[error("page must be at least 1")]
    PageBelowOne,
    /// `page_size` out of `1..=max`.
    #[error("page_size must be 1 to {0}")]
    SizeOutOfRange(i64),
    /// `page × page_size` beyond [`MAX_DEPTH`].
    #[error("page * page_size must be at most {MAX_DEPTH}")]
    TooDeep,
}

impl Page {
    /// The first page of `size` items.
    pub fn first(size: i64) -> Self {
        Self { number: 1, size }
    }

    /// Items before this page.
    pub fn offset(&self) -> i64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// Parse the raw `page` and `page_size` texts (absent or blank: the defaults, page 1
    /// and `limits.default_size`).
    pub fn parse(
        page: Option<&str>,
        page_size: Option<&str>,
        limits: PageLimits,
    ) -> Result<Page, PageError> {
        let number =
            |name: &'static str, text: Option<&str>, default: i64| match text.map(str::trim) {
                None | Some("") => Ok(default),
                Some(t) => t.parse::<i64>().map_err(|_| PageError::NotANumber(name)),
            };
        let page = Page {
            number: number("page", page, 1)?,
            size: number("page_size", page_size, limits.default_size)?,
        };
        if page.number < 1 {
            return Err(PageError::PageBelowOne);
        }
        if !(1..=limits.max_size).contains(&page.size) {
            return Err(PageError::SizeOutOfRange(limits.max_size));
        }
        if page.number.saturating_mul(page.size) > MAX_DEPTH {
            return Err(PageError::TooDeep);
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: PageLimits = PageLimits {
        default_size: 20,
        max_size: 100,
    };

    fn parse(page: Option<&str>, size: Option<&str>) -> Result<Page, PageError> {
        Page::parse(page, size, LIMITS)
    }

    #[test]
    fn defaults_and_explicit_values() {
        assert_eq!(parse(None, None), Ok(Page::first(20)));
        assert_eq!(parse(Some(" "), Some("")), Ok(Page::first(20)));
        assert_eq!(
            parse(Some("3"), Some(" 7 ")),
            Ok(Page { number: 3, size: 7 })
        );
        assert_eq!(parse(None, Some("100")), Ok(Page::first(100)));
    }

    #[test]
    fn every_rule_has_its_error() {
        assert_eq!(parse(Some("x"), None), Err(PageError::NotANumber("page")));
        assert_eq!(
            parse(None, Some("1.5")),
            Err(PageError::NotANumber("page_size"))
        );
        assert_eq!(parse(Some("0"), None), Err(PageError::PageBelowOne));
        assert_eq!(parse(Some("-4"), None), Err(PageError::PageBelowOne));
        assert_eq!(parse(None, Some("0")), Err(PageError::SizeOutOfRange(100)));
        assert_eq!(
            parse(None, Some("101")),
            Err(PageError::SizeOutOfRange(100))
        );
        assert_eq!(parse(Some("10001"), Some("100")), Err(PageError::TooDeep));
        assert_eq!(
            parse(Some(&i64::MAX.to_string()), Some("100")),
            Err(PageError::TooDeep)
        );
        assert_eq!(
            parse(Some("99999999999999999999"), None),
            Err(PageError::NotANumber("page"))
        );
        assert_eq!(
            PageError::SizeOutOfRange(100).to_string(),
            "page_size must be 1 to 100"
        );
    }

    proptest! {
        /// Whatever is accepted is within the limits, and its offset is exact.
        #[test]
        fn accepted_pages_are_within_limits(page in any::<i64>(), size in any::<i64>()) {
            if let Ok(p) = parse(Some(&page.to_string()), Some(&size.to_string())) {
                prop_assert!(p.number >= 1 && (1..=100).contains(&p.size));
                prop_assert!(p.number * p.size <= MAX_DEPTH);
                prop_assert_eq!(p.offset(), (page - 1) * size);
            } else {
                prop_assert!(page < 1 || !(1..=100).contains(&size) || page.saturating_mul(size) > MAX_DEPTH);
            }
        }
    }
}
