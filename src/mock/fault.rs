//! The catalogue of seeded faults: violations of the API document (and of NOTES.md) that the
//! mock can be told to commit, so that the suite's power to catch them can be measured.
//!
//! Every fault is a real violation: a daemon that behaves so is not conformant. Behaviour the
//! document leaves open (case folding, another 4xx, no `Content-Type`, extra answer fields) is
//! deliberately not here. A fault is code in the mock behind one switch, [`Faults`], consulted
//! at five hooks named by [`Hook`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Where in the mock a fault is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    /// Credentials, tokens and sessions: the handshake's checks and the bearer check.
    Authentication,
    /// Reading the request body of an operation.
    RequestBody,
    /// Compiling and matching the filters of `/connection/query`.
    Filter,
    /// Turning a successful answer into JSON.
    Answer,
    /// The outermost layer: status line, headers, timing and the bytes on the connection.
    Transport,
}

impl Hook {
    /// The hook's name in listings.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Authentication => "authentication",
            Hook::RequestBody => "request body",
            Hook::Filter => "filter",
            Hook::Answer => "answer",
            Hook::Transport => "transport",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field of a response model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnswerField {
    /// `HandshakeResponse.token`.
    Token,
    /// `ConnectionQueryResponse.found`.
    Found,
    /// `uuid` of each item of `found`.
    FoundUuid,
    /// `category` of each item of `found`.
    FoundCategory,
    /// `connection` of each item of `found`.
    FoundConnection,
    /// `type` of each item of `found`.
    FoundType,
}

impl AnswerField {
    const ALL: [AnswerField; 6] = [
        AnswerField::Token,
        AnswerField::Found,
        AnswerField::FoundUuid,
        AnswerField::FoundCategory,
        AnswerField::FoundConnection,
        AnswerField::FoundType,
    ];

    /// The field's part of a fault name.
    fn slug(self) -> &'static str {
        match self {
            AnswerField::Token => "token",
            AnswerField::Found => "found",
            AnswerField::FoundUuid => "found-uuid",
            AnswerField::FoundCategory => "found-category",
            AnswerField::FoundConnection => "found-connection",
            AnswerField::FoundType => "found-type",
        }
    }

    /// The field as a description names it.
    fn phrase(self) -> &'static str {
        match self {
            AnswerField::Token => "`token` of the handshake answer",
            AnswerField::Found => "`found` of the query answer",
            AnswerField::FoundUuid => "`uuid` of each item of `found`",
            AnswerField::FoundCategory => "`category` of each item of `found`",
            AnswerField::FoundConnection => "`connection` of each item of `found`",
            AnswerField::FoundType => "`type` of each item of `found`",
        }
    }

    /// The JSON type the document gives the field.
    const fn declared(self) -> WrongValue {
        match self {
            AnswerField::Found => WrongValue::Array,
            _ => WrongValue::String,
        }
    }

    /// The JSON key of the field.
    pub fn key(self) -> &'static str {
        match self {
            AnswerField::Token => "token",
            AnswerField::Found => "found",
            AnswerField::FoundUuid => "uuid",
            AnswerField::FoundCategory => "category",
            AnswerField::FoundConnection => "connection",
            AnswerField::FoundType => "type",
        }
    }
}

/// What a required answer field holds instead of a value of its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WrongValue {
    /// The field is left out.
    Missing,
    /// `null`.
    Null,
    /// A boolean.
    Boolean,
    /// A number.
    Number,
    /// A string (wrong only where the document declares another type).
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl WrongValue {
    const ALL: [WrongValue; 7] = [
        WrongValue::Missing,
        WrongValue::Null,
        WrongValue::Boolean,
        WrongValue::Number,
        WrongValue::String,
        WrongValue::Array,
        WrongValue::Object,
    ];

    fn slug(self) -> &'static str {
        match self {
            WrongValue::Missing => "missing",
            WrongValue::Null => "null",
            WrongValue::Boolean => "as-boolean",
            WrongValue::Number => "as-number",
            WrongValue::String => "as-string",
            WrongValue::Array => "as-array",
            WrongValue::Object => "as-object",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            WrongValue::Missing => "is missing",
            WrongValue::Null => "is null",
            WrongValue::Boolean => "is a boolean",
            WrongValue::Number => "is a number",
            WrongValue::String => "is a string (its JSON text)",
            WrongValue::Array => "is an array holding the value",
            WrongValue::Object => "is an object holding the value",
        }
    }
}

