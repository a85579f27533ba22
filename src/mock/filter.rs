//! The three filters of one query, compiled once per request: the document's glob dialect, or,
//! when the mock commits filter faults, a misreading of it. This is the filter hook.

use super::error::ApiError;
use super::fault::{Fault, Faults, Hook};
use super::request::QueryRequest;
use super::store::Connection;
use crate::glob::GlobFilter;

/// The compiled filters of one `/connection/query` request.
pub(crate) struct QueryFilters {
    category: Filter,
    connection: Filter,
    kind: Filter,
}

impl QueryFilters {
    /// Compiles the request's filters; `fold` matches regardless of letter case.
    ///
    /// A faithful mock never fails here: every string is a usable filter. The faults
    /// [`Fault::StarGets500`] and [`Fault::UnclosedBracketGets500`] fail as a daemon that
    /// translates filters into regular expressions does.
    pub fn compile(
        request: &QueryRequest,
        faults: &Faults,
        fold: bool,
    ) -> Result<QueryFilters, ApiError> {
        let patterns = [
            &request.category_filter,
            &request.connection_filter,
            &request.type_filter,
        ];
        for pattern in patterns {
            if faults.has(Fault::StarGets500) && pattern.contains('*') {
                return Err(ApiError::Internal("cannot compile the filter pattern"));
            }
            if faults.has(Fault::UnclosedBracketGets500) && has_unclosed_bracket(pattern) {
                return Err(ApiError::Internal("unclosed character class in the filter"));
            }
        }

        let compile = |pattern: &str, ignored: Fault| {
            if faults.has(ignored) {
                Filter::Everything
            } else {
                Filter::compile(pattern, faults, fold)
            }
        };
        Ok(QueryFilters {
            category: compile(&request.category_filter, Fault::CategoryFilterIgnored),
            connection: compile(&request.connection_filter, Fault::ConnectionFilterIgnored),
            kind: compile(&request.type_filter, Fault::TypeFilterIgnored),
        })
    }

    /// Whether all three filters match the connection.
    pub fn matches(&self, connection: &Connection) -> bool {
        self.category.matches(&connection.category)
            && self.connection.matches(&connection.connection)
            && self.kind.matches(&connection.kind)
    }
}

/// One compiled filter.
enum Filter {
    /// The document's dialect.
    Glob(GlobFilter),
    /// A misreading of it.
    Misread(Misreading),
    /// Matches every value (an ignored filter, or an empty one under a fault).
    Everything,
}

impl Filter {
    fn compile(pattern: &str, faults: &Faults, fold: bool) -> Filter {
        if !faults.any_at(Hook::Filter) {
            return Filter::Glob(GlobFilter::path(pattern).case_insensitive(fold));
        }
        if pattern.is_empty() && faults.has(Fault::EmptyFilterMatchesEverything) {
            return Filter::Everything;
        }
        Filter::Misread(Misreading::compile(pattern, faults, fold))
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Filter::Glob(glob) => glob.matches(text),
            Filter::Misread(misreading) => misreading.matches(text),
            Filter::Everything => true,
        }
    }
}

/// Whether a `[` has no `]` after it, which a regular expression engine refuses.
fn has_unclosed_bracket(pattern: &str) -> bool {
    pattern
        .rfind('[')
        .is_some_and(|open| !pattern[open..].contains(']'))
}

/// A pattern element of a misread filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// Any one character (a `.` read as in a regular expression).
    AnyChar,
    /// Any run without `/`.
    Star,
    /// Any run.
    GlobStar,
}

/// A filter compiled with the filter faults the mock commits.
struct Misreading {
    tokens: Vec<Token>,
    fold_text: bool,
}

