//! Label and field selectors from query strings: parsed or refused with an
//! error; a parsed label selector prints back to one that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = apimachinery::labels::Selector::parse(text) {
        let printed = selector.to_string();
        let again = apimachinery::labels::Selector::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(printed, again.to_string(), "{text:?}");
    }
    let _ = apimachinery::fields::FieldSelector::parse(text);
});