/// One seeded violation of the API document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    // Authentication.
    /// Any non-empty bearer token is taken for a session.
    AnyTokenAccepted,
    /// A request without `Authorization` is served.
    MissingAuthorizationAccepted,
    /// `Bearer ` without a token is served.
    EmptyBearerTokenAccepted,
    /// A token with characters appended is accepted.
    ExtendedTokenAccepted,
    /// Any prefix of the API key, even an empty one, is accepted.
    ApiKeyPrefixAccepted,
    /// The API key with characters appended is accepted.
    ApiKeyExtensionAccepted,
    /// Any `authFileContent` is accepted.
    WrongLocalSecretAccepted,
    /// The Local secret with characters appended is accepted.
    LocalSecretExtensionAccepted,
    /// Each secret is accepted under either auth type.
    AuthKindsInterchangeable,
    /// A handshake ends every earlier session.
    TokensForgottenAfterNextHandshake,
    /// A refused handshake still carries a working token.
    RefusedHandshakeCarriesToken,
    /// A query refused for its `Authorization` still carries the listing.
    RefusedQueryCarriesListing,

    // Request body.
    /// A missing filter matches everything.
    MissingFilterMatchesAll,
    /// A filter of another JSON type is matched as its JSON text.
    NonStringFilterCoerced,
    /// `arguments` of the wrong JSON type is accepted.
    OpenArgumentsTypeUnchecked,
    /// `/daemon/open` refuses an empty `arguments` list.
    OpenEmptyArgumentsRefused,
    /// A handshake without a `client` object is accepted.
    HandshakeClientUnchecked,
    /// An `auth` without `type` is read by its other fields.
    AuthTypeInferred,

    // Filter.
    /// `categoryFilter` is not applied.
    CategoryFilterIgnored,
    /// `connectionFilter` is not applied.
    ConnectionFilterIgnored,
    /// `typeFilter` is not applied.
    TypeFilterIgnored,
    /// `*` and `**` stand for themselves.
    StarIsLiteral,
    /// `*` crosses `/`.
    StarCrossesSlash,
    /// `**` stops at `/`.
    GlobstarStopsAtSlash,
    /// `.` matches any character.
    DotMatchesAnyCharacter,
    /// `#` starts a comment.
    HashStartsComment,
    /// A filter matches any path containing a match.
    FilterMatchesSubstring,
    /// A filter matches any path starting with a match.
    FilterMatchesPrefix,
    /// An empty filter matches everything.
    EmptyFilterMatchesEverything,
    /// Any `*` gives a 500.
    StarGets500,
    /// An unclosed `[` gives a 500.
    UnclosedBracketGets500,
    /// Stored names are lowercased, filters are not.
    NamesLowercased,
    /// The literal parts of a filter are lowercased, names are not.
    LiteralSegmentsLowercased,

    // Answer.
    /// A required answer field is missing or of the wrong JSON type.
    WrongField(AnswerField, WrongValue),
    /// Answers are wrapped in `{"data": ...}`.
    AnswerWrapped,
    /// Answers are cut off after half their bytes.
    AnswerTruncated,
    /// `found` lists bare UUID strings.
    FoundAsUuidStrings,
    /// Every connection found is listed twice.
    FoundItemsRepeated,
    /// `found` holds at most ten connections.
    FoundCappedAtTen,
    /// `category` and `connection` of each item are swapped.
    FoundFieldsSwapped,

    // Transport.
    /// A malformed request gets a 2xx.
    MalformedRequestGets200,
    /// A malformed request gets a 5xx.
    MalformedRequestGets500,
    /// A refused credential or token gets a 5xx.
    RefusalGets500,
    /// A refused credential or token gets a redirect.
    RefusalRedirects,
    /// JSON answers declare `text/html`.
    JsonDeclaredAsHtml,
    /// `/connection/query` never answers.
    QueryAnswerNeverComes,
    /// Answers to `/connection/query` come one byte a second.
    QueryAnswerDrips,
    /// The connection closes halfway through each answer body.
    ConnectionClosedMidBody,
    /// Answers declare a `Content-Length` longer than their body.
    ContentLengthTooLong,
}

