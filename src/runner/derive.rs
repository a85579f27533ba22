//! Checks that do not depend on the daemon's data: filter values derived from a full listing,
//! and the answer a query must give, computed locally from that listing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::case::Derivation;
use crate::glob::GlobFilter;

/// One connection as a query answer lists it; items lacking a string field are left out
/// (the model check reports them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    /// The connection's id.
    pub uuid: String,
    /// The full category path.
    pub category: String,
    /// The full connection path.
    pub connection: String,
    /// The type identifier.
    pub kind: String,
}

impl Item {
    fn from_json(value: &Value) -> Option<Item> {
        let field = |name| value.get(name)?.as_str().map(str::to_owned);
        Some(Item {
            uuid: field("uuid")?,
            category: field("category")?,
            connection: field("connection")?,
            kind: field("type")?,
        })
    }

    /// How the report names the item.
    pub fn label(&self) -> String {
        format!(
            "{:?} (category {:?}, type {:?})",
            self.connection, self.category, self.kind
        )
    }
}

/// The items of a `found` list (or of a captured listing).
pub fn items(found: &Value) -> Vec<Item> {
    found
        .as_array()
        .map(|list| list.iter().filter_map(Item::from_json).collect())
        .unwrap_or_default()
}

/// The three filters of a connection query body, if it has them all as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFilters {
    /// `categoryFilter`.
    pub category: String,
    /// `connectionFilter`.
    pub connection: String,
    /// `typeFilter`.
    pub kind: String,
}

impl QueryFilters {
    /// Reads the filters from a request body.
    pub fn from_body(body: &Value) -> Option<QueryFilters> {
        let field = |name| body.get(name)?.as_str().map(str::to_owned);
        Some(QueryFilters {
            category: field("categoryFilter")?,
            connection: field("connectionFilter")?,
            kind: field("typeFilter")?,
        })
    }

    /// The filters compiled, matching case-sensitively or not.
    pub fn compile(&self, case_insensitive: bool) -> CompiledFilters {
        CompiledFilters {
            category: GlobFilter::path(&self.category).case_insensitive(case_insensitive),
            connection: GlobFilter::path(&self.connection).case_insensitive(case_insensitive),
            kind: GlobFilter::type_filter(&self.kind).case_insensitive(case_insensitive),
        }
    }
}

/// Filters compiled once, applied to many items.
pub struct CompiledFilters {
    category: GlobFilter,
    connection: GlobFilter,
    kind: GlobFilter,
}

impl CompiledFilters {
    /// Whether all three filters match the item.
    pub fn matches(&self, item: &Item) -> bool {
        self.category.matches(&item.category)
            && self.connection.matches(&item.connection)
            && self.kind.matches(&item.kind)
    }
}

/// Items of an answer that the sent filters do not match, even ignoring case.
pub fn items_not_matching(found: &[Item], filters: &QueryFilters) -> Vec<Item> {
    let loose = filters.compile(true);
    found
        .iter()
        .filter(|item| !loose.matches(item))
        .cloned()
        .collect()
}

/// How an answer differs from what the listing says it must be.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Disagreement {
    /// Listing items the filters match (case-sensitively) that the answer lacks.
    pub missing: Vec<Item>,
    /// Answer items that the filters do not match even ignoring case, or that the listing
    /// does not hold at all.
    pub unexpected: Vec<Item>,
}