impl Misreading {
    fn compile(pattern: &str, faults: &Faults, fold: bool) -> Misreading {
        let mut pattern = pattern.to_owned();
        let unanchored_start = faults.has(Fault::FilterMatchesSubstring);
        let mut unanchored_end = unanchored_start || faults.has(Fault::FilterMatchesPrefix);
        if faults.has(Fault::HashStartsComment)
            && let Some(hash) = pattern.find('#')
        {
            // The comment also swallows the end anchor.
            pattern.truncate(hash);
            unanchored_end = true;
        }
        let lower_literals = faults.has(Fault::LiteralSegmentsLowercased) || fold;

        let mut tokens = Vec::with_capacity(pattern.len() + 2);
        if unanchored_start {
            tokens.push(Token::GlobStar);
        }
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                tokens.push(match c {
                    '.' if faults.has(Fault::DotMatchesAnyCharacter) => Token::AnyChar,
                    c if lower_literals => Token::Literal(lower(c)),
                    c => Token::Literal(c),
                });
                continue;
            }
            let mut run = 1;
            while chars.next_if_eq(&'*').is_some() {
                run += 1;
            }
            if faults.has(Fault::StarIsLiteral) {
                tokens.extend(std::iter::repeat_n(Token::Literal('*'), run));
                continue;
            }
            let crosses_slash = (run > 1 || faults.has(Fault::StarCrossesSlash))
                && !faults.has(Fault::GlobstarStopsAtSlash);
            let star = if crosses_slash {
                Token::GlobStar
            } else {
                Token::Star
            };
            tokens.push(star);
        }
        if unanchored_end {
            tokens.push(Token::GlobStar);
        }

        Misreading {
            tokens,
            fold_text: faults.has(Fault::NamesLowercased) || fold,
        }
    }

    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.fold_text {
            text.chars().map(lower).collect()
        } else {
            text.chars().collect()
        };
        // `reachable[i]`: the first `i` tokens match the text read so far.
        let n = self.tokens.len();
        let mut reachable = vec![false; n + 1];
        reachable[0] = true;
        self.close_over_stars(&mut reachable);
        for &c in &text {
            let mut next = vec![false; n + 1];
            for (i, token) in self.tokens.iter().enumerate() {
                if !reachable[i] {
                    continue;
                }
                match *token {
                    Token::Literal(l) if l == c => next[i + 1] = true,
                    Token::Literal(_) => {}
                    Token::AnyChar => next[i + 1] = true,
                    Token::Star if c == '/' => {}
                    Token::Star | Token::GlobStar => next[i] = true,
                }
            }
            self.close_over_stars(&mut next);
            reachable = next;
        }
        reachable[n]
    }

    /// A star may match nothing: whoever reaches a star also reaches what follows it.
    fn close_over_stars(&self, reachable: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if reachable[i] && matches!(token, Token::Star | Token::GlobStar) {
                reachable[i + 1] = true;
            }
        }
    }
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn misread(faults: &[Fault], pattern: &str, text: &str) -> bool {
        let faults = Faults::from(faults.iter().copied().collect::<BTreeSet<_>>());
        Filter::compile(pattern, &faults, false).matches(text)
    }

    #[test]
    fn without_faults_the_misreading_is_the_dialect() {
        // A fault of another hook makes no filter misread; compare the misreader itself.
        let faults = Faults::from(BTreeSet::from([Fault::EmptyFilterMatchesEverything]));
        let cases = [
            ("servers/*", "servers/web-01"),
            ("servers/*", "servers/eu/web-02"),
            ("servers/**", "servers/eu/web-02"),
            ("*", "a/b"),
            ("**", ""),
            ("web.01", "web-01"),
            ("*-0*", "web-01"),
            ("a*b*c", "aXbYc"),
            ("a*b*c", "aXbY/c"),
        ];
        for (pattern, text) in cases {
            let right = GlobFilter::path(pattern).matches(text);
            let misreading = Misreading::compile(pattern, &faults, false).matches(text);
            assert_eq!(right, misreading, "{pattern} on {text}");
        }
    }

    #[test]
    fn each_misreading_differs_where_expected() {
        use Fault::*;
        assert!(misread(
            &[StarCrossesSlash],
            "servers/*",
            "servers/eu/web-02"
        ));
        assert!(!misread(
            &[GlobstarStopsAtSlash],
            "servers/**",
            "servers/eu/web-02"
        ));
        assert!(misread(&[DotMatchesAnyCharacter], "web.01", "web-01"));
        assert!(misread(&[StarIsLiteral], "*", "*"));
        assert!(!misread(&[StarIsLiteral], "**", "nginx"));
        assert!(misread(&[HashStartsComment], "ng#x", "nginx"));
        assert!(misread(&[FilterMatchesSubstring], "web", "servers/web-01"));
        assert!(!misread(&[FilterMatchesPrefix], "web", "servers/web-01"));
        assert!(misread(&[FilterMatchesPrefix], "servers", "servers/web-01"));
        assert!(misread(&[EmptyFilterMatchesEverything], "", "nginx"));
        assert!(!misread(&[NamesLowercased], "Router", "Router"));
        assert!(misread(&[NamesLowercased], "router", "Router"));
        assert!(!misread(&[LiteralSegmentsLowercased], "Router", "Router"));
        assert!(misread(&[LiteralSegmentsLowercased], "Rou*", "router"));
    }

    #[test]
    fn unclosed_brackets_are_found() {
        assert!(has_unclosed_bracket("lab[1"));
        assert!(has_unclosed_bracket("lab[1]["));
        assert!(!has_unclosed_bracket("lab[1]"));
        assert!(!has_unclosed_bracket("lab"));
    }
}
