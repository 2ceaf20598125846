//! CLDR plural categories: which forms a locale needs and which one a number takes.
//!
//! A string of `t` may be a mapping of categories (`one: …`, `other: …`) instead of one text, so
//! that "1 new message" and "5 new messages" (and Russian's four forms, Arabic's six) are each
//! written by the translator. The rules are CLDR's, from `icu_plurals` with its compiled data:
//! guessing them by hand is how "21 сообщений" ships.

use fixed_decimal::Decimal;
use icu_locale_core::Locale;
use icu_plurals::{PluralCategory, PluralRules};

use crate::node::{Kind, Node};

/// Every CLDR category, in CLDR's order (the order forms are listed and exported in).
pub(crate) const CATEGORIES: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];

fn name(category: PluralCategory) -> &'static str {
    match category {
        PluralCategory::Zero => "zero",
        PluralCategory::One => "one",
        PluralCategory::Two => "two",
        PluralCategory::Few => "few",
        PluralCategory::Many => "many",
        PluralCategory::Other => "other",
    }
}

/// The cardinal rules of a locale. A tag that does not parse gets the root rules (`other`
/// only): validation reports the tag itself elsewhere, and `other` is always required anyway.
fn rules(locale: &str) -> Option<PluralRules> {
    let locale = Locale::try_from_str(locale).unwrap_or(Locale::UNKNOWN);
    PluralRules::try_new_cardinal((&locale).into()).ok()
}

/// The categories the locale's integers and decimals can take, in CLDR order; `other` is
/// always among them.
pub(crate) fn categories(locale: &str) -> Vec<&'static str> {
    let mut used: Vec<&'static str> = rules(locale)
        .map(|r| r.categories().map(name).collect())
        .unwrap_or_default();
    if !used.contains(&"other") {
        used.push("other");
    }
    CATEGORIES
        .iter()
        .copied()
        .filter(|c| used.contains(c))
        .collect()
}

/// The category of a number written as text (`3`, `-21`, `1.5`) in a locale, or `None` when the
/// text is not a number.
pub(crate) fn category_for(locale: &str, number: &str) -> Option<&'static str> {
    let decimal = Decimal::try_from_str(number.trim()).ok()?;
    Some(rules(locale).map_or("other", |r| name(r.category_for(&decimal))))
}

/// Whether a mapping is a plural entry: non-empty, and every key a CLDR category.
pub(crate) fn is_plural(node: &Node) -> bool {
    match &node.kind {
        Kind::Map(entries) => {
            !entries.is_empty() && entries.iter().all(|e| CATEGORIES.contains(&e.key.as_str()))
        }
        _ => false,
    }
}

/// The categories `locale` needs that a plural entry lacks, in CLDR order.
pub(crate) fn missing(locale: &str, entry: &Node) -> Vec<&'static str> {
    categories(locale)
        .into_iter()
        .filter(|c| entry.get(c).is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::from_yaml;

    fn cat(locale: &str, n: &str) -> &'static str {
        category_for(locale, n).expect("a number")
    }

    #[test]
    fn russian_follows_cldr() {
        assert_eq!(cat("ru", "1"), "one");
        assert_eq!(cat("ru", "3"), "few");
        assert_eq!(cat("ru", "11"), "many");
        assert_eq!(cat("ru", "21"), "one");
        assert_eq!(cat("ru", "5"), "many");
        assert_eq!(cat("ru", "1.5"), "other");
        assert_eq!(categories("ru"), ["one", "few", "many", "other"]);
    }

    #[test]
    fn arabic_has_six_forms() {
        assert_eq!(cat("ar", "0"), "zero");
        assert_eq!(cat("ar", "1"), "one");
        assert_eq!(cat("ar", "2"), "two");
        assert_eq!(cat("ar", "3"), "few");
        assert_eq!(cat("ar", "11"), "many");
        assert_eq!(cat("ar", "100"), "other");
        assert_eq!(categories("ar"), CATEGORIES);
    }

    #[test]
    fn japanese_has_only_other_and_english_two() {
        for n in ["0", "1", "2", "21"] {
            assert_eq!(cat("ja", n), "other");
        }
        assert_eq!(categories("ja"), ["other"]);
        assert_eq!(cat("en", "1"), "one");
        assert_eq!(cat("en", "0"), "other");
        assert_eq!(cat("en", "2"), "other");
        assert_eq!(cat("en-GB", "1"), "one");
        assert_eq!(categories("en"), ["one", "other"]);
    }

    #[test]
    fn a_bad_tag_gets_other_and_a_non_number_none() {
        assert_eq!(categories("not a locale"), ["other"]);
        assert_eq!(category_for("en", "many"), None);
        assert_eq!(cat("en", "-1"), "one");
    }

    #[test]
    fn plural_entries_are_mappings_of_categories_only() {
        let yes: Node = from_yaml("{one: a, other: b}").unwrap();
        let section: Node = from_yaml("{one: a, title: b}").unwrap();
        let empty: Node = from_yaml("{}").unwrap();
        assert!(is_plural(&yes));
        assert!(!is_plural(&section));
        assert!(!is_plural(&empty));
        assert_eq!(missing("ru", &yes), ["few", "many"]);
        let no_other: Node = from_yaml("{one: a}").unwrap();
        assert_eq!(missing("ja", &no_other), ["other"]);
    }
}
