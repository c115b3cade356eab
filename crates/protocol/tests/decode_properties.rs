//! Frame decoding against arbitrary input (proptest): any text, and any JSON object built from
//! the protocol's own field names and types, decodes to a frame or to a typed error, never a
//! panic; a frame that decodes encodes back to the same frame; an error echoes the request id
//! whenever the frame had a readable one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tutti_protocol::{ClientFrame, ClientMessage, RequestId, properties};

/// JSON values of the shapes the protocol uses, and some it does not.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::String),
        "\\PC{0,20}".prop_map(Value::String),
        Just(json!("K7M-4QX-9TD")),
        Just(json!("pq4x8m2a")),
        Just(json!("offer")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((field(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The protocol's own field names, so that objects come close to real messages.
fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "req",
        "type",
        "code",
        "name",
        "role",
        "peer",
        "lesson",
        "token",
        "host_token",
        "text",
        "kind",
        "anonymous",
        "question",
        "up",
        "state",
        "pinned",
        "allowed",
        "to",
        "signal",
        "sdp",
        "candidate",
        "sdp_mid",
        "sdp_mline_index",
        "protocol",
        "client",
        "title",
        "host_name",
        "scheduled_for",
        "time_zone",
        "teacher_key",
        "teacher",
        "on",
    ])
    .prop_map(str::to_owned)
}

/// An object with a `type` the protocol knows and arbitrary other fields, `req` set or not.
fn frame_object() -> impl Strategy<Value = (Option<u64>, Value)> {
    (
        prop::option::of(0u64..(1 << 53)),
        prop::sample::select(ClientMessage::TYPES.to_vec()),
        prop::collection::vec((field(), value()), 0..6),
    )
        .prop_map(|(req, ty, fields)| {
            let mut m: Map<String, Value> = fields.into_iter().collect();
            m.insert("type".into(), json!(ty));
            match req {
                Some(r) => m.insert("req".into(), json!(r)),
                None => m.remove("req"),
            };
            (req, Value::Object(m))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn a_type_that_is_not_a_string_still_echoes_the_request(req in 0u64..(1 << 53)) {
        let e = ClientFrame::decode(&format!(r#"{{"type":2,"req":{req}}}"#)).unwrap_err();
        prop_assert_eq!(e.re, Some(RequestId(req)));
    }

    #[test]
    fn any_text_decodes_or_is_refused_with_a_typed_error(text in "\\PC{0,200}") {
        for r in [
            properties::client_frame(&text),
            properties::server_message(&text),
            properties::peer_message(text.as_bytes()),
        ] {
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
    }

    #[test]
    fn any_object_of_the_protocol_s_fields_decodes_or_echoes_its_request(
        (req, obj) in frame_object(),
    ) {
        let text = obj.to_string();
        let r = properties::client_frame(&text);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        // Whether it decodes or not, the answer carries the req it was sent with.
        match ClientFrame::decode(&text) {
            Ok(frame) => prop_assert_eq!(Some(frame.req), req.map(RequestId)),
            Err(e) => prop_assert_eq!(e.re, req.map(RequestId), "{}: {}", text, e.message),
        }
    }

    #[test]
    fn any_bytes_from_a_peer_are_a_message_a_chunk_or_nothing(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = properties::peer_message(&bytes);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