/// The faults of the catalogue that are not field faults, in listing order.
const SIMPLE: [Fault; 48] = [
    Fault::AnyTokenAccepted,
    Fault::MissingAuthorizationAccepted,
    Fault::EmptyBearerTokenAccepted,
    Fault::ExtendedTokenAccepted,
    Fault::ApiKeyPrefixAccepted,
    Fault::ApiKeyExtensionAccepted,
    Fault::WrongLocalSecretAccepted,
    Fault::LocalSecretExtensionAccepted,
    Fault::AuthKindsInterchangeable,
    Fault::TokensForgottenAfterNextHandshake,
    Fault::RefusedHandshakeCarriesToken,
    Fault::RefusedQueryCarriesListing,
    Fault::MissingFilterMatchesAll,
    Fault::NonStringFilterCoerced,
    Fault::OpenArgumentsTypeUnchecked,
    Fault::OpenEmptyArgumentsRefused,
    Fault::HandshakeClientUnchecked,
    Fault::AuthTypeInferred,
    Fault::CategoryFilterIgnored,
    Fault::ConnectionFilterIgnored,
    Fault::TypeFilterIgnored,
    Fault::StarIsLiteral,
    Fault::StarCrossesSlash,
    Fault::GlobstarStopsAtSlash,
    Fault::DotMatchesAnyCharacter,
    Fault::HashStartsComment,
    Fault::FilterMatchesSubstring,
    Fault::FilterMatchesPrefix,
    Fault::EmptyFilterMatchesEverything,
    Fault::StarGets500,
    Fault::UnclosedBracketGets500,
    Fault::NamesLowercased,
    Fault::LiteralSegmentsLowercased,
    Fault::AnswerWrapped,
    Fault::AnswerTruncated,
    Fault::FoundAsUuidStrings,
    Fault::FoundItemsRepeated,
    Fault::FoundCappedAtTen,
    Fault::FoundFieldsSwapped,
    Fault::MalformedRequestGets200,
    Fault::MalformedRequestGets500,
    Fault::RefusalGets500,
    Fault::RefusalRedirects,
    Fault::JsonDeclaredAsHtml,
    Fault::QueryAnswerNeverComes,
    Fault::QueryAnswerDrips,
    Fault::ConnectionClosedMidBody,
    Fault::ContentLengthTooLong,
];

/// How many field faults there are: each field with each value its declared type is not.
const FIELD_FAULTS: usize = AnswerField::ALL.len() * (WrongValue::ALL.len() - 1);

const ALL_FAULTS: [Fault; SIMPLE.len() + FIELD_FAULTS] = all_faults();

/// The simple faults, then every field with every wrong value.
const fn all_faults() -> [Fault; SIMPLE.len() + FIELD_FAULTS] {
    let mut all = [Fault::AnyTokenAccepted; SIMPLE.len() + FIELD_FAULTS];
    let mut next = 0;
    while next < SIMPLE.len() {
        all[next] = SIMPLE[next];
        next += 1;
    }
    let mut f = 0;
    while f < AnswerField::ALL.len() {
        let field = AnswerField::ALL[f];
        let mut w = 0;
        while w < WrongValue::ALL.len() {
            let wrong = WrongValue::ALL[w];
            if wrong as u8 != field.declared() as u8 {
                all[next] = Fault::WrongField(field, wrong);
                next += 1;
            }
            w += 1;
        }
        f += 1;
    }
    all
}

impl Fault {
    /// Every fault of the catalogue: the others by hook, then every field with every wrong value.
    pub const ALL: &'static [Fault] = &ALL_FAULTS;

