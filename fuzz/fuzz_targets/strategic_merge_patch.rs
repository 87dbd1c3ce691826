//! A strategic merge patch (kubectl apply, kubectl edit) applied to any
//! object of a kind with merge keys: a result or an error, never a panic.
//! The input is two JSON documents separated by a newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((doc, patch)) = text.split_once('\n') else {
        return;
    };
    let (Ok(doc), Ok(patch)) = (
        serde_json::from_str::<Value>(doc),
        serde_json::from_str::<Value>(patch),
    ) else {
        return;
    };
    for (api_version, kind) in [("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "Service")] {
        let _ = apimachinery::patch::apply_strategic_merge_patch(&doc, &patch, api_version, kind);
    }
});
