//! DNS messages as the server reads and writes them. The wire format
//! (RFC 1035 section 4: header, questions, records, name compression, and
//! EDNS(0)'s OPT record) is `hickory-proto`'s [`Message`], a maintained
//! parser that reports malformed packets as errors. What stays here is ours:
//!
//! - how a reply to a query is shaped ([`response_to`]: same id, opcode, RD
//!   and question, QR and RA set; EDNS answered with our own size);
//! - the text key of a name in the lookup [`table`](super::table)
//!   ([`key`]: lower-cased, odd bytes escaped);
//! - the UDP size rule ([`to_bytes`]: records dropped from the end until the
//!   message fits, TC set when an answer had to go).
//!
//! Pure: no sockets, no clocks.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::ProtoError;

/// The largest message over UDP without EDNS.
pub const UDP_LIMIT: usize = 512;

/// Why a name could not be made or a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not a DNS name (an empty label, a label over 63 bytes,
    /// a name over 255 bytes).
    #[error("invalid DNS name {name:?}: {source}")]
    Name {
        /// The text.
        name: String,
        /// Why.
        #[source]
        source: ProtoError,
    },
    /// A message that cannot be written (more records than a header counts).
    #[error("encoding a DNS message: {0}")]
    Encode(#[source] ProtoError),
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The fully qualified name of dotted text (`web.default.svc.cluster.local`,
/// a trailing dot allowed). For names we make ourselves from Kubernetes
/// names, which never need escapes.
pub fn name(text: &str) -> Result<Name> {
    let mut n = Name::from_ascii(text).map_err(|source| Error::Name {
        name: text.to_string(),
        source,
    })?;
    n.set_fqdn(true);
    Ok(n)
}

/// Lower-cased dotted text without the trailing dot, the key of the lookup
/// table; bytes that are not plain ASCII letters, digits, `-` or `_` are
/// written `\DDD` (so a label with a `.` inside never looks like two
/// labels).
pub fn key(name: &Name) -> String {
    let mut out = String::new();
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for &b in label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                out.push(char::from(b.to_ascii_lowercase()));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
    }
    out
}

/// A standard query for `name`/`qtype` with RD set, as a stub resolver
/// sends it (tests and fuzzing).
pub fn query(id: u16, name: Name, qtype: RecordType) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, qtype));
    m
}

/// The skeleton of the response to `query`: same id, opcode, RD and
/// questions, QR and RA set, `rcode`, no records; an OPT record offering
/// `edns_size` when the query had one (RFC 6891: a responder answers EDNS
/// with EDNS).
pub fn response_to(query: &Message, rcode: ResponseCode, edns_size: u16) -> Message {
    let mut r = Message::response(query.metadata.id, query.metadata.op_code);
    r.metadata.recursion_desired = query.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.response_code = rcode;
    r.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(edns_size);
        r.set_edns(edns);
    }
    r
}

/// The UDP payload size the sender offers through EDNS(0), if it sent an
/// OPT record.
pub fn edns_udp_size(message: &Message) -> Option<u16> {
    message.edns.as_ref().map(Edns::max_payload)
}

