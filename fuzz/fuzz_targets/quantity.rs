//! Resource quantities (`500m`, `1.5Gi`, `1e3`): parsed or refused; a
//! parsed one prints in canonical form, which parses back to the same value.
#![no_main]

use apimachinery::quantity::Quantity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Quantity::parse(text) {
        let printed = q.to_string();
        let again = Quantity::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(q, again, "{text:?} -> {printed:?}");
        let _ = (q.value(), q.milli_value());
    }
});
