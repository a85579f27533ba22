//! A connection query over stores of 1k, 10k and 100k connections, in the mock and in the
//! harness's checks of the answer.
//!
//! `cargo bench --bench query` (divan prints fastest, slowest, median and mean per size; pass
//! divan's options after `--`, such as `-- --sample-count 10` or a filter like `-- mock`).
//!
//! - `mock::router_*`: one `/connection/query` through the mock's router without a socket
//!   (`tower::ServiceExt::oneshot`): body parsing, the bearer check, matching every connection
//!   and serializing the answer. `all` sends `**`/`**`/`*` (every connection matches);
//!   `selective` sends `**`/`servers/*`/`*` (one in four matches).
//! - `mock::match_*` and `mock::serialize_all`: the matching function alone
//!   (`ConnectionStore::query` with `GlobFilter`) and the serialization alone, to split the above;
//!   `mock::preserialized_all` is a variant of the serialization the mock could use instead.
//! - `harness::*`: what the runner does with such an answer: parse it, validate it against
//!   `ConnectionQueryResponse` (`SchemaSet::validate`), read its items, check each item against
//!   the filters (`items_not_matching`) and compare it with the full listing
//!   (`compare_with_listing`); `check_all_*` is the sum of those steps in one go.

mod common;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{Request, StatusCode};
use divan::Bencher;
use serde_json::{Value, json};
use tower::ServiceExt;

use xpipe_conformance::glob::GlobFilter;
use xpipe_conformance::mock::{Connection, ConnectionStore, MockConfig, MockState, router};
use xpipe_conformance::runner::derive::{self, QueryFilters};
use xpipe_conformance::schema::SchemaSet;

/// The binary's allocator, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: &[usize] = &[1_000, 10_000, 100_000];
const API_KEY: &str = "bench-key";

fn main() {
    println!("{}", common::machine_line());
    divan::main();
}

fn store(n: usize) -> ConnectionStore {
    ConnectionStore::from_json(&common::synthetic_fixture(n)).expect("a valid synthetic store")
}

fn all_filters() -> QueryFilters {
    QueryFilters {
        category: "**".into(),
        connection: "**".into(),
        kind: "*".into(),
    }
}

fn selective_filters() -> QueryFilters {
    QueryFilters {
        category: "**".into(),
        connection: "servers/*".into(),
        kind: "*".into(),
    }
}

fn body_of(filters: &QueryFilters) -> String {
    json!({
        "categoryFilter": filters.category,
        "connectionFilter": filters.connection,
        "typeFilter": filters.kind,
    })
    .to_string()
}

/// The mock's answer to `filters` over `n` connections, as the bytes it sends.
fn answer_bytes(n: usize, filters: &QueryFilters) -> Bytes {
    let runtime = runtime();
    let (app, token) = runtime.block_on(mock_router(n));
    runtime.block_on(query(&app, &token, &body_of(filters)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The mock's router over `n` synthetic connections, and a session token for it.
async fn mock_router(n: usize) -> (Router, String) {
    let mut config = MockConfig::new(API_KEY);
    config.store = store(n);
    let app = router(MockState::new(config, "local-secret"));
    let handshake = json!({
        "auth": {"type": "ApiKey", "key": API_KEY},
        "client": {"type": "Api", "name": "bench"},
    });
    let request = Request::post("/handshake")
        .header("content-type", "application/json")
        .body(Body::from(handshake.to_string()))
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
    let token = answer["token"].as_str().expect("a token").to_owned();
    (app, token)
}

async fn query(app: &Router, token: &str, body: &str) -> Bytes {
    let request = Request::post("/connection/query")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_owned()))
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body")
}

#[divan::bench_group(sample_count = 30)]
mod mock {
    use super::*;

    fn router_query(bencher: Bencher, n: usize, filters: &QueryFilters, expected: usize) {
        let runtime = runtime();
        let (app, token) = runtime.block_on(mock_router(n));
        let body = body_of(filters);

        // Checked once, untimed: the answer holds what the filters match.
        let bytes = runtime.block_on(query(&app, &token, &body));
        let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(answer["found"].as_array().map(Vec::len), Some(expected));

        bencher.bench_local(|| runtime.block_on(query(&app, &token, &body)));
    }

    #[divan::bench(args = SIZES)]
    fn router_all(bencher: Bencher, n: usize) {
        router_query(bencher, n, &all_filters(), n);
    }

    #[divan::bench(args = SIZES)]
    fn router_selective(bencher: Bencher, n: usize) {
        router_query(bencher, n, &selective_filters(), n.div_ceil(4));
    }

    fn match_only(bencher: Bencher, n: usize, filters: &QueryFilters, expected: usize) {
        let store = store(n);
        let category = GlobFilter::path(&filters.category);
        let connection = GlobFilter::path(&filters.connection);
        let kind = GlobFilter::type_filter(&filters.kind);
        assert_eq!(store.query(&category, &connection, &kind).count(), expected);
        bencher.bench_local(|| store.query(&category, &connection, &kind).count());
    }

    #[divan::bench(args = SIZES)]
    fn match_all(bencher: Bencher, n: usize) {
        match_only(bencher, n, &all_filters(), n);
    }

    #[divan::bench(args = SIZES)]
    fn match_selective(bencher: Bencher, n: usize) {
        match_only(bencher, n, &selective_filters(), n.div_ceil(4));
    }

    /// The answer's shape, serialized as the mock does it (no `Value` in between).
    #[derive(serde::Serialize)]
    struct Found<'a> {
        found: &'a [&'a Connection],
    }

    #[divan::bench(args = SIZES)]
    fn serialize_all(bencher: Bencher, n: usize) {
        let store = store(n);
        let found: Vec<_> = store.connections().iter().collect();
        bencher.bench_local(|| serde_json::to_vec(&Found { found: &found }).expect("JSON"));
    }

    /// A variant the mock does not have (yet): each connection serialized once when the store
    /// is loaded, an answer put together from those bytes. Same output as `serialize_all`.
    #[divan::bench(args = SIZES)]
    fn preserialized_all(bencher: Bencher, n: usize) {
        let store = store(n);
        let items: Vec<Vec<u8>> = store
            .connections()
            .iter()
            .map(|c| serde_json::to_vec(c).expect("JSON"))
            .collect();
        let join = || {
            let size = items.iter().map(Vec::len).sum::<usize>() + items.len() + 12;
            let mut out = Vec::with_capacity(size);
            out.extend_from_slice(b"{\"found\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(item);
            }
            out.extend_from_slice(b"]}");
            out
        };
        let found: Vec<_> = store.connections().iter().collect();
        assert_eq!(
            join(),
            serde_json::to_vec(&Found { found: &found }).expect("JSON")
        );
        bencher.bench_local(join);
    }
}

