//! The glob dialect of the connection query: `*` within one path part, `**` across parts.
//!
//! Both the mock daemon and the runner's relation checks match through this one type, so the
//! expected answer the harness computes and the answer the mock gives cannot drift apart.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character that stands for itself (every character but `*` does).
    Literal(char),
    /// `*`: any run of characters that contains no `/`.
    Star,
    /// `**` (or a longer run of stars): any run of characters, `/` included.
    GlobStar,
}

/// A compiled filter of `/connection/query`.
///
/// Matching is anchored at both ends: a filter matches a whole path, never a part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobFilter {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

impl GlobFilter {
    /// Compiles a category or connection filter, where `*` stops at `/` and `**` does not.
    pub fn path(pattern: &str) -> Self {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                tokens.push(Token::Literal(c));
                continue;
            }
            let mut run = 1;
            while chars.next_if_eq(&'*').is_some() {
                run += 1;
            }
            tokens.push(if run == 1 {
                Token::Star
            } else {
                Token::GlobStar
            });
        }
        Self {
            tokens,
            case_insensitive: false,
        }
    }

    /// Compiles a type filter. The document gives it `*` only; type identifiers hold no `/`,
    /// so the path dialect gives the same answers and no second dialect is needed.
    pub fn type_filter(pattern: &str) -> Self {
        Self::path(pattern)
    }

    /// Returns the same filter matching letters regardless of case.
    pub fn case_insensitive(mut self, yes: bool) -> Self {
        self.case_insensitive = yes;
        self
    }

    /// Whether the filter matches the whole of `text`.
    pub fn matches(&self, text: &str) -> bool {
        // The listing's own filters (`**`, `*`) are the most sent: answered without the table
        // and its two allocations (`cargo bench --bench query`, `mock::match_all`).
        match self.tokens.as_slice() {
            [Token::GlobStar] => return true,
            [Token::Star] => return !text.contains('/'),
            _ => {}
        }

        // `reachable[i]` says whether the first `i` tokens can match the text read so far. A
        // table over tokens keeps matching linear in the text, with no backtracking blow-up on
        // patterns such as `*a*a*a*b`.
        let n = self.tokens.len();
        let mut reachable = vec![false; n + 1];
        reachable[0] = true;
        self.close_over_stars(&mut reachable);

        let mut next = vec![false; n + 1];
        for c in text.chars() {
            next.iter_mut().for_each(|slot| *slot = false);
            for (i, token) in self.tokens.iter().enumerate() {
                if !reachable[i] {
                    continue;
                }
                match token {
                    Token::Literal(l) if self.same_char(*l, c) => next[i + 1] = true,
                    Token::Literal(_) => {}
                    // A star consumes the character and stays where it is.
                    Token::Star if c != '/' => next[i] = true,
                    Token::Star => {}
                    Token::GlobStar => next[i] = true,
                }
            }
            self.close_over_stars(&mut next);
            if !next.iter().any(|&r| r) {
                return false;
            }
            std::mem::swap(&mut reachable, &mut next);
        }
        reachable[n]
    }

    /// Stars also match the empty run, so reaching a star means reaching what follows it.
    fn close_over_stars(&self, reachable: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if reachable[i] && matches!(token, Token::Star | Token::GlobStar) {
                reachable[i + 1] = true;
            }
        }
    }

    fn same_char(&self, a: char, b: char) -> bool {
        // Lower case alone misses letters with two lower forms (`σ` and final `ς` both
        // upper-case to `Σ`); matching either way is what Java's equalsIgnoreCase does.
        a == b
            || (self.case_insensitive
                && (a.to_lowercase().eq(b.to_lowercase()) || a.to_uppercase().eq(b.to_uppercase())))
    }
}

#[cfg(test)]
mod tests {
    use super::GlobFilter;

    fn matches(pattern: &str, text: &str) -> bool {
        GlobFilter::path(pattern).matches(text)
    }

    #[test]
    fn star_stays_within_one_part() {
        assert!(matches("servers/*", "servers/web"));
        assert!(matches("servers/*", "servers/"));
        assert!(!matches("servers/*", "servers/eu/web"));
        assert!(!matches("*", "a/b"));
        assert!(matches("a*c", "abbc"));
        assert!(!matches("a*c", "ab/bc"));
    }

    #[test]
    fn globstar_crosses_parts() {
        assert!(matches("**", ""));
        assert!(matches("**", "a/b/c"));
        assert!(matches("servers/**", "servers/eu/web"));
        assert!(!matches("servers/**", "servers"));
        assert!(matches("**/web", "servers/eu/web"));
        assert!(matches("a***b", "a/x/b"));
        assert!(matches("***", "a/b"));
        assert!(GlobFilter::path("**").case_insensitive(true).matches(""));
    }

    #[test]
    fn lone_star_matches_any_single_part() {
        assert!(matches("*", ""));
        assert!(matches("*", "local machine"));
        assert!(!matches("*", "/"));
        assert!(!matches("*", "servers/web"));
    }

    #[test]
    fn every_other_character_is_literal() {
        for special in [".", "+", "(", "[", "?", "\\", "#", "$", "^", "|", "{"] {
            let pattern = format!("a{special}b");
            assert!(matches(&pattern, &pattern), "{pattern} must match itself");
            assert!(!matches(&pattern, "axb"), "{pattern} must not act as regex");
        }
        assert!(!matches("a.*", "abc"));
        assert!(matches("a.*", "a.bc"));
    }

    #[test]
    fn matching_is_anchored_at_both_ends() {
        assert!(!matches("web", "web-01"));
        assert!(!matches("web", "my web"));
        assert!(matches("web", "web"));
        assert!(!matches("web", ""));
        assert!(!matches("web*", "my web"));
    }

    #[test]
    fn empty_filter_matches_only_empty_text() {
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn case_folding_is_opt_in() {
        assert!(!matches("Web", "web"));
        assert!(
            GlobFilter::path("Web*")
                .case_insensitive(true)
                .matches("wEB-01")
        );
    }

    #[test]
    fn case_folding_knows_letters_with_two_lower_forms() {
        assert!(
            GlobFilter::path("ΛΌΓΟΣ")
                .case_insensitive(true)
                .matches("λόγος")
        );
        assert!(
            GlobFilter::path("σοφος")
                .case_insensitive(true)
                .matches("ΣΟΦΟΣ")
        );
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let text = "a".repeat(5000);
        assert!(!matches("*a*a*a*a*a*a*a*a*b", &text));
    }
}
