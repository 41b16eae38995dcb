//! Dates and times: today and now in the context's time zone, the locale's short date,
//! and Java-style patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`) for timestamps and ISO text.
//!
//! Every function reads the context (clock, time zone, locale), so none is folded at
//! compile time; a literal pattern or zone is still checked when compiling.

use std::fmt::Write;

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use rust_decimal::prelude::ToPrimitive;

use super::util::{arg, fail, integer, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::{Value, parse_java_long};

pub(super) fn functions() -> Vec<Function> {
    let date = |name: &'static str, body: fn(NaiveDate) -> Value| {
        Function::new(name, move |_, cx| Ok(body(today(cx)?))).reads_context()
    };
    vec![
        Function::new("customerAgeYears", |_, cx| Ok(customer_age_years(cx).into()))
            .reads_context()
            .summary(
                "The customer's age in whole years, from the variable birthdate (yyyy-MM-dd, dd.MM.yyyy or dd/MM/yyyy)",
                "integer",
            )
            .example("customerAgeYears()", "33"),
        date("localDate", |today| Value::from(today.format("%Y-%m-%d").to_string()))
            .summary("Today in the context's time zone, yyyy-MM-dd", "text")
            .example("localDate()", r#""2024-03-15""#),
        date("isoLocalDate", |today| Value::from(today.format("%Y-%m-%d").to_string()))
            .summary("Today in the context's time zone, ISO 8601 (yyyy-MM-dd)", "text")
            .example("isoLocalDate()", r#""2024-03-15""#),
        Function::new("isoLocalDateTime", |_, cx| {
            Ok(Value::from(local_now(cx)?.time.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()))
        })
        .reads_context()
        .summary("Now in the context's time zone, ISO 8601 with milliseconds", "text")
        .example("isoLocalDateTime()", r#""2024-03-15T10:30:00.000""#),
        date("localDateYear", |today| Value::Int(today.year().into()))
            .summary("Today's year in the context's time zone", "integer")
            .example("localDateYear()", "2024"),
        date("localDateDayOfMonth", |today| Value::Int(today.day().into()))
            .summary("Today's day of the month", "integer")
            .example("localDateDayOfMonth()", "15"),
        date("localDateDayOfYear", |today| Value::Int(today.ordinal().into()))
            .summary("Today's day of the year (1 to 366)", "integer")
            .example("localDateDayOfYear()", "75"),
        date("localDateDayOfWeek", |today| Value::Int(today.weekday().number_from_monday().into()))
            .summary("Today's day of the week, 1 (Monday) to 7 (Sunday)", "integer")
            .example("localDateDayOfWeek()", "5"),
        Function::new("formattedDateToday", |_, cx| short_date(today(cx)?, cx))
            .reads_context()
            .summary("Today in the short date format of the context's locale", "text")
            .example("formattedDateToday()", r#""15.03.24""#),
        Function::new("formattedDateTomorrow", |_, cx| {
            let today = today(cx)?;
            match today.checked_add_days(Days::new(1)) {
                Some(tomorrow) => short_date(tomorrow, cx),
                None => fail(format!("there is no date after {today}")),
            }
        })
        .reads_context()
        .summary("Tomorrow in the short date format of the context's locale", "text")
        .example("formattedDateTomorrow()", r#""16.03.24""#),
        Function::new("convertTimestampMsToDateTime", convert_timestamp)
            .param("ms", Kind::Integer)
            .param("pattern", Kind::Text)
            .param("zone", Kind::Text)
            .reads_context()
            .validate(validate_pattern_and_zone)
            .summary("Formats milliseconds since 1970 with a java.time pattern in a time zone", "text")
            .example(r#"convertTimestampMsToDateTime(0, "yyyy-MM-dd HH:mm", "UTC")"#, r#""1970-01-01 00:00""#),
        Function::new("formatDate", format_date)
            .param("value", Kind::Any)
            .param("pattern", Kind::Text)
            .optional("zone", Kind::Text)
            .reads_context()
            .validate(validate_pattern_and_zone)
            .summary("Formats a date, a date-time or milliseconds with a java.time pattern (in a time zone)", "text")
            .example(r#"formatDate("2024-03-15", "dd.MM.yyyy")"#, r#""15.03.2024""#),
        Function::new("now", |_, cx| Ok(Value::Int(cx.context().now().timestamp_millis())))
            .reads_context()
            .summary("The context's clock, as milliseconds since 1970", "integer")
            .example("now()", "1710495000000"),
    ]
}

/// A wall-clock time with its offset and zone: what a pattern formats.
struct Wall {
    time: NaiveDateTime,
    offset: FixedOffset,
    zone: Tz,
}

impl Wall {
    /// `at` on the wall clock of its zone; an error when that falls outside chrono's
    /// dates (an instant at the end of the range that the offset pushes over).
    fn of(at: &DateTime<Tz>) -> Result<Wall, FunctionError> {
        let offset = at.offset().fix();
        match at.naive_utc().checked_add_offset(offset) {
            Some(time) => Ok(Wall { time, offset, zone: at.timezone() }),
            None => Err(out_of_range()),
        }
    }
}

pub(super) fn out_of_range() -> FunctionError {
    FunctionError::new("the date is outside the supported range of dates (the years -262143 to 262142)".to_owned())
}

fn local_now(cx: &CallContext<'_>) -> Result<Wall, FunctionError> {
    Wall::of(&cx.context().now().with_timezone(&cx.context().time_zone()))
}

fn today(cx: &CallContext<'_>) -> Result<NaiveDate, FunctionError> {
    Ok(local_now(cx)?.time.date())
}

/// Whole years from the variable `birthdate` to today, as Java's `Period` counts them
/// (a 29 February birthday comes on 1 March in other years). Null when `birthdate` is
/// unset, unreadable or after today.
fn customer_age_years(cx: &CallContext<'_>) -> Option<i64> {
    let birthdate = cx.variable("birthdate")?;
    let birth = parse_birthdate(birthdate.to_text().trim())?;
    let today = today(cx).ok()?;
    if birth > today {
        return None;
    }
    let mut years = i64::from(today.year() - birth.year());
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    Some(years)
}

/// `yyyy-MM-dd`, `dd.MM.yyyy` or `dd/MM/yyyy` (day and month may have one digit in the
/// last two); the year always has four digits.
fn parse_birthdate(text: &str) -> Option<NaiveDate> {
    fn parts(text: &str, separator: char) -> Option<[&str; 3]> {
        let mut split = text.split(separator);
        let parts = [split.next()?, split.next()?, split.next()?];
        split.next().is_none().then_some(parts)
    }
    fn number(part: &str, min: usize, max: usize) -> Option<u32> {
        let fits = (min..=max).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        fits.then(|| part.parse().ok()).flatten()
    }
    let (year, month, day) = if let Some([year, month, day]) = parts(text, '-') {
        (number(year, 4, 4)?, number(month, 2, 2)?, number(day, 2, 2)?)
    } else {
        let [day, month, year] = parts(text, '.').or_else(|| parts(text, '/'))?;
        (number(year, 4, 4)?, number(month, 1, 2)?, number(day, 1, 2)?)
    };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// The locale's short date pattern, as Java (CLDR) writes `FormatStyle.SHORT`; ISO
/// for locales not in the table.
fn short_date_pattern(locale: &str) -> &'static str {
    let tag = locale.to_ascii_lowercase().replace('_', "-");
    let mut subtags = tag.split('-');
    let language = subtags.next().unwrap_or_default();
    // Skip a script subtag (`zh-Hant-TW`): a region has two letters.
    let region = subtags.find(|subtag| subtag.len() == 2).unwrap_or_default();
    match (language, region) {
        ("de", _) => "dd.MM.yy",
        ("en", "gb" | "ie") => "dd/MM/y",
        ("en", "au") => "d/M/yy",
        ("en", "ca") => "y-MM-dd",
        ("en", _) => "M/d/yy",
        ("fr", "ch") | ("it", "ch") => "dd.MM.yy",
        ("fr", "ca") => "y-MM-dd",
        ("fr", _) => "dd/MM/y",
        ("it", _) => "dd/MM/yy",
        ("es", _) => "d/M/yy",
        ("nl", _) => "dd-MM-y",
        ("pt", _) => "dd/MM/y",
        _ => "y-MM-dd",
    }
}

fn short_date(date: NaiveDate, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let items = parse_pattern(short_date_pattern(cx.context().locale()))?;
    let midnight = localize(date.and_time(NaiveTime::MIN), cx.context().time_zone()).ok_or_else(out_of_range)?;
    Ok(Value::from(format(&items, &Wall::of(&midnight)?, cx.context().locale())))
}

/// A local date-time in `zone` as java.time's `ZonedDateTime.of` places it: in an
/// overlap the earlier offset, in a gap shifted later by the gap's length. `None` at the
/// ends of chrono's range, where the time has no instant.
pub(super) fn localize(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Tz>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at),
        LocalResult::None => {
            // The offset before the gap, read a day earlier, moves the time past it.
            let before = zone.offset_from_utc_datetime(&local.checked_sub_signed(TimeDelta::days(1))?).fix();
            Some(zone.from_utc_datetime(&local.checked_sub_offset(before)?))
        }
    }
}

pub(super) fn parse_zone(name: &str) -> Result<Option<Tz>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    name.parse().map(Some).map_err(|_| format!("unknown time zone {}", Value::from(name).describe()))
}

/// The named zone; null and `""` mean the context's.
fn zone_or_context(name: &str, cx: &CallContext<'_>) -> Result<Tz, FunctionError> {
    Ok(parse_zone(name)?.unwrap_or_else(|| cx.context().time_zone()))
}

fn validate_pattern_and_zone(constants: &[Option<&Value>]) -> Result<(), (usize, String)> {
    if let Some(pattern) = constants.get(1).copied().flatten() {
        parse_pattern(&pattern.to_text()).map_err(|message| (1, message))?;
    }
    if let Some(zone) = constants.get(2).copied().flatten() {
        parse_zone(&zone.to_text()).map_err(|message| (2, message))?;
    }
    Ok(())
}

pub(super) fn instant_from_ms(ms: i64) -> Result<DateTime<Utc>, FunctionError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| FunctionError::new(format!("the timestamp {ms} ms is outside the supported range of dates")))
}

fn convert_timestamp(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let items = parse_pattern(text(args, 1))?;
    let zone = zone_or_context(text(args, 2), cx)?;
    let at = instant_from_ms(integer(args, 0))?.with_timezone(&zone);
    let formatted = format(&items, &Wall::of(&at)?, cx.context().locale());
    cx.check_size(formatted.len())?;
    Ok(Value::from(formatted))
}

fn format_date(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let items = parse_pattern(text(args, 1))?;
    let zone = zone_or_context(text(args, 2), cx)?;
    let at = match read_moment(arg(args, 0))? {
        None => return Ok(Value::Null),
        Some(Moment::Instant(instant)) => instant.with_timezone(&zone),
        Some(Moment::Local(local)) => localize(local, zone).ok_or_else(out_of_range)?,
    };
    let formatted = format(&items, &Wall::of(&at)?, cx.context().locale());
    cx.check_size(formatted.len())?;
    Ok(Value::from(formatted))
}

/// What `formatDate` reads: an instant (epoch milliseconds, a date-time with an
/// offset) or a wall-clock time to be placed in the zone.
enum Moment {
    Instant(DateTime<Utc>),
    Local(NaiveDateTime),
}

fn read_moment(value: &Value) -> Result<Option<Moment>, FunctionError> {
    let ms = match value {
        Value::Null => return Ok(None),
        Value::Int(ms) => Some(*ms),
        Value::Float(ms) if ms.is_finite() && ms.abs() < 9.2e18 => Some(ms.trunc() as i64),
        Value::Decimal(ms) => ms.trunc().to_i64(),
        Value::Str(text) if text.trim().is_empty() => return Ok(None),
        Value::Str(text) => match parse_java_long(text.trim()) {
            Some(ms) => Some(ms),
            None => return parse_iso(text.trim()).map(Some).ok_or_else(|| not_a_date(value)),
        },
        _ => None,
    };
    match ms {
        Some(ms) => instant_from_ms(ms).map(|instant| Some(Moment::Instant(instant))),
        None => Err(not_a_date(value)),
    }
}

pub(super) fn not_a_date(value: &Value) -> FunctionError {
    FunctionError::new(format!(
        "cannot read {} as a date: expected an ISO date (2026-11-21), an ISO date-time \
         (2026-11-21T10:15:30, with Z or an offset for an instant) or epoch milliseconds",
        value.describe()
    ))
}

/// ISO text as written, before it is placed in a zone: what the date arithmetic keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IsoForm {
    /// `2026-11-21`.
    Date(NaiveDate),
    /// `2026-11-21T10:15:30`, a wall-clock time without an offset.
    Local(NaiveDateTime),
    /// `2026-11-21T10:15:30+01:00`: the wall-clock time and its offset.
    Offset(NaiveDateTime, FixedOffset),
}

/// `yyyy-MM-dd`, or that with `T` (or a space) and `HH:mm`, `HH:mm:ss` or
/// `HH:mm:ss.fraction`, then optionally `Z` or an offset (`+01:00`, `+0100`, `+01`).
fn parse_iso(text: &str) -> Option<Moment> {
    Some(match parse_iso_form(text)? {
        IsoForm::Date(date) => Moment::Local(date.and_time(NaiveTime::MIN)),
        IsoForm::Local(local) => Moment::Local(local),
        IsoForm::Offset(local, offset) => {
            Moment::Instant(offset.from_local_datetime(&local).single()?.with_timezone(&Utc))
        }
    })
}

/// Reads ISO text as [`parse_iso`] does, keeping its form.
pub(super) fn parse_iso_form(text: &str) -> Option<IsoForm> {
    let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let Some((day, time)) = text.split_once(['T', 't', ' ']) else {
        return date(text).map(IsoForm::Date);
    };
    let day = date(day)?;
    let (time, offset) = match time.strip_suffix(['Z', 'z']) {
        Some(time) => (time, Some(FixedOffset::east_opt(0)?)),
        None => match time.rfind(['+', '-']) {
            Some(at) => (&time[..at], Some(parse_offset(&time[at..])?)),
            None => (time, None),
        },
    };
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()
        // chrono reads second 60 as a leap second; ISO-8601 text in java.time has none.
        .filter(|time| time.nanosecond() < 1_000_000_000)?;
    let local = day.and_time(time);
    Some(match offset {
        Some(offset) => {
            // The instant must exist (not past the end of the range once the offset is taken off).
            offset.from_local_datetime(&local).single()?;
            IsoForm::Offset(local, offset)
        }
        None => IsoForm::Local(local),
    })
}

/// `+HH:MM`, `+HHMM` or `+HH` (or `-`).
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = text.split_at(1);
    if !rest.is_ascii() {
        return None;
    }
    let (hours, minutes) = match rest.len() {
        2 => (rest, "00"),
        4 => rest.split_at(2),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    if !hours.bytes().chain(minutes.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 18 || minutes > 59 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    FixedOffset::east_opt(if sign == "-" { -seconds } else { seconds })
}

/// A piece of a date pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Literal(String),
    /// A pattern letter and how many times it is repeated.
    Field(char, usize),
}

/// Reads a `java.time.format.DateTimeFormatter` pattern. Supported letters: `y` `u`
/// (year), `M` (month: number, `MMM` short and `MMMM` full name), `d`, `D` (day of
/// year), `E` (weekday name), `a` (AM/PM), `H` `k` `K` `h` (hours), `m`, `s`, `S`
/// (fraction), `X` `x` `Z` (offset), `VV` (zone id). Text in single quotes is literal,
/// `''` is a quote; other letters are errors that name them.
pub(super) fn parse_pattern(pattern: &str) -> Result<Vec<Item>, String> {
    let shown = || Value::from(pattern).describe();
    let mut items = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => super::util::quoted_literal(&mut chars, &mut literal)
                .map_err(|()| format!("the date pattern {} has a quote that is not closed", shown()))?,
            '[' | ']' | '{' | '}' | '#' => {
                return Err(format!(
                    "the date pattern {} uses {c:?}, which is not supported; quote it: '{c}'",
                    shown()
                ));
            }
            letter if letter.is_ascii_alphabetic() => {
                let mut count = 1;
                while chars.peek() == Some(&letter) {
                    chars.next();
                    count += 1;
                }
                let most = match letter {
                    'y' | 'u' => 19,
                    'M' | 'E' => 5,
                    'S' => 9,
                    'D' | 'X' | 'x' | 'Z' => 3,
                    'd' | 'H' | 'h' | 'k' | 'K' | 'm' | 's' | 'V' => 2,
                    'a' => 1,
                    'G' | 'L' | 'Q' | 'q' | 'Y' | 'w' | 'W' | 'e' | 'c' | 'F' | 'B' | 'A' | 'n' | 'N' | 'O' | 'z'
                    | 'v' | 'g' => {
                        return Err(format!("the date pattern letter {letter:?} (in {}) is not supported", shown()));
                    }
                    _ => {
                        return Err(format!(
                            "unknown date pattern letter {letter:?} in {}; to write it as text, quote it: '{letter}'",
                            shown()
                        ));
                    }
                };
                if count > most || (letter == 'V' && count != 2) {
                    let letters = letter.to_string().repeat(count);
                    return Err(format!("the date pattern {} has too many letters {letter:?}: {letters}", shown()));
                }
                if !literal.is_empty() {
                    items.push(Item::Literal(std::mem::take(&mut literal)));
                }
                items.push(Item::Field(letter, count));
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        items.push(Item::Literal(literal));
    }
    Ok(items)
}

/// Month and weekday names.
pub(super) struct Names {
    pub(super) months: [&'static str; 12],
    pub(super) short_months: [&'static str; 12],
    pub(super) weekdays: [&'static str; 7],
    pub(super) short_weekdays: [&'static str; 7],
}

const ENGLISH: Names = Names {
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    short_months: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    weekdays: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    short_weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
};

/// German names as Java (CLDR) writes them.
const GERMAN: Names = Names {
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    short_months: ["Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."],
    weekdays: ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    short_weekdays: ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
};

/// German for `de` locales, English for every other.
pub(super) fn names(locale: &str) -> &'static Names {
    let language = locale.split(['-', '_']).next().unwrap_or_default();
    if language.eq_ignore_ascii_case("de") { &GERMAN } else { &ENGLISH }
}

fn format(items: &[Item], at: &Wall, locale: &str) -> String {
    let names = names(locale);
    let mut out = String::new();
    for item in items {
        match item {
            Item::Literal(text) => out.push_str(text),
            Item::Field(letter, count) => write_field(&mut out, *letter, *count, at, names),
        }
    }
    out
}

fn write_field(out: &mut String, letter: char, count: usize, wall: &Wall, names: &Names) {
    let at = &wall.time;
    let month = at.month0() as usize;
    let weekday = at.weekday().num_days_from_monday() as usize;
    let number = |out: &mut String, value: u32| {
        let _ = write!(out, "{value:0count$}");
    };
    match letter {
        'y' => write_year(out, if at.year() > 0 { at.year() } else { 1 - at.year() }, count),
        'u' => write_year(out, at.year(), count),
        'M' => match count {
            1 | 2 => number(out, at.month()),
            3 => out.push_str(names.short_months[month]),
            4 => out.push_str(names.months[month]),
            _ => out.extend(names.months[month].chars().next()),
        },
        'd' => number(out, at.day()),
        'D' => number(out, at.ordinal()),
        'E' => match count {
            1..=3 => out.push_str(names.short_weekdays[weekday]),
            4 => out.push_str(names.weekdays[weekday]),
            _ => out.extend(names.weekdays[weekday].chars().next()),
        },
        'a' => out.push_str(if at.hour() < 12 { "AM" } else { "PM" }),
        'H' => number(out, at.hour()),
        'k' => number(out, if at.hour() == 0 { 24 } else { at.hour() }),
        'K' => number(out, at.hour() % 12),
        'h' => number(out, (at.hour() + 11) % 12 + 1),
        'm' => number(out, at.minute()),
        's' => number(out, at.second()),
        // A fraction is cut, not rounded: `SSS` of 0.9999 s is 999.
        'S' => out.push_str(&format!("{:09}", at.nanosecond() % 1_000_000_000)[..count]),
        'X' | 'x' | 'Z' => write_offset(out, letter, count, wall.offset.local_minus_utc()),
        _ => out.push_str(wall.zone.name()),
    }
}

/// A year as java.time writes it: `yy` as two digits, else padded to the count, with a
/// `-` when negative and, from four letters on, a `+` when it has more digits than that.
pub(super) fn write_year(out: &mut String, year: i32, count: usize) {
    if count == 2 {
        let _ = write!(out, "{:02}", year.rem_euclid(100));
        return;
    }
    let digits = year.unsigned_abs();
    if year < 0 {
        out.push('-');
    } else if count >= 4 && digits.to_string().len() > count {
        out.push('+');
    }
    let _ = write!(out, "{digits:0count$}");
}

/// `X`: `Z` for zero, else `+01` (with minutes when not zero); `XX` `+0100`; `XXX`
/// `+01:00`. `x` is the same without `Z`; `Z` to `ZZZ` are `+0100`.
fn write_offset(out: &mut String, letter: char, count: usize, seconds: i32) {
    if letter == 'X' && seconds == 0 {
        out.push('Z');
        return;
    }
    let (hours, minutes) = (seconds.unsigned_abs() / 3600, seconds.unsigned_abs() / 60 % 60);
    let sign = if seconds < 0 { '-' } else { '+' };
    let _ = match (letter, count) {
        ('Z', _) | (_, 2) => write!(out, "{sign}{hours:02}{minutes:02}"),
        (_, 1) if minutes == 0 => write!(out, "{sign}{hours:02}"),
        (_, 1) => write!(out, "{sign}{hours:02}{minutes:02}"),
        _ => write!(out, "{sign}{hours:02}:{minutes:02}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, zone: Tz) -> Wall {
        let at = match parse_iso(text).unwrap() {
            Moment::Instant(instant) => instant.with_timezone(&zone),
            Moment::Local(local) => localize(local, zone).unwrap(),
        };
        Wall::of(&at).unwrap()
    }

    fn formatted(pattern: &str, text: &str, zone: Tz, locale: &str) -> String {
        format(&parse_pattern(pattern).unwrap(), &at(text, zone), locale)
    }

    #[test]
    fn patterns_format_as_java_does() {
        let berlin = chrono_tz::Europe::Berlin;
        let cases = [
            ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2026-11-21T10:15:30.123456Z", "2026-11-21T11:15:30.123+01:00"),
            ("d.M.yy H:m:s", "2026-01-05T03:04:05Z", "5.1.26 4:4:5"),
            ("EEEE, d. MMMM yyyy", "2026-11-21", "Saturday, 21. November 2026"),
            ("EEE MMM MMMMM E", "2026-09-01", "Tue Sep S Tue"),
            ("hh:mm a, K k", "2026-11-21T00:30", "12:30 AM, 0 24"),
            ("hh a", "2026-11-21T13:00", "01 PM"),
            ("DDD D", "2026-02-01", "032 32"),
            ("X XX XXX x Z VV", "2026-07-01T12:00Z", "+02 +0200 +02:00 +02 +0200 Europe/Berlin"),
            ("'It''s' ''HH'' 'o''clock'", "2026-11-21T09:00", "It's '09' o'clock"),
            ("S SS SSSSSSSSS", "2026-11-21T09:00:00.987654321", "9 98 987654321"),
            ("y yyy yyyyy", "2026-11-21", "2026 2026 02026"),
        ];
        for (pattern, moment, expected) in cases {
            assert_eq!(formatted(pattern, moment, berlin, "en"), expected, "{pattern}");
        }
        assert_eq!(formatted("X", "2026-11-21T10:00Z", Tz::UTC, "en"), "Z");
        assert_eq!(formatted("x", "2026-11-21T10:00Z", Tz::UTC, "en"), "+00");
        assert_eq!(formatted("X", "2026-11-21T10:00Z", chrono_tz::Asia::Kolkata, "en"), "+0530");
        assert_eq!(formatted("XXX", "2026-11-21T10:00Z", chrono_tz::America::New_York, "en"), "-05:00");
        assert_eq!(
            formatted("EEEE, d. MMMM yyyy (EEE, MMM)", "2026-03-21", berlin, "de-CH"),
            "Samstag, 21. März 2026 (Sa., März)"
        );
    }

    #[test]
    fn years_outside_four_digits() {
        let mut out = String::new();
        write_year(&mut out, 12026, 4);
        out.push(' ');
        write_year(&mut out, -44, 4);
        out.push(' ');
        write_year(&mut out, 7, 2);
        assert_eq!(out, "+12026 -0044 07");
    }

    #[test]
    fn gaps_and_overlaps_follow_java_time() {
        let berlin = chrono_tz::Europe::Berlin;
        // 02:30 does not exist on 29 March 2026: it becomes 03:30 summer time.
        assert_eq!(formatted("HH:mmXXX", "2026-03-29T02:30", berlin, "en"), "03:30+02:00");
        // 02:30 happens twice on 25 October 2026: the earlier (summer) offset wins.
        assert_eq!(formatted("HH:mmXXX", "2026-10-25T02:30", berlin, "en"), "02:30+02:00");
    }

    #[test]
    fn iso_text_reads() {
        for text in ["2026-11-21T10:15", "2026-11-21 10:15:30", "2026-11-21T10:15:30.5+01:00", "2026-11-21T10:15-0130"]
        {
            assert!(parse_iso(text).is_some(), "{text}");
        }
        for text in ["2026-11-21T25:00", "21.11.2026", "2026-11-21T10:15+1", "2026-11-21T23:59:60", "2026-02-30"] {
            assert!(parse_iso(text).is_none(), "{text}");
        }
    }

    #[test]
    fn bad_patterns_name_the_letter() {
        assert!(parse_pattern("yyyy-MM-ddTHH").unwrap_err().contains("'T'"));
        assert!(parse_pattern("QQ").unwrap_err().contains("'Q'"));
        assert!(parse_pattern("ddd").unwrap_err().contains("ddd"));
        assert!(parse_pattern("V").unwrap_err().contains("too many"));
        assert!(parse_pattern("'open").unwrap_err().contains("not closed"));
        assert!(parse_pattern("[HH]").is_err());
        assert_eq!(parse_pattern("äö-: ").unwrap(), vec![Item::Literal("äö-: ".into())]);
    }

    #[test]
    fn birthdates_read_strictly() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_birthdate("1990-05-17"), date(1990, 5, 17));
        assert_eq!(parse_birthdate("17.05.1990"), date(1990, 5, 17));
        assert_eq!(parse_birthdate("7.5.1990"), date(1990, 5, 7));
        assert_eq!(parse_birthdate("17/05/1990"), date(1990, 5, 17));
        for bad in
            ["", "1990-5-17", "17.05.90", "31.02.1990", "17-05-1990", "1990/05/17", "17.05.1990.1", "+1990-05-17"]
        {
            assert_eq!(parse_birthdate(bad), None, "{bad}");
        }
    }

    #[test]
    fn short_date_patterns_by_locale() {
        assert_eq!(short_date_pattern("de"), "dd.MM.yy");
        assert_eq!(short_date_pattern("de_AT"), "dd.MM.yy");
        assert_eq!(short_date_pattern("en"), "M/d/yy");
        assert_eq!(short_date_pattern("en-GB"), "dd/MM/y");
        assert_eq!(short_date_pattern("fr-CH"), "dd.MM.yy");
        assert_eq!(short_date_pattern("ja"), "y-MM-dd");
    }
}
