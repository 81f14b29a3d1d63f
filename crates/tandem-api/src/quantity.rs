//! Kubernetes resource quantities (`100m`, `1.5Gi`, `1e3`, `512Ki`), parsed exactly (no floats).
//!
//! Grammar (apimachinery `resource.ParseQuantity`): `[+-]digits[.digits](suffix)?` where the
//! suffix is binary SI (`Ki Mi Gi Ti Pi Ei`), decimal SI (`n u m k M G T P E`) or a decimal
//! exponent (`e3`, `E-2`). Conversions round up, as `MilliValue()` and `Value()` do.

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error("a quantity must not be empty")]
    Empty,
    #[error("invalid quantity {0:?}: expected a number with an optional suffix (e.g. 100m, 1.5, 512Mi, 2Gi, 1e3)")]
    Format(String),
    #[error("invalid quantity {0:?}: unknown suffix {1:?} (use Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent like e3)")]
    Suffix(String, String),
    #[error("invalid quantity {0:?}: too large")]
    TooLarge(String),
}

/// A parsed quantity: `mantissa × 10^exp10 × 2^exp2`, with a sign.
#[derive(Debug, Clone)]
pub struct Quantity {
    text: String,
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

/// Parses a quantity string.
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if bytes[0] == b'+' || bytes[0] == b'-' {
        negative = bytes[0] == b'-';
        i = 1;
    }
    let mut mantissa: u128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    let too_large = || QuantityError::TooLarge(text.to_string());
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        mantissa = push_digit(mantissa, bytes[i]).ok_or_else(too_large)?;
        digits += 1;
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            mantissa = push_digit(mantissa, bytes[i]).ok_or_else(too_large)?;
            exp10 -= 1;
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(QuantityError::Format(text.to_string()));
    }
    let suffix = &text[i..];
    let mut exp2 = 0u32;
    match suffix {
        "" => {}
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .filter(|e| {
                    let d = e.strip_prefix(['+', '-']).unwrap_or(e);
                    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                });
            match exp.map(str::parse::<i32>) {
                Some(Ok(e)) if e.abs() < 1000 => exp10 += e,
                Some(_) => return Err(too_large()),
                None => {
                    let valid_chars = suffix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-');
                    return Err(if valid_chars {
                        QuantityError::Suffix(text.to_string(), suffix.to_string())
                    } else {
                        QuantityError::Format(text.to_string())
                    });
                }
            }
        }
    }
    Ok(Quantity {
        text: text.to_string(),
        negative: negative && mantissa != 0,
        mantissa,
        exp10,
        exp2,
    })
}

fn push_digit(m: u128, d: u8) -> Option<u128> {
    m.checked_mul(10)?.checked_add(u128::from(d - b'0'))
}

impl Quantity {
    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The value in units of `10^unit_exp10`, rounded up (toward +∞), saturating at the `i64` range.
    fn scaled(&self, unit_exp10: i32) -> i64 {
        let shift = self.exp10 - unit_exp10;
        let magnitude: Option<u128> = (|| {
            let mut v = self.mantissa.checked_mul(1u128.checked_shl(self.exp2)?)?;
            if shift >= 0 {
                for _ in 0..shift {
                    v = v.checked_mul(10)?;
                }
                Some(v)
            } else {
                let mut div: u128 = 1;
                for _ in 0..(-shift) {
                    match div.checked_mul(10) {
                        Some(d) => div = d,
                        // The divisor exceeds any mantissa: the value is a fraction of one unit.
                        None => return Some(u128::from(v != 0 && !self.negative)),
                    }
                }
                let q = v / div;
                let r = v % div;
                // Round toward +∞: up for positive values, toward zero for negative ones.
                Some(if r != 0 && !self.negative { q + 1 } else { q })
            }
        })();
        match magnitude {
            Some(m) if m <= i64::MAX as u128 => {
                let m = m as i64;
                if self.negative {
                    -m
                } else {
                    m
                }
            }
            _ => {
                if self.negative {
                    i64::MIN
                } else {
                    i64::MAX
                }
            }
        }
    }

    /// `MilliValue()`: thousandths, rounded up. CPU `100m` → 100; `0.5` → 500.
    pub fn milli_value(&self) -> i64 {
        self.scaled(-3)
    }

    /// `Value()`: whole units, rounded up. `1Ki` → 1024; `1.5` → 2.
    pub fn value(&self) -> i64 {
        self.scaled(0)
    }

    /// CPU in millicores, `None` when negative.
    pub fn cpu_millis(&self) -> Option<u64> {
        u64::try_from(self.milli_value()).ok()
    }

    /// Bytes (memory, storage), `None` when negative.
    pub fn bytes(&self) -> Option<u64> {
        u64::try_from(self.value()).ok()
    }

    /// The quantity as the API server prints it back (`Quantity.String()` of a canonicalised
    /// byte count), for messages that quote a limit: `1024Ki` → `1Mi`, `1.5Mi` → `1536Ki`,
    /// `5000000` → `5M`, `1e6` → `1e6`. A binary quantity below 1024 prints
    /// as a decimal one, as apimachinery does. `None` when negative.
    pub fn canonical_bytes(&self) -> Option<String> {
        Some(canonical_bytes_like(self.bytes()?, &self.text))
    }

    /// Billionths, rounded up: exact enough to compare and add, as Kubernetes itself cannot
    /// represent finer than nano units.
    pub(crate) fn nano_value(&self) -> i128 {
        i128::from(self.scaled(-9))
    }

