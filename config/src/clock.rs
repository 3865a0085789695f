//! Times of day written `HH:MM` and daily windows written `HH:MM-HH:MM`: the one parser
//! behind `[sync] hours` of preau.toml and the pupils' opening hours of the classroom.
//! Pure code, no clock: callers pass the minute of the day they computed.

use serde::Serialize;
use std::fmt;

/// Minutes in a day; `24:00` is accepted as the end of a day.
pub const DAY_MINUTES: u32 = 24 * 60;

/// Why an `HH:MM` or `HH:MM-HH:MM` text was refused. `Display` is English (the messages
/// of preau.toml); [`ClockError::french`] is for the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockError {
    /// No `-` between the two times of a window.
    NotAWindow(String),
    /// Not two numbers around a `:`.
    Unreadable(String),
    /// Numbers, but not a time of day (`25:00`, `08:75`).
    OutOfRange(String),
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::NotAWindow(_) => write!(f, "expected HH:MM-HH:MM"),
            ClockError::Unreadable(t) => write!(f, "{t:?}: expected HH:MM"),
            ClockError::OutOfRange(t) => write!(f, "{t:?} is not a time of day"),
        }
    }
}

impl std::error::Error for ClockError {}

impl ClockError {
    /// The same refusal in French, naming the text.
    pub fn french(&self) -> String {
        match self {
            ClockError::NotAWindow(t) => {
                format!("Plage « {t} » illisible : écrivez HH:MM-HH:MM, par exemple 08:30-12:00.")
            }
            ClockError::Unreadable(t) => format!("Heure « {t} » illisible : écrivez HH:MM, par exemple 08:30."),
            ClockError::OutOfRange(t) => format!("L'heure « {t} » n'existe pas."),
        }
    }
}

/// A time of day, in minutes after midnight, from `00:00` to `24:00` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    /// Parses `HH:MM` (one or two digits for the hour, surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<TimeOfDay, ClockError> {
        let t = text.trim();
        let unreadable = || ClockError::Unreadable(t.to_string());
        let (h, m) = t.split_once(':').ok_or_else(unreadable)?;
        let digits =
            |s: &str, max_len: usize| !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
            return Err(unreadable());
        }
        let (h, m): (u32, u32) = (h.parse().map_err(|_| unreadable())?, m.parse().map_err(|_| unreadable())?);
        if m > 59 || h * 60 + m > DAY_MINUTES {
            return Err(ClockError::OutOfRange(t.to_string()));
        }
        Ok(TimeOfDay(h * 60 + m))
    }

    pub fn minutes(self) -> u32 {
        self.0
    }
}

/// A daily window `HH:MM-HH:MM`, in minutes after midnight. `start > end` wraps past
/// midnight (`22:00-06:00`); `start == end` means all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DailyWindow {
    pub start: u32,
    pub end: u32,
}

impl DailyWindow {
    pub fn parse(text: &str) -> Result<DailyWindow, ClockError> {
        let t = text.trim();
        let (a, b) = t.split_once('-').ok_or_else(|| ClockError::NotAWindow(t.to_string()))?;
        // 24:00 as a start is the next day's 00:00.
        let start = TimeOfDay::parse(a)?.minutes() % DAY_MINUTES;
        Ok(DailyWindow { start, end: TimeOfDay::parse(b)?.minutes() })
    }

    /// Whether `minute_of_day` (0..1440) is inside; the end is exclusive.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        if self.start == self.end % DAY_MINUTES {
            true
        } else if self.start < self.end {
            (self.start..self.end).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start || minute_of_day < self.end
        }
    }

    /// Seconds until the window opens (0 when open).
    pub fn wait_secs(&self, minute_of_day: u32) -> u64 {
        if self.contains(minute_of_day) {
            0
        } else {
            u64::from((self.start + DAY_MINUTES - minute_of_day) % DAY_MINUTES) * 60
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_and_refuse() {
        assert_eq!(TimeOfDay::parse(" 8:30 ").unwrap().minutes(), 510);
        assert_eq!(TimeOfDay::parse("00:00").unwrap().minutes(), 0);
        assert_eq!(TimeOfDay::parse("24:00").unwrap().minutes(), DAY_MINUTES);
        for (bad, out_of_range) in [
            ("24:01", true),
            ("25:00", true),
            ("08:60", true),
            ("8h30", false),
            ("08:3", false),
            ("-1:00", false),
            ("+8:00", false),
            ("", false),
            ("123:00", false),
        ] {
            let e = TimeOfDay::parse(bad).unwrap_err();
            assert_eq!(matches!(e, ClockError::OutOfRange(_)), out_of_range, "{bad}: {e}");
            assert!(e.french().contains(bad.trim()), "{}", e.french());
        }
    }

    #[test]
    fn windows_wrap_past_midnight_and_name_the_problem() {
        let night = DailyWindow::parse("22:00-06:00").unwrap();
        assert_eq!((night.start, night.end), (22 * 60, 6 * 60));
        assert!(night.contains(23 * 60) && night.contains(0) && !night.contains(6 * 60) && !night.contains(12 * 60));
        assert_eq!(night.wait_secs(21 * 60), 3600);
        let evening = DailyWindow::parse("22:00-24:00").unwrap();
        assert!(evening.contains(23 * 60 + 59) && !evening.contains(0));
        let small_hours = DailyWindow::parse("24:00-06:00").unwrap();
        assert!(small_hours.contains(0) && !small_hours.contains(23 * 60));
        assert!(DailyWindow::parse("00:00-24:00").unwrap().contains(12 * 60));
        assert_eq!(DailyWindow::parse("nights").unwrap_err().to_string(), "expected HH:MM-HH:MM");
        assert_eq!(DailyWindow::parse("25:00-06:00").unwrap_err().to_string(), "\"25:00\" is not a time of day");
    }
}
