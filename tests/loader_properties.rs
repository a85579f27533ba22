//! Property tests of the case loader: arbitrary text, and text built from the pieces YAML is made
//! of (keys, dashes, colons, brackets, quotes, anchors, aliases, tags), never makes
//! `loader::parse_case` panic; it parses or says why not.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use xpipe_conformance::loader::parse_case;

/// The pieces YAML-ish text is built from: the case format's keys and values, and YAML's
/// structure, quoting, anchors, aliases, tags, block scalars and directives.
const PIECES: [&str; 52] = [
    "description",
    "level",
    "must",
    "should",
    "tags",
    "steps",
    "request",
    "path",
    "/handshake",
    "headers",
    "body",
    "raw_body",
    "expect",
    "status",
    "2xx",
    "4xx",
    "requires",
    "snapshot",
    "absent",
    "model",
    "if_2xx",
    ": ",
    ":",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "\"",
    "'",
    "\\",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!x ",
    "!!str ",
    "!!map ",
    "<<: *a",
    "? ",
    "|",
    ">-",
    "#",
    "---",
    "...",
    "%YAML 1.2",
    "~",
    "null",
    "0x1F",
    "\t",
];

/// Line starts: indentation of several depths, or none.
const INDENTS: [&str; 5] = ["", "  ", "    ", "      ", " "];

fn yaml_ish() -> impl Strategy<Value = String> {
    let line = (select(&INDENTS[..]), vec(select(&PIECES[..]), 0..8))
        .prop_map(|(indent, pieces)| format!("{indent}{}", pieces.concat()));
    vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

/// A case file that parses, with one piece spliced in somewhere.
fn spliced_case() -> impl Strategy<Value = String> {
    const CASE: &str = "description: d\nlevel: must\ntags: [a]\nsteps:\n  - request:\n      \
                        path: /handshake\n      body: {auth: {type: ApiKey, key: k}}\n    \
                        expect:\n      status: 2xx\n";
    (0..=CASE.len(), select(&PIECES[..])).prop_map(|(at, piece)| {
        let at = (0..=at)
            .rev()
            .find(|&i| CASE.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}{piece}{}", &CASE[..at], &CASE[at..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_case(&text);
    }

    #[test]
    fn yaml_ish_text_never_panics(text in yaml_ish()) {
        let _ = parse_case(&text);
    }

    #[test]
    fn a_case_with_a_piece_spliced_in_never_panics(text in spliced_case()) {
        let _ = parse_case(&text);
    }
}

#[test]
fn the_unspliced_case_parses() {
    let text = "description: d\nlevel: must\ntags: [a]\nsteps:\n  - request:\n      \
                path: /handshake\n      body: {auth: {type: ApiKey, key: k}}\n    \
                expect:\n      status: 2xx\n";
    parse_case(text).expect("the base of spliced_case is a valid case");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for open in ["[", "{", "- ", "a: "] {
        let text = format!("description: {}", open.repeat(10_000));
        let _ = parse_case(&text);
    }
}

#[test]
fn aliases_that_expand_exponentially_do_not_hang() {
    // Ten levels of ten aliases each: 10^10 nodes if expanded naively.
    let mut text = String::from("a0: &a0 [x]\n");
    for level in 1..=10 {
        let items = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    text.push_str("description: *a10\n");
    let started = std::time::Instant::now();
    let _ = parse_case(&text);
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
}
