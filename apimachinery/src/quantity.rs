//! Resource quantities (`250m`, `1.5Gi`, `2e3`): the one exact parser every
//! component uses for requests, limits, capacity, `sizeLimit` and eviction
//! thresholds.
//!
//! A quantity is held as an integer mantissa and a power of ten
//! (`value = mantissa * 10^exponent`), never as a float, so `4.03` CPUs are
//! exactly 4030 millicores and `0.1 + 0.2` questions never arise. The rules
//! follow upstream's `resource.Quantity`:
//!
//! - the text is `<sign><digits>[.<digits>]<suffix>`, no spaces; the suffix
//!   is decimal SI (`n u m "" k M G T P E`), binary SI (`Ki Mi Gi Ti Pi Ei`)
//!   or a decimal exponent (`e3`, `E-6`, `e+2`). `E` alone is exa, `E3` is
//!   an exponent;
//! - values finer than one nano-unit are rounded up (away from zero) to 1n;
//! - binary quantities above 2^63-1 are capped there, and one below 1 is
//!   treated as decimal (`0.000000000001Ki` is `2n`);
//! - [`Quantity::value`] and [`Quantity::milli_value`] round up, away from
//!   zero, as upstream's `Value`/`MilliValue` do (`1.5` is `2`, `0.1m` is `1m`),
//!   and saturate at the `i64` range;
//! - [`Display`](std::fmt::Display) writes the canonical form upstream
//!   serializes (`1024Mi` -> `1Gi`, `1.5` -> `1500m`, `1000M` -> `1G`,
//!   `1.2e3` -> `1200`... in the format it was written in).
//!
//! One deliberate difference: a text with no digit at all (`.`, `-`) is an
//! error here, where upstream reads it as zero.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a text is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text does not have the shape `<sign><digits>[.<digits>]<suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    /// The suffix is none of the SI, binary or exponent suffixes.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The number has more significant digits (38) or a larger exponent
    /// than this parser represents exactly.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
}

/// How a quantity was written, which is how it is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten with SI suffixes: `500m`, `2G`.
    DecimalSI,
    /// Powers of 1024 with binary suffixes: `64Mi`.
    BinarySI,
    /// Powers of ten as exponents: `12e6`.
    DecimalExponent,
}

/// An exact resource amount: `mantissa * 10^exponent`.
///
/// Equality and order compare the amounts (`1Gi == 1073741824`), whatever
/// the format.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    /// Never has trailing decimal zeros (they move into `exponent`); 0 for zero.
    mantissa: i128,
    /// Power of ten; at least -9 (nano) for parsed values; 0 for zero.
    exponent: i32,
    format: Format,
}

/// The scale of milli-units (`MilliValue`).
pub const MILLI: i32 = -3;
/// The finest scale a quantity keeps: one nano-unit.
pub const NANO: i32 = -9;

const DECIMAL_SUFFIXES: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

const BINARY_SUFFIXES: &[(&str, u32)] = &[
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];

/// Largest `i128` power of ten.
const MAX_POW10: u32 = 38;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// What a suffix means: a power of ten or of 1024.
enum Suffix {
    Decimal(i64, Format),
    Binary(u32),
}

fn interpret(suffix: &str) -> Result<Suffix, Error> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok(Suffix::Decimal(i64::from(*e), Format::DecimalSI));
    }
    if let Some((_, k)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok(Suffix::Binary(*k));
    }
    match suffix.strip_prefix(['e', 'E']) {
        Some(exp) if !exp.is_empty() => exp
            .parse::<i64>()
            .map(|e| Suffix::Decimal(e, Format::DecimalExponent))
            .map_err(|_| Error::Suffix),
        _ => Err(Error::Suffix),
    }
}

