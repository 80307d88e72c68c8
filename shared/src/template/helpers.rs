//! The handlebars registries templates render with, and the helpers they add to handlebars'
//! built-ins (`if`, `unless`, `each`, `with`, `lookup`, `eq`, `ne`, `gt`, `and`, `or`, `not`,
//! `len`, ...).
//!
//! A registry's escape function and strict mode apply to everything it renders, so there are
//! four: HTML-escaping or not, strict or not. Templates are compiled outside the registries and
//! rendered against the right one, so no template is ever registered by name (which is also
//! what makes `{{> partial}}` impossible to resolve).

use std::cell::Cell;
use std::sync::LazyLock;

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonRender, Output, PathAndJson,
    RenderContext, RenderError, RenderErrorReason, ScopedJson,
};
use jiff::tz::TimeZone;
use serde_json::Value;

/// Helpers this module adds, with the number of positional arguments each takes (checked when
/// a template is saved).
pub(super) const OWN_HELPERS: &[(&str, std::ops::RangeInclusive<usize>)] = &[
    ("upper", 1..=1),
    ("lower", 1..=1),
    ("default", 2..=2),
    ("formatDate", 1..=3),
    ("formatNumber", 1..=2),
];

/// handlebars' built-in helpers that templates may use. `log` is left out: it would write
/// recipients' data to the function's logs.
pub(super) const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

pub(super) fn is_helper(name: &str) -> bool {
    BUILTIN_HELPERS.contains(&name) || OWN_HELPERS.iter().any(|(n, _)| *n == name)
}

/// How a part's output is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    /// Email HTML: `{{x}}` is HTML-escaped, `{{{x}}}` is not.
    Html,
    /// Webhook payloads: `{{x}}` is escaped as the inside of a JSON string (`"` `\\` and
    /// control characters), so `"{{name}}"` stays one JSON string whatever the data holds;
    /// `{{{x}}}` inserts raw JSON text.
    Json,
    /// Everything else (subjects, plain text, SMS, push): nothing is escaped.
    None,
}

struct Registries {
    html: Handlebars<'static>,
    html_strict: Handlebars<'static>,
    plain: Handlebars<'static>,
    plain_strict: Handlebars<'static>,
    json: Handlebars<'static>,
    json_strict: Handlebars<'static>,
}

static REGISTRIES: LazyLock<Registries> = LazyLock::new(|| Registries {
    html: registry(Escape::Html, false),
    html_strict: registry(Escape::Html, true),
    plain: registry(Escape::None, false),
    plain_strict: registry(Escape::None, true),
    json: registry(Escape::Json, false),
    json_strict: registry(Escape::Json, true),
});

pub(super) fn registry_for(escape: Escape, strict: bool) -> &'static Handlebars<'static> {
    let r = &*REGISTRIES;
    match (escape, strict) {
        (Escape::Html, false) => &r.html,
        (Escape::Html, true) => &r.html_strict,
        (Escape::None, false) => &r.plain,
        (Escape::None, true) => &r.plain_strict,
        (Escape::Json, false) => &r.json,
        (Escape::Json, true) => &r.json_strict,
    }
}

fn registry(escape: Escape, strict: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    match escape {
        Escape::Html => {}
        Escape::None => hb.register_escape_fn(handlebars::no_escape),
        Escape::Json => hb.register_escape_fn(json_escape),
    }
    hb.unregister_helper("log");
    hb.register_helper("upper", Box::new(Case::Upper));
    hb.register_helper("lower", Box::new(Case::Lower));
    hb.register_helper("default", Box::new(DefaultValue));
    hb.register_helper("formatDate", Box::new(FormatDate));
    hb.register_helper("formatNumber", Box::new(FormatNumber));
    hb.register_helper(LOOP_TICK, Box::new(LoopCounter));
    hb
}

/// The inside of a JSON string literal for `s` (without the quotes).
fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// The helper the compiler puts at the start of every `{{#each}}` body (see
/// `syntax::count_loop_iterations`); templates cannot name it.
pub(super) const LOOP_TICK: &str = "__loop_iteration";
/// Iterations of all the loops of one part, together.
pub(super) const MAX_LOOP_ITERATIONS: u32 = 100_000;

