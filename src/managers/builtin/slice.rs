//! Python's subscripts: an index (negative counts from the end) or a slice, which
//! arrives pickled as `builtins.slice(start, stop, step)`; reading, assigning and
//! deleting by slice with Python's rules (clamping, steps, the size check of an
//! extended slice assignment), for `list` and `array`.

use super::args::{type_error, value_error};
use super::num::Int;
use super::semantics::reduced;
use super::Raised;
use crate::managers::pickle::Value;

/// A slice's bounds as Python reads them (ints beyond `i64` clamp, as to `ssize_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
}

impl Slice {
    /// `Some` when `value` is a pickled slice; its bounds must be ints or None and its
    /// step not zero, as in Python.
    pub(crate) fn parse(value: &Value) -> Option<Result<Slice, Raised>> {
        let args = reduced(value, "builtins", "slice")?;
        let none = Value::None;
        let (start, stop, step) = match args {
            [stop] => (&none, stop, &none),
            [start, stop] => (start, stop, &none),
            [start, stop, step] => (start, stop, step),
            _ => return Some(Err(type_error("slice expected at most 3 arguments"))),
        };
        Some((|| {
            let step = match bound(step)? {
                None => 1,
                Some(0) => return Err(value_error("slice step cannot be zero")),
                Some(step) => step.max(-i64::MAX),
            };
            Ok(Slice {
                start: bound(start)?,
                stop: bound(stop)?,
                step,
            })
        })())
    }

    /// The first position, the step, and how many positions the slice selects in a
    /// sequence of `len` items (Python's `PySlice_AdjustIndices`).
    fn indices(&self, len: usize) -> (i64, i64, usize) {
        let len = len as i64;
        let step = self.step;
        let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
        let clamp = |bound: Option<i64>, default: i64| match bound {
            None => default,
            Some(v) if v < 0 => (v + len).max(lower),
            Some(v) => v.min(upper),
        };
        let start = clamp(self.start, if step < 0 { upper } else { lower });
        let stop = clamp(self.stop, if step < 0 { lower } else { upper });
        let count = match step {
            s if s < 0 && stop < start => (start - stop - 1) / -s + 1,
            s if s > 0 && start < stop => (stop - start - 1) / s + 1,
            _ => 0,
        };
        (start, step, count as usize)
    }

    fn positions(&self, len: usize) -> impl Iterator<Item = usize> {
        let (start, step, count) = self.indices(len);
        (0..count as i64).map(move |i| (start + i * step) as usize)
    }

    /// `items[slice]`.
    pub(crate) fn get<T: Clone>(&self, items: &[T]) -> Vec<T> {
        self.positions(items.len())
            .map(|i| items[i].clone())
            .collect()
    }

    /// `del items[slice]`.
    pub(crate) fn delete<T>(&self, items: &mut Vec<T>) {
        let mut doomed = vec![false; items.len()];
        for i in self.positions(items.len()) {
            doomed[i] = true;
        }
        let mut doomed = doomed.into_iter();
        items.retain(|_| !doomed.next().unwrap_or(false));
    }

    /// `items[slice] = new`: a plain slice is replaced by `new` whatever its length; an
    /// extended one (step other than 1) needs exactly as many items as it selects
    /// (`ValueError: attempt to assign sequence of size 1 to extended slice of size 2`,
    /// `what` naming the assigned kind).
    pub(crate) fn assign<T>(
        &self,
        items: &mut Vec<T>,
        new: Vec<T>,
        what: &str,
    ) -> Result<(), Raised> {
        let (start, step, count) = self.indices(items.len());
        if step == 1 {
            let start = start as usize;
            items.splice(start..start + count, new);
            return Ok(());
        }
        if new.len() != count {
            return Err(value_error(format!(
                "attempt to assign {what} of size {} to extended slice of size {count}",
                new.len()
            )));
        }
        let positions: Vec<usize> = self.positions(items.len()).collect();
        for (i, item) in positions.into_iter().zip(new) {
            items[i] = item;
        }
        Ok(())
    }
}