    /// The stable kebab-case name, as `--fault` takes it.
    pub fn name(self) -> String {
        let simple = match self {
            Fault::AnyTokenAccepted => "any-token-accepted",
            Fault::MissingAuthorizationAccepted => "missing-authorization-accepted",
            Fault::EmptyBearerTokenAccepted => "empty-bearer-token-accepted",
            Fault::ExtendedTokenAccepted => "extended-token-accepted",
            Fault::ApiKeyPrefixAccepted => "api-key-prefix-accepted",
            Fault::ApiKeyExtensionAccepted => "api-key-extension-accepted",
            Fault::WrongLocalSecretAccepted => "wrong-local-secret-accepted",
            Fault::LocalSecretExtensionAccepted => "local-secret-extension-accepted",
            Fault::AuthKindsInterchangeable => "auth-kinds-interchangeable",
            Fault::TokensForgottenAfterNextHandshake => "tokens-forgotten-after-next-handshake",
            Fault::RefusedHandshakeCarriesToken => "refused-handshake-carries-token",
            Fault::RefusedQueryCarriesListing => "refused-query-carries-listing",
            Fault::MissingFilterMatchesAll => "missing-filter-matches-all",
            Fault::NonStringFilterCoerced => "non-string-filter-coerced",
            Fault::OpenArgumentsTypeUnchecked => "open-arguments-type-unchecked",
            Fault::OpenEmptyArgumentsRefused => "open-empty-arguments-refused",
            Fault::HandshakeClientUnchecked => "handshake-client-unchecked",
            Fault::AuthTypeInferred => "auth-type-inferred",
            Fault::CategoryFilterIgnored => "category-filter-ignored",
            Fault::ConnectionFilterIgnored => "connection-filter-ignored",
            Fault::TypeFilterIgnored => "type-filter-ignored",
            Fault::StarIsLiteral => "star-is-literal",
            Fault::StarCrossesSlash => "star-crosses-slash",
            Fault::GlobstarStopsAtSlash => "globstar-stops-at-slash",
            Fault::DotMatchesAnyCharacter => "dot-matches-any-character",
            Fault::HashStartsComment => "hash-starts-comment",
            Fault::FilterMatchesSubstring => "filter-matches-substring",
            Fault::FilterMatchesPrefix => "filter-matches-prefix",
            Fault::EmptyFilterMatchesEverything => "empty-filter-matches-everything",
            Fault::StarGets500 => "star-gets-500",
            Fault::UnclosedBracketGets500 => "unclosed-bracket-gets-500",
            Fault::NamesLowercased => "names-lowercased",
            Fault::LiteralSegmentsLowercased => "literal-segments-lowercased",
            Fault::WrongField(field, wrong) => {
                return format!("{}-{}", field.slug(), wrong.slug());
            }
            Fault::AnswerWrapped => "answer-wrapped",
            Fault::AnswerTruncated => "answer-truncated",
            Fault::FoundAsUuidStrings => "found-as-uuid-strings",
            Fault::FoundItemsRepeated => "found-items-repeated",
            Fault::FoundCappedAtTen => "found-capped-at-ten",
            Fault::FoundFieldsSwapped => "found-fields-swapped",
            Fault::MalformedRequestGets200 => "malformed-request-gets-200",
            Fault::MalformedRequestGets500 => "malformed-request-gets-500",
            Fault::RefusalGets500 => "refusal-gets-500",
            Fault::RefusalRedirects => "refusal-redirects",
            Fault::JsonDeclaredAsHtml => "json-declared-as-html",
            Fault::QueryAnswerNeverComes => "query-answer-never-comes",
            Fault::QueryAnswerDrips => "query-answer-drips",
            Fault::ConnectionClosedMidBody => "connection-closed-mid-body",
            Fault::ContentLengthTooLong => "content-length-too-long",
        };
        simple.to_owned()
    }