/// Splits `<sign><int>.<frac><suffix>`, checking the shape only.
fn split(s: &str) -> Result<(bool, &str, &str, &str), Error> {
    let b = s.as_bytes();
    let mut pos = 0;
    let negative = match b.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    let digits_from = |mut p: usize| {
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        p
    };
    let int_end = digits_from(pos);
    let int = &s[pos..int_end];
    pos = int_end;
    let mut frac = "";
    if b.get(pos) == Some(&b'.') {
        let frac_end = digits_from(pos + 1);
        frac = &s[pos + 1..frac_end];
        pos = frac_end;
    }
    if int.is_empty() && frac.is_empty() {
        return Err(Error::Format);
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if matches!(b.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    pos = digits_from(pos);
    if pos != b.len() {
        return Err(Error::Format);
    }
    Ok((negative, int, frac, &s[suffix_start..]))
}

/// `m` divided by `10^n`, rounded away from zero.
fn div_pow10_up(m: i128, n: u32) -> i128 {
    if m == 0 {
        return 0;
    }
    let Some(d) = pow10(n) else {
        return m.signum();
    };
    let (q, r) = (m / d, m % d);
    if r == 0 {
        q
    } else {
        q + m.signum()
    }
}

impl Quantity {
    /// Zero, written `0`.
    pub const ZERO: Quantity = Quantity {
        mantissa: 0,
        exponent: 0,
        format: Format::DecimalSI,
    };

    /// `value * 10^exponent` in `format`.
    pub fn new(value: i64, exponent: i32, format: Format) -> Quantity {
        Quantity {
            mantissa: i128::from(value),
            exponent,
            format,
        }
        .normalized()
    }

    /// Parses the text form (see the module docs).
    pub fn parse(s: &str) -> Result<Quantity, Error> {
        let (negative, int, frac, suffix) = split(s)?;
        let suffix = interpret(suffix)?;
        // The significant digits, with trailing zeros moved to the exponent
        // so that long zero tails do not overflow the mantissa.
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let mut exponent = -(frac.len() as i64);
        let digits = format!("{int}{frac}");
        let trimmed = digits.trim_end_matches('0');
        exponent += (digits.len() - trimmed.len()) as i64;
        let digits = trimmed.trim_start_matches('0');
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| Error::Numeric)?
        };
        let format = match suffix {
            Suffix::Decimal(e, format) => {
                // `1e9223372036854775807` with trailing zeros would overflow
                // (found by the quantity fuzz target).
                exponent = exponent.checked_add(e).ok_or(Error::Numeric)?;
                format
            }
            Suffix::Binary(k) => {
                let factor = 1024i128.pow(k);
                mantissa = mantissa.checked_mul(factor).ok_or(Error::Numeric)?;
                Format::BinarySI
            }
        };
        if negative {
            mantissa = -mantissa;
        }
        // Finer than a nano-unit rounds up to it.
        if exponent < i64::from(NANO) {
            let shift = u32::try_from(i64::from(NANO) - exponent).unwrap_or(u32::MAX);
            mantissa = div_pow10_up(mantissa, shift);
            exponent = i64::from(NANO);
        }
        let exponent = i32::try_from(exponent).map_err(|_| Error::Numeric)?;
        let mut q = Quantity {
            mantissa,
            exponent,
            format,
        }
        .normalized();
        if q.format == Format::BinarySI {
            let max = Quantity::new(i64::MAX, 0, Format::BinarySI);
            if q.abs_cmp(&max) == Ordering::Greater {
                q.mantissa = i128::from(i64::MAX) * q.mantissa.signum();
                q.exponent = 0;
                q = q.normalized();
            }
            if q.mantissa != 0 && q.abs_cmp(&Quantity::new(1, 0, Format::BinarySI)).is_lt() {
                q.format = Format::DecimalSI;
            }
        }
        Ok(q)
    }

    fn normalized(mut self) -> Quantity {
        if self.mantissa == 0 {
            self.exponent = 0;
            return self;
        }
        while self.mantissa % 10 == 0 {
            match self.exponent.checked_add(1) {
                Some(e) => {
                    self.mantissa /= 10;
                    self.exponent = e;
                }
                None => break,
            }
        }
        self
    }

    /// How the quantity is written back.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for zero (`0`, `0Mi`, `-0`).
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// The amount in units of `10^scale`, rounded up away from zero and
    /// saturated to `i64` (upstream `ScaledValue`).
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let diff = i64::from(self.exponent) - i64::from(scale);
        let v = if diff >= 0 {
            u32::try_from(diff)
                .ok()
                .and_then(pow10)
                .and_then(|p| self.mantissa.checked_mul(p))
                .unwrap_or(i128::MAX * self.mantissa.signum())
        } else {
            div_pow10_up(self.mantissa, u32::try_from(-diff).unwrap_or(u32::MAX))
        };
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }

    /// The amount in base units (bytes, cores), rounded up (`1.5` -> 2).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The amount in thousandths (millicores), rounded up (`4.03` -> 4030).
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(MILLI)
    }

    /// `self + other`, exact, in `self`'s format (`other`'s when `self`
    /// is zero); `None` when the sum leaves the exact range.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        if self.is_zero() {
            return Some(*other);
        }
        let exponent = self.exponent.min(other.exponent);
        let aligned = |q: &Quantity| {
            let shift = u32::try_from(i64::from(q.exponent) - i64::from(exponent)).ok()?;
            pow10(shift).and_then(|p| q.mantissa.checked_mul(p))
        };
        let mantissa = aligned(self)?.checked_add(aligned(other)?)?;
        Some(
            Quantity {
                mantissa,
                exponent,
                format: self.format,
            }
            .normalized(),
        )
    }

    /// Compares magnitudes.
    fn abs_cmp(&self, other: &Quantity) -> Ordering {
        let (a, b) = (self.mantissa.abs(), other.mantissa.abs());
        if a == 0 || b == 0 {
            return a.cmp(&b);
        }
        // Scale the one with the larger exponent down to the other's; if
        // that overflows it is the larger, since the other fits.
        let scaled = |m: i128, diff: i64| {
            u32::try_from(diff)
                .ok()
                .filter(|d| *d <= MAX_POW10)
                .and_then(pow10)
                .and_then(|p| m.checked_mul(p))
        };
        let diff = i64::from(self.exponent) - i64::from(other.exponent);
        match diff.cmp(&0) {
            Ordering::Equal => a.cmp(&b),
            Ordering::Greater => scaled(a, diff).map_or(Ordering::Greater, |a| a.cmp(&b)),
            Ordering::Less => scaled(b, -diff).map_or(Ordering::Less, |b| a.cmp(&b)),
        }
    }

    /// The canonical decimal form: a mantissa and an exponent that is a
    /// multiple of three.
    fn decimal_parts(&self) -> (i128, i32) {
        let (mut m, mut e) = (self.mantissa.abs(), self.exponent);
        while e.rem_euclid(3) != 0 {
            match m.checked_mul(10) {
                Some(x) => {
                    m = x;
                    e -= 1;
                }
                None => break,
            }
        }
        (m, e)
    }

    fn write_decimal(&self, f: &mut fmt::Formatter<'_>, format: Format) -> fmt::Result {
        let (mut m, mut e) = self.decimal_parts();
        if format == Format::DecimalSI {
            // Above exa there is no suffix: write exa with a longer number.
            while e > 18 {
                match m.checked_mul(1000) {
                    Some(x) => {
                        m = x;
                        e -= 3;
                    }
                    None => break,
                }
            }
            if let Some((s, _)) = DECIMAL_SUFFIXES.iter().find(|(_, x)| *x == e) {
                return write!(f, "{m}{s}");
            }
        }
        if e == 0 {
            write!(f, "{m}")
        } else {
            write!(f, "{m}e{e}")
        }
    }

    /// The value as a whole number of base units when it is one.
    fn as_integer(&self) -> Option<i128> {
        if self.exponent < 0 {
            return None;
        }
        pow10(u32::try_from(self.exponent).ok()?).and_then(|p| self.mantissa.abs().checked_mul(p))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0");
        }
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        match self.format {
            Format::BinarySI => {
                // Small or fractional binary amounts read better in decimal.
                let n = self.as_integer().filter(|n| *n >= 1024);
                let Some(mut n) = n else {
                    return self.write_decimal(f, Format::DecimalSI);
                };
                let mut k = 0;
                while n % 1024 == 0 && k < BINARY_SUFFIXES.len() {
                    n /= 1024;
                    k += 1;
                }
                let suffix = if k == 0 { "" } else { BINARY_SUFFIXES[k - 1].0 };
                write!(f, "{n}{suffix}")
            }
            format => self.write_decimal(f, format),
        }
    }
}

