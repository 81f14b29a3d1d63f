//! A CronJob's `schedule`: the five-field cron syntax the CronJob controller reads (minute,
//! hour, day of month, month, day of week; `*`, lists, ranges, steps, `?`, month and weekday
//! names), its `@yearly`/`@monthly`/`@weekly`/`@daily`/`@hourly` shorthands and `@every
//! DURATION`, as the controller's parser (robfig/cron's `ParseStandard`) takes them.
//! <https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax>

/// A parsed schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The five fields.
    Fields(Fields),
    /// `@every DURATION`: at this interval (whole seconds, at least one).
    Every(u64),
}

/// The allowed values of each field as bit sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Whether day of month or day of week was written as `*` (cron's rule: when both are
    /// restricted, a day matching either runs).
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses a schedule; the error says which field is wrong and why.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(d) = text.strip_prefix("@every ") {
            return crate::duration::parse_go(d.trim())
                .ok()
                .map(|d| d.as_secs())
                .filter(|s| *s >= 1)
                .map(Schedule::Every)
                .ok_or_else(|| {
                    format!("@every: {d:?} is not a duration of at least 1s (e.g. 90s, 5m, 1h30m)")
                });
        }
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => {
                return Err(format!(
                "unrecognized descriptor {t:?} (use @yearly, @monthly, @weekly, @daily or @hourly)"
            ))
            }
            t => t,
        };
        if expanded.starts_with("TZ=") || expanded.starts_with("CRON_TZ=") {
            return Err("a time zone in the schedule is not allowed: use spec.timeZone".into());
        }
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days_of_month = field(fields[2], "day of month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        // 7 is Sunday too.
        let mut days_of_week = field(fields[4], "day of week", 0, 7, &WEEKDAYS)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        let star = |f: &str| f == "*" || f == "?" || f.starts_with("*/");
        Ok(Schedule::Fields(Fields {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_star: star(fields[2]),
            dow_star: star(fields[4]),
        }))
    }
}

impl Fields {
    /// Whether the schedule runs at this minute (`weekday` 0 = Sunday, `day` and `month` from 1).
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        self.month_matches(month)
            && self.day_matches(day, weekday)
            && self.hour_matches(hour)
            && self.minute_matches(minute)
    }

    pub fn month_matches(&self, month: u32) -> bool {
        has(self.months, month)
    }

    /// Day of month or of week, with cron's rule for when both are restricted.
    pub fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom = has(self.days_of_month, day);
        let dow = has(self.days_of_week, weekday);
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    pub fn hour_matches(&self, hour: u32) -> bool {
        has(self.hours, hour)
    }

    pub fn minute_matches(&self, minute: u32) -> bool {
        has(self.minutes, minute)
    }
}

fn has(set: u64, v: u32) -> bool {
    v < 64 && set & (1 << v) != 0
}

/// One field: comma-separated parts, each `*`, `?`, `N`, `A-B`, with an optional `/STEP`.
fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{what}: invalid step {s:?} in {part:?}"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, what, names, min)?, value(b, what, names, min)?)
        } else {
            let v = value(range, what, names, min)?;
            // `N/STEP` runs from N to the end of the range.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!(
                "{what}: {part:?} is out of range (allowed {min}-{max})"
            ));
        }
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, what: &str, names: &[&str], min: u32) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + min)
        .ok_or_else(|| format!("{what}: {text:?} is not a number or a name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_as_cron_reads_them() {
        let fields = |t: &str| match Schedule::parse(t).expect("parses") {
            Schedule::Fields(f) => f,
            Schedule::Every(_) => panic!("{t} parsed as @every"),
        };
        let every_5 = fields("*/5 * * * *");
        assert!(every_5.matches(0, 3, 1, 1, 0));
        assert!(every_5.matches(55, 3, 1, 1, 0));
        assert!(!every_5.matches(56, 3, 1, 1, 0));
        let weekdays = fields("30 9 * * MON-FRI");
        assert!(weekdays.matches(30, 9, 7, 12, 1));
        assert!(!weekdays.matches(30, 9, 6, 12, 0));
        let sunday7 = fields("0 0 * * 7");
        assert!(sunday7.matches(0, 0, 6, 12, 0));
        assert_eq!(
            Schedule::parse("@daily").expect("present"),
            Schedule::parse("0 0 * * *").expect("present")
        );
        // Both day fields restricted: either one runs it.
        let either = fields("0 0 1 * 1");
        assert!(either.matches(0, 0, 1, 5, 3));
        assert!(either.matches(0, 0, 2, 5, 1));
        assert!(!either.matches(0, 0, 2, 5, 2));
        assert!(fields("5/15 * * * *").matches(50, 0, 1, 1, 0));
        assert_eq!(Schedule::parse("@every 1h30m"), Ok(Schedule::Every(5400)));
        assert_eq!(Schedule::parse("@every 90s"), Ok(Schedule::Every(90)));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (text, says) in [
            ("* * * *", "exactly 5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "invalid step"),
            ("@reboot", "unrecognized descriptor"),
            ("@every 5x", "not a duration"),
            ("@every 10ms", "not a duration"),
            ("TZ=UTC 0 * * * *", "spec.timeZone"),
            ("* * * FOO *", "not a number or a name"),
        ] {
            let err = Schedule::parse(text).expect_err("refused");
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
