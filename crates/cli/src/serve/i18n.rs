//! The dashboard's and the reports' words in English and Arabic, from Fluent files embedded
//! in the binary (`crates/cli/locales/{en,ar}/dashboard.ftl`, `report.ftl` and
//! `events.ftl`, the sentences about events). Which language: `?lang=` first, then the
//! browser's `Accept-Language`, then English.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};

const EN: &str = concat!(
    include_str!("../../locales/en/dashboard.ftl"),
    "\n",
    include_str!("../../locales/en/report.ftl"),
    "\n",
    include_str!("../../locales/en/events.ftl")
);
const AR: &str = concat!(
    include_str!("../../locales/ar/dashboard.ftl"),
    "\n",
    include_str!("../../locales/ar/report.ftl"),
    "\n",
    include_str!("../../locales/ar/events.ftl")
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ar,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }
    pub fn dir(self) -> &'static str {
        match self {
            Lang::En => "ltr",
            Lang::Ar => "rtl",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ar,
            Lang::Ar => Lang::En,
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    /// `?lang=` wins; otherwise the `Accept-Language` entry with the highest weight that
    /// we speak; otherwise English.
    pub fn negotiate(query: Option<&str>, accept: Option<&str>) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.unwrap_or_default().split(',') {
            let mut bits = part.split(';');
            let Some(lang) = bits.next().and_then(Lang::parse) else {
                continue;
            };
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

/// One language's messages. A message missing from the Arabic file falls back to English,
/// and a missing id shows as itself, so a gap is visible and never an empty cell.
pub struct Tr {
    pub lang: Lang,
    bundle: FluentBundle<FluentResource>,
    fallback: FluentBundle<FluentResource>,
}

fn bundle(lang: &str, src: &str) -> FluentBundle<FluentResource> {
    let res = FluentResource::try_new(src.to_string())
        .unwrap_or_else(|(_, e)| panic!("locales/{lang}/*.ftl do not parse: {e:?}"));
    let mut b = FluentBundle::new(vec![lang.parse().expect("a valid language id")]);
    // Placeables are isolated by the page (<bdi>); Fluent's own FSI/PDI marks would end up
    // inside attribute values and copied text.
    b.set_use_isolating(false);
    b.add_resource(res)
        .unwrap_or_else(|e| panic!("locales/{lang}/*.ftl: {e:?}"));
    b
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr {
            lang,
            bundle: bundle(
                lang.code(),
                match lang {
                    Lang::En => EN,
                    Lang::Ar => AR,
                },
            ),
            fallback: bundle("en", EN),
        }
    }

    /// The message `id` with `args`, as plain text (the caller escapes it for HTML).
    pub fn t(&self, id: &str, args: &[(&str, String)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, FluentValue::from(v.clone()));
        }
        for b in [&self.bundle, &self.fallback] {
            if let Some(p) = b.get_message(id).and_then(|m| m.value()) {
                let mut errors = vec![];
                return b.format_pattern(p, Some(&fa), &mut errors).into_owned();
            }
        }
        id.to_string()
    }

    pub fn s(&self, id: &str) -> String {
        self.t(id, &[])
    }

    /// The message as plain text for a medium without `<bdi>` (event lines, markdown): in
    /// Arabic each argument is `isolate`d, as in the notifications, so keys, numbers, table
    /// names and URLs keep their left-to-right order; English has nothing to isolate and
    /// gets no marks.
    pub fn text(&self, id: &str, args: &[(&str, String)]) -> String {
        let isolated: Vec<(&str, String)> =
            args.iter().map(|(k, v)| (*k, self.isolate(v))).collect();
        self.t(id, &isolated)
    }

    /// A value between FSI and PDI in Arabic. Not a value that is already Arabic (a part
    /// of the sentence worded here, whose own values are isolated inside it) nor an empty
    /// one: marks there only clutter copied text.
    pub fn isolate(&self, v: &str) -> String {
        let arabic = v.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
        match self.lang {
            Lang::Ar if !arabic && !v.is_empty() => format!("\u{2068}{v}\u{2069}"),
            _ => v.to_string(),
        }
    }

    /// `f` with this thread's messages of `lang`, parsed once per thread: event lines are
    /// worded one at a time, often thousands per page.
    pub fn with<R>(lang: Lang, f: impl FnOnce(&Tr) -> R) -> R {
        thread_local! {
            static EN_TR: Tr = Tr::new(Lang::En);
            static AR_TR: Tr = Tr::new(Lang::Ar);
        }
        match lang {
            Lang::En => EN_TR.with(|tr| f(tr)),
            Lang::Ar => AR_TR.with(|tr| f(tr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_then_the_heaviest_accept_language() {
        assert_eq!(Lang::negotiate(Some("ar"), Some("en")), Lang::Ar);
        assert_eq!(
            Lang::negotiate(None, Some("fr, ar-OM;q=0.8, en;q=0.5")),
            Lang::Ar
        );
        assert_eq!(
            Lang::negotiate(None, Some("ar;q=0.2, en-GB;q=0.9")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(Some("xx"), None), Lang::En);
    }

    /// `$name`s used by each message (its continuation lines included).
    fn placeholders(
        src: &str,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut out = std::collections::BTreeMap::new();
        let mut cur: Option<String> = None;
        for line in src.lines() {
            if line.starts_with('#') {
                continue;
            }
            if !line.starts_with(' ') && line.contains(" = ") {
                cur = Some(line.split(" = ").next().unwrap().trim().to_string());
            }
            let Some(id) = &cur else { continue };
            let set: &mut std::collections::BTreeSet<String> = out.entry(id.clone()).or_default();
            for part in line.split('$').skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                set.insert(name);
            }
        }
        out
    }

    #[test]
    fn every_english_message_has_an_arabic_one() {
        let ids = |src: &str| -> Vec<String> {
            src.lines()
                .filter(|l| !l.starts_with('#') && l.contains(" = "))
                .map(|l| l.split(" = ").next().unwrap().trim().to_string())
                .collect()
        };
        let ar = ids(AR);
        let missing: Vec<String> = ids(EN).into_iter().filter(|i| !ar.contains(i)).collect();
        assert!(missing.is_empty(), "missing in locales/ar: {missing:?}");
        let extra: Vec<String> = ar
            .iter()
            .filter(|i| !ids(EN).contains(i))
            .cloned()
            .collect();
        assert!(extra.is_empty(), "only in locales/ar: {extra:?}");
        // The same placeholders, or a value the caller passes would go unshown (or a
        // message show `{$name}`) in one language.
        let (en, ar) = (placeholders(EN), placeholders(AR));
        for (id, vars) in &en {
            assert_eq!(Some(vars), ar.get(id), "placeholders of {id}");
        }
        let tr = Tr::new(Lang::Ar);
        assert_eq!(tr.s("dash-stop-button"), "إيقاف");
        assert_eq!(
            tr.t(
                "dash-stop-requested",
                &[("id", "7".into()), ("actor", "alice".into())]
            ),
            "طُلب الإيقاف رقم 7 بواسطة alice"
        );
    }
}
