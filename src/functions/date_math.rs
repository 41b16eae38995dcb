//! Date arithmetic: `dateAdd`, `dateDiff`, `dateParse`, `dateStartOf`, `dateInZone`.
//!
//! Dates are read as `formatDate` reads them (epoch milliseconds, an ISO date, an ISO
//! date-time with or without an offset) and results are ISO-8601 text in the form of
//! the input: a date stays a date, a date-time without offset stays one, and one with
//! an offset keeps it (`Z` for UTC, as Java's ISO formatters write it). The operations
//! are java.time's: `plusMonths`, `ChronoUnit.between`, `DateTimeFormatter` parsing.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, Timelike, Utc};

use rust_decimal::prelude::ToPrimitive;

use super::dates::{
    IsoForm, Item, instant_from_ms, localize, names, not_a_date, out_of_range, parse_iso_form, parse_pattern,
    parse_zone, write_year,
};
use super::util::{arg, fail, integer, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::{Value, parse_java_long};

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("dateAdd", date_add)
            .param("date", Kind::Any)
            .param("amount", Kind::Integer)
            .param("unit", Kind::Text)
            .validate(|constants| validate_unit(constants, 2, AddUnit::parse))
            .summary("the date plus an amount of years, months, weeks, days, hours, minutes or seconds", "text")
            .example("dateAdd(\"2026-01-31\", 1, \"months\")", "\"2026-02-28\""),
        Function::new("dateDiff", date_diff)
            .param("from", Kind::Any)
            .param("to", Kind::Any)
            .param("unit", Kind::Text)
            .validate(|constants| validate_unit(constants, 2, AddUnit::parse))
            .summary(
                "whole units from one date to another, negative when to is earlier (ChronoUnit.between)",
                "integer",
            )
            .example("dateDiff(\"2026-03-10\", \"2026-03-01\", \"days\")", "-9"),
        Function::new("dateParse", date_parse)
            .param("text", Kind::Text)
            .param("pattern", Kind::Text)
            .reads_context_unless(|constants| {
                // Only month and weekday names depend on the context's locale.
                let pattern = constants.get(1).copied().flatten().map(|pattern| parse_pattern(&pattern.to_text()));
                matches!(pattern, Some(Ok(items)) if !items.iter().any(|item| matches!(item, Item::Field('M', 3..) | Item::Field('E', _))))
            })
            .validate(|constants| match constants.get(1).copied().flatten() {
                Some(pattern) => parse_pattern(&pattern.to_text())
                    .and_then(|items| check_parse_pattern(&items))
                    .map_err(|message| (1, message)),
                None => Ok(()),
            })
            .summary("text read with a date pattern, as an ISO date or ISO local date-time", "text")
            .example("dateParse(\"21.11.2026 14:05\", \"dd.MM.yyyy HH:mm\")", "\"2026-11-21T14:05:00\""),
        Function::new("dateStartOf", date_start_of)
            .param("date", Kind::Any)
            .param("unit", Kind::Text)
            .validate(|constants| validate_unit(constants, 1, StartUnit::parse))
            .summary("the start of the date's day, week (Monday), month or year, in the date's form", "text")
            .example("dateStartOf(\"2026-11-21T10:15:30+01:00\", \"month\")", "\"2026-11-01T00:00:00+01:00\""),
        Function::new("dateInZone", date_in_zone)
            .param("instant", Kind::Any)
            .param("zone", Kind::Text)
            .validate(|constants| match constants.get(1).copied().flatten() {
                Some(zone) => zone_named(&zone.to_text()).map(drop).map_err(|message| (1, message)),
                None => Ok(()),
            })
            .summary("the instant as an ISO date-time with the offset it has in an IANA time zone", "text")
            .example("dateInZone(\"2026-07-01T10:00:00Z\", \"Europe/Zurich\")", "\"2026-07-01T12:00:00+02:00\""),
    ]
}

/// Checks a literal unit at `position`.
fn validate_unit<T>(
    constants: &[Option<&Value>],
    position: usize,
    parse: fn(&str) -> Result<T, String>,
) -> Result<(), (usize, String)> {
    match constants.get(position).copied().flatten() {
        Some(unit) => parse(&unit.to_text()).map(drop).map_err(|message| (position, message)),
        None => Ok(()),
    }
}

