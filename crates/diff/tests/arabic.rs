//! Arabic text integrity, each class with real Arabic strings, pairwise and on one side;
//! clean Arabic, English and mixed text raise nothing.

use ripcord_diff::arabic::{Finding, compare, repair_mojibake, scan};
use unicode_normalization::UnicodeNormalization;

const CLEAN: &[&str] = &[
    "محمد بن سالم الحارثي",
    "Fatima Al-Balushi",
    "تغيير زيت المحرك وفحص الفرامل - oil change 12",
    "مُحَمَّد", // with tashkeel, shadda before fatha as keyboards type it
    "مَّ",    // fatha before shadda (canonical order)
    "What? Really??",
    "café, naïve, Zürich",
    "السعر: 12.500 ر.ع.",
    "عبد الله‍ — 2026",
    "👋 مرحبا",
    "",
];

/// UTF-8 bytes shown through cp1252 (what a latin1 client stores).
fn cp1252_mojibake(s: &str) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    s.bytes()
        .map(|b| match b {
            0x80..=0x9F => HIGH[(b - 0x80) as usize],
            _ => b as char,
        })
        .collect()
}

#[test]
fn clean_text_raises_no_alarm() {
    for s in CLEAN {
        assert_eq!(scan(s), vec![], "{s:?}");
        assert_eq!(compare(s, s), vec![], "{s:?}");
    }
}

#[test]
fn mojibake_is_recognised_and_repaired() {
    let src = "ال";
    let bad = cp1252_mojibake(src);
    assert_eq!(bad, "Ø§Ù„");
    assert_eq!(repair_mojibake(&bad).as_deref(), Some(src));
    assert_eq!(
        scan(&bad),
        vec![Finding::Mojibake {
            repaired: src.into()
        }]
    );
    let name = "محمد بن سالم الحارثي";
    let bad = cp1252_mojibake(name);
    assert!(matches!(
        &compare(name, &bad)[..],
        [Finding::Mojibake { .. }]
    ));
    // The seed documents' emoji damage is the same thing.
    assert_eq!(repair_mojibake("ðŸ‘‹").as_deref(), Some("👋"));
    // latin1 (C1 controls for cp1252's holes) too.
    let latin1: String = name.bytes().map(|b| b as char).collect();
    assert_eq!(repair_mojibake(&latin1).as_deref(), Some(name));
}

#[test]
fn replacement_characters_and_question_marks() {
    assert_eq!(
        scan("محمد \u{FFFD}\u{FFFD}\u{FFFD}"),
        vec![Finding::ReplacementCharacter { count: 3 }]
    );
    assert_eq!(
        scan("???? ??? ??????"),
        vec![Finding::QuestionMarks { count: 13 }]
    );
    assert_eq!(scan("محم? سالم"), vec![Finding::QuestionMarks { count: 1 }]);
    assert_eq!(
        compare("سالم Ali", "???? Ali"),
        vec![Finding::QuestionMarks { count: 4 }]
    );
    assert_eq!(
        compare("سالم", "س\u{FFFD}لم"),
        vec![Finding::ReplacementCharacter { count: 1 }]
    );
}

#[test]
fn normalization_forms() {
    // آمنة: alef with madda above, composed (NFC) vs alef + combining madda (NFD).
    let nfc = "آمنة";
    let nfd: String = nfc.nfd().collect();
    assert_ne!(nfc, nfd);
    assert!(matches!(&scan(&nfd)[..], [Finding::Normalization { .. }]));
    assert!(matches!(
        &compare(nfc, &nfd)[..],
        [Finding::Normalization { .. }]
    ));
    assert_eq!(scan(nfc), vec![]);
}

#[test]
fn lost_tashkeel_and_tatweel() {
    assert_eq!(
        compare("مُحَمَّد", "محمد"),
        vec![Finding::LostTashkeel { count: 4 }]
    );
    assert_eq!(
        compare("محـــمد", "محمد"),
        vec![Finding::LostTatweel { count: 3 }]
    );
    // A different letter is a real edit, not lost marks.
    assert!(
        compare("الحارثي", "الحارثى")
            .iter()
            .all(|f| !matches!(f, Finding::LostTashkeel { .. }))
    );
}

#[test]
fn presentation_forms_instead_of_base_letters() {
    // لا as the ligature U+FEFB, and isolated/final forms of س ل م.
    let shaped = "\u{FEB3}\u{FEE0}\u{FEE3} \u{FEFB}";
    assert_eq!(scan(shaped), vec![Finding::PresentationForms { count: 4 }]);
    assert_eq!(
        compare("سلم لا", shaped),
        vec![Finding::PresentationForms { count: 4 }]
    );
}

#[test]
fn truncation_at_a_byte_limit() {
    let src = "محمد بن سالم الحارثي";
    // Cut at 10 bytes: "محمد " and half of ب, which became U+FFFD.
    let cut = format!("{}\u{FFFD}", &src[..9]);
    assert_eq!(
        compare(src, &cut),
        vec![Finding::Truncated {
            bytes: cut.len(),
            source_bytes: src.len()
        }]
    );
    assert_eq!(
        compare(src, &src[..20]),
        vec![Finding::Truncated {
            bytes: 20,
            source_bytes: src.len()
        }]
    );
}