/// Writes `message`, compressing names. When it is longer than `limit`, the
/// authority and additional records go, then answer records from the end
/// until it fits, and TC is set if an answer had to go, as a UDP server
/// must; the question and the OPT record stay.
pub fn to_bytes(message: &Message, limit: usize) -> Result<Vec<u8>> {
    let full = message.to_vec().map_err(Error::Encode)?;
    if full.len() <= limit {
        return Ok(full);
    }
    let mut cut = message.clone();
    cut.authorities.clear();
    cut.additionals.clear();
    let all = cut.answers.len();
    loop {
        let bytes = cut.to_vec().map_err(Error::Encode)?;
        if bytes.len() <= limit || cut.answers.is_empty() {
            if cut.answers.len() == all {
                return Ok(bytes);
            }
            cut.metadata.truncation = true;
            return cut.to_vec().map_err(Error::Encode);
        }
        cut.answers.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SRV};
    use hickory_proto::rr::{DNSClass, RData, Record};
    use std::net::Ipv4Addr;

    fn n(s: &str) -> Name {
        name(s).unwrap()
    }

    /// A query as `dig web.default.svc.cluster.local A` sends it (id 0xbeef, RD).
    fn dig_query() -> Vec<u8> {
        let mut b = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["web", "default", "svc", "cluster", "local"] {
            b.push(l.len() as u8);
            b.extend_from_slice(l.as_bytes());
        }
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        b
    }

    #[test]
    fn queries_read_and_write_as_dig_sends_them() {
        let m = Message::from_vec(&dig_query()).unwrap();
        assert_eq!(
            m,
            query(0xbeef, n("web.default.svc.cluster.local"), RecordType::A)
        );
        assert_eq!(m.queries[0].query_class(), DNSClass::IN);
        assert_eq!(edns_udp_size(&m), None);
        assert_eq!(
            to_bytes(
                &query(0xbeef, n("web.default.svc.cluster.local"), RecordType::A),
                UDP_LIMIT
            )
            .unwrap(),
            dig_query()
        );
    }

    #[test]
    fn responses_echo_the_query_and_compress() {
        let q = Message::from_vec(&dig_query()).unwrap();
        let mut r = response_to(&q, ResponseCode::NoError, 1232);
        assert!(r.edns.is_none(), "no EDNS asked, none given");
        r.metadata.authoritative = true;
        let owner = n("web.default.svc.cluster.local");
        r.add_answer(Record::from_rdata(
            owner.clone(),
            5,
            RData::A(A(Ipv4Addr::new(10, 96, 0, 20))),
        ));
        r.add_answer(Record::from_rdata(
            n("_http._tcp.web.default.svc.cluster.local"),
            5,
            RData::SRV(SRV::new(0, 100, 80, owner)),
        ));
        let bytes = to_bytes(&r, UDP_LIMIT).unwrap();
        assert_eq!(&bytes[..2], &[0xbe, 0xef]);
        assert_eq!(&bytes[2..4], &[0x85, 0x80]); // QR AA RD | RA, NOERROR
                                                 // The A record's owner is a 2-byte pointer to the question's name.
        let a_start = dig_query().len();
        assert_eq!(&bytes[a_start..a_start + 2], &[0xc0, 0x0c]);
        let back = Message::from_vec(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.answers[0].ttl, 5);

        // EDNS in the query: our size in the answer.
        let mut q = q;
        q.set_edns(Edns::new());
        let r = response_to(&q, ResponseCode::NXDomain, 1232);
        let back = Message::from_vec(&to_bytes(&r, UDP_LIMIT).unwrap()).unwrap();
        assert_eq!(edns_udp_size(&back), Some(1232));
        assert_eq!(back.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn keys_are_lower_case_with_odd_bytes_escaped() {
        assert_eq!(key(&n("WEB.Default.svc.")), "web.default.svc");
        assert_eq!(key(&Name::root()), "");
        // One label "a.b" must not read as two labels.
        let mut b = vec![
            0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a', b'.', b'b', 0, 0, 1, 0, 1,
        ];
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(key(m.queries[0].name()), "a\\046b");
        assert_eq!(m.queries[0].name().num_labels(), 1);
        b[13] = 0xff;
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(key(m.queries[0].name()), "\\255\\046b");
    }

    #[test]
    fn names_are_checked() {
        assert!(matches!(name("a..b"), Err(Error::Name { .. })));
        assert!(name(&"x".repeat(64)).is_err());
        assert!(name(&vec!["abcdefghi"; 26].join(".")).is_err());
        assert_eq!(n("."), Name::root());
        assert_eq!(n("WEB.default"), n("web.default."));
    }

    #[test]
    fn truncates_for_udp_and_sets_tc() {
        let q = query(1, n("h.default.svc.cluster.local"), RecordType::A);
        let mut r = response_to(&q, ResponseCode::NoError, 1232);
        for i in 0..100u8 {
            r.add_answer(Record::from_rdata(
                q.queries[0].name().clone(),
                5,
                RData::A(A(Ipv4Addr::new(10, 0, 0, i))),
            ));
        }
        let bytes = to_bytes(&r, UDP_LIMIT).unwrap();
        assert!(bytes.len() <= UDP_LIMIT);
        let back = Message::from_vec(&bytes).unwrap();
        assert!(back.metadata.truncation);
        assert!(!back.answers.is_empty() && back.answers.len() < 100);
        assert_eq!(back.queries, r.queries);
        // Over TCP everything fits.
        let back = Message::from_vec(&to_bytes(&r, 65_535).unwrap()).unwrap();
        assert!(!back.metadata.truncation);
        assert_eq!(back.answers.len(), 100);
        // Only glue cut: no TC (the answer is whole).
        let mut r = response_to(&q, ResponseCode::NoError, 1232);
        for i in 0..100u8 {
            r.add_additional(Record::from_rdata(
                n("glue.default.svc.cluster.local"),
                5,
                RData::A(A(Ipv4Addr::new(10, 0, 1, i))),
            ));
        }
        let back = Message::from_vec(&to_bytes(&r, UDP_LIMIT).unwrap()).unwrap();
        assert!(!back.metadata.truncation && back.additionals.is_empty());
    }
}