/// A unit of `dateAdd` and `dateDiff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddUnit {
    Years,
    Months,
    Weeks,
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl AddUnit {
    /// The plural (`days`) or singular (`day`), in any case.
    fn parse(unit: &str) -> Result<AddUnit, String> {
        let lower = unit.to_ascii_lowercase();
        Ok(match lower.strip_suffix('s').unwrap_or(&lower) {
            "year" => AddUnit::Years,
            "month" => AddUnit::Months,
            "week" => AddUnit::Weeks,
            "day" => AddUnit::Days,
            "hour" => AddUnit::Hours,
            "minute" => AddUnit::Minutes,
            "second" => AddUnit::Seconds,
            _ => {
                return Err(format!(
                    "unknown unit {}: expected years, months, weeks, days, hours, minutes or seconds",
                    Value::from(unit).describe()
                ));
            }
        })
    }

    /// Seconds in one of a time unit, `None` for the calendar units.
    fn seconds(self) -> Option<i64> {
        match self {
            AddUnit::Hours => Some(3600),
            AddUnit::Minutes => Some(60),
            AddUnit::Seconds => Some(1),
            _ => None,
        }
    }
}

/// A unit of `dateStartOf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartUnit {
    Day,
    Week,
    Month,
    Year,
}

impl StartUnit {
    fn parse(unit: &str) -> Result<StartUnit, String> {
        Ok(match unit.to_ascii_lowercase().as_str() {
            "day" => StartUnit::Day,
            "week" => StartUnit::Week,
            "month" => StartUnit::Month,
            "year" => StartUnit::Year,
            _ => {
                return Err(format!(
                    "unknown unit {}: expected day, week, month or year",
                    Value::from(unit).describe()
                ));
            }
        })
    }
}

/// Reads a date argument; `None` for null and blank text (the result is then null).
fn read_form(value: &Value) -> Result<Option<IsoForm>, FunctionError> {
    let instant = |ms: i64| -> Result<Option<IsoForm>, FunctionError> {
        let at = instant_from_ms(ms)?;
        Ok(Some(IsoForm::Offset(at.naive_utc(), Utc.fix())))
    };
    match value {
        Value::Null => Ok(None),
        Value::Int(ms) => instant(*ms),
        Value::Float(ms) if ms.is_finite() && ms.abs() < 9.2e18 => instant(ms.trunc() as i64),
        Value::Decimal(ms) => instant(ms.trunc().to_i64().ok_or_else(|| not_a_date(value))?),
        Value::Str(text) if text.trim().is_empty() => Ok(None),
        Value::Str(text) => match parse_java_long(text.trim()) {
            Some(ms) => instant(ms),
            None => parse_iso_form(text.trim()).map(Some).ok_or_else(|| not_a_date(value)),
        },
        _ => Err(not_a_date(value)),
    }
}

/// ISO-8601 text as java.time's ISO formatters write it: seconds always, a fraction
/// only when there is one (without trailing zeros), `Z` for a zero offset.
fn write_form(form: IsoForm) -> String {
    let mut out = String::new();
    let date = |out: &mut String, date: NaiveDate| {
        write_year(out, date.year(), 4);
        let _ = write!(out, "-{:02}-{:02}", date.month(), date.day());
    };
    let local = |out: &mut String, at: NaiveDateTime| {
        date(out, at.date());
        let _ = write!(out, "T{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second());
        let nanos = at.nanosecond() % 1_000_000_000;
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            let _ = write!(out, ".{}", fraction.trim_end_matches('0'));
        }
    };
    match form {
        IsoForm::Date(day) => date(&mut out, day),
        IsoForm::Local(at) => local(&mut out, at),
        IsoForm::Offset(at, offset) => {
            local(&mut out, at);
            let seconds = offset.local_minus_utc();
            if seconds == 0 {
                out.push('Z');
            } else {
                let sign = if seconds < 0 { '-' } else { '+' };
                let (hours, minutes) = (seconds.unsigned_abs() / 3600, seconds.unsigned_abs() / 60 % 60);
                let _ = write!(out, "{sign}{hours:02}:{minutes:02}");
            }
        }
    }
    out
}

