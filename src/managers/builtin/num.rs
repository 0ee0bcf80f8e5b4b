//! Python's ints and floats as [`Value`]s hold them: one integer type across `Int` and
//! `BigInt`, and comparisons that are exact across int and float, as Python's are
//! (`2**63 + 1 != 2.0**63`), so that `==`, dict keys and `sort` agree with a Python server.

use std::cmp::Ordering;
use std::fmt;

use crate::managers::pickle::Value;

/// A Python int: in `i64`, or beyond it as minimal little-endian two's complement bytes
/// (never a `Big` that fits `i64`, so each number has one form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Int {
    Small(i64),
    Big(Vec<u8>),
}

impl Int {
    /// The int a `Bool`, `Int` or `BigInt` value is; `None` for anything else.
    pub(crate) fn of(value: &Value) -> Option<Int> {
        match value {
            Value::Bool(b) => Some(Int::Small(i64::from(*b))),
            Value::Int(i) => Some(Int::Small(*i)),
            Value::BigInt(bytes) => Some(Int::from_bytes(bytes)),
            _ => None,
        }
    }

    /// Reads little-endian two's complement bytes of any length (empty is zero).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Int {
        let mut bytes = bytes.to_vec();
        while let [.., prev, last] = bytes[..] {
            let redundant = (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0);
            if !redundant {
                break;
            }
            bytes.pop();
        }
        if bytes.len() > 8 {
            return Int::Big(bytes);
        }
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut word = [fill; 8];
        word[..bytes.len()].copy_from_slice(&bytes);
        Int::Small(i64::from_le_bytes(word))
    }

    pub(crate) fn from_i128(i: i128) -> Int {
        match i64::try_from(i) {
            Ok(small) => Int::Small(small),
            Err(_) => Int::from_bytes(&i.to_le_bytes()),
        }
    }

    /// The integer a finite, integral float is exactly (`None` otherwise).
    pub(crate) fn of_float(f: f64) -> Option<Int> {
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        // Every float of magnitude below 2**63 that is integral converts exactly.
        if f.abs() < -(i64::MIN as f64) {
            return Some(Int::Small(f as i64));
        }
        let bits = f.to_bits();
        let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        let shift = ((bits >> 52) & 0x7ff) as usize - 1075; // >= 11 here
        let mut magnitude = vec![0u8; shift / 8];
        magnitude.extend_from_slice(&(u128::from(mantissa) << (shift % 8)).to_le_bytes());
        magnitude.push(0); // a sign byte: the magnitude reads as positive
        if f < 0.0 {
            negate(&mut magnitude);
        }
        Some(Int::from_bytes(&magnitude))
    }

    pub(crate) fn to_i128(&self) -> Option<i128> {
        match self {
            Int::Small(i) => Some(i128::from(*i)),
            Int::Big(bytes) if bytes.len() <= 16 => {
                let fill = if self.is_negative() { 0xff } else { 0 };
                let mut word = [fill; 16];
                word[..bytes.len()].copy_from_slice(bytes);
                Some(i128::from_le_bytes(word))
            }
            Int::Big(_) => None,
        }
    }

    /// The nearest float, `None` when the int is too large for one (Python's
    /// `OverflowError: int too large to convert to float`).
    pub(crate) fn to_f64(&self) -> Option<f64> {
        if let Some(i) = self.to_i128() {
            return Some(i as f64);
        }
        let magnitude = self.magnitude();
        let f = magnitude
            .iter()
            .rev()
            .fold(0.0, |acc, &b| acc * 256.0 + f64::from(b));
        let f = if self.is_negative() { -f } else { f };
        f.is_finite().then_some(f)
    }

    pub(crate) fn is_negative(&self) -> bool {
        match self {
            Int::Small(i) => *i < 0,
            Int::Big(bytes) => bytes.last().is_some_and(|b| b & 0x80 != 0),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Int::Small(i) => Value::Int(i),
            Int::Big(bytes) => Value::BigInt(bytes),
        }
    }

    /// The absolute value as little-endian unsigned bytes.
    fn magnitude(&self) -> Vec<u8> {
        let mut bytes = match self {
            Int::Small(i) => i.to_le_bytes().to_vec(),
            Int::Big(bytes) => bytes.clone(),
        };
        if self.is_negative() {
            negate(&mut bytes);
        }
        bytes
    }
}

/// Two's complement negation in place (invert, add one).
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes.iter_mut() {
        let (sum, overflow) = (!*b).overflowing_add(u8::from(carry));
        *b = sum;
        carry = overflow;
    }
}

impl Ord for Int {
    fn cmp(&self, other: &Int) -> Ordering {
        match (self, other) {
            (Int::Small(a), Int::Small(b)) => a.cmp(b),
            // A `Big` lies beyond every `Small`, on the side of its sign.
            (Int::Big(_), Int::Small(_)) if self.is_negative() => Ordering::Less,
            (Int::Big(_), Int::Small(_)) => Ordering::Greater,
            (Int::Small(_), Int::Big(_)) => other.cmp(self).reverse(),
            (Int::Big(a), Int::Big(b)) => match (self.is_negative(), other.is_negative()) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                // Same sign: a longer minimal form is further from zero; at equal lengths
                // the bytes compare as unsigned from the most significant one.
                (negative, _) => {
                    let by_length = a.len().cmp(&b.len());
                    let by_length = if negative {
                        by_length.reverse()
                    } else {
                        by_length
                    };
                    by_length.then_with(|| a.iter().rev().cmp(b.iter().rev()))
                }
            },
        }
    }
}

