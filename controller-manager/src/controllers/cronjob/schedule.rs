//! Cron schedules: the five-field syntax of upstream's CronJob (it uses the
//! `robfig/cron` parser), written from the crontab rules, and "when is the
//! next run after t" in UTC.
//!
//! ```text
//! ┌ minute 0-59  ┌ hour 0-23  ┌ day of month 1-31  ┌ month 1-12 or JAN-DEC  ┌ day of week 0-6 or SUN-SAT (7 = SUN)
//! *              */2           1,15                 JAN-MAR                  MON-FRI
//! ```
//! Each field is a comma list of `*` (or `?`), `n`, `a-b`, each with an
//! optional `/step` (`n/step` means `n-max/step`). The descriptors
//! `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight` and
//! `@hourly` stand for their five-field forms. As in cron, when both
//! day-of-month and day-of-week are restricted a day matching either runs;
//! a `*` in one of them means only the other counts.

/// An error in a schedule, with the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not five fields (nor a known descriptor).
    #[error("expected exactly 5 fields, found {0}: {1:?}")]
    FieldCount(usize, String),
    /// A descriptor we do not know (`@every` is not supported).
    #[error("unrecognized descriptor: {0:?}")]
    Descriptor(String),
    /// A value that is not a number or a name of this field.
    #[error("invalid value {value:?} in the {field} field")]
    Value {
        /// Which field.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// A value outside the field's range, or a range ending before it starts.
    #[error("{value:?} is out of range [{min}, {max}] in the {field} field")]
    Range {
        /// Which field.
        field: &'static str,
        /// The text.
        value: String,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A step of zero.
    #[error("step of range {0:?} must be a positive number")]
    Step(String),
}

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// The day-of-month field was `*` (or `?`), without a step.
    dom_star: bool,
    /// The day-of-week field was `*` (or `?`), without a step.
    dow_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DOW: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, ParseError> {
        let v =
            match s.parse::<u32>() {
                Ok(v) => v,
                Err(_) => {
                    let up = s.to_ascii_uppercase();
                    let i = self.names.iter().position(|n| *n == up).ok_or_else(|| {
                        ParseError::Value {
                            field: self.name,
                            value: s.to_string(),
                        }
                    })?;
                    // Month names count from 1, weekday names from 0.
                    i as u32 + if self.min == 1 { 1 } else { 0 }
                }
            };
        if v < self.min || v > self.max {
            return Err(ParseError::Range {
                field: self.name,
                value: s.to_string(),
                min: self.min,
                max: self.max,
            });
        }
        Ok(v)
    }

    /// The bits of a comma list, and whether it was a bare `*`.
    fn parse(&self, text: &str) -> Result<(u64, bool), ParseError> {
        let mut bits = 0u64;
        let mut star = false;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().map_err(|_| ParseError::Value {
                        field: self.name,
                        value: part.to_string(),
                    })?;
                    if step == 0 {
                        return Err(ParseError::Step(part.to_string()));
                    }
                    (r, Some(step))
                }
                None => (part, None),
            };
            let (lo, hi, is_star) = if range == "*" || range == "?" {
                (self.min, self.max, true)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?, false)
            } else {
                let v = self.value(range)?;
                // `n/step` runs from n to the end of the field.
                (v, if step.is_some() { self.max } else { v }, false)
            };
            if lo > hi {
                return Err(ParseError::Range {
                    field: self.name,
                    value: part.to_string(),
                    min: self.min,
                    max: self.max,
                });
            }
            let step = step.unwrap_or(1);
            star |= is_star && step == 1;
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, star))
    }
}

