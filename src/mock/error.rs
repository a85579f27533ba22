//! The one error type of the mock's handlers and the JSON error body it becomes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request was refused; every refusal is a 4xx with `{"message": ...}`, as the reference
/// daemon answers, except an internal failure, which is a 500 with `{"error": {...}}`.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: the body does not parse or lacks a required field.
    BadRequest(String),
    /// 400: a handshake whose credentials do not match.
    WrongCredentials(&'static str),
    /// 401: no `Authorization` header.
    MissingAuthorization,
    /// 403: an `Authorization` header that does not carry a known bearer token.
    Forbidden(&'static str),
    /// 404: no operation at this path.
    UnknownPath(String),
    /// 405: an operation path with a method other than `POST`.
    MethodNotAllowed(String),
    /// 413: a body above the buffering limit.
    BodyTooLarge,
    /// 408: a body that did not arrive within the body read timeout.
    BodyTimeout,
    /// 500: the mock itself failed (no randomness); never caused by client input.
    Internal(&'static str),
}

/// Which kind of client error an answer is; the handlers attach it to their error answers so
/// that the transport hook of the faults can tell them apart without reading bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The body does not parse or lacks a required field.
    Malformed,
    /// Wrong credentials, no `Authorization` header or an unknown token.
    Unauthorized,
    /// Anything else (unknown path, wrong method, too large, too slow, internal).
    Other,
}

impl ApiError {
    fn refusal(&self) -> Refusal {
        match self {
            ApiError::BadRequest(_) => Refusal::Malformed,
            ApiError::WrongCredentials(_)
            | ApiError::MissingAuthorization
            | ApiError::Forbidden(_) => Refusal::Unauthorized,
            _ => Refusal::Other,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::WrongCredentials(_) => StatusCode::BAD_REQUEST,
            ApiError::MissingAuthorization => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownPath(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            ApiError::BadRequest(message) => message.clone(),
            ApiError::WrongCredentials(what) => format!("authentication failed: {what}"),
            ApiError::MissingAuthorization => "missing Authorization header; send \
                \"Authorization: Bearer <token>\" with the token from /handshake"
                .to_string(),
            ApiError::Forbidden(why) => why.to_string(),
            ApiError::UnknownPath(path) => format!("unknown path {path}"),
            ApiError::MethodNotAllowed(method) => {
                format!("method {method} is not allowed here; every operation is POST")
            }
            ApiError::BodyTooLarge => "request body is too large".to_string(),
            ApiError::BodyTimeout => "request body did not arrive in time".to_string(),
            ApiError::Internal(what) => what.to_string(),
        }
    }
}

#[derive(Serialize)]
struct MessageBody {
    message: String,
}

#[derive(Serialize)]
struct InternalBody {
    error: MessageBody,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let refusal = self.refusal();
        let message = MessageBody {
            message: self.message(),
        };
        let mut response = match self {
            ApiError::Internal(_) => json_response(status, &InternalBody { error: message }),
            _ => json_response(status, &message),
        };
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response.extensions_mut().insert(refusal);
        response
    }
}

/// A JSON answer with `Content-Type: application/json`.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let content_type = HeaderValue::from_static("application/json");
            (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        // Only a serializer bug gets here: the bodies are plain structs with string keys.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
