//! The names a template is saved and looked up by: its own name and its locales.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A template's name, as in `PUT /v1/templates/{name}`: safe in a URL path segment and in a
/// store key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TemplateName(String);

impl TemplateName {
    pub const MAX_CHARS: usize = 64;

    /// `^[a-z0-9][a-z0-9._-]{0,63}$`
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !first_ok || !rest_ok || raw.len() > Self::MAX_CHARS {
            return Err(format!(
                "must be 1 to {} characters among a-z 0-9 . _ -, starting with a letter or digit",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A locale, in the subset of BCP 47 that templates need: a language (`fr`), optionally with a
/// region (`fr-CA`, `es-419`) or a script (`zh-Hant`), or both (`zh-Hant-TW`). Parsing
/// normalises the case of each subtag, so `fr-ca` and `fr-CA` are one locale.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "`{raw}` is not a supported locale: a 2 or 3 letter language, optionally \
                 followed by a 4 letter script and/or a region (2 letters or 3 digits), \
                 like fr, fr-CA, es-419, zh-Hant-TW"
            )
        };
        let mut subtags = raw.split('-');
        let language = subtags.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(invalid());
        }
        let mut out = language.to_ascii_lowercase();
        let mut next = subtags.next();
        if let Some(script) = next.filter(|s| s.len() == 4) {
            if !script.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(invalid());
            }
            out.push('-');
            out.push_str(&script[..1].to_ascii_uppercase());
            out.push_str(&script[1..].to_ascii_lowercase());
            next = subtags.next();
        }
        if let Some(region) = next {
            let letters = region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic());
            let digits = region.len() == 3 && region.chars().all(|c| c.is_ascii_digit());
            if !letters && !digits {
                return Err(invalid());
            }
            out.push('-');
            out.push_str(&region.to_ascii_uppercase());
        }
        if subtags.next().is_some() {
            return Err(invalid());
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language subtag: `fr` for `fr-CA`.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_conversions!(TemplateName);
string_conversions!(Locale);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_are_lowercase_and_key_safe() {
        for ok in [
            "otp",
            "event-confirmation",
            "0day",
            "a.b_c-d",
            &"x".repeat(64),
        ] {
            assert_eq!(TemplateName::parse(ok).map(|n| n.0), Ok(ok.to_owned()));
        }
        for bad in [
            "",
            "Otp",
            "-otp",
            ".otp",
            "a/b",
            "a b",
            "été",
            &"x".repeat(65),
        ] {
            assert!(TemplateName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locales_are_normalised() {
        for (raw, normal) in [
            ("fr", "fr"),
            ("FR", "fr"),
            ("fr-ca", "fr-CA"),
            ("es-419", "es-419"),
            ("zh-hant", "zh-Hant"),
            ("ZH-HANT-tw", "zh-Hant-TW"),
            ("fil-PH", "fil-PH"),
        ] {
            let locale = Locale::parse(raw).unwrap();
            assert_eq!(locale.as_str(), normal, "{raw}");
        }
        assert_eq!(Locale::parse("zh-Hant-TW").unwrap().language(), "zh");
        assert_eq!(Locale::parse("fr").unwrap().language(), "fr");
    }

    #[test]
    fn malformed_locales_are_refused() {
        for bad in [
            "",
            "f",
            "fren",
            "fr-",
            "fr_CA",
            "fr-C",
            "fr-CAN",
            "fr-12",
            "fr-Latn-CA-x",
            "1r",
            "fr-CA-Latn",
            "fr--CA",
        ] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_serialise_as_plain_strings_and_validate_when_read() {
        let locale: Locale = serde_json::from_str("\"fr-ca\"").unwrap();
        assert_eq!(serde_json::to_string(&locale).unwrap(), "\"fr-CA\"");
        assert!(serde_json::from_str::<Locale>("\"nope!\"").is_err());
        let name: TemplateName = serde_json::from_str("\"otp\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"otp\"");
        assert!(serde_json::from_str::<TemplateName>("\"OTP\"").is_err());
    }
}
