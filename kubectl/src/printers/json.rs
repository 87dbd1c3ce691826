//! JSON output like upstream's: four-space indentation, keys sorted (they
//! come from Go maps), and `<`, `>`, `&` escaped as Go's encoder does.

use serde_json::Value;

/// Renders a value as upstream's `-o json` (ends with a newline).
pub fn to_string(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a Value to memory cannot fail.
    let _ = serde::Serialize::serialize(v, &mut ser);
    let mut s = String::from_utf8_lossy(&buf)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    s.push('\n');
    s
}