impl FromStr for Quantity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Quantity, Error> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        match self.signum().cmp(&other.signum()) {
            Ordering::Equal if self.signum() < 0 => other.abs_cmp(self),
            Ordering::Equal => self.abs_cmp(other),
            unequal => unequal,
        }
    }
}

/// A quantity's text in base units, rounded up (`64Mi` -> 67108864).
pub fn value(s: &str) -> Result<i64, Error> {
    Quantity::parse(s).map(|q| q.value())
}

/// A quantity's text in thousandths, rounded up (`250m` -> 250, `1` -> 1000).
pub fn milli_value(s: &str) -> Result<i64, Error> {
    Quantity::parse(s).map(|q| q.milli_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn dec(m: i64, e: i32, f: Format) -> Quantity {
        Quantity::new(m, e, f)
    }

    use Format::{BinarySI as Bin, DecimalExponent as Exp, DecimalSI as Dec};

    /// Upstream's parse table: the text, the exact amount, the format.
    #[test]
    fn parses_every_suffix_exactly() {
        let gi = 1024i64 * 1024 * 1024;
        let table = [
            ("0", dec(0, 0, Dec), Dec),
            ("0n", dec(0, 0, Dec), Dec),
            ("0Ki", dec(0, 0, Bin), Bin),
            ("0Ti", dec(0, 0, Bin), Bin),
            ("1", dec(1, 0, Dec), Dec),
            ("1Ki", dec(1024, 0, Bin), Bin),
            ("7Mi", dec(7 * 1024 * 1024, 0, Bin), Bin),
            ("6Gi", dec(6 * gi, 0, Bin), Bin),
            ("5Ti", dec(5 * gi * 1024, 0, Bin), Bin),
            ("4Pi", dec(4 * gi * 1024 * 1024, 0, Bin), Bin),
            ("3Ei", dec(3 * gi * gi, 0, Bin), Bin),
            ("5n", dec(5, -9, Dec), Dec),
            ("4u", dec(4, -6, Dec), Dec),
            ("3m", dec(3, -3, Dec), Dec),
            ("50k", dec(5, 4, Dec), Dec),
            ("7M", dec(7, 6, Dec), Dec),
            ("6G", dec(6, 9, Dec), Dec),
            ("300T", dec(3, 14, Dec), Dec),
            ("2P", dec(2, 15, Dec), Dec),
            ("1E", dec(1, 18, Dec), Dec),
            ("12E", dec(12, 18, Dec), Dec),
            ("1E-3", dec(1, -3, Exp), Exp),
            ("1e3", dec(1, 3, Exp), Exp),
            ("1E6", dec(1, 6, Exp), Exp),
            ("1e14", dec(1, 14, Exp), Exp),
            ("1E18", dec(1, 18, Exp), Exp),
            ("1.3E+6", dec(13, 5, Exp), Exp),
            ("1.7E18", dec(17, 17, Exp), Exp),
            ("0.5e-2", dec(5, -3, Exp), Exp),
            ("100.035k", dec(100035, 0, Dec), Dec),
            ("0.0005k", dec(5, -1, Dec), Dec),
            ("0.00050k", dec(5, -1, Dec), Dec),
            ("0.50000", dec(5, -1, Dec), Dec),
            ("10.035M", dec(10035, 3, Dec), Dec),
            ("6.987654321G", dec(6987654321, 0, Dec), Dec),
            ("1.01E", dec(101, 16, Dec), Dec),
            // Finer than a nano-unit rounds up.
            ("3.001n", dec(4, -9, Dec), Dec),
            ("1.1E-9", dec(2, -9, Exp), Exp),
            ("0.0000000001", dec(1, -9, Dec), Dec),
            ("0.5e-9", dec(1, -9, Exp), Exp),
            ("0.00000012345", dec(124, -9, Dec), Dec),
            // Binary amounts saturate at 2^63-1.
            ("9Ei", dec(i64::MAX, 0, Bin), Bin),
            ("9223372036854775807Ki", dec(i64::MAX, 0, Bin), Bin),
            // Fractional binary amounts are exact.
            ("100.035Ki", dec(10243584, -2, Bin), Bin),
            ("0.5Mi", dec(512 * 1024, 0, Bin), Bin),
            ("0.05Gi", dec(536870912, -1, Bin), Bin),
            // ... below one they turn decimal.
            ("0.000000000001Ki", dec(2, -9, Dec), Dec),
            (".001", dec(1, -3, Dec), Dec),
            (".0001k", dec(100, -3, Dec), Dec),
            ("1.", dec(1, 0, Dec), Dec),
            ("1.G", dec(1, 9, Dec), Dec),
            ("000001k", dec(1, 3, Dec), Dec),
        ];
        for (text, want, format) in table {
            for (prefix, sign) in [("", 1), ("+", 1), ("-", -1)] {
                let input = format!("{prefix}{text}");
                let got = q(&input);
                let want = Quantity {
                    mantissa: want.mantissa * sign,
                    ..want
                };
                assert_eq!(got, want, "{input}");
                assert_eq!(got.format(), format, "{input}");
            }
        }
    }

    #[test]
    fn rejects_malformed_text_with_a_typed_error() {
        for bad in [
            "1.1.M", "1+1.0M", "aoeu", "0.1am", " 1", "1 ", "", ".", "-", "1,5",
        ] {
            assert_eq!(Quantity::parse(bad).unwrap_err(), Error::Format, "{bad}");
        }
        for bad in ["0.1mi", ".5i", "1i", "-3.01i", "-3.01e-", "1e", "1K"] {
            assert_eq!(Quantity::parse(bad).unwrap_err(), Error::Suffix, "{bad}");
        }
        let too_long = format!("1{}1", "0".repeat(40));
        assert_eq!(Quantity::parse(&too_long).unwrap_err(), Error::Numeric);
        // A fuzzer find: trailing zeros plus the largest exponent overflowed.
        let huge = format!("2{}E{}", "0".repeat(40), i64::MAX);
        assert_eq!(Quantity::parse(&huge).unwrap_err(), Error::Numeric);
        // Zeros never count as significant digits.
        assert_eq!(
            q(&format!("1{}", "0".repeat(40))).to_string(),
            format!("10{}E", "0".repeat(21))
        );
    }

    #[test]
    fn milli_and_base_values_round_up_exactly() {
        assert_eq!(milli_value("4.03"), Ok(4030));
        assert_eq!(milli_value("250m"), Ok(250));
        assert_eq!(milli_value("0.1"), Ok(100));
        assert_eq!(milli_value("1.5"), Ok(1500));
        assert_eq!(milli_value("0.1m"), Ok(1));
        assert_eq!(milli_value("1n"), Ok(1));
        assert_eq!(milli_value("-1n"), Ok(-1));
        assert_eq!(milli_value("2.3456"), Ok(2346));
        assert_eq!(value("1.5"), Ok(2));
        assert_eq!(value("64Mi"), Ok(64 << 20));
        assert_eq!(value("1G"), Ok(1_000_000_000));
        assert_eq!(value("1e3"), Ok(1000));
        assert_eq!(value("-9.01"), Ok(-10));
        assert_eq!(value("100.035Ki"), Ok(102436));
        assert_eq!(value("12E"), Ok(i64::MAX));
        assert_eq!(value("-12E"), Ok(i64::MIN));
        assert_eq!(value("1e400"), Ok(i64::MAX));
        assert_eq!(q("1e-400").scaled_value(NANO), 1);
        // Upstream's ScaledValue table.
        assert_eq!(dec(1, -9, Dec).scaled_value(0), 1);
        assert_eq!(dec(1, -6, Dec).scaled_value(NANO), 1000);
        assert_eq!(dec(1, 0, Dec).scaled_value(NANO), 1_000_000_000);
        assert_eq!(dec(1, 2, Dec).scaled_value(-2), 10_000);
    }

    #[test]
    fn writes_the_canonical_form() {
        let gi = 1024i64 * 1024 * 1024;
        let table = [
            (dec(gi, 0, Bin), "1Gi"),
            (dec(300 * 1024 * 1024, 0, Bin), "300Mi"),
            (dec(1001 * gi, 0, Bin), "1001Gi"),
            (dec(gi * 1024, 0, Bin), "1Ti"),
            (dec(5, 0, Bin), "5"),
            (dec(500, -3, Bin), "500m"),
            (dec(1025, 0, Bin), "1025"),
            (dec(1, 9, Dec), "1G"),
            (dec(1000, 6, Dec), "1G"),
            (dec(1_000_000_000, 0, Dec), "1G"),
            (dec(1, -3, Dec), "1m"),
            (dec(80, -3, Dec), "80m"),
            (dec(1080, -3, Dec), "1080m"),
            (dec(108, -2, Dec), "1080m"),
            (dec(10800, -4, Dec), "1080m"),
            (dec(1234567, 6, Dec), "1234567M"),
            (dec(1234567, -3, Bin), "1234567m"),
            (dec(3, 3, Dec), "3k"),
            (dec(0, 0, Bin), "0"),
            (dec(1, 9, Exp), "1e9"),
            (dec(1, -3, Exp), "1e-3"),
            (dec(80, -3, Exp), "80e-3"),
            (dec(300, 6, Exp), "300e6"),
            (dec(3, 3, Exp), "3e3"),
            (dec(0, 0, Exp), "0"),
            (dec(108, -8, Dec), "1080n"),
            (dec(1080, -6, Dec), "1080u"),
        ];
        for (quantity, text) in table {
            assert_eq!(quantity.to_string(), text, "{quantity:?}");
            let negated = Quantity {
                mantissa: -quantity.mantissa,
                ..quantity
            };
            if !quantity.is_zero() {
                assert_eq!(negated.to_string(), format!("-{text}"));
            }
            assert_eq!(q(text), quantity, "{text} parses back");
        }
        // Parse then write (upstream's ParseEmit and alternates).
        for (input, canonical) in [
            ("1024Mi", "1Gi"),
            ("307200Ki", "300Mi"),
            ("1000M", "1G"),
            ("0.001T", "1G"),
            ("1.08", "1080m"),
            ("4.03", "4030m"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000000001Ki", "2n"),
            (".001e12", "1e9"),
            ("0.001e0", "1e-3"),
            ("1000e-12", "1e-9"),
            ("1.2e3", "1200"),
            ("00", "0"),
            ("-0", "0"),
            ("1000E", "1000E"),
        ] {
            assert_eq!(q(input).to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn compares_amounts_not_texts() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("500m") < q("1"));
        assert!(q("-1") < q("-500m"));
        assert!(q("-1") < q("0"));
        assert!(q("1e30") > q("9Ei"));
        assert!(q("1e-9") < q("1e30"));
        assert!(q("1E") > q("999P"));
        assert_eq!(q("1.5").checked_add(&q("500m")), Some(q("2")));
        assert_eq!(
            q("0").checked_add(&q("1Ki")).map(|s| s.to_string()),
            Some("1Ki".into())
        );
        assert_eq!(q("1e30").checked_add(&q("1e-9")), None);
    }
}