    /// One line saying what the faulty mock does.
    pub fn description(self) -> String {
        let simple = match self {
            Fault::AnyTokenAccepted => "any non-empty bearer token is taken for a session",
            Fault::MissingAuthorizationAccepted => {
                "a request without an Authorization header is served as if authenticated"
            }
            Fault::EmptyBearerTokenAccepted => "`Authorization: Bearer ` with no token is served",
            Fault::ExtendedTokenAccepted => {
                "a session token with characters appended is accepted (tokens compared by prefix)"
            }
            Fault::ApiKeyPrefixAccepted => {
                "the API key is compared only as far as the given key goes: any prefix of it, \
                 even an empty one, opens a session"
            }
            Fault::ApiKeyExtensionAccepted => {
                "the API key is compared only as far as the real key goes: the key with \
                 anything appended opens a session"
            }
            Fault::WrongLocalSecretAccepted => {
                "a Local handshake opens a session whatever `authFileContent` holds"
            }
            Fault::LocalSecretExtensionAccepted => {
                "the Local secret with anything appended opens a session"
            }
            Fault::AuthKindsInterchangeable => {
                "the API key and the Local secret are each accepted under either auth type"
            }
            Fault::TokensForgottenAfterNextHandshake => {
                "each handshake ends every earlier session, so earlier tokens stop working"
            }
            Fault::RefusedHandshakeCarriesToken => {
                "a handshake with wrong credentials gets a 400 whose body holds a working token"
            }
            Fault::RefusedQueryCarriesListing => {
                "a query refused for its Authorization still carries the full listing in `found`"
            }
            Fault::MissingFilterMatchesAll => {
                "a missing filter is taken as `**` (`*` for typeFilter) instead of refused"
            }
            Fault::NonStringFilterCoerced => {
                "a filter of another JSON type (number, null, array, object) is matched as its \
                 JSON text instead of refused"
            }
            Fault::OpenArgumentsTypeUnchecked => {
                "/daemon/open accepts `arguments` of the wrong JSON type (a string, a number, an \
                 object, items that are not strings)"
            }
            Fault::OpenEmptyArgumentsRefused => {
                "/daemon/open refuses an empty `arguments` list, which is valid, with a 400"
            }
            Fault::HandshakeClientUnchecked => {
                "a handshake without `client`, or whose `client` is not an object, opens a session"
            }
            Fault::AuthTypeInferred => {
                "an `auth` without `type` is read by its other fields (`key`: ApiKey, \
                 `authFileContent`: Local)"
            }
            Fault::CategoryFilterIgnored => "categoryFilter is read but not applied",
            Fault::ConnectionFilterIgnored => "connectionFilter is read but not applied",
            Fault::TypeFilterIgnored => "typeFilter is read but not applied",
            Fault::StarIsLiteral => "`*` and `**` in a filter match only themselves",
            Fault::StarCrossesSlash => "`*` matches across `/`, like `**`",
            Fault::GlobstarStopsAtSlash => "`**` stays within one path part, like `*`",
            Fault::DotMatchesAnyCharacter => {
                "`.` in a filter matches any one character, as in a regular expression"
            }
            Fault::HashStartsComment => {
                "`#` and what follows it are dropped and the rest matches as a prefix, as in a \
                 regular expression with comments"
            }
            Fault::FilterMatchesSubstring => {
                "a filter matches every path that contains a match (no anchoring)"
            }
            Fault::FilterMatchesPrefix => {
                "a filter matches every path that starts with a match (anchored at the start only)"
            }
            Fault::EmptyFilterMatchesEverything => "an empty filter matches every path",
            Fault::StarGets500 => {
                "any filter with `*` gets a 500 (a broken translation to a regular expression)"
            }
            Fault::UnclosedBracketGets500 => {
                "a filter with an unclosed `[` gets a 500 instead of a 4xx or a literal match"
            }
            Fault::NamesLowercased => {
                "stored paths and types are lowercased before matching but filters are not, so a \
                 name with capitals does not find itself"
            }
            Fault::LiteralSegmentsLowercased => {
                "the literal segments of a filter (around its stars) are lowercased but stored \
                 paths are not, so a name with capitals does not find itself"
            }
            Fault::WrongField(field, wrong) => {
                return format!("{} {}", field.phrase(), wrong.phrase());
            }
            Fault::AnswerWrapped => {
                "answers with a JSON body are wrapped in an extra {\"data\": ...} object"
            }
            Fault::AnswerTruncated => {
                "answers with a JSON body are cut off after half their bytes (Content-Length \
                 agrees)"
            }
            Fault::FoundAsUuidStrings => {
                "`found` lists bare UUID strings instead of objects (a later release's shape)"
            }
            Fault::FoundItemsRepeated => "every connection found is listed twice",
            Fault::FoundCappedAtTen => "`found` holds at most ten connections",
            Fault::FoundFieldsSwapped => {
                "each item of `found` has its `category` and `connection` values swapped"
            }
            Fault::MalformedRequestGets200 => {
                "a body that does not parse or lacks a required field gets a 200 (the error \
                 message in the body)"
            }
            Fault::MalformedRequestGets500 => {
                "a body that does not parse or lacks a required field gets a 500"
            }
            Fault::RefusalGets500 => {
                "wrong credentials, a missing Authorization and unknown tokens get a 500"
            }
            Fault::RefusalRedirects => {
                "wrong credentials, a missing Authorization and unknown tokens get a 302 to /login"
            }
            Fault::JsonDeclaredAsHtml => "answers with a JSON body declare Content-Type text/html",
            Fault::QueryAnswerNeverComes => "/connection/query never answers",
            Fault::QueryAnswerDrips => "answers to /connection/query come one byte a second",
            Fault::ConnectionClosedMidBody => {
                "the connection closes halfway through each answer body (Content-Length is that \
                 of the whole body)"
            }
            Fault::ContentLengthTooLong => {
                "answers declare a Content-Length 16 bytes longer than their body, then the \
                 connection closes"
            }
        };
        simple.to_owned()
    }

