//! DNS queries from pods to the node's cluster DNS server: the whole policy
//! (hickory-proto's parser, then our table and reply rules, then the
//! UDP-size cut) answers, forwards or drops; never a panic on any packet.
#![no_main]

use kubelet::cluster_dns::{message, respond, table::Table, Action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let table = Table::build("cluster.local", &[], &[]);
    if let Action::Reply(r) = respond(Some(&table), "cluster.local", data) {
        let _ = message::to_bytes(&r, message::UDP_LIMIT);
    }
});
