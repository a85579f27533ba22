//! The three operations, the bearer check in front of two of them and the 404/405 answers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use super::error::{ApiError, json_response};
use super::request::{AuthMethod, HandshakeRequest, OpenRequest, QueryRequest};
use super::state::MockState;
use super::store::Connection;
use crate::glob::GlobFilter;

/// The longest part of an unknown path echoed back in the 404 message.
const PATH_ECHO_LIMIT: usize = 200;

/// The mock daemon's routes over `state`, ready to serve or to drive without a socket.
///
/// Paths match exactly (`/handshakeX` and `/handshake/` are 404); a known path with another
/// method than `POST` is 405.
pub fn router(state: MockState) -> Router {
    Router::new()
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
        .with_state(state)
}

#[derive(Serialize)]
struct HandshakeResponse {
    token: String,
}

#[derive(Serialize)]
struct QueryResponse<'a> {
    found: Vec<&'a Connection>,
}

async fn handshake(
    State(state): State<MockState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = HandshakeRequest::parse(&read_body(body)?)?;

    let accepted = match &request.auth {
        AuthMethod::ApiKey { key } => state.api_key_matches(key),
        AuthMethod::Local { auth_file_content } => state.local_secret_matches(auth_file_content),
    };
    if !accepted {
        tracing::debug!(
            auth = request.auth.name(),
            "handshake refused: wrong credentials"
        );
        return Err(ApiError::WrongCredentials(match request.auth {
            AuthMethod::ApiKey { .. } => "the API key does not match",
            AuthMethod::Local { .. } => "the auth file content does not match",
        }));
    }

    let (token, open) = state.open_session().map_err(|_| {
        tracing::error!("no random bytes for a session token");
        ApiError::Internal("cannot generate a session token")
    })?;
    tracing::debug!(auth = request.auth.name(), client = ?request.client, open, "session opened");
    Ok(json_response(StatusCode::OK, &HandshakeResponse { token }))
}

async fn connection_query(
    State(state): State<MockState>,
    _session: Session,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = QueryRequest::parse(&read_body(body)?)?;

    let fold = state.case_insensitive();
    let category = GlobFilter::path(&request.category_filter).case_insensitive(fold);
    let connection = GlobFilter::path(&request.connection_filter).case_insensitive(fold);
    let kind = GlobFilter::type_filter(&request.type_filter).case_insensitive(fold);
    let found: Vec<_> = state.store().query(&category, &connection, &kind).collect();

    tracing::debug!(found = found.len(), "connection query answered");
    Ok(json_response(StatusCode::OK, &QueryResponse { found }))
}

async fn daemon_open(
    _session: Session,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = OpenRequest::parse(&read_body(body)?)?;
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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &MockState) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(ApiError::MissingAuthorization)?;
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
}