    /// Where in the mock the fault is applied.
    pub fn hook(self) -> Hook {
        use Fault::*;
        match self {
            AnyTokenAccepted
            | MissingAuthorizationAccepted
            | EmptyBearerTokenAccepted
            | ExtendedTokenAccepted
            | ApiKeyPrefixAccepted
            | ApiKeyExtensionAccepted
            | WrongLocalSecretAccepted
            | LocalSecretExtensionAccepted
            | AuthKindsInterchangeable
            | TokensForgottenAfterNextHandshake
            | RefusedHandshakeCarriesToken
            | RefusedQueryCarriesListing => Hook::Authentication,
            MissingFilterMatchesAll
            | NonStringFilterCoerced
            | OpenArgumentsTypeUnchecked
            | OpenEmptyArgumentsRefused
            | HandshakeClientUnchecked
            | AuthTypeInferred => Hook::RequestBody,
            CategoryFilterIgnored
            | ConnectionFilterIgnored
            | TypeFilterIgnored
            | StarIsLiteral
            | StarCrossesSlash
            | GlobstarStopsAtSlash
            | DotMatchesAnyCharacter
            | HashStartsComment
            | FilterMatchesSubstring
            | FilterMatchesPrefix
            | EmptyFilterMatchesEverything
            | StarGets500
            | UnclosedBracketGets500
            | NamesLowercased
            | LiteralSegmentsLowercased => Hook::Filter,
            WrongField(..) | AnswerWrapped | AnswerTruncated | FoundAsUuidStrings
            | FoundItemsRepeated | FoundCappedAtTen | FoundFieldsSwapped => Hook::Answer,
            MalformedRequestGets200
            | MalformedRequestGets500
            | RefusalGets500
            | RefusalRedirects
            | JsonDeclaredAsHtml
            | QueryAnswerNeverComes
            | QueryAnswerDrips
            | ConnectionClosedMidBody
            | ContentLengthTooLong => Hook::Transport,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFault(pub String);

impl fmt::Display for UnknownFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = Fault::ALL.iter().map(|fault| fault.name()).collect();
        write!(
            f,
            "unknown fault {:?}; the faults are: {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownFault {}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(name: &str) -> Result<Fault, UnknownFault> {
        Fault::ALL
            .iter()
            .copied()
            .find(|fault| fault.name() == name)
            .ok_or_else(|| UnknownFault(name.to_owned()))
    }
}

/// The switch every hook consults: the faults a mock commits (none for a faithful mock).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// Whether the mock commits `fault`.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Whether the mock commits any fault at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the mock commits any fault at `hook`.
    pub fn any_at(&self, hook: Hook) -> bool {
        self.0.iter().any(|fault| fault.hook() == hook)
    }

    /// The field faults, as (field, wrong value) pairs.
    pub fn wrong_fields(&self) -> impl Iterator<Item = (AnswerField, WrongValue)> + '_ {
        self.0.iter().filter_map(|fault| match fault {
            Fault::WrongField(field, wrong) => Some((*field, *wrong)),
            _ => None,
        })
    }
}

impl From<BTreeSet<Fault>> for Faults {
    fn from(set: BTreeSet<Fault>) -> Faults {
        Faults(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        let mut seen = HashSet::new();
        for &fault in Fault::ALL {
            let name = fault.name();
            assert!(seen.insert(name.clone()), "{name} appears twice");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.starts_with('-') && !name.ends_with('-') && !name.contains("--"));
            assert_eq!(name.parse::<Fault>(), Ok(fault));
            assert!(!fault.description().is_empty());
        }
    }

    #[test]
    fn the_catalogue_lists_every_field_with_every_wrong_value() {
        assert_eq!(Fault::ALL.len(), SIMPLE.len() + 36);
        assert!(Fault::ALL.contains(&Fault::WrongField(AnswerField::FoundType, WrongValue::Null)));
        assert!(Fault::ALL.contains(&Fault::WrongField(AnswerField::Found, WrongValue::String)));
        assert!(!Fault::ALL.contains(&Fault::WrongField(AnswerField::Token, WrongValue::String)));
        assert!(!Fault::ALL.contains(&Fault::WrongField(AnswerField::Found, WrongValue::Array)));
        assert_eq!(
            Fault::WrongField(AnswerField::FoundUuid, WrongValue::Number).name(),
            "found-uuid-as-number"
        );
    }

    #[test]
    fn every_hook_has_faults() {
        for hook in [
            Hook::Authentication,
            Hook::RequestBody,
            Hook::Filter,
            Hook::Answer,
            Hook::Transport,
        ] {
            assert!(Fault::ALL.iter().any(|f| f.hook() == hook), "{hook}");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let error = "no-such-fault".parse::<Fault>().unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.starts_with("unknown fault \"no-such-fault\"; the faults are: "),
            "{shown}"
        );
        assert!(shown.contains("star-crosses-slash"), "{shown}");
    }
}