/// One bound: None, or an int clamped to `i64`; else Python's TypeError.
fn bound(value: &Value) -> Result<Option<i64>, Raised> {
    match (value, Int::of(value)) {
        (Value::None, _) => Ok(None),
        (_, Some(Int::Small(i))) => Ok(Some(i)),
        (_, Some(big)) => Ok(Some(if big.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        })),
        (_, None) => Err(type_error(
            "slice indices must be integers or None or have an __index__ method",
        )),
    }
}

/// The position of `index` in a sequence of `len` items, counting a negative index from
/// the end; `None` when out of range.
pub(crate) fn position(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 {
        index.checked_add(len)?
    } else {
        index
    };
    (0..len).contains(&index).then_some(index as usize)
}

/// Where an index that may lie outside a sequence of `len` items lands for `insert` and
/// `index`'s bounds: counted from the end when negative, then kept within `0..=len`.
pub(crate) fn clamp(index: i64, len: usize) -> usize {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let index = if index < 0 {
        index.saturating_add(len)
    } else {
        index
    };
    index.clamp(0, len) as usize
}

#[cfg(test)]
mod tests {
    use super::super::testing::{int, slice};
    use super::*;

    fn parse(start: Value, stop: Value, step: Value) -> Slice {
        Slice::parse(&slice(start, stop, step)).unwrap().unwrap()
    }

    fn digits() -> Vec<i64> {
        (0..6).collect()
    }

    #[test]
    fn reads_like_python() {
        let n = Value::None;
        assert_eq!(
            parse(n.clone(), n.clone(), int(-2)).get(&digits()),
            vec![5, 3, 1]
        );
        assert_eq!(
            parse(int(1), int(-1), n.clone()).get(&digits()),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            parse(int(4), int(1), n.clone()).get(&digits()),
            Vec::<i64>::new()
        );
        let huge = Int::from_i128(1 << 100).into_value();
        assert_eq!(
            parse(huge, n.clone(), int(-1)).get(&digits()),
            vec![5, 4, 3, 2, 1, 0]
        );
        assert_eq!(
            parse(int(-100), int(2), n.clone()).get(&digits()),
            vec![0, 1]
        );
        assert_eq!(
            parse(n.clone(), n.clone(), int(i64::MIN)).get(&digits()),
            vec![5]
        );
        assert!(Slice::parse(&int(1)).is_none());
    }

    #[test]
    fn bad_slices() {
        let err = Slice::parse(&slice(Value::None, Value::None, int(0)))
            .unwrap()
            .unwrap_err();
        assert_eq!(err, value_error("slice step cannot be zero"));
        let err = Slice::parse(&slice(Value::Str("a".into()), int(1), Value::None))
            .unwrap()
            .unwrap_err();
        let message = "slice indices must be integers or None or have an __index__ method";
        assert_eq!(err, type_error(message));
    }

    #[test]
    fn assigns_and_deletes() {
        let n = Value::None;
        let mut items = digits();
        parse(int(1), int(3), n.clone())
            .assign(&mut items, vec![9], "sequence")
            .unwrap();
        assert_eq!(items, vec![0, 9, 3, 4, 5]);
        parse(int(4), int(1), n.clone())
            .assign(&mut items, vec![7, 7], "sequence")
            .unwrap();
        assert_eq!(items, vec![0, 9, 3, 4, 7, 7, 5]);
        let mut items = digits();
        parse(n.clone(), n.clone(), int(2))
            .assign(&mut items, vec![8, 8, 8], "sequence")
            .unwrap();
        assert_eq!(items, vec![8, 1, 8, 3, 8, 5]);
        let err = parse(n.clone(), n.clone(), int(-2))
            .assign(&mut items, vec![1], "array")
            .unwrap_err();
        let message = "attempt to assign array of size 1 to extended slice of size 3";
        assert_eq!(err, value_error(message));
        let mut items = digits();
        parse(n.clone(), n.clone(), int(-2)).delete(&mut items);
        assert_eq!(items, vec![0, 2, 4]);
    }

    #[test]
    fn positions() {
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(3, 3), None);
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
        assert_eq!(clamp(-100, 3), 0);
        assert_eq!(clamp(-1, 3), 2);
        assert_eq!(clamp(100, 3), 3);
    }
}
