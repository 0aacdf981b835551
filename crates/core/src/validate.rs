//! `validator` custom rules shared by the domain request types.

use crate::{Money, Quantity};
use validator::ValidationError;

fn error(code: &'static str, message: &'static str) -> ValidationError {
    let mut e = ValidationError::new(code);
    e.message = Some(message.into());
    e
}

pub fn non_negative_money(m: &Money) -> Result<(), ValidationError> {
    if m.is_negative() {
        return Err(error("range", "must not be negative"));
    }
    Ok(())
}

pub fn non_negative_qty(q: &Quantity) -> Result<(), ValidationError> {
    if q.is_negative() {
        return Err(error("range", "must not be negative"));
    }
    Ok(())
}

pub fn positive_money(m: &Money) -> Result<(), ValidationError> {
    if m.value() <= rust_decimal::Decimal::ZERO {
        return Err(error("range", "must be greater than 0"));
    }
    Ok(())
}

pub fn positive_qty(q: &Quantity) -> Result<(), ValidationError> {
    if q.value() <= rust_decimal::Decimal::ZERO {
        return Err(error("range", "must be greater than 0"));
    }
    Ok(())
}

/// A percentage from 0 to 100 inclusive.
pub fn percent_0_100(r: &crate::Rate) -> Result<(), ValidationError> {
    if r.is_negative() || r.value() > rust_decimal::Decimal::from(100) {
        return Err(error("range", "must be between 0 and 100"));
    }
    Ok(())
}

/// Some visible text: names are stored trimmed, so whitespace alone is no name.
pub fn not_blank(s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        Err(error("blank", "must not be blank"))
    } else {
        Ok(())
    }
}

/// A short code: 1-50 letters, digits, `-` or `_` (campaign codes, order types).
pub fn code(c: &str) -> Result<(), ValidationError> {
    if !c.is_empty() && c.len() <= 50 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(error("code", "must be 1-50 letters, digits, - or _"))
    }
}

/// ISO 3166-1 alpha-2, upper case.
pub fn country_code(c: &str) -> Result<(), ValidationError> {
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(error("country", "must be an ISO 3166-1 alpha-2 code like \"DE\""))
    }
}

/// Walks a parent chain from `start` (nearest first), stopping at a repeat or after
/// 100 levels, so a cycle check never loops. `parent_of` loads one parent link.
pub fn ancestors<E>(start: i64, mut parent_of: impl FnMut(i64) -> Result<Option<i64>, E>) -> Result<Vec<i64>, E> {
    let mut chain = vec![start];
    let mut current = start;
    for _ in 0..100 {
        match parent_of(current)? {
            Some(p) if !chain.contains(&p) => {
                chain.push(p);
                current = p;
            }
            _ => break,
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_stop_at_cycles_and_roots() {
        let parents = |id: i64| -> Result<Option<i64>, ()> {
            Ok(match id {
                3 => Some(2),
                2 => Some(1),
                1 => Some(3),
                _ => None,
            })
        };
        assert_eq!(ancestors(3, parents).unwrap(), vec![3, 2, 1]);
        assert_eq!(ancestors(9, parents).unwrap(), vec![9]);
    }

    #[test]
    fn rules() {
        assert!(country_code("DE").is_ok());
        assert!(country_code("de").is_err());
        assert!(country_code("DEU").is_err());
        assert!(non_negative_money(&Money::parse("-0.01").unwrap()).is_err());
        assert!(non_negative_money(&Money::ZERO).is_ok());
    }
}
