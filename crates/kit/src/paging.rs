//! Paging for every list endpoint: 1-based page numbers and a hard maximum page size.

use crate::problem::FieldError;

/// The largest page any list endpoint serves.
pub const MAX_PAGE_SIZE: i64 = 100;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: i64,
    /// Rows per page, 1 to [`MAX_PAGE_SIZE`].
    pub size: i64,
}

impl Page {
    /// Rows to skip.
    pub fn offset(self) -> i64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// Checks the `page` and `page_size` query values (defaults: 1 and `default_size`),
    /// adding a field error for each one out of range.
    pub fn parse(page: Option<i64>, page_size: Option<i64>, default_size: i64, errors: &mut Vec<FieldError>) -> Page {
        let number = page.unwrap_or(1);
        let size = page_size.unwrap_or(default_size);
        if number < 1 {
            errors.push(FieldError::new("page", "must be 1 or more"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            errors.push(FieldError::new("page_size", format!("must be between 1 and {MAX_PAGE_SIZE}")));
        }
        Page { number, size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_named() {
        let mut errors = Vec::new();
        let page = Page::parse(Some(3), None, 20, &mut errors);
        assert_eq!((page, page.offset(), errors.len()), (Page { number: 3, size: 20 }, 40, 0));
        Page::parse(Some(0), Some(101), 20, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["page", "page_size"]);
    }
}