#[divan::bench_group(sample_count = 30)]
mod harness {
    use super::*;

    /// What the harness holds once an answer of `n` connections to `filters` came in.
    struct Answer {
        bytes: Bytes,
        json: Value,
        listing: Vec<derive::Item>,
        found: Vec<derive::Item>,
        filters: QueryFilters,
    }

    fn answer(n: usize, filters: QueryFilters) -> Answer {
        let listing_bytes = answer_bytes(n, &all_filters());
        let listing_json: Value = serde_json::from_slice(&listing_bytes).expect("JSON");
        let listing = derive::items(&listing_json["found"]);
        let bytes = answer_bytes(n, &filters);
        let json: Value = serde_json::from_slice(&bytes).expect("JSON");
        let found = derive::items(&json["found"]);
        Answer {
            bytes,
            json,
            listing,
            found,
            filters,
        }
    }

    fn schemas() -> SchemaSet {
        SchemaSet::load(&common::crate_dir().join("schemas")).expect("the crate's schemas")
    }

    #[divan::bench(args = SIZES)]
    fn parse_answer(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        bencher.bench_local(|| serde_json::from_slice::<Value>(&a.bytes).expect("JSON"));
    }

    #[divan::bench(args = SIZES)]
    fn validate(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        let schemas = schemas();
        assert!(schemas.validate("ConnectionQueryResponse", &a.json).is_ok());
        bencher.bench_local(|| schemas.validate("ConnectionQueryResponse", &a.json));
    }

    #[divan::bench(args = SIZES)]
    fn items(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        bencher.bench_local(|| derive::items(&a.json["found"]));
    }

    #[divan::bench(args = SIZES)]
    fn not_matching_all(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        assert!(derive::items_not_matching(&a.found, &a.filters).is_empty());
        bencher.bench_local(|| derive::items_not_matching(&a.found, &a.filters));
    }

    #[divan::bench(args = SIZES)]
    fn not_matching_selective(bencher: Bencher, n: usize) {
        let a = answer(n, selective_filters());
        assert!(derive::items_not_matching(&a.found, &a.filters).is_empty());
        bencher.bench_local(|| derive::items_not_matching(&a.found, &a.filters));
    }

    #[divan::bench(args = SIZES)]
    fn compare_all(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        assert!(derive::compare_with_listing(&a.listing, &a.filters, &a.found).is_empty());
        bencher.bench_local(|| derive::compare_with_listing(&a.listing, &a.filters, &a.found));
    }

    #[divan::bench(args = SIZES)]
    fn compare_selective(bencher: Bencher, n: usize) {
        let a = answer(n, selective_filters());
        assert!(derive::compare_with_listing(&a.listing, &a.filters, &a.found).is_empty());
        bencher.bench_local(|| derive::compare_with_listing(&a.listing, &a.filters, &a.found));
    }

    /// Everything the runner does with one answer to `**`/`**`/`*` that an `agrees_with` case
    /// compares with the listing: parse, validate, items, invariants, comparison.
    #[divan::bench(args = SIZES)]
    fn check_all_steps(bencher: Bencher, n: usize) {
        let a = answer(n, all_filters());
        let schemas = schemas();
        bencher.bench_local(|| {
            let json: Value = serde_json::from_slice(&a.bytes).expect("JSON");
            let valid = schemas.validate("ConnectionQueryResponse", &json).is_ok();
            let found = derive::items(&json["found"]);
            let strays = derive::items_not_matching(&found, &a.filters);
            let diff = derive::compare_with_listing(&a.listing, &a.filters, &found);
            (valid, strays.len(), diff.is_empty())
        });
    }
}