/// The ISO text of a result, counted against the output limit like every built text.
fn written(form: IsoForm, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let text = write_form(form);
    cx.check_size(text.len())?;
    Ok(Value::from(text))
}

fn date_add(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let unit = AddUnit::parse(text(args, 2))?;
    let amount = integer(args, 1);
    let Some(form) = read_form(arg(args, 0))? else {
        return Ok(Value::Null);
    };
    let added = match form {
        IsoForm::Date(date) => {
            if unit.seconds().is_some() {
                return fail(format!(
                    "dateAdd: {} is a date, which has no {}; give a date-time such as {date}T00:00",
                    arg(args, 0).describe(),
                    text(args, 2)
                ));
            }
            IsoForm::Date(add_to_date(date, amount, unit).ok_or_else(out_of_range)?)
        }
        IsoForm::Local(at) => IsoForm::Local(add_to_time(at, amount, unit).ok_or_else(out_of_range)?),
        IsoForm::Offset(at, offset) => {
            let added = add_to_time(at, amount, unit).ok_or_else(out_of_range)?;
            // The instant must stay within the range, not only the wall-clock time.
            added.checked_sub_offset(offset).ok_or_else(out_of_range)?;
            IsoForm::Offset(added, offset)
        }
    };
    written(added, cx)
}

/// Calendar units on a date; months and years clamp to the month's end, as
/// `plusMonths` does (31 January plus one month is 28 or 29 February).
fn add_to_date(date: NaiveDate, amount: i64, unit: AddUnit) -> Option<NaiveDate> {
    let months = |months: i64| -> Option<NaiveDate> {
        let count = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
        if months < 0 { date.checked_sub_months(count) } else { date.checked_add_months(count) }
    };
    let days = |days: i64| -> Option<NaiveDate> {
        let count = Days::new(days.unsigned_abs());
        if days < 0 { date.checked_sub_days(count) } else { date.checked_add_days(count) }
    };
    match unit {
        AddUnit::Years => months(amount.checked_mul(12)?),
        AddUnit::Months => months(amount),
        AddUnit::Weeks => days(amount.checked_mul(7)?),
        AddUnit::Days => days(amount),
        _ => None,
    }
}

/// Any unit on a wall-clock time: calendar units move the date and keep the time.
fn add_to_time(at: NaiveDateTime, amount: i64, unit: AddUnit) -> Option<NaiveDateTime> {
    match unit.seconds() {
        Some(seconds) => at.checked_add_signed(TimeDelta::try_seconds(amount.checked_mul(seconds)?)?),
        None => Some(add_to_date(at.date(), amount, unit)?.and_time(at.time())),
    }
}

fn date_diff(args: &[Value], _: &CallContext<'_>) -> Result<Value, FunctionError> {
    let unit = AddUnit::parse(text(args, 2))?;
    let (Some(from), Some(to)) = (read_form(arg(args, 0))?, read_form(arg(args, 1))?) else {
        return Ok(Value::Null);
    };
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
    let (from, to) = match (from, to) {
        (IsoForm::Offset(from, from_offset), IsoForm::Offset(to, to_offset)) => {
            // As `OffsetDateTime.until`: the end is moved to the start's offset first.
            let to = to.checked_sub_offset(to_offset).and_then(|utc| utc.checked_add_offset(from_offset));
            (from, to.ok_or_else(out_of_range)?)
        }
        (IsoForm::Offset(..), _) | (_, IsoForm::Offset(..)) => {
            return fail(format!(
                "dateDiff: cannot count from {} to {}: one has an offset (or is epoch milliseconds) and the other \
                 does not; give both with an offset or both without",
                arg(args, 0).describe(),
                arg(args, 1).describe()
            ));
        }
        (IsoForm::Date(from), IsoForm::Date(to)) => (midnight(from), midnight(to)),
        (IsoForm::Date(from), IsoForm::Local(to)) => (midnight(from), to),
        (IsoForm::Local(from), IsoForm::Date(to)) => (from, midnight(to)),
        (IsoForm::Local(from), IsoForm::Local(to)) => (from, to),
    };
    Ok(Value::Int(between(from, to, unit)))
}