impl Disagreement {
    /// Whether the answer is right.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Compares an answer with the listing filtered locally. The document allows matching with
/// or without case folding, so an item matched only when ignoring case may be in the answer
/// or not; everything else must agree exactly.
pub fn compare_with_listing(
    listing: &[Item],
    filters: &QueryFilters,
    found: &[Item],
) -> Disagreement {
    let strict = filters.compile(false);
    let loose = filters.compile(true);
    let (mut must, mut may) = (Vec::new(), Vec::new());
    for item in listing {
        // A strict match is a loose one too, so only the others are matched twice.
        if strict.matches(item) {
            must.push(item);
            may.push(item);
        } else if loose.matches(item) {
            may.push(item);
        }
    }
    // Collected at once, the sets are sorted and built in bulk, not item by item.
    let must: BTreeSet<&Item> = must.into_iter().collect();
    let may: BTreeSet<&Item> = may.into_iter().collect();
    let answered: BTreeSet<&Item> = found.iter().collect();
    Disagreement {
        missing: must.difference(&answered).map(|i| (*i).clone()).collect(),
        unexpected: answered.difference(&may).map(|i| (*i).clone()).collect(),
    }
}

/// Derives filter values of one family from a listing, deduplicated, at most `limit` of them
/// spread evenly over all there are.
pub fn derive(derivation: Derivation, listing: &[Item], limit: usize) -> Vec<String> {
    let connections = || listing.iter().map(|i| i.connection.as_str());
    let categories = || listing.iter().map(|i| i.category.as_str());
    let values: Vec<String> = match derivation {
        Derivation::ConnectionNames => connections().map(str::to_owned).collect(),
        Derivation::CategoryPaths => categories().map(str::to_owned).collect(),
        Derivation::Types => listing.iter().map(|i| i.kind.clone()).collect(),
        Derivation::ConnectionFirstParts => connections().filter_map(first_part).collect(),
        Derivation::CategoryFirstParts => categories().filter_map(first_part).collect(),
        Derivation::ConnectionDepths => depth_stars(connections()),
        Derivation::CategoryDepths => depth_stars(categories()),
        Derivation::ConnectionRegexDots => connections().filter_map(regex_dot).collect(),
        Derivation::ConnectionMetacharNames => connections()
            .filter(|name| name.chars().any(|c| REGEX_METACHARACTERS.contains(c)))
            .map(str::to_owned)
            .collect(),
        Derivation::ConnectionOpenBrackets => connections().map(|n| format!("{n}[")).collect(),
        Derivation::ConnectionInnerParts => connections().filter_map(inner_part).collect(),
        Derivation::ConnectionFirstLastStar => {
            connections().filter_map(|n| first_last(n, "*")).collect()
        }
        Derivation::ConnectionFirstLastGlobStar => {
            connections().filter_map(|n| first_last(n, "**")).collect()
        }
        Derivation::TypePrefixes => listing.iter().map(|i| type_prefix(&i.kind)).collect(),
        Derivation::TypeSuffixes => listing.iter().map(|i| type_suffix(&i.kind)).collect(),
        Derivation::TypeInfixes => listing.iter().filter_map(|i| type_infix(&i.kind)).collect(),
        Derivation::ConnectionTrailingStar => connections().map(|n| format!("{n}*")).collect(),
        Derivation::ConnectionLeadingStar => connections().map(|n| format!("*{n}")).collect(),
        Derivation::ConnectionInsertedStar => connections().filter_map(inserted_star).collect(),
        Derivation::ConnectionTrailingGlobStar => connections().map(|n| format!("{n}**")).collect(),
        Derivation::ConnectionCaseSwapped => connections().filter_map(case_swapped).collect(),
    };
    let unique: BTreeSet<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
    spread(unique.into_iter().collect(), limit)
}

/// Characters that a filter translated naively into a regular expression would not take
/// literally (`*` is left out: it is glob syntax).
pub const REGEX_METACHARACTERS: &str = ".+?()[]{}|^$\\#";

fn first_part(path: &str) -> Option<String> {
    path.split_once('/').map(|(first, _)| first.to_owned())
}

fn depth_stars<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let deepest = paths.map(|p| p.split('/').count()).max().unwrap_or(0);
    // One level deeper than the listing shows: a daemon whose `**` does not cross `/` hides
    // deeper paths from the listing, and this is where they surface.
    (1..=deepest + 1)
        .map(|depth| vec!["*"; depth].join("/"))
        .collect()
}

fn regex_dot(name: &str) -> Option<String> {
    // Turn the middle letter or digit into `.`; to a regular expression it would still
    // match the original name, to the glob of the document it matches only a literal dot.
    let chars: Vec<char> = name.chars().collect();
    let middle = chars.len() / 2;
    let index = (0..chars.len())
        .map(|offset| (middle + offset) % chars.len())
        .find(|&i| chars[i].is_alphanumeric())?;
    let mut out = chars;
    out[index] = '.';
    Some(out.into_iter().collect())
}

fn inner_part(name: &str) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    (chars.len() >= 3).then(|| chars[1..chars.len() - 1].iter().collect())
}

fn first_last(name: &str, stars: &str) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    let (first, last) = (*chars.first()?, *chars.last()?);
    // Stars in the name would blur what the derived filter tests.
    (chars.len() >= 2 && first != '*' && last != '*').then(|| format!("{first}{stars}{last}"))
}

fn type_prefix(kind: &str) -> String {
    let chars: Vec<char> = kind.chars().collect();
    let half = chars.len().div_ceil(2);
    format!("{}*", chars[..half].iter().collect::<String>())
}

fn type_suffix(kind: &str) -> String {
    let chars: Vec<char> = kind.chars().collect();
    format!("*{}", chars[chars.len() / 2..].iter().collect::<String>())
}

fn type_infix(kind: &str) -> Option<String> {
    let chars: Vec<char> = kind.chars().collect();
    (chars.len() >= 3)
        .then(|| format!("*{}*", chars[1..chars.len() - 1].iter().collect::<String>()))
}

