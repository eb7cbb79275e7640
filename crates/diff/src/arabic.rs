//! Arabic text integrity: damage that copying text between engines, character sets and
//! length-limited columns does to Arabic, recognised on one side alone ([`scan`]) or
//! against the source text ([`compare`]). Clean Arabic, English and mixed text raise nothing.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Finding {
    /// UTF-8 bytes read as latin1/cp1252 (`Ø§Ù„` for `ال`); `repaired` is the likely text.
    Mojibake { repaired: String },
    /// U+FFFD where characters were lost.
    ReplacementCharacter { count: usize },
    /// `?` where Arabic letters were (a client without an Arabic character set).
    QuestionMarks { count: usize },
    /// Decomposed (NFD) text, or a change only in normalization form.
    Normalization { detail: String },
    /// Diacritics (tashkeel) dropped.
    LostTashkeel { count: usize },
    /// Tatweel (kashida, U+0640) dropped.
    LostTatweel { count: usize },
    /// Presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFF) instead of base letters.
    PresentationForms { count: usize },
    /// Cut short, at a byte limit (`bytes` long), possibly in the middle of a letter.
    Truncated { bytes: usize, source_bytes: usize },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Mojibake { repaired } => {
                write!(
                    f,
                    "mojibake (UTF-8 read as latin1/cp1252); likely {repaired:?}"
                )
            }
            Finding::ReplacementCharacter { count } => {
                write!(f, "{count} replacement characters (U+FFFD)")
            }
            Finding::QuestionMarks { count } => {
                write!(f, "{count} '?' in place of Arabic letters")
            }
            Finding::Normalization { detail } => write!(f, "normalization: {detail}"),
            Finding::LostTashkeel { count } => write!(f, "{count} diacritics (tashkeel) lost"),
            Finding::LostTatweel { count } => write!(f, "{count} tatweel lost"),
            Finding::PresentationForms { count } => write!(
                f,
                "{count} Arabic presentation-form characters instead of base letters"
            ),
            Finding::Truncated {
                bytes,
                source_bytes,
            } => write!(f, "truncated to {bytes} of {source_bytes} bytes"),
        }
    }
}

pub fn is_arabic_letter(c: char) -> bool {
    matches!(c, '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}' | '\u{0671}'..='\u{06D3}')
}

pub fn is_tashkeel(c: char) -> bool {
    matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}')
}

pub const TATWEEL: char = '\u{0640}';

pub fn is_presentation_form(c: char) -> bool {
    matches!(c, '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFE}')
}

fn has_arabic(s: &str) -> bool {
    s.chars().any(is_arabic_letter)
}

/// The byte cp1252 (falling back to latin1 for its five holes) shows as `c`.
fn cp1252_byte(c: char) -> Option<u8> {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    let u = c as u32;
    if u < 0x80 || (0xA0..=0xFF).contains(&u) {
        return Some(u as u8);
    }
    if (0x80..0xA0).contains(&u) {
        // C1 controls: what latin1 shows for bytes cp1252 leaves undefined.
        return Some(u as u8);
    }
    HIGH.iter().position(|&h| h == c).map(|i| 0x80 + i as u8)
}

/// Undoes one round of "UTF-8 read as cp1252/latin1", if the text is exactly that.
pub fn repair_mojibake(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = s.chars().map(cp1252_byte).collect();
    let repaired = String::from_utf8(bytes?).ok()?;
    // Only call it mojibake when decoding produced multi-byte characters.
    (repaired != s && !repaired.is_ascii()).then_some(repaired)
}

fn strip(s: &str, drop: impl Fn(char) -> bool) -> String {
    s.chars().filter(|&c| !drop(c)).collect()
}