/// `ChronoUnit.between` on local date-times: whole units, truncated toward zero.
fn between(from: NaiveDateTime, to: NaiveDateTime, unit: AddUnit) -> i64 {
    if let Some(seconds) = unit.seconds() {
        // The span of two chrono date-times always fits a TimeDelta.
        return (to - from).num_seconds() / seconds;
    }
    // LocalDateTime.until: a last day not reached by its time does not count.
    let mut end = to.date();
    if end > from.date() && to.time() < from.time() {
        end = end.pred_opt().unwrap_or(end);
    } else if end < from.date() && to.time() > from.time() {
        end = end.succ_opt().unwrap_or(end);
    }
    let start = from.date();
    let days = i64::from(end.num_days_from_ce()) - i64::from(start.num_days_from_ce());
    // LocalDate.until: months compare (month, day) packed as month * 32 + day.
    let packed =
        |date: NaiveDate| (i64::from(date.year()) * 12 + i64::from(date.month0())) * 32 + i64::from(date.day());
    let months = (packed(end) - packed(start)) / 32;
    match unit {
        AddUnit::Years => months / 12,
        AddUnit::Months => months,
        AddUnit::Weeks => days / 7,
        _ => days,
    }
}

fn date_start_of(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let unit = StartUnit::parse(text(args, 1))?;
    let Some(form) = read_form(arg(args, 0))? else {
        return Ok(Value::Null);
    };
    let start = |date: NaiveDate| -> NaiveDate {
        match unit {
            StartUnit::Day => date,
            StartUnit::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            StartUnit::Month => date.with_day(1).unwrap_or(date),
            StartUnit::Year => date.with_ordinal(1).unwrap_or(date),
        }
    };
    // Going back within a week can leave chrono's range only at its very first days.
    let first = NaiveDate::MIN + Days::new(7);
    let started = match form {
        IsoForm::Date(date) if date >= first => IsoForm::Date(start(date)),
        IsoForm::Local(at) if at.date() >= first => IsoForm::Local(start(at.date()).and_time(NaiveTime::MIN)),
        IsoForm::Offset(at, offset) if at.date() >= first => {
            IsoForm::Offset(start(at.date()).and_time(NaiveTime::MIN), offset)
        }
        _ => return Err(out_of_range()),
    };
    written(started, cx)
}

/// An IANA zone; the empty name is refused, since the result must name its offset.
fn zone_named(name: &str) -> Result<chrono_tz::Tz, String> {
    parse_zone(name)?.ok_or_else(|| "dateInZone needs a time zone, such as \"Europe/Zurich\"".to_owned())
}

fn date_in_zone(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let zone = zone_named(text(args, 1))?;
    let Some(form) = read_form(arg(args, 0))? else {
        return Ok(Value::Null);
    };
    // A date or date-time without an offset is a wall-clock time in that zone, as
    // `formatDate` places it.
    let at = match form {
        IsoForm::Offset(local, offset) => {
            let utc = local.checked_sub_offset(offset).ok_or_else(out_of_range)?;
            DateTime::<Utc>::from_naive_utc_and_offset(utc, Utc).with_timezone(&zone)
        }
        IsoForm::Date(date) => localize(date.and_time(NaiveTime::MIN), zone).ok_or_else(out_of_range)?,
        IsoForm::Local(local) => localize(local, zone).ok_or_else(out_of_range)?,
    };
    let offset = at.offset().fix();
    let wall = at.naive_utc().checked_add_offset(offset).ok_or_else(out_of_range)?;
    written(IsoForm::Offset(wall, offset), cx)
}

/// The letters `dateParse` reads: dates, times, names; offsets and zones are refused
/// because the result is a local date or date-time.
fn check_parse_pattern(items: &[Item]) -> Result<(), String> {
    for item in items {
        if let Item::Field(letter @ ('X' | 'x' | 'Z' | 'V'), _) = item {
            return Err(format!(
                "dateParse reads local dates and times; the offset or zone letter {letter:?} is not supported"
            ));
        }
    }
    Ok(())
}

