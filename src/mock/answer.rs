//! Successful answers with a body, turned into JSON: the answer hook of the faults.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::json_response;
use super::fault::{AnswerField, Fault, Faults, Hook, WrongValue};
use super::store::Connection;

#[derive(Serialize)]
struct HandshakeResponse {
    token: String,
}

#[derive(Serialize)]
struct QueryResponse<'a> {
    found: &'a [&'a Connection],
}

/// The `HandshakeResponse` carrying `token`.
pub(crate) fn handshake(faults: &Faults, token: String) -> Response {
    if !faults.any_at(Hook::Answer) {
        return json_response(StatusCode::OK, &HandshakeResponse { token });
    }
    let mut answer = Map::new();
    answer.insert("token".to_owned(), Value::String(token));
    misrender(faults, answer)
}

/// The `ConnectionQueryResponse` listing connections already rendered as JSON, and how many
/// it lists: the answer of a mock that commits no answer fault.
pub(crate) fn query_rendered<'a>(found: impl Iterator<Item = &'a str>) -> (Response, usize) {
    let mut body = String::from(r#"{"found":["#);
    let mut count = 0;
    for connection in found {
        if count > 0 {
            body.push(',');
        }
        body.push_str(connection);
        count += 1;
    }
    body.push_str("]}");
    let content_type = HeaderValue::from_static("application/json");
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body);
    (response.into_response(), count)
}

/// The `ConnectionQueryResponse` listing `found`.
pub(crate) fn query(faults: &Faults, found: &[&Connection]) -> Response {
    if !faults.any_at(Hook::Answer) {
        return json_response(StatusCode::OK, &QueryResponse { found });
    }

    let mut items: Vec<Value> = found.iter().map(|c| json!(c)).collect();
    if faults.has(Fault::FoundCappedAtTen) {
        items.truncate(10);
    }
    if faults.has(Fault::FoundItemsRepeated) {
        items = items.into_iter().flat_map(|i| [i.clone(), i]).collect();
    }
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        if faults.has(Fault::FoundFieldsSwapped)
            && let (Some(category), Some(connection)) =
                (item.remove("category"), item.remove("connection"))
        {
            item.insert("category".to_owned(), connection);
            item.insert("connection".to_owned(), category);
        }
        for (field, wrong) in faults.wrong_fields() {
            if !matches!(field, AnswerField::Found | AnswerField::Token) {
                misplace(item, field.key(), wrong);
            }
        }
    }
    if faults.has(Fault::FoundAsUuidStrings) {
        items = found
            .iter()
            .map(|c| Value::String(c.uuid.clone()))
            .collect();
    }

    let mut answer = Map::new();
    answer.insert("found".to_owned(), Value::Array(items));
    misrender(faults, answer)
}

/// Applies the faults that concern the whole answer and the top-level fields, and serializes.
fn misrender(faults: &Faults, mut answer: Map<String, Value>) -> Response {
    for (field, wrong) in faults.wrong_fields() {
        if matches!(field, AnswerField::Found | AnswerField::Token) {
            misplace(&mut answer, field.key(), wrong);
        }
    }
    let mut answer = Value::Object(answer);
    if faults.has(Fault::AnswerWrapped) {
        answer = json!({ "data": answer });
    }
    if !faults.has(Fault::AnswerTruncated) {
        return json_response(StatusCode::OK, &answer);
    }
    let mut bytes = answer.to_string().into_bytes();
    bytes.truncate(bytes.len() / 2);
    let json = HeaderValue::from_static("application/json");
    (StatusCode::OK, [(header::CONTENT_TYPE, json)], bytes).into_response()
}

/// Replaces the value of `key` (if the object has it) by the wrong value.
fn misplace(object: &mut Map<String, Value>, key: &str, wrong: WrongValue) {
    let Some(value) = object.remove(key) else {
        return;
    };
    let replacement = match wrong {
        WrongValue::Missing => return,
        WrongValue::Null => Value::Null,
        WrongValue::Boolean => Value::Bool(true),
        WrongValue::Number => json!(42),
        // A value encoded twice: its JSON text as a string.
        WrongValue::String => Value::String(value.to_string()),
        WrongValue::Array => json!([value]),
        WrongValue::Object => json!({ "value": value }),
    };
    object.insert(key.to_owned(), replacement);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use std::collections::BTreeSet;

    async fn text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    async fn body(response: Response) -> Value {
        serde_json::from_str(&text(response).await).unwrap()
    }

    fn faults(list: &[Fault]) -> Faults {
        Faults::from(list.iter().copied().collect::<BTreeSet<_>>())
    }

    fn connection() -> Connection {
        Connection {
            uuid: "u".into(),
            category: "c".into(),
            connection: "n".into(),
            kind: "ssh".into(),
        }
    }

    #[tokio::test]
    async fn faithful_answers_are_the_models() {
        let c = connection();
        assert_eq!(
            text(query(&Faults::default(), &[&c])).await,
            r#"{"found":[{"uuid":"u","category":"c","connection":"n","type":"ssh"}]}"#
        );
        assert_eq!(
            text(handshake(&Faults::default(), "t".into())).await,
            r#"{"token":"t"}"#
        );
    }

    #[tokio::test]
    async fn rendered_answers_are_the_serialized_ones() {
        let store = super::super::store::ConnectionStore::default_fixture();
        let all: Vec<&Connection> = store.connections().iter().collect();
        let (rendered, count) = query_rendered((0..all.len()).map(|i| store.rendered(i)));
        assert_eq!(count, all.len());
        let serialized = text(query(&Faults::default(), &all)).await;
        assert_eq!(text(rendered).await, serialized);
        let (empty, count) = query_rendered(std::iter::empty());
        assert_eq!(
            (text(empty).await, count),
            (r#"{"found":[]}"#.to_owned(), 0)
        );
    }

    #[tokio::test]
    async fn field_faults_reach_deep_and_top_level_fields() {
        let c = connection();
        let wrong = faults(&[
            Fault::WrongField(AnswerField::FoundType, WrongValue::Object),
            Fault::WrongField(AnswerField::FoundUuid, WrongValue::Missing),
        ]);
        assert_eq!(
            body(query(&wrong, &[&c])).await,
            json!({"found": [{"category": "c", "connection": "n", "type": {"value": "ssh"}}]})
        );
        let wrong = faults(&[Fault::WrongField(AnswerField::Found, WrongValue::String)]);
        assert_eq!(body(query(&wrong, &[])).await, json!({"found": "[]"}));
        let wrong = faults(&[Fault::WrongField(AnswerField::Token, WrongValue::Null)]);
        assert_eq!(
            body(handshake(&wrong, "t".into())).await,
            json!({"token": null})
        );
    }

    #[tokio::test]
    async fn whole_answer_faults() {
        let wrapped = faults(&[Fault::AnswerWrapped]);
        assert_eq!(
            body(handshake(&wrapped, "t".into())).await,
            json!({"data": {"token": "t"}})
        );
        let truncated = faults(&[Fault::AnswerTruncated]);
        assert_eq!(text(handshake(&truncated, "t".into())).await, r#"{"toke"#);
        let c = connection();
        let swapped = faults(&[Fault::FoundFieldsSwapped, Fault::FoundItemsRepeated]);
        let item = json!({"uuid": "u", "category": "n", "connection": "c", "type": "ssh"});
        assert_eq!(
            body(query(&swapped, &[&c])).await,
            json!({"found": [item.clone(), item]})
        );
        let uuids = faults(&[Fault::FoundAsUuidStrings]);
        assert_eq!(body(query(&uuids, &[&c])).await, json!({"found": ["u"]}));
    }
}