thread_local! {
    // A part renders synchronously on one thread, so the count needs no sharing.
    static LOOP_ITERATIONS_LEFT: Cell<u32> = const { Cell::new(MAX_LOOP_ITERATIONS) };
}

/// Called before each part renders.
pub(super) fn reset_loop_counter() {
    LOOP_ITERATIONS_LEFT.set(MAX_LOOP_ITERATIONS);
}

struct LoopCounter;

impl HelperDef for LoopCounter {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        _: &mut dyn Output,
    ) -> HelperResult {
        let left = LOOP_ITERATIONS_LEFT.get();
        if left == 0 {
            return Err(failure(format!(
                "the loops ran more than {MAX_LOOP_ITERATIONS} times"
            )));
        }
        LOOP_ITERATIONS_LEFT.set(left - 1);
        Ok(())
    }
}

/// A helper failure, reported to the caller as `RenderError::Failed`.
fn failure(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

/// The value of positional argument `idx`: `None` when it names a variable the data lacks (an
/// error in strict mode, naming the variable) or when it was not given.
fn argument<'a>(
    h: &'a Helper<'_>,
    r: &Handlebars<'_>,
    idx: usize,
) -> Result<Option<&'a Value>, RenderError> {
    match h.param(idx) {
        None => Ok(None),
        Some(p) => present(p, r),
    }
}

fn present<'a>(
    p: &'a PathAndJson<'_>,
    r: &Handlebars<'_>,
) -> Result<Option<&'a Value>, RenderError> {
    if !p.is_value_missing() {
        Ok(Some(p.value()))
    } else if r.strict_mode() {
        Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()).into())
    } else {
        Ok(None)
    }
}

/// A value that renders as nothing: missing, null or the empty string.
fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn derived<'rc>(v: Value) -> Result<ScopedJson<'rc>, RenderError> {
    Ok(ScopedJson::Derived(v))
}

/// `{{upper x}}`, `{{lower x}}`
enum Case {
    Upper,
    Lower,
}

impl HelperDef for Case {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let text = argument(h, r, 0)?
            .map(JsonRender::render)
            .unwrap_or_default();
        derived(Value::String(match self {
            Case::Upper => text.to_uppercase(),
            Case::Lower => text.to_lowercase(),
        }))
    }
}

/// `{{default nickname "there"}}`: the fallback when the value is missing, null or empty. A
/// missing value is not an error even in strict mode: saying what to do without it is the
/// point.
struct DefaultValue;

impl HelperDef for DefaultValue {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let value = h
            .param(0)
            .filter(|p| !p.is_value_missing())
            .map(|p| p.value());
        if !is_blank(value) {
            return derived(value.cloned().unwrap_or_default());
        }
        derived(argument(h, r, 1)?.cloned().unwrap_or_default())
    }
}

/// `{{formatDate value [format] [tz]}}`: `value` is an RFC 3339 date-time, a `YYYY-MM-DD` date
/// (or a date-time without offset, taken in `tz`) or epoch milliseconds; `format` is strftime
/// (jiff's) or a preset; `tz` an IANA name, UTC by default.
struct FormatDate;

const DATE_PRESETS: &[(&str, &str)] = &[
    ("short", "%d/%m/%Y"),
    ("long", "%A %-d %B %Y"),
    ("datetime", "%Y-%m-%d %H:%M"),
];