/// The fields read so far.
#[derive(Default)]
struct Parsed {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    weekday: Option<usize>,
    hour: Option<u32>,
    twelve_hour: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: Option<u32>,
}

fn date_parse(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (input, pattern) = (text(args, 0), text(args, 1));
    let items = parse_pattern(pattern)?;
    check_parse_pattern(&items)?;
    let mismatch = |why: String| {
        FunctionError::new(format!(
            "dateParse: {} does not match the pattern {}: {why}",
            Value::from(input).describe(),
            Value::from(pattern).describe()
        ))
    };
    let parsed = read_fields(input, &items, cx.context().locale()).map_err(mismatch)?;
    written(resolve(&parsed).map_err(mismatch)?, cx)
}

/// Reads the text item by item. A field of one letter takes one or more digits (up to
/// the field's widest); of more letters exactly that many; `yy` is 2000 to 2099.
fn read_fields(input: &str, items: &[Item], locale: &str) -> Result<Parsed, String> {
    let names = names(locale);
    let mut parsed = Parsed::default();
    let mut rest = input;
    for item in items {
        let (letter, count) = match item {
            Item::Literal(literal) => {
                rest =
                    rest.strip_prefix(literal.as_str()).ok_or_else(|| format!("expected {literal:?} at {rest:?}"))?;
                continue;
            }
            Item::Field(letter, count) => (*letter, *count),
        };
        let mut number = |widest: usize| -> Result<u32, String> {
            let available = rest.bytes().take_while(u8::is_ascii_digit).count();
            let take = if count == 1 { available.min(widest) } else { count };
            if take == 0 || available < take {
                return Err(format!(
                    "expected {} digits for {} at {rest:?}",
                    take.max(1),
                    letter.to_string().repeat(count)
                ));
            }
            let (digits, after) = rest.split_at(take);
            rest = after;
            digits.parse().map_err(|_| format!("{digits} is too large"))
        };
        match letter {
            'y' | 'u' if count == 2 => parsed.year = Some(2000 + number(2)? as i32),
            'y' | 'u' => parsed.year = Some(i32::try_from(number(9)?).map_err(|_| "the year is too large".to_owned())?),
            'M' if count >= 3 => {
                let list = if count == 3 { &names.short_months } else { &names.months };
                let (position, after) =
                    read_name(rest, list).ok_or_else(|| format!("expected a month name at {rest:?}"))?;
                parsed.month = Some(position as u32 + 1);
                rest = after;
            }
            'M' => parsed.month = Some(number(2)?),
            'd' => parsed.day = Some(number(2)?),
            'D' => parsed.day_of_year = Some(number(3)?),
            'E' => {
                let list = if count == 4 { &names.weekdays } else { &names.short_weekdays };
                let (position, after) =
                    read_name(rest, list).ok_or_else(|| format!("expected a weekday name at {rest:?}"))?;
                parsed.weekday = Some(position);
                rest = after;
            }
            'a' => {
                let upper = rest.get(..2).map(str::to_ascii_uppercase);
                parsed.pm = Some(match upper.as_deref() {
                    Some("AM") => false,
                    Some("PM") => true,
                    _ => return Err(format!("expected AM or PM at {rest:?}")),
                });
                rest = &rest[2..];
            }
            'H' => parsed.hour = Some(number(2)?),
            'k' => parsed.hour = Some(number(2)? % 24),
            'K' => parsed.twelve_hour = Some(number(2)?),
            'h' => parsed.twelve_hour = Some(number(2)? % 12),
            'm' => parsed.minute = Some(number(2)?),
            's' => parsed.second = Some(number(2)?),
            'S' => {
                let digits = number(count)?;
                parsed.nanos = Some(digits * 10u32.pow(9 - count as u32));
            }
            other => return Err(format!("the letter {other:?} cannot be read")),
        }
    }
    if !rest.is_empty() {
        return Err(format!("{rest:?} is left over"));
    }
    Ok(parsed)
}

