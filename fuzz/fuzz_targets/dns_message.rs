//! DNS queries from pods to the node's cluster DNS server: parsed or
//! refused; never a panic on any packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kubelet::cluster_dns::message::Message::parse(data);
});
