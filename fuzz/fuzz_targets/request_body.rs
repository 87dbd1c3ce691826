//! Request bodies as JSON, YAML or protobuf, and request URLs with their
//! query strings: decoded or answered with a Status error, never a panic.
#![no_main]

use apiserver::request::{decode_body, BodyFormat, Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = bytes::Bytes::copy_from_slice(data);
    for format in [BodyFormat::Json, BodyFormat::Yaml, BodyFormat::Protobuf] {
        let _ = decode_body(&body, format);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        let _ = Query::parse(Some(query));
        for method in [http::Method::GET, http::Method::POST, http::Method::DELETE] {
            let _ = apiserver::request::parse(&method, path, false);
        }
    }
});