/// The longest name in `list` that the text starts with, case-insensitively.
fn read_name<'a>(text: &'a str, list: &[&str]) -> Option<(usize, &'a str)> {
    list.iter()
        .enumerate()
        .filter(|(_, name)| text.get(..name.len()).is_some_and(|start| start.to_lowercase() == name.to_lowercase()))
        .max_by_key(|(_, name)| name.len())
        .map(|(position, name)| (position, &text[name.len()..]))
}

/// The date (and time, when the pattern has time fields) the fields name; a field
/// out of range or a weekday that is not the date's is an error, as in java.time.
fn resolve(parsed: &Parsed) -> Result<IsoForm, String> {
    let year = parsed.year.ok_or("the pattern has no year (y)")?;
    let date = match (parsed.month, parsed.day, parsed.day_of_year) {
        (Some(month), Some(day), _) => NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| format!("there is no day {day} in month {month} of {year}"))?,
        (None, None, Some(ordinal)) => NaiveDate::from_yo_opt(year, ordinal)
            .ok_or_else(|| format!("there is no day {ordinal} in the year {year}"))?,
        _ => return Err("the pattern needs a year, a month and a day (or a year and a day of year D)".to_owned()),
    };
    if let Some(weekday) = parsed.weekday
        && date.weekday().num_days_from_monday() as usize != weekday
    {
        return Err(format!("{date} is a {}", date.weekday()));
    }
    let hour = match (parsed.hour, parsed.twelve_hour) {
        (Some(hour), _) => Some(hour),
        (None, Some(hour)) => Some(hour + if parsed.pm == Some(true) { 12 } else { 0 }),
        (None, None) => None,
    };
    let has_time = hour.is_some() || parsed.minute.is_some() || parsed.second.is_some() || parsed.nanos.is_some();
    if !has_time {
        return Ok(IsoForm::Date(date));
    }
    let (hour, minute, second) = (hour.unwrap_or(0), parsed.minute.unwrap_or(0), parsed.second.unwrap_or(0));
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, parsed.nanos.unwrap_or(0))
        .filter(|_| second < 60)
        .ok_or_else(|| format!("{hour:02}:{minute:02}:{second:02} is not a time of day"))?;
    Ok(IsoForm::Local(date.and_time(time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(text: &str) -> NaiveDateTime {
        match parse_iso_form(text).unwrap() {
            IsoForm::Local(at) => at,
            IsoForm::Date(date) => date.and_time(NaiveTime::MIN),
            IsoForm::Offset(..) => panic!("{text} has an offset"),
        }
    }

    #[test]
    fn between_counts_as_chrono_unit_does() {
        let cases = [
            ("2026-01-31", "2026-02-28", AddUnit::Months, 0),
            ("2026-01-31", "2026-03-01", AddUnit::Months, 1),
            ("2026-03-01", "2026-01-31", AddUnit::Months, -1),
            ("2024-02-29", "2025-02-28", AddUnit::Years, 0),
            ("2026-01-01T10:00", "2026-01-03T09:00", AddUnit::Days, 1),
            ("2026-01-03T09:00", "2026-01-01T10:00", AddUnit::Days, -1),
            ("2026-01-01T00:00", "2026-01-01T01:59:59", AddUnit::Hours, 1),
            ("2026-01-01T01:59:59", "2026-01-01T00:00", AddUnit::Hours, -1),
            ("2026-01-01", "2026-01-14", AddUnit::Weeks, 1),
        ];
        for (from, to, unit, expected) in cases {
            assert_eq!(between(local(from), local(to), unit), expected, "{from} → {to} in {unit:?}");
        }
    }

    #[test]
    fn iso_forms_write_as_java_time() {
        let form = |text: &str| write_form(parse_iso_form(text).unwrap());
        assert_eq!(form("2026-11-21T10:15"), "2026-11-21T10:15:00");
        assert_eq!(form("2026-11-21T10:15:30.120"), "2026-11-21T10:15:30.12");
        assert_eq!(form("2026-11-21T10:15:30+00:00"), "2026-11-21T10:15:30Z");
        assert_eq!(form("2026-11-21T10:15:30-0130"), "2026-11-21T10:15:30-01:30");
    }
}