impl HelperDef for FormatDate {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let value = argument(h, r, 0)?;
        let format = match argument(h, r, 1)? {
            None | Some(Value::Null) => "%Y-%m-%d",
            Some(Value::String(f)) => DATE_PRESETS
                .iter()
                .find(|(name, _)| name == f)
                .map_or(f.as_str(), |(_, preset)| preset),
            Some(other) => {
                return Err(failure(format!(
                    "formatDate: the format must be a string, not {other}"
                )));
            }
        };
        let tz = match argument(h, r, 2)? {
            None | Some(Value::Null) => TimeZone::UTC,
            Some(Value::String(name)) => crate::domain::time::zone(name)
                .ok_or_else(|| failure(format!("formatDate: unknown time zone `{name}`")))?,
            Some(other) => {
                return Err(failure(format!(
                    "formatDate: the time zone must be an IANA name like Europe/Paris, not {other}"
                )));
            }
        };
        if is_blank(value) {
            return derived(Value::String(String::new()));
        }
        let Some(zoned) = value.and_then(|v| to_zoned(v, &tz)) else {
            return Err(failure(format!(
                "formatDate: {} is not a date (RFC 3339, YYYY-MM-DD or epoch milliseconds)",
                value.unwrap_or(&Value::Null)
            )));
        };
        jiff::fmt::strtime::format(format, &zoned)
            .map(|s| ScopedJson::Derived(Value::String(s)))
            .map_err(|e| failure(format!("formatDate: cannot format with `{format}`: {e}")))
    }
}

fn to_zoned(value: &Value, tz: &TimeZone) -> Option<jiff::Zoned> {
    match value {
        Value::Number(n) => {
            let millis = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })?;
            let ts = jiff::Timestamp::from_millisecond(millis).ok()?;
            Some(ts.to_zoned(tz.clone()))
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(ts) = s.parse::<jiff::Timestamp>() {
                return Some(ts.to_zoned(tz.clone()));
            }
            if let Ok(date) = s.parse::<jiff::civil::Date>()
                && s.len() == 10
            {
                return date.to_zoned(tz.clone()).ok();
            }
            let datetime = s.parse::<jiff::civil::DateTime>().ok()?;
            datetime.to_zoned(tz.clone()).ok()
        }
        _ => None,
    }
}

/// `{{formatNumber value [decimals] thousands="," decimal="."}}`: `1234.5 2` gives `1,234.50`.
/// Rounds half away from zero on the decimal digits as written, so `2.675 2` is `2.68`.
struct FormatNumber;

const MAX_DECIMALS: u64 = 20;

impl HelperDef for FormatNumber {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let value = argument(h, r, 0)?;
        let decimals = match argument(h, r, 1)? {
            None | Some(Value::Null) => None,
            Some(d) => Some(
                d.as_u64()
                    .filter(|d| *d <= MAX_DECIMALS)
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| {
                        failure(format!(
                            "formatNumber: decimals must be a whole number from 0 to \
                             {MAX_DECIMALS}, not {d}"
                        ))
                    })?,
            ),
        };
        let separator = |name: &str, fallback: &'static str| -> Result<String, RenderError> {
            match h
                .hash_get(name)
                .map(|p| present(p, r))
                .transpose()?
                .flatten()
            {
                None | Some(Value::Null) => Ok(fallback.to_owned()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(failure(format!(
                    "formatNumber: {name} must be a string, not {other}"
                ))),
            }
        };
        let thousands = separator("thousands", ",")?;
        let decimal = separator("decimal", ".")?;
        if is_blank(value) {
            return derived(Value::String(String::new()));
        }
        let digits = value.and_then(decimal_digits).ok_or_else(|| {
            failure(format!(
                "formatNumber: {} is not a number",
                value.unwrap_or(&Value::Null)
            ))
        })?;
        derived(Value::String(format_number(
            &digits, decimals, &thousands, &decimal,
        )))
    }
}

/// The number as plain decimal digits (`-1234.5`, never an exponent).
fn decimal_digits(value: &Value) -> Option<String> {
    let plain = |s: &str| {
        let unsigned = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
        !int.is_empty()
            && !frac.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    match value {
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // Display never uses an exponent, and prints the shortest digits that read back
            // as the same number.
            (_, _, Some(f)) if f.is_finite() => f.to_string(),
            _ => return None,
        }),
        Value::String(s) if plain(s.trim()) => Some(s.trim().to_owned()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.to_string()),
        _ => None,
    }
}

