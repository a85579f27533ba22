//! Boundary values for free strings: empty, very long, unicode (outside the Basic Multilingual
//! Plane too), glob and regular expression metacharacters, `/` at the edges, white space.
//!
//! The kinds are fixed; the exact text of each is drawn from the seed. No value ever holds
//! `${`, which the runner would read as a variable.

use super::rng::Rng;

/// The length of a long string, in bytes.
pub const LONG_BYTES: usize = 4096;

/// Every character that means something to a glob or a regular expression.
const METACHARACTERS: &str = "*?[]{}()^$.|+\\#!-,:<>=&~";

/// Non-ASCII characters of the Basic Multilingual Plane, a combining mark among them.
const BMP: [&str; 14] = [
    "é", "ß", "ñ", "Ω", "Ж", "ü", "ł", "日本", "中文", "한", "ع", "ש", "€", "e\u{301}",
];

/// Characters outside the Basic Multilingual Plane (UTF-16 surrogate pairs).
const NON_BMP: [&str; 8] = ["𝄞", "🦀", "😀", "𐍈", "𓀀", "🂡", "𝔘", "🜁"];

/// Edges with `/`.
const SLASH_FORMS: [&str; 5] = ["/", "/{w}", "{w}/", "/{w}/", "//{w}"];

/// White space, alone and around a word.
const WHITE_SPACE_FORMS: [&str; 6] = [" ", "\t", " {w} ", "\n", "{w} {w}", "\r\n{w}"];

/// A kind of boundary string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// `""`.
    Empty,
    /// [`LONG_BYTES`] bytes of letters and digits.
    Long,
    /// Non-ASCII characters of the Basic Multilingual Plane.
    Unicode,
    /// Characters outside the Basic Multilingual Plane.
    NonBmp,
    /// Every glob and regular expression metacharacter, in a seeded order.
    Metacharacters,
    /// One metacharacter inside a word.
    Metacharacter,
    /// `/` at the start, the end, or both.
    SlashEdges,
    /// White space, alone or around words.
    WhiteSpace,
}

impl Boundary {
    /// Every kind, in the order cases are made.
    pub const ALL: [Boundary; 8] = [
        Boundary::Empty,
        Boundary::Long,
        Boundary::Unicode,
        Boundary::NonBmp,
        Boundary::Metacharacters,
        Boundary::Metacharacter,
        Boundary::SlashEdges,
        Boundary::WhiteSpace,
    ];

    /// The name in case names.
    pub fn label(self) -> &'static str {
        match self {
            Boundary::Empty => "empty",
            Boundary::Long => "long",
            Boundary::Unicode => "unicode",
            Boundary::NonBmp => "non_bmp",
            Boundary::Metacharacters => "metacharacters",
            Boundary::Metacharacter => "metacharacter",
            Boundary::SlashEdges => "slash_edges",
            Boundary::WhiteSpace => "white_space",
        }
    }

    /// What the value is, for a case description.
    pub fn describe(self) -> &'static str {
        match self {
            Boundary::Empty => "the empty string",
            Boundary::Long => "a string of 4 KiB",
            Boundary::Unicode => "a string of non-ASCII characters",
            Boundary::NonBmp => "a string with characters outside the Basic Multilingual Plane",
            Boundary::Metacharacters => {
                "a string of every glob and regular expression metacharacter"
            }
            Boundary::Metacharacter => "a word with a glob or regular expression metacharacter",
            Boundary::SlashEdges => "a string with `/` at an edge",
            Boundary::WhiteSpace => "a string of or with white space",
        }
    }

    /// A value of this kind, drawn from `rng`.
    pub fn value(self, rng: &mut Rng) -> String {
        match self {
            Boundary::Empty => String::new(),
            Boundary::Long => {
                const ALPHABET: &[u8] =
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                (0..LONG_BYTES)
                    .map(|_| char::from(*rng.pick(ALPHABET)))
                    .collect()
            }
            Boundary::Unicode => (0..3).map(|_| *rng.pick(&BMP)).collect(),
            Boundary::NonBmp => {
                let mut text: String = (0..1 + rng.below(3)).map(|_| *rng.pick(&NON_BMP)).collect();
                if rng.below(2) == 0 {
                    text = format!("{}{text}", word(rng));
                }
                text
            }
            Boundary::Metacharacters => {
                let mut chars: Vec<char> = METACHARACTERS.chars().collect();
                loop {
                    rng.shuffle(&mut chars);
                    let text: String = chars.iter().collect();
                    if !text.contains("${") {
                        return text;
                    }
                }
            }
            Boundary::Metacharacter => {
                let chars: Vec<char> = METACHARACTERS.chars().collect();
                let meta = *rng.pick(&chars);
                let word = word(rng);
                let cut = rng.below(word.len() + 1);
                format!("{}{meta}{}", &word[..cut], &word[cut..])
            }
            Boundary::SlashEdges => {
                let form = *rng.pick(&SLASH_FORMS);
                fill(form, rng)
            }
            Boundary::WhiteSpace => {
                let form = *rng.pick(&WHITE_SPACE_FORMS);
                fill(form, rng)
            }
        }
    }
}

/// A plain word of lowercase letters and digits, for values that are not under test.
pub fn word(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut text = String::from("g");
    text.extend((0..5).map(|_| char::from(*rng.pick(ALPHABET))));
    text
}

/// A form with each `{w}` replaced by a fresh word.
fn fill(form: &str, rng: &mut Rng) -> String {
    let mut text = form.to_owned();
    while let Some(at) = text.find("{w}") {
        text.replace_range(at..at + 3, &word(rng));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_what_it_says() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            assert_eq!(Boundary::Empty.value(&mut rng), "");
            assert_eq!(Boundary::Long.value(&mut rng).len(), LONG_BYTES);
            assert!(!Boundary::Unicode.value(&mut rng).is_ascii());
            assert!(
                Boundary::NonBmp
                    .value(&mut rng)
                    .chars()
                    .any(|c| c as u32 > 0xFFFF)
            );
            let all = Boundary::Metacharacters.value(&mut rng);
            assert!(METACHARACTERS.chars().all(|c| all.contains(c)), "{all}");
            assert!(!all.contains("${"));
            let slash = Boundary::SlashEdges.value(&mut rng);
            assert!(slash.starts_with('/') || slash.ends_with('/'), "{slash}");
            assert!(
                Boundary::WhiteSpace
                    .value(&mut rng)
                    .chars()
                    .any(char::is_whitespace)
            );
        }
    }
}