/// Damage visible in one text alone.
pub fn scan(s: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(repaired) = repair_mojibake(s) {
        out.push(Finding::Mojibake { repaired });
        return out;
    }
    let fffd = s.chars().filter(|&c| c == '\u{FFFD}').count();
    if fffd > 0 {
        out.push(Finding::ReplacementCharacter { count: fffd });
    }
    let chars: Vec<char> = s.chars().collect();
    // A '?' touching an Arabic letter, or a run of three or more: English questions
    // ("What?", "Really??") do neither.
    let mut q = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '?' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i] == '?' {
            i += 1;
        }
        let run = i - start;
        let near_arabic = (start > 0 && is_arabic_letter(chars[start - 1]))
            || chars.get(i).is_some_and(|&c| is_arabic_letter(c));
        if near_arabic || run >= 3 {
            q += run;
        }
    }
    if q > 0 {
        out.push(Finding::QuestionMarks { count: q });
    }
    let pf = chars.iter().filter(|&&c| is_presentation_form(c)).count();
    if pf > 0 {
        out.push(Finding::PresentationForms { count: pf });
    }
    // Mark order differs between keyboards (shadda then fatha, or the reverse), so only
    // decomposition counts: NFC that shortens the text composed something.
    let nfc: String = s.nfc().collect();
    if nfc.chars().count() != chars.len() {
        out.push(Finding::Normalization {
            detail: format!(
                "decomposed (NFD) text: {} characters compose into {}",
                chars.len(),
                nfc.chars().count()
            ),
        });
    }
    out
}

/// Damage in `target` against the `source` it was copied from.
pub fn compare(source: &str, target: &str) -> Vec<Finding> {
    if source == target {
        return Vec::new();
    }
    let mut out = Vec::new();
    if repair_mojibake(target).as_deref() == Some(source) {
        out.push(Finding::Mojibake {
            repaired: source.to_string(),
        });
        return out;
    }
    let sn: String = source.nfc().collect();
    let tn: String = target.nfc().collect();
    if sn == tn {
        out.push(Finding::Normalization {
            detail: "same text in another normalization form (NFC vs NFD)".into(),
        });
        return out;
    }
    if tn.chars().any(is_presentation_form) {
        let sk: String = source.nfkc().collect();
        let tk: String = target.nfkc().collect();
        if sk == tk {
            out.push(Finding::PresentationForms {
                count: target.chars().filter(|&c| is_presentation_form(c)).count(),
            });
            return out;
        }
    }
    let src_marks = sn.chars().filter(|&c| is_tashkeel(c)).count();
    let tgt_marks = tn.chars().filter(|&c| is_tashkeel(c)).count();
    let src_tatweel = sn.chars().filter(|&c| c == TATWEEL).count();
    let tgt_tatweel = tn.chars().filter(|&c| c == TATWEEL).count();
    let bare = |s: &str| strip(s, |c| is_tashkeel(c) || c == TATWEEL);
    if bare(&sn) == bare(&tn) && (tgt_marks < src_marks || tgt_tatweel < src_tatweel) {
        if tgt_marks < src_marks {
            out.push(Finding::LostTashkeel {
                count: src_marks - tgt_marks,
            });
        }
        if tgt_tatweel < src_tatweel {
            out.push(Finding::LostTatweel {
                count: src_tatweel - tgt_tatweel,
            });
        }
        return out;
    }
    let s_chars: Vec<char> = source.chars().collect();
    let t_chars: Vec<char> = target.chars().collect();
    if s_chars.len() == t_chars.len() {
        let mut q = 0;
        let mut fffd = 0;
        let mut other = 0;
        for (a, b) in s_chars.iter().zip(&t_chars) {
            if a == b {
                continue;
            }
            match b {
                '?' if !a.is_ascii() => q += 1,
                '\u{FFFD}' => fffd += 1,
                _ => other += 1,
            }
        }
        if other == 0 && q + fffd > 0 {
            if q > 0 {
                out.push(Finding::QuestionMarks { count: q });
            }
            if fffd > 0 {
                out.push(Finding::ReplacementCharacter { count: fffd });
            }
            return out;
        }
    }
    // A cut at a byte limit: the target is a prefix of the source, perhaps ending in a
    // replacement character where a letter's bytes were split.
    let cut = target.strip_suffix('\u{FFFD}').unwrap_or(target);
    if !cut.is_empty() && cut.len() < source.len() && source.starts_with(cut) {
        out.push(Finding::Truncated {
            bytes: target.len(),
            source_bytes: source.len(),
        });
        return out;
    }
    // Not a known kind of damage (a real edit): still show damage visible in the target.
    if has_arabic(source) || !target.is_ascii() {
        out.extend(scan(target));
    }
    out
}