fn format_number(digits: &str, decimals: Option<usize>, thousands: &str, decimal: &str) -> String {
    let (negative, unsigned) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, digits),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let (mut int, mut frac) = (int.as_bytes().to_vec(), frac.as_bytes().to_vec());
    if let Some(d) = decimals {
        let round_up = frac.get(d).is_some_and(|b| *b >= b'5');
        frac.resize(d, b'0');
        if round_up {
            // Add one unit in the last kept place, carrying leftwards through the digits.
            let mut carry = true;
            for b in frac.iter_mut().rev().chain(int.iter_mut().rev()) {
                if *b == b'9' {
                    *b = b'0';
                } else {
                    *b += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                int.insert(0, b'1');
            }
        }
    } else {
        while frac.last() == Some(&b'0') {
            frac.pop();
        }
    }
    let int: Vec<char> = int.iter().map(|b| char::from(*b)).collect();
    let zero = int.iter().all(|c| *c == '0') && frac.iter().all(|b| *b == b'0');
    let mut out = String::new();
    if negative && !zero {
        out.push('-');
    }
    for (i, c) in int.iter().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push_str(thousands);
        }
        out.push(*c);
    }
    if !frac.is_empty() {
        out.push_str(decimal);
        out.extend(frac.iter().map(|b| char::from(*b)));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, data: Value, strict: bool) -> Result<String, String> {
        registry_for(Escape::None, strict)
            .render_template(template, &data)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn upper_and_lower() {
        let data = json!({"name": "Élodie", "n": 3});
        assert_eq!(
            render("{{upper name}} {{lower name}} {{upper n}}", data, false).unwrap(),
            "ÉLODIE élodie 3"
        );
        assert_eq!(
            render("[{{upper missing}}]", json!({}), false).unwrap(),
            "[]"
        );
        let err = render("{{upper missing}}", json!({}), true).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn default_replaces_missing_null_and_empty_values_even_in_strict_mode() {
        for data in [
            json!({}),
            json!({"nickname": null}),
            json!({"nickname": ""}),
        ] {
            for strict in [false, true] {
                assert_eq!(
                    render("Hi {{default nickname \"there\"}}", data.clone(), strict).unwrap(),
                    "Hi there"
                );
            }
        }
        let data = json!({"nickname": "Jo", "zero": 0});
        assert_eq!(
            render("{{default nickname \"x\"}} {{default zero 5}}", data, true).unwrap(),
            "Jo 0"
        );
        // Composes: the fallback can itself go through a helper.
        let data = json!({"fallback": "friend"});
        assert_eq!(
            render("{{upper (default nickname fallback)}}", data, true).unwrap(),
            "FRIEND"
        );
    }

    #[test]
    fn format_date_accepts_rfc3339_dates_and_epoch_millis() {
        let data = json!({
            "at": "2026-12-01T09:05:00Z",
            "day": "2026-12-01",
            "millis": 1_796_115_900_000_i64,
        });
        assert_eq!(
            render(
                "{{formatDate at}}|{{formatDate day \"short\"}}|{{formatDate millis \"datetime\"}}",
                data,
                true
            )
            .unwrap(),
            "2026-12-01|01/12/2026|2026-12-01 09:05"
        );
        let data = json!({"day": "2026-12-01"});
        assert_eq!(
            render("{{formatDate day \"long\"}}", data, true).unwrap(),
            "Tuesday 1 December 2026"
        );
    }

    #[test]
    fn format_date_converts_to_the_time_zone_across_daylight_saving_time() {
        // Paris is UTC+1 in winter and UTC+2 in summer; the change was on 2026-03-29 at 01:00 UTC.
        let template = "{{formatDate at \"%Y-%m-%d %H:%M %Z\" \"Europe/Paris\"}}";
        for (at, expected) in [
            ("2026-01-15T12:00:00Z", "2026-01-15 13:00 CET"),
            ("2026-03-29T00:30:00Z", "2026-03-29 01:30 CET"),
            ("2026-03-29T01:30:00Z", "2026-03-29 03:30 CEST"),
            ("2026-07-15T12:00:00Z", "2026-07-15 14:00 CEST"),
        ] {
            assert_eq!(
                render(template, json!({ "at": at }), true).unwrap(),
                expected
            );
        }
        // A date-time without offset is a wall-clock time in the zone.
        let data = json!({"at": "2026-07-15T09:00:00"});
        assert_eq!(
            render(
                "{{formatDate at \"%H:%M %:z\" \"Europe/Paris\"}}",
                data,
                true
            )
            .unwrap(),
            "09:00 +02:00"
        );
    }

    #[test]
    fn format_date_errors_name_the_value() {
        let err = render(
            "{{formatDate d \"short\" \"Mars/Olympus\"}}",
            json!({"d": "2026-01-01"}),
            false,
        )
        .unwrap_err();
        assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
        let err = render("{{formatDate d}}", json!({"d": "next tuesday"}), false).unwrap_err();
        assert!(err.contains("\"next tuesday\" is not a date"), "{err}");
        // Absent dates render as nothing unless the template is strict.
        assert_eq!(
            render("[{{formatDate d}}]", json!({}), false).unwrap(),
            "[]"
        );
        assert!(render("{{formatDate d}}", json!({}), true).is_err());
    }

    #[test]
    fn format_number_groups_and_rounds() {
        let data = json!({"x": 1234.5, "big": 1_234_567_890_u64, "neg": -0.004, "s": "2.675"});
        for (template, expected) in [
            ("{{formatNumber x 2}}", "1,234.50"),
            (
                "{{formatNumber x 2 thousands=\" \" decimal=\",\"}}",
                "1 234,50",
            ),
            ("{{formatNumber x}}", "1,234.5"),
            ("{{formatNumber x 0}}", "1,235"),
            ("{{formatNumber big}}", "1,234,567,890"),
            ("{{formatNumber big thousands=\"\"}}", "1234567890"),
            ("{{formatNumber neg 2}}", "0.00"),
            ("{{formatNumber s 2}}", "2.68"),
            ("{{formatNumber 999.996 2}}", "1,000.00"),
            ("{{formatNumber -1234567.891 1}}", "-1,234,567.9"),
            ("{{formatNumber 12 3}}", "12.000"),
        ] {
            assert_eq!(
                render(template, data.clone(), true).unwrap(),
                expected,
                "{template}"
            );
        }
        let err = render("{{formatNumber x}}", json!({"x": "lots"}), false).unwrap_err();
        assert!(err.contains("\"lots\" is not a number"), "{err}");
        assert!(render("{{formatNumber 1 -1}}", json!({}), false).is_err());
    }

    #[test]
    fn builtins_are_kept_and_log_is_not() {
        let data = json!({"items": ["a", "b"], "n": 2, "user": {"name": "Zoé"}});
        let template = "{{#each items}}{{@index}}{{this}}{{/each}} {{len items}} \
                        {{#if (eq n 2)}}two{{/if}}{{#unless (gt n 5)}} small{{/unless}} \
                        {{#with user}}{{name}}{{/with}} {{lookup items 1}} \
                        {{#if (and (ne n 1) (or (lt n 1) (gte n 2)) (not (lte n 0)))}}ok{{/if}}";
        assert_eq!(
            render(template, data, true).unwrap(),
            "0a1b 2 two small Zoé b ok"
        );
        assert!(render("{{log \"x\"}}", json!({}), false).is_err());
        assert!(BUILTIN_HELPERS.iter().all(|h| is_helper(h)));
    }

    #[test]
    fn html_registry_escapes_and_plain_does_not() {
        let data = json!({"x": "<b>&'"});
        let html = registry_for(Escape::Html, false)
            .render_template("{{x}}|{{{x}}}|{{upper x}}", &data)
            .unwrap();
        assert_eq!(html, "&lt;b&gt;&amp;&#x27;|<b>&'|&lt;B&gt;&amp;&#x27;");
        assert_eq!(render("{{x}}", data, false).unwrap(), "<b>&'");
    }
}
