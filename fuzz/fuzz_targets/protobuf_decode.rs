//! A protobuf request body (client-go's typed clients send them) decodes to
//! JSON or fails with an error; it never panics or loops.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut body = b"k8s\0".to_vec();
    body.extend_from_slice(data);
    let _ = apimachinery::protobuf::decode_to_json(&body);
    let _ = apimachinery::protobuf::decode_to_json(data);
});