impl std::str::FromStr for Schedule {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Schedule, ParseError> {
        let s = s.trim();
        let expanded = match s {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            d if d.starts_with('@') => return Err(ParseError::Descriptor(d.to_string())),
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(ParseError::FieldCount(fields.len(), s.to_string()));
        }
        let (minute, _) = MINUTE.parse(fields[0])?;
        let (hour, _) = HOUR.parse(fields[1])?;
        let (dom, dom_star) = DOM.parse(fields[2])?;
        let (month, _) = MONTH.parse(fields[3])?;
        let (mut dow, dow_star) = DOW.parse(fields[4])?;
        // 7 is Sunday too.
        if dow & (1 << 7) != 0 {
            dow = (dow & !(1 << 7)) | 1;
        }
        Ok(Schedule {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        })
    }
}

/// A UTC civil time broken down from unix seconds.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

impl Schedule {
    fn day_matches(&self, c: &Civil) -> bool {
        let dom = self.dom & (1 << c.day) != 0;
        let dow = self.dow & (1 << c.weekday) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time strictly after `after` (unix seconds, UTC) the
    /// schedule fires, in unix seconds; `None` if it never does within five
    /// years (`0 0 30 2 *`).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let mut t = (after.div_euclid(60) + 1) * 60;
        let limit = after + 5 * 366 * 86_400;
        while t <= limit {
            let c = civil(t);
            if self.month & (1 << c.month) == 0 {
                let (y, m) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                t = days_from_civil(y, m, 1) * 86_400;
            } else if !self.day_matches(&c) {
                t = (t.div_euclid(86_400) + 1) * 86_400;
            } else if self.hour & (1 << c.hour) == 0 {
                t = (t.div_euclid(3600) + 1) * 3600;
            } else if self.minute & (1 << c.minute) == 0 {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    fn next(s: &str, from: i64) -> i64 {
        s.parse::<Schedule>()
            .expect("parses")
            .next_after(from)
            .expect("fires")
    }

    #[test]
    fn civil_round_trips() {
        for days in [-1000, 0, 59, 11_016, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        // 2024-02-29 was a Thursday.
        let c = civil(at(2024, 2, 29, 13, 7));
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.weekday),
            (2024, 2, 29, 13, 7, 4)
        );
    }

    #[test]
    fn next_times() {
        let t = at(2024, 3, 10, 10, 30);
        assert_eq!(next("* * * * *", t), t + 60);
        assert_eq!(next("* * * * *", t + 59), t + 60);
        assert_eq!(next("*/15 * * * *", t), at(2024, 3, 10, 10, 45));
        assert_eq!(next("0 * * * *", t), at(2024, 3, 10, 11, 0));
        assert_eq!(next("@daily", t), at(2024, 3, 11, 0, 0));
        assert_eq!(next("@monthly", t), at(2024, 4, 1, 0, 0));
        assert_eq!(next("@yearly", t), at(2025, 1, 1, 0, 0));
        // 2024-03-10 is a Sunday: the next weekday morning is Monday.
        assert_eq!(next("0 9 * * MON-FRI", t), at(2024, 3, 11, 9, 0));
        assert_eq!(next("0 9 * * 7", t), at(2024, 3, 17, 9, 0));
        assert_eq!(next("30 2 29 feb *", t), at(2028, 2, 29, 2, 30));
        assert_eq!(next("5-10/5 1,3 * * *", t), at(2024, 3, 11, 1, 5));
        assert_eq!(next("50/5 * * * *", t), at(2024, 3, 10, 10, 50));
        // Both day fields restricted: either matches (the 15th, or Fridays).
        assert_eq!(next("0 0 15 * FRI", t), at(2024, 3, 15, 0, 0));
        assert_eq!(next("0 0 13 * FRI", t), at(2024, 3, 13, 0, 0));
        assert!("0 0 30 2 *"
            .parse::<Schedule>()
            .expect("parses")
            .next_after(t)
            .is_none());
    }

    #[test]
    fn bad_schedules_are_errors() {
        for s in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * FOO *",
            "@every 5m",
            "a b c d e",
        ] {
            assert!(s.parse::<Schedule>().is_err(), "{s}");
        }
    }
}
