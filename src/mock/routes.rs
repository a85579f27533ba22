//! The three operations, the bearer check in front of two of them and the 404/405 answers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::answer;
use super::error::{ApiError, Refusal, json_response};
use super::fault::{Fault, Hook};
use super::filter::QueryFilters;
use super::request::{AuthMethod, HandshakeRequest, OpenRequest, QueryRequest};
use super::state::MockState;
use super::transport;

/// The longest part of an unknown path echoed back in the 404 message.
const PATH_ECHO_LIMIT: usize = 200;

/// The mock daemon's routes over `state`, ready to serve or to drive without a socket.
///
/// Paths match exactly (`/handshakeX` and `/handshake/` are 404); a known path with another
/// method than `POST` is 405. When the mock commits a transport fault, the outermost layer is
/// the transport hook of the faults.
pub fn router(state: MockState) -> Router {
    // The layer costs every request a boxed future; left out when it would do nothing.
    let transport = state
        .faults()
        .any_at(Hook::Transport)
        .then(|| middleware::from_fn_with_state(state.clone(), transport::layer));
    let routes = Router::new()
        .route("/handshake", post(handshake).fallback(method_not_allowed))
        .route(
            "/connection/query",
            post(connection_query).fallback(method_not_allowed),
        )
        .route(
            "/daemon/open",
            post(daemon_open).fallback(method_not_allowed),
        )
        .fallback(unknown_path)
        .with_state(state);
    match transport {
        Some(transport) => routes.layer(transport),
        None => routes,
    }
}

async fn handshake(
    State(state): State<MockState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = HandshakeRequest::parse(&read_body(body)?, state.faults())?;

    let accepted = match &request.auth {
        AuthMethod::ApiKey { key } => state.api_key_matches(key),
        AuthMethod::Local { auth_file_content } => state.local_secret_matches(auth_file_content),
    };
    if !accepted {
        tracing::debug!(
            auth = request.auth.name(),
            "handshake refused: wrong credentials"
        );
        let refusal = ApiError::WrongCredentials(match request.auth {
            AuthMethod::ApiKey { .. } => "the API key does not match",
            AuthMethod::Local { .. } => "the auth file content does not match",
        });
        if state.faults().has(Fault::RefusedHandshakeCarriesToken) {
            // Authentication hook: the refusal hands out a session all the same.
            let (token, _) = open_session(&state)?;
            let body = json!({"message": refusal.message(), "token": token});
            let mut response = json_response(StatusCode::BAD_REQUEST, &body);
            response.extensions_mut().insert(Refusal::Unauthorized);
            return Ok(response);
        }
        return Err(refusal);
    }

    let (token, open) = open_session(&state)?;
    tracing::debug!(auth = request.auth.name(), client = ?request.client, open, "session opened");
    Ok(answer::handshake(state.faults(), token))
}

fn open_session(state: &MockState) -> Result<(String, usize), ApiError> {
    state.open_session().map_err(|_| {
        tracing::error!("no random bytes for a session token");
        ApiError::Internal("cannot generate a session token")
    })
}

async fn connection_query(
    State(state): State<MockState>,
    _session: Session,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = QueryRequest::parse(&read_body(body)?, state.faults())?;

    let filters = QueryFilters::compile(&request, state.faults(), state.case_insensitive())?;
    let store = state.store();
    let found = store
        .connections()
        .iter()
        .enumerate()
        .filter(|(_, c)| filters.matches(c));

    if !state.faults().any_at(Hook::Answer) {
        let (answer, count) = answer::query_rendered(found.map(|(index, _)| store.rendered(index)));
        tracing::debug!(found = count, "connection query answered");
        return Ok(answer);
    }
    let found: Vec<_> = found.map(|(_, c)| c).collect();
    tracing::debug!(found = found.len(), "connection query answered");
    Ok(answer::query(state.faults(), &found))
}

async fn daemon_open(
    State(state): State<MockState>,
    _session: Session,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = OpenRequest::parse(&read_body(body)?, state.faults())?;
    tracing::debug!(arguments = request.arguments.len(), "daemon open");
    Ok(StatusCode::OK.into_response())
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

async fn unknown_path(uri: Uri) -> ApiError {
    let path = uri.path();
    let shown = match path.char_indices().nth(PATH_ECHO_LIMIT) {
        Some((end, _)) => format!("{}...", &path[..end]),
        None => path.to_string(),
    };
    ApiError::UnknownPath(shown)
}

/// The buffered body, or the reason it could not be read.
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::BadRequest("cannot read the request body".to_string())
        }
    })
}

/// Proof that the request carries `Authorization: Bearer <token>` with a token from a handshake.
///
/// As an extractor it runs before the body is read, so an unauthenticated request never has its
/// body parsed. The scheme is matched regardless of case (RFC 9110).
pub(crate) struct Session;

impl FromRequestParts<MockState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &MockState) -> Result<Self, Response> {
        bearer_session(parts, state).map_err(|refusal| {
            let refused_query = parts.uri.path() == "/connection/query";
            if refused_query && state.faults().has(Fault::RefusedQueryCarriesListing) {
                // Authentication hook: the refusal carries the data all the same.
                let body =
                    json!({"message": refusal.message(), "found": state.store().connections()});
                let mut response = json_response(refusal.status(), &body);
                response.extensions_mut().insert(Refusal::Unauthorized);
                return response;
            }
            refusal.into_response()
        })
    }
}

/// The bearer check, with the faults of the authentication hook that concern it.
fn bearer_session(parts: &Parts, state: &MockState) -> Result<Session, ApiError> {
    let faults = state.faults();
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        if faults.has(Fault::MissingAuthorizationAccepted) {
            return Ok(Session);
        }
        return Err(ApiError::MissingAuthorization);
    };
    if values.next().is_some() {
        return Err(ApiError::Forbidden("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| ApiError::Forbidden("Authorization header is not visible ASCII"))?;

    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Forbidden("Authorization scheme must be Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        if faults.has(Fault::EmptyBearerTokenAccepted) {
            return Ok(Session);
        }
        return Err(ApiError::Forbidden("Bearer token is empty"));
    }
    if !state.is_session(token) {
        tracing::debug!("request refused: unknown session token");
        return Err(ApiError::Forbidden(
            "unknown session token; open a session with /handshake",
        ));
    }
    Ok(Session)
}
