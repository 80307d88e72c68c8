//! How many SMS segments a message takes, and in which encoding (3GPP TS 23.038).
//!
//! A message whose characters all exist in the GSM 03.38 alphabet travels as GSM-7: 160
//! septets in one SMS, or 153 per segment once it is split (the rest carries the reassembly
//! header); characters of the extension table (`€`, `[`, `{`, ...) take two septets and are
//! never split across segments. Anything else forces UCS-2: 70 UTF-16 units in one SMS, 67
//! per segment, without splitting a surrogate pair.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    #[serde(rename = "gsm7")]
    Gsm7,
    #[serde(rename = "ucs2")]
    Ucs2,
}

/// The encoding and segment count of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSegments {
    pub encoding: SmsEncoding,
    pub count: u32,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts segments by filling each one greedily with whole characters of `width`.
fn count(widths: impl Iterator<Item = usize> + Clone, single: usize, multi: usize) -> u32 {
    let total: usize = widths.clone().sum();
    if total <= single {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for w in widths {
        if used + w > multi {
            segments += 1;
            used = 0;
        }
        used += w;
    }
    segments
}

pub fn segments(message: &str) -> SmsSegments {
    let gsm: Option<Vec<usize>> = message.chars().map(gsm7_septets).collect();
    match gsm {
        Some(widths) => SmsSegments {
            encoding: SmsEncoding::Gsm7,
            count: count(widths.into_iter(), 160, 153),
        },
        None => SmsSegments {
            encoding: SmsEncoding::Ucs2,
            count: count(message.chars().map(char::len_utf16), 70, 67),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(m: &str) -> (SmsEncoding, u32) {
        let s = segments(m);
        (s.encoding, s.count)
    }

    #[test]
    fn the_gsm_alphabet_has_128_characters_minus_escape() {
        // 128 code points, one of which (0x1B) is the escape to the extension table.
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn gsm7_fits_160_in_one_and_153_per_part() {
        assert_eq!(seg("Hello"), (SmsEncoding::Gsm7, 1));
        assert_eq!(seg(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(seg(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(seg(&"a".repeat(306)), (SmsEncoding::Gsm7, 2));
        assert_eq!(seg(&"a".repeat(307)), (SmsEncoding::Gsm7, 3));
        assert_eq!(
            seg("Code: 1234. Àé? £5 ¿ñ?"),
            (SmsEncoding::Ucs2, 1),
            "À is not GSM-7"
        );
        assert_eq!(seg("é£$¥ù"), (SmsEncoding::Gsm7, 1));
    }

    #[test]
    fn extension_characters_count_double_and_are_not_split() {
        assert_eq!(seg(&"€".repeat(80)), (SmsEncoding::Gsm7, 1));
        assert_eq!(seg(&"€".repeat(81)), (SmsEncoding::Gsm7, 2));
        // 152 single septets then a two-septet character: it moves whole to segment 2.
        let m = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(seg(&m), (SmsEncoding::Gsm7, 2));
        let m = format!("{}{}", "a".repeat(152), "€".repeat(77));
        assert_eq!(seg(&m), (SmsEncoding::Gsm7, 3));
    }

    #[test]
    fn anything_else_is_ucs2_with_70_and_67() {
        assert_eq!(seg("Привет"), (SmsEncoding::Ucs2, 1));
        assert_eq!(seg(&"ж".repeat(70)), (SmsEncoding::Ucs2, 1));
        assert_eq!(seg(&"ж".repeat(71)), (SmsEncoding::Ucs2, 2));
        assert_eq!(seg(&"ж".repeat(134)), (SmsEncoding::Ucs2, 2));
        assert_eq!(seg(&"ж".repeat(135)), (SmsEncoding::Ucs2, 3));
    }

    #[test]
    fn emoji_take_two_ucs2_units_and_stay_whole() {
        assert_eq!(seg(&"😀".repeat(35)), (SmsEncoding::Ucs2, 1));
        assert_eq!(seg(&"😀".repeat(36)), (SmsEncoding::Ucs2, 2));
        // 66 units then a pair: the pair cannot straddle, so it opens segment 2.
        let m = format!("{}😀", "ж".repeat(66));
        assert_eq!(
            seg(&m),
            (SmsEncoding::Ucs2, 1),
            "68 units still fit one SMS of 70"
        );
        let m = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        assert_eq!(seg(&m), (SmsEncoding::Ucs2, 2));
    }
}