fn inserted_star(name: &str) -> Option<String> {
    // Between two characters a star must match the empty run for the name to match itself.
    let chars: Vec<char> = name.chars().collect();
    (chars.len() >= 2).then(|| {
        let middle = chars.len() / 2;
        let (head, tail) = chars.split_at(middle);
        format!(
            "{}*{}",
            head.iter().collect::<String>(),
            tail.iter().collect::<String>()
        )
    })
}

fn case_swapped(name: &str) -> Option<String> {
    let swapped: String = name
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect();
    (swapped != name).then_some(swapped)
}

/// At most `limit` values, taken at even steps so that the sample covers the whole range.
fn spread(values: Vec<String>, limit: usize) -> Vec<String> {
    if values.len() <= limit || limit == 0 {
        return values;
    }
    let step = values.len() as f64 / limit as f64;
    let picked: BTreeMap<usize, ()> = (0..limit)
        .map(|k| ((k as f64 * step) as usize, ()))
        .collect();
    picked.keys().map(|&i| values[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(uuid: &str, category: &str, connection: &str, kind: &str) -> Item {
        Item {
            uuid: uuid.into(),
            category: category.into(),
            connection: connection.into(),
            kind: kind.into(),
        }
    }

    fn listing() -> Vec<Item> {
        vec![
            item("1", "servers", "servers/web-01", "ssh"),
            item("2", "servers/eu", "servers/eu/web.02", "ssh"),
            item("3", "default", "Router", "local"),
            item("4", "default", "router", "local"),
        ]
    }

    fn filters(category: &str, connection: &str, kind: &str) -> QueryFilters {
        QueryFilters {
            category: category.into(),
            connection: connection.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn an_exact_answer_agrees() {
        let listing = listing();
        let answer = vec![listing[0].clone()];
        assert!(
            compare_with_listing(&listing, &filters("**", "servers/*", "*"), &answer).is_empty()
        );
    }

    #[test]
    fn a_star_crossing_slash_is_unexpected() {
        let listing = listing();
        let answer = vec![listing[0].clone(), listing[1].clone()];
        let found = compare_with_listing(&listing, &filters("**", "servers/*", "*"), &answer);
        assert_eq!(found.unexpected, vec![listing[1].clone()]);
    }

    #[test]
    fn case_folding_is_tolerated_both_ways() {
        let listing = listing();
        let f = filters("**", "router", "*");
        assert!(compare_with_listing(&listing, &f, &[listing[3].clone()]).is_empty());
        let both = [listing[2].clone(), listing[3].clone()];
        assert!(compare_with_listing(&listing, &f, &both).is_empty());
        assert_eq!(
            compare_with_listing(&listing, &f, &[]).missing,
            vec![listing[3].clone()]
        );
    }

    #[test]
    fn an_item_outside_the_listing_is_unexpected() {
        let stranger = item("9", "x", "router", "local");
        let found = compare_with_listing(
            &listing(),
            &filters("**", "**", "*"),
            std::slice::from_ref(&stranger),
        );
        assert!(found.unexpected.contains(&stranger));
    }

    #[test]
    fn derivations() {
        let listing = listing();
        assert_eq!(
            derive(Derivation::ConnectionFirstParts, &listing, 10),
            vec!["servers"]
        );
        assert_eq!(
            derive(Derivation::ConnectionDepths, &listing, 10),
            vec!["*", "*/*", "*/*/*", "*/*/*/*"]
        );
        assert_eq!(
            derive(Derivation::ConnectionMetacharNames, &listing, 10),
            vec!["servers/eu/web.02"]
        );
        assert_eq!(
            derive(Derivation::TypeSuffixes, &listing, 10),
            vec!["*cal", "*sh"]
        );
        assert_eq!(
            derive(Derivation::TypeInfixes, &listing, 10),
            vec!["*oca*", "*s*"]
        );
        assert!(
            derive(Derivation::ConnectionInsertedStar, &listing, 10)
                .contains(&"Rou*ter".to_owned())
        );
        assert_eq!(
            derive(Derivation::TypePrefixes, &listing, 10),
            vec!["loc*", "ss*"]
        );
        assert!(
            derive(Derivation::ConnectionRegexDots, &listing, 10).contains(&"Rou.er".to_owned())
        );
        assert!(
            derive(Derivation::ConnectionFirstLastStar, &listing, 10).contains(&"s*1".to_owned())
        );
        assert!(
            derive(Derivation::ConnectionInnerParts, &listing, 10).contains(&"oute".to_owned())
        );
    }

    #[test]
    fn spread_takes_evenly() {
        let values: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(spread(values, 3), vec!["0", "3", "6"]);
    }

    #[test]
    fn items_skip_malformed_entries() {
        let found =
            json!([{"uuid": "1", "category": "c", "connection": "n", "type": "t"}, {"uuid": 2}]);
        assert_eq!(items(&found).len(), 1);
    }
}