    /// `RoundUp(-3)`, which the API server's defaulting applies to every resource list: the
    /// quantity in thousandths (`1n` → `1m`), or `None` when it has no finer part to lose.
    pub(crate) fn rounded_to_milli(&self) -> Option<String> {
        if self.negative || self.exp10 >= -3 || self.nano_value() % 1_000_000 == 0 {
            return None;
        }
        Some(from_nanos(i128::from(self.milli_value()) * 1_000_000, ""))
    }
}

/// A count of billionths as apimachinery prints a quantity in the format of `like`: `14`,
/// `128Mi`, `1500m`, `7n`.
pub(crate) fn from_nanos(n: i128, like: &str) -> String {
    let (sign, n) = if n < 0 { ("-", -n) } else { ("", n) };
    if n % 1_000_000_000 == 0 {
        let whole = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
        return format!("{sign}{}", canonical_bytes_like(whole, like));
    }
    if n % 1_000_000 == 0 {
        format!("{sign}{}m", n / 1_000_000)
    } else if n % 1_000 == 0 {
        format!("{sign}{}u", n / 1_000)
    } else {
        format!("{sign}{n}n")
    }
}

/// `bytes` printed in the canonical form of the format `like` is written in (binary `Ki`…`Ei`,
/// decimal exponent `e3`, else decimal SI): see [`Quantity::canonical_bytes`]. For limits that
/// are sums of several quantities, as apimachinery keeps the format of the first.
pub fn canonical_bytes_like(v: u64, like: &str) -> String {
    let suffix = like.trim_start_matches(|c: char| c.is_ascii_digit() || "+-.".contains(c));
    if suffix.ends_with('i') && v >= 1024 {
        const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let (mut m, mut k) = (v, 0);
        while k + 1 < BINARY.len() && m % 1024 == 0 {
            m /= 1024;
            k += 1;
        }
        return format!("{m}{}", BINARY[k]);
    }
    let (mut m, mut exp) = (v, 0);
    while m != 0 && m % 1000 == 0 && exp < 18 {
        m /= 1000;
        exp += 3;
    }
    // `E` alone is exa; `E3` and `e3` are exponents.
    let exponent = suffix.len() > 1 && suffix.starts_with(['e', 'E']);
    match (exp, exponent) {
        (0, _) => m.to_string(),
        (e, true) => format!("{m}e{e}"),
        (e, false) => {
            let si = ["k", "M", "G", "T", "P", "E"][(e / 3 - 1) as usize];
            format!("{m}{si}")
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.nano_value(), other.nano_value());
        if a == b && a.unsigned_abs() == i64::MAX as u128 {
            // Both saturated: compare whole units instead.
            return self.value().cmp(&other.value());
        }
        a.cmp(&b)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        parse_quantity(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cpu_millis() {
        for (s, want) in [
            ("100m", 100),
            ("1", 1000),
            ("0.5", 500),
            ("1.5", 1500),
            (".25", 250),
            ("2.", 2000),
            ("0.1m", 1),
            ("1e-3", 1),
            ("1e3", 1_000_000),
            ("250000u", 250),
            ("1n", 1),
            ("0", 0),
            ("+3", 3000),
        ] {
            assert_eq!(q(s).cpu_millis(), Some(want), "{s}");
        }
    }

    #[test]
    fn bytes() {
        for (s, want) in [
            ("1Ki", 1024u64),
            ("1.5Gi", 1_610_612_736),
            ("128Mi", 134_217_728),
            ("1k", 1000),
            ("1M", 1_000_000),
            ("2G", 2_000_000_000),
            ("1T", 1_000_000_000_000),
            ("1P", 1_000_000_000_000_000),
            ("1E", 1_000_000_000_000_000_000),
            ("1Ei", 1_152_921_504_606_846_976),
            ("1E3", 1000),
            ("12e6", 12_000_000),
            ("1.5", 2),
            ("500m", 1),
            ("129e6", 129_000_000),
        ] {
            assert_eq!(q(s).bytes(), Some(want), "{s}");
        }
    }

    #[test]
    fn canonical_bytes_as_the_api_server_prints_them() {
        for (s, want) in [
            ("1Mi", "1Mi"),
            ("1024Ki", "1Mi"),
            ("1536Ki", "1536Ki"),
            ("1.5Mi", "1536Ki"),
            ("0.5Ki", "512"),
            ("5Gi", "5Gi"),
            ("5000000", "5M"),
            ("16M", "16M"),
            ("1048576", "1048576"),
            ("1500k", "1500k"),
            ("1e6", "1e6"),
            ("12e6", "12e6"),
            ("0", "0"),
            ("2E", "2E"),
        ] {
            assert_eq!(q(s).canonical_bytes().as_deref(), Some(want), "{s}");
        }
        assert_eq!(q("-1Mi").canonical_bytes(), None);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_quantity(""), Err(QuantityError::Empty));
        assert!(matches!(
            parse_quantity("abc"),
            Err(QuantityError::Format(_))
        ));
        assert!(matches!(
            parse_quantity("1K"),
            Err(QuantityError::Suffix(..))
        ));
        assert!(matches!(
            parse_quantity("1Gb"),
            Err(QuantityError::Suffix(..))
        ));
        assert!(matches!(
            parse_quantity("1 Gi"),
            Err(QuantityError::Format(_))
        ));
        assert!(matches!(parse_quantity("."), Err(QuantityError::Format(_))));
        assert!(matches!(
            parse_quantity("1e"),
            Err(QuantityError::Suffix(..))
        ));
    }

    #[test]
    fn negative_and_ordering() {
        assert!(q("-1").is_negative());
        assert_eq!(q("-1").cpu_millis(), None);
        assert!(!q("-0").is_negative());
        assert!(q("500m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1024"), q("1Ki"));
        assert_eq!(q("99999999999999999999E").value(), i64::MAX);
    }
}
