//! Opening hours (*numérique raisonné*): when pupils may use the box. Pure code.
//!
//! Stored as one line: the open weekdays as ISO digits (1 = Monday … 7 = Sunday), then
//! time ranges, for example `12345 08:30-12:00,13:30-16:30`. An empty line means always
//! open. Each `HH:MM` is read by `preau-config`'s one time-of-day parser.

use preau_config::clock::{ClockError, TimeOfDay};

#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    /// Index 0 = Monday.
    pub days: [bool; 7],
    /// Minutes since midnight, start inclusive, end exclusive.
    pub ranges: Vec<(u32, u32)>,
}

const MAX_RANGES: usize = 8;

impl Hours {
    /// `Ok` with every day open all day for an empty line.
    pub fn parse(spec: &str) -> Result<Hours, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(Hours { days: [true; 7], ranges: vec![(0, 24 * 60)] });
        }
        let (days_part, ranges_part) =
            spec.split_once(' ').ok_or_else(|| "Attendu : des jours puis des plages, par exemple 12345 08:30-16:30. / Expected days then ranges, e.g. 12345 08:30-16:30.".to_string())?;
        let mut days = [false; 7];
        for c in days_part.chars() {
            let d = c.to_digit(10).filter(|d| (1..=7).contains(d)).ok_or_else(|| format!("Jour inconnu « {c} » (1 = lundi … 7 = dimanche). / Unknown weekday {c:?} (1 = Monday … 7 = Sunday)."))?;
            days[d as usize - 1] = true;
        }
        let mut ranges = Vec::new();
        for r in ranges_part.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            if ranges.len() == MAX_RANGES {
                return Err(format!("Au plus {MAX_RANGES} plages horaires. / At most {MAX_RANGES} time ranges."));
            }
            let (a, b) = r.split_once('-').ok_or_else(|| format!("Plage « {r} » illisible : écrivez HH:MM-HH:MM, par exemple 08:30-12:00. / Unreadable range {r:?}: use HH:MM-HH:MM."))?;
            let (a, b) = (minutes(a)?, minutes(b)?);
            if a >= b {
                return Err(format!("La plage « {r} » finit avant de commencer. / Range {r:?} ends before it starts."));
            }
            ranges.push((a, b));
        }
        if ranges.is_empty() {
            return Err("Aucune plage horaire. / No time range.".into());
        }
        Ok(Hours { days, ranges })
    }

    /// Whether `unix` (seconds, UTC) falls in opening hours, in a zone `tz_minutes` east
    /// of UTC.
    pub fn is_open(&self, unix: i64, tz_minutes: i64) -> bool {
        let local = unix + tz_minutes * 60;
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as usize;
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        self.days[weekday] && self.ranges.iter().any(|&(a, b)| minute >= a && minute < b)
    }

    /// The next time (Unix seconds, after `unix`) the box opens, within a week; `None`
    /// when it never does (no open day) or is open now for good.
    pub fn next_opening(&self, unix: i64, tz_minutes: i64) -> Option<i64> {
        let local = unix + tz_minutes * 60;
        let today = local.div_euclid(86_400);
        let mut starts: Vec<u32> = self.ranges.iter().map(|r| r.0).collect();
        starts.sort_unstable();
        for d in today..=today + 7 {
            if !self.days[(d + 3).rem_euclid(7) as usize] {
                continue;
            }
            for &a in &starts {
                let at = d * 86_400 + a as i64 * 60 - tz_minutes * 60;
                // A range that starts where the previous one ends is not a new opening.
                if at > unix && !self.is_open(at - 60, tz_minutes) {
                    return Some(at);
                }
            }
        }
        None
    }
}

/// Minutes after midnight of one end of a range, refused in French then English.
fn minutes(hhmm: &str) -> Result<u32, String> {
    TimeOfDay::parse(hhmm).map(TimeOfDay::minutes).map_err(|e| {
        let english = match &e {
            ClockError::OutOfRange(t) => format!("Time {t:?} out of range."),
            _ => format!("Unreadable time {:?}: use HH:MM.", hhmm.trim()),
        };
        format!("{} / {english}", e.french())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30 is a Monday. 00:00 UTC.
    const MONDAY: i64 = 1_795_996_800;

    #[test]
    fn weekday_reference_is_right() {
        let d = time::OffsetDateTime::from_unix_timestamp(MONDAY).unwrap();
        assert_eq!(d.weekday(), time::Weekday::Monday);
        assert_eq!((d.hour(), d.minute()), (0, 0));
    }

    #[test]
    fn open_inside_ranges_on_open_days_only() {
        let h = Hours::parse("1245 08:30-12:00, 13:30-16:30").unwrap();
        let at = |day: i64, hh: i64, mm: i64| MONDAY + day * 86_400 + hh * 3600 + mm * 60;
        assert!(h.is_open(at(0, 8, 30), 0));
        assert!(!h.is_open(at(0, 8, 29), 0));
        assert!(!h.is_open(at(0, 12, 0), 0), "end is exclusive");
        assert!(h.is_open(at(0, 14, 0), 0));
        assert!(!h.is_open(at(2, 9, 0), 0), "Wednesday is closed");
        assert!(!h.is_open(at(5, 9, 0), 0), "Saturday is closed");
        // Paris in winter: 07:45 UTC is 08:45 local.
        assert!(h.is_open(at(0, 7, 45), 60));
        assert!(!h.is_open(at(0, 7, 45), 0));
    }

    #[test]
    fn next_opening_is_the_next_range_start_on_an_open_day() {
        let h = Hours::parse("1245 08:30-12:00,13:30-16:30").unwrap();
        let at = |day: i64, hh: i64, mm: i64| MONDAY + day * 86_400 + hh * 3600 + mm * 60;
        assert_eq!(h.next_opening(at(0, 12, 10), 0), Some(at(0, 13, 30)));
        // Tuesday evening: Wednesday is closed, Thursday 08:30.
        assert_eq!(h.next_opening(at(1, 17, 0), 0), Some(at(3, 8, 30)));
        // Friday evening: Monday.
        assert_eq!(h.next_opening(at(4, 18, 0), 0), Some(at(7, 8, 30)));
        // In Paris (UTC+1) 08:30 local is 07:30 UTC.
        assert_eq!(h.next_opening(at(1, 5, 0), 60), Some(at(1, 7, 30)));
    }

    #[test]
    fn empty_means_always_open_and_bad_input_is_refused() {
        assert!(Hours::parse("").unwrap().is_open(MONDAY + 3 * 3600, 60));
        for bad in ["12345", "8 08:00-09:00", "1 09:00-08:00", "1 25:00-26:00", "1 8h-9h", "1 ,"] {
            assert!(Hours::parse(bad).is_err(), "{bad} accepted");
        }
        let many = format!("1 {}", ["01:00-02:00"; 9].join(","));
        assert!(Hours::parse(&many).is_err());
    }
}