impl PartialOrd for Int {
    fn partial_cmp(&self, other: &Int) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Decimal digits, as Python's `repr` of an int.
impl fmt::Display for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Int::Small(i) = self {
            return write!(f, "{i}");
        }
        // Big-endian base-2**32 limbs, divided by 10**9 until zero.
        let magnitude = self.magnitude();
        let mut limbs: Vec<u32> = magnitude
            .chunks(4)
            .rev()
            .map(|c| {
                c.iter()
                    .rev()
                    .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
            })
            .collect();
        let mut groups = Vec::new();
        while limbs.iter().any(|&l| l != 0) {
            let mut rest = 0u64;
            for limb in limbs.iter_mut() {
                let cur = (rest << 32) | u64::from(*limb);
                *limb = (cur / 1_000_000_000) as u32;
                rest = cur % 1_000_000_000;
            }
            groups.push(rest);
        }
        let mut text = String::from(if self.is_negative() { "-" } else { "" });
        for (i, group) in groups.iter().rev().enumerate() {
            if i == 0 {
                text.push_str(&group.to_string());
            } else {
                text.push_str(&format!("{group:09}"));
            }
        }
        f.write_str(&text)
    }
}

/// A number as Python's numeric comparisons see it.
enum Number {
    Int(Int),
    Float(f64),
}

impl Number {
    fn of(value: &Value) -> Option<Number> {
        match value {
            Value::Float(f) => Some(Number::Float(*f)),
            other => Int::of(other).map(Number::Int),
        }
    }
}

/// Python's ordering of two numbers (bool, int, float), exact across int and float:
/// `None` when either is not a number, `Some(None)` when unordered (a NaN).
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Option<Ordering>> {
    Some(match (Number::of(a)?, Number::of(b)?) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Float(x), Number::Float(y)) => x.partial_cmp(&y),
        (Number::Int(x), Number::Float(y)) => compare_int_float(&x, y),
        (Number::Float(x), Number::Int(y)) => compare_int_float(&y, x).map(Ordering::reverse),
    })
}

fn compare_int_float(i: &Int, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        return Some(if f > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let floor = f.floor();
    let whole = Int::of_float(floor)?;
    Some(match i.cmp(&whole) {
        Ordering::Equal if f > floor => Ordering::Less,
        order => order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(i: i128) -> Value {
        Int::from_i128(i).into_value()
    }

    #[test]
    fn normalises_bytes() {
        assert_eq!(Int::from_bytes(&[]), Int::Small(0));
        assert_eq!(Int::from_bytes(&[0xff, 0xff, 0xff]), Int::Small(-1));
        assert_eq!(
            Int::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Int::Small(1)
        );
        let two_to_64 = Int::from_i128(1 << 64);
        assert_eq!(two_to_64, Int::Big(vec![0, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(two_to_64.to_i128(), Some(1 << 64));
        assert_eq!(Int::from_i128(-(1 << 70)).to_i128(), Some(-(1 << 70)));
    }

    #[test]
    fn floats_convert_exactly() {
        assert_eq!(Int::of_float(2.5), None);
        assert_eq!(Int::of_float(-3.0), Some(Int::Small(-3)));
        assert_eq!(Int::of_float(2f64.powi(63)), Some(Int::from_i128(1 << 63)));
        assert_eq!(
            Int::of_float(-(2f64.powi(70))),
            Some(Int::from_i128(-(1 << 70)))
        );
        assert_eq!(
            Int::of_float(2f64.powi(100)).unwrap().to_f64(),
            Some(2f64.powi(100))
        );
    }

    #[test]
    fn decimal_digits() {
        assert_eq!(
            Int::from_i128(1 << 70).to_string(),
            "1180591620717411303424"
        );
        assert_eq!(
            Int::from_i128(-(1 << 70)).to_string(),
            "-1180591620717411303424"
        );
        assert_eq!(
            Int::from_i128(10i128.pow(20)).to_string(),
            "100000000000000000000"
        );
        assert_eq!(Int::Small(-7).to_string(), "-7");
    }

    #[test]
    fn orders_across_kinds() {
        use Ordering::*;
        let cmp = |a: &Value, b: &Value| compare(a, b).unwrap();
        assert_eq!(cmp(&Value::Int(1), &Value::Float(1.0)), Some(Equal));
        assert_eq!(cmp(&Value::Bool(true), &Value::Int(1)), Some(Equal));
        assert_eq!(
            cmp(&big(1 << 63), &Value::Float(2f64.powi(63))),
            Some(Equal)
        );
        assert_eq!(
            cmp(&big((1 << 63) + 1), &Value::Float(2f64.powi(63))),
            Some(Greater)
        );
        assert_eq!(cmp(&Value::Int(2), &Value::Float(2.5)), Some(Less));
        assert_eq!(cmp(&Value::Int(-2), &Value::Float(-1.5)), Some(Less));
        assert_eq!(cmp(&Value::Float(-1.5), &Value::Int(-2)), Some(Greater));
        assert_eq!(cmp(&big(-(1 << 70)), &Value::Int(i64::MIN)), Some(Less));
        assert_eq!(cmp(&big(-(1 << 70)), &big(-(1 << 80))), Some(Greater));
        assert_eq!(cmp(&big(1 << 70), &big(1 << 80)), Some(Less));
        assert_eq!(cmp(&big(1 << 70), &Value::Float(f64::INFINITY)), Some(Less));
        assert_eq!(cmp(&Value::Int(1), &Value::Float(f64::NAN)), None);
        assert_eq!(compare(&Value::Int(1), &Value::Str("1".into())), None);
    }
}
