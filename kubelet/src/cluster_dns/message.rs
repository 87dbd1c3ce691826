//! DNS messages (RFC 1035 section 4) read from and written to bytes: the
//! header, the questions and the resource records, with name compression
//! followed on read and used on write. Pure: no sockets, no clocks, so every
//! byte the server sends or accepts is unit-tested below.
//!
//! ```text
//! header    id(16) | QR opcode(4) AA TC RD RA Z(3) rcode(4) | qdcount ancount nscount arcount
//! question  name | type(16) | class(16)
//! record    name | type(16) | class(16) | ttl(32) | rdlength(16) | rdata
//! name      labels as <len><bytes>..., ended by a 0 byte or by a pointer
//!           11xxxxxx xxxxxxxx: "the rest of the name is at offset x"
//! ```
//!
//! Reading never panics and never loops: every access is bounds-checked, a
//! pointer must point strictly before the place it was found at (so a chain
//! of them always ends), names are limited to 255 bytes and labels to 63,
//! and the counts of the header are believed only as far as the bytes go.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Record type A (IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type NS.
pub const TYPE_NS: u16 = 2;
/// Record type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Record type SOA.
pub const TYPE_SOA: u16 = 6;
/// Record type PTR.
pub const TYPE_PTR: u16 = 12;
/// Record type AAAA (IPv6 address).
pub const TYPE_AAAA: u16 = 28;
/// Record type SRV (RFC 2782).
pub const TYPE_SRV: u16 = 33;
/// The EDNS(0) pseudo-record (RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// Query type ANY.
pub const TYPE_ANY: u16 = 255;
/// Class IN.
pub const CLASS_IN: u16 = 1;

/// The largest message over UDP without EDNS.
pub const UDP_LIMIT: usize = 512;
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
const HEADER_LEN: usize = 12;

/// Why bytes are not a DNS message (or a name is not a DNS name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message ended in the middle of something.
    #[error("message truncated at byte {at}")]
    Truncated {
        /// Where the missing bytes should have been.
        at: usize,
    },
    /// A label length byte with the reserved top bits `01` or `10`.
    #[error("unsupported label type at byte {at}")]
    LabelType {
        /// Where.
        at: usize,
    },
    /// A compression pointer that does not point backwards.
    #[error("compression pointer at byte {at} does not point backwards")]
    BadPointer {
        /// Where the pointer is.
        at: usize,
    },
    /// A name longer than 255 bytes in wire form.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// A label longer than 63 bytes, or an empty one inside a name.
    #[error("invalid label {0:?}")]
    BadLabel(String),
    /// A record's data does not fit its type.
    #[error("bad {rtype} record data at byte {at}")]
    BadRdata {
        /// The record type.
        rtype: u16,
        /// Where the data starts.
        at: usize,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Response codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// 0: no error.
    NoError,
    /// 1: the query could not be understood.
    FormErr,
    /// 2: the server failed (here: the upstream resolver did not answer).
    ServFail,
    /// 3: the name does not exist.
    NxDomain,
    /// 4: the kind of query is not implemented.
    NotImp,
    /// 5: refused by policy.
    Refused,
    /// Any other code.
    Other(u8),
}

impl Rcode {
    fn from_bits(v: u8) -> Rcode {
        match v {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            v => Rcode::Other(v & 0x0f),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::Other(v) => v & 0x0f,
        }
    }
}

/// The fixed 12-byte header, without the counts (they are the lengths of
/// the sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Chosen by the client, copied into the response.
    pub id: u16,
    /// QR: this is a response.
    pub response: bool,
    /// 0 for a standard query.
    pub opcode: u8,
    /// AA: the answer comes from the zone's own server.
    pub authoritative: bool,
    /// TC: the message was cut to fit.
    pub truncated: bool,
    /// RD: the client wants recursion.
    pub recursion_desired: bool,
    /// RA: the server offers recursion.
    pub recursion_available: bool,
    /// The response code.
    pub rcode: Rcode,
}

impl Header {
    /// Reads just the id and flags of the first 12 bytes, for a FORMERR
    /// answer to a message whose rest does not parse.
    pub fn peek(bytes: &[u8]) -> Result<Header> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated { at: bytes.len() });
        }
        let id = u16::from_be_bytes([bytes[0], bytes[1]]);
        let (a, b) = (bytes[2], bytes[3]);
        Ok(Header {
            id,
            response: a & 0x80 != 0,
            opcode: (a >> 3) & 0x0f,
            authoritative: a & 0x04 != 0,
            truncated: a & 0x02 != 0,
            recursion_desired: a & 0x01 != 0,
            recursion_available: b & 0x80 != 0,
            rcode: Rcode::from_bits(b & 0x0f),
        })
    }

    fn flag_bytes(&self) -> [u8; 2] {
        let mut a = (self.opcode & 0x0f) << 3;
        if self.response {
            a |= 0x80;
        }
        if self.authoritative {
            a |= 0x04;
        }
        if self.truncated {
            a |= 0x02;
        }
        if self.recursion_desired {
            a |= 0x01;
        }
        let mut b = self.rcode.bits();
        if self.recursion_available {
            b |= 0x80;
        }
        [a, b]
    }
}

/// A domain name as its labels (without the empty root label). Compared
/// without regard to ASCII case, as DNS does.
#[derive(Debug, Clone, Default)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl Eq for Name {}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name::default()
    }

    /// Parses dotted text (`web.default.svc.cluster.local`, a trailing dot
    /// allowed). No escapes: this is for names we make ourselves.
    pub fn parse(text: &str) -> Result<Name> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Ok(Name::root());
        }
        let mut labels = Vec::new();
        for l in text.split('.') {
            if l.is_empty() || l.len() > MAX_LABEL {
                return Err(Error::BadLabel(l.to_string()));
            }
            labels.push(l.as_bytes().to_vec());
        }
        let name = Name { labels };
        if name.wire_len() > MAX_NAME {
            return Err(Error::NameTooLong);
        }
        Ok(name)
    }

    /// The labels, most specific first.
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    /// Length in wire form without compression (labels, length bytes, the
    /// final 0).
    fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// Lower-cased dotted text without the trailing dot, the key of the
    /// lookup table; bytes that are not plain ASCII letters, digits, `-` or
    /// `_` are written `\DDD` (so a label with a `.` inside never looks
    /// like two labels).
    pub fn to_lowercase(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            for &b in l {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    out.push(char::from(b.to_ascii_lowercase()));
                } else {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
        }
        out
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        f.write_str(&self.to_lowercase())
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked about.
    pub name: Name,
    /// QTYPE (`TYPE_A`, ...).
    pub qtype: u16,
    /// QCLASS (`CLASS_IN`).
    pub qclass: u16,
}

/// A record's data, decoded for the types the server writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// Another name (CNAME, NS, PTR).
    Name(Name),
    /// A service location.
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Share among equal priorities.
        weight: u16,
        /// The port.
        port: u16,
        /// The host.
        target: Name,
    },
    /// A zone's start of authority (for negative answers).
    Soa {
        /// The primary server.
        mname: Name,
        /// The responsible mailbox.
        rname: Name,
        /// Serial.
        serial: u32,
        /// Refresh.
        refresh: u32,
        /// Retry.
        retry: u32,
        /// Expire.
        expire: u32,
        /// The TTL of negative answers.
        minimum: u32,
    },
    /// Anything else, as the bytes came.
    Raw(Vec<u8>),
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the sender's UDP payload size).
    pub class: u16,
    /// TTL in seconds (for OPT: extended rcode and flags).
    pub ttl: u32,
    /// The data.
    pub data: Rdata,
}

impl Record {
    /// An `IN A` record.
    pub fn a(name: Name, ttl: u32, ip: Ipv4Addr) -> Record {
        Record {
            name,
            rtype: TYPE_A,
            class: CLASS_IN,
            ttl,
            data: Rdata::A(ip),
        }
    }

    /// An `IN CNAME` or `IN PTR` record: `name` points at `target`.
    pub fn pointer(rtype: u16, name: Name, ttl: u32, target: Name) -> Record {
        Record {
            name,
            rtype,
            class: CLASS_IN,
            ttl,
            data: Rdata::Name(target),
        }
    }

    /// An `IN SRV` record.
    pub fn srv(
        name: Name,
        ttl: u32,
        priority: u16,
        weight: u16,
        port: u16,
        target: Name,
    ) -> Record {
        Record {
            name,
            rtype: TYPE_SRV,
            class: CLASS_IN,
            ttl,
            data: Rdata::Srv {
                priority,
                weight,
                port,
                target,
            },
        }
    }

    /// An EDNS(0) OPT pseudo-record offering `udp_size`.
    pub fn opt(udp_size: u16) -> Record {
        Record {
            name: Name::root(),
            rtype: TYPE_OPT,
            class: udp_size,
            ttl: 0,
            data: Rdata::Raw(Vec::new()),
        }
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id and flags.
    pub header: Header,
    /// The question section (one question in practice).
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section (where EDNS' OPT lives).
    pub additionals: Vec<Record>,
}

impl Message {
    /// A query for `name`/`qtype` (tests and clients).
    pub fn query(id: u16, name: Name, qtype: u16) -> Message {
        Message {
            header: Header {
                id,
                response: false,
                opcode: 0,
                authoritative: false,
                truncated: false,
                recursion_desired: true,
                recursion_available: false,
                rcode: Rcode::NoError,
            },
            questions: vec![Question {
                name,
                qtype,
                qclass: CLASS_IN,
            }],
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// The skeleton of the response to `query`: same id, opcode, RD and
    /// question, QR set, `rcode`, no records.
    pub fn response_to(query: &Message, rcode: Rcode) -> Message {
        Message {
            header: Header {
                id: query.header.id,
                response: true,
                opcode: query.header.opcode,
                authoritative: false,
                truncated: false,
                recursion_desired: query.header.recursion_desired,
                recursion_available: true,
                rcode,
            },
            questions: query.questions.clone(),
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// The UDP payload size the sender offers through EDNS(0), if it sent
    /// an OPT record.
    pub fn edns_udp_size(&self) -> Option<u16> {
        self.additionals
            .iter()
            .find(|r| r.rtype == TYPE_OPT)
            .map(|r| r.class)
    }

    /// Reads a message.
    pub fn parse(bytes: &[u8]) -> Result<Message> {
        let header = Header::peek(bytes)?;
        let count = |i: usize| usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
        let mut r = Reader {
            bytes,
            pos: HEADER_LEN,
        };
        let mut questions = Vec::new();
        for _ in 0..qd {
            let name = r.name()?;
            let qtype = r.u16()?;
            let qclass = r.u16()?;
            questions.push(Question {
                name,
                qtype,
                qclass,
            });
        }
        let mut section = |n: usize| -> Result<Vec<Record>> {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(r.record()?);
            }
            Ok(out)
        };
        let answers = section(an)?;
        let authorities = section(ns)?;
        let additionals = section(ar)?;
        Ok(Message {
            header,
            questions,
            answers,
            authorities,
            additionals,
        })
    }

    /// Writes the message, compressing names. When it is longer than
    /// `limit`, records are dropped from the end (additional, authority,
    /// then answer records) and TC is set if an answer had to go, as a
    /// UDP server must; the OPT record is kept.
    pub fn to_bytes(&self, limit: usize) -> Vec<u8> {
        let full = self.encode(
            self.answers.len(),
            self.authorities.len(),
            self.additionals.len(),
        );
        if full.len() <= limit {
            return full;
        }
        let opt: Vec<Record> = self
            .additionals
            .iter()
            .filter(|r| r.rtype == TYPE_OPT)
            .cloned()
            .collect();
        let mut cut = Message {
            additionals: opt,
            authorities: Vec::new(),
            ..self.clone()
        };
        let mut n = cut.answers.len();
        loop {
            let bytes = cut.encode(n, 0, cut.additionals.len());
            if bytes.len() <= limit || n == 0 {
                if n < self.answers.len() {
                    cut.header.truncated = true;
                    return cut.encode(n, 0, cut.additionals.len());
                }
                return bytes;
            }
            n -= 1;
        }
    }

    fn encode(&self, answers: usize, authorities: usize, additionals: usize) -> Vec<u8> {
        let mut w = Writer::default();
        w.out.extend_from_slice(&self.header.id.to_be_bytes());
        w.out.extend_from_slice(&self.header.flag_bytes());
        let answers = &self.answers[..answers.min(self.answers.len())];
        let authorities = &self.authorities[..authorities.min(self.authorities.len())];
        let additionals = &self.additionals[..additionals.min(self.additionals.len())];
        for n in [
            self.questions.len(),
            answers.len(),
            authorities.len(),
            additionals.len(),
        ] {
            w.u16(u16::try_from(n).unwrap_or(u16::MAX));
        }
        for q in &self.questions {
            w.name(&q.name);
            w.u16(q.qtype);
            w.u16(q.qclass);
        }
        for rec in answers.iter().chain(authorities).chain(additionals) {
            w.record(rec);
        }
        w.out
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Error::Truncated { at: self.pos })?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(Error::Truncated { at: self.pos })?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name at the current position, following pointers; the position
    /// ends after the name's bytes here (the pointer, or the 0 byte).
    fn name(&mut self) -> Result<Name> {
        let (name, end) = read_name(self.bytes, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn record(&mut self) -> Result<Record> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let raw = self.take(len)?;
        let bad = Error::BadRdata { rtype, at: start };
        let data = match rtype {
            TYPE_A => Rdata::A(Ipv4Addr::from(
                <[u8; 4]>::try_from(raw).map_err(|_| bad.clone())?,
            )),
            TYPE_AAAA => Rdata::Aaaa(Ipv6Addr::from(
                <[u8; 16]>::try_from(raw).map_err(|_| bad.clone())?,
            )),
            TYPE_CNAME | TYPE_NS | TYPE_PTR => {
                let (n, end) = read_name(self.bytes, start)?;
                if end != start + len {
                    return Err(bad);
                }
                Rdata::Name(n)
            }
            TYPE_SRV => {
                let mut r = Reader {
                    bytes: self.bytes,
                    pos: start,
                };
                let (priority, weight, port) = (r.u16()?, r.u16()?, r.u16()?);
                let target = r.name()?;
                if r.pos != start + len {
                    return Err(bad);
                }
                Rdata::Srv {
                    priority,
                    weight,
                    port,
                    target,
                }
            }
            TYPE_SOA => {
                let mut r = Reader {
                    bytes: self.bytes,
                    pos: start,
                };
                let mname = r.name()?;
                let rname = r.name()?;
                let soa = Rdata::Soa {
                    mname,
                    rname,
                    serial: r.u32()?,
                    refresh: r.u32()?,
                    retry: r.u32()?,
                    expire: r.u32()?,
                    minimum: r.u32()?,
                };
                if r.pos != start + len {
                    return Err(bad);
                }
                soa
            }
            _ => Rdata::Raw(raw.to_vec()),
        };
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
            data,
        })
    }
}

/// Reads the name at `pos`; returns it and the offset just after its bytes
/// at `pos` (not after what a pointer led to).
fn read_name(bytes: &[u8], pos: usize) -> Result<(Name, usize)> {
    let mut labels = Vec::new();
    let mut wire = 1usize; // the final 0
    let mut at = pos;
    let mut end = None;
    loop {
        let len = *bytes.get(at).ok_or(Error::Truncated { at })?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok((Name { labels }, end.unwrap_or(at + 1)));
                }
                let l = usize::from(len);
                let label = bytes
                    .get(at + 1..at + 1 + l)
                    .ok_or(Error::Truncated { at: at + 1 })?;
                wire += l + 1;
                if wire > MAX_NAME {
                    return Err(Error::NameTooLong);
                }
                labels.push(label.to_vec());
                at += 1 + l;
            }
            0xc0 => {
                let low = *bytes.get(at + 1).ok_or(Error::Truncated { at: at + 1 })?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                // Strictly backwards: every jump lowers `at`, so the walk ends.
                if target >= at {
                    return Err(Error::BadPointer { at });
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(Error::LabelType { at }),
        }
    }
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// Lower-cased suffixes already written -> their offset (only offsets
    /// a pointer can hold, below 0x4000).
    seen: HashMap<Vec<Vec<u8>>, u16>,
}

impl Writer {
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn name(&mut self, name: &Name) {
        let labels: Vec<Vec<u8>> = name.labels.iter().map(|l| l.to_ascii_lowercase()).collect();
        for i in 0..labels.len() {
            let suffix = &labels[i..];
            if let Some(off) = self.seen.get(suffix) {
                self.u16(0xc000 | off);
                return;
            }
            if let Ok(off) = u16::try_from(self.out.len()) {
                if off < 0x4000 {
                    self.seen.insert(suffix.to_vec(), off);
                }
            }
            let label = &name.labels[i];
            // Names come from `Name::parse` or from a parsed message, so
            // labels are at most 63 bytes; cut defensively all the same.
            let l = label.len().min(MAX_LABEL);
            self.out.push(l as u8);
            self.out.extend_from_slice(&label[..l]);
        }
        self.out.push(0);
    }

    fn record(&mut self, r: &Record) {
        self.name(&r.name);
        self.u16(r.rtype);
        self.u16(r.class);
        self.out.extend_from_slice(&r.ttl.to_be_bytes());
        let len_at = self.out.len();
        self.u16(0);
        match &r.data {
            Rdata::A(ip) => self.out.extend_from_slice(&ip.octets()),
            Rdata::Aaaa(ip) => self.out.extend_from_slice(&ip.octets()),
            Rdata::Name(n) => self.name(n),
            Rdata::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                self.u16(*priority);
                self.u16(*weight);
                self.u16(*port);
                self.name(target);
            }
            Rdata::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname);
                self.name(rname);
                for v in [serial, refresh, retry, expire, minimum] {
                    self.out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Rdata::Raw(b) => self.out.extend_from_slice(b),
        }
        let len = u16::try_from(self.out.len() - len_at - 2).unwrap_or(u16::MAX);
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
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
    fn parses_a_query() {
        let m = Message::parse(&dig_query()).unwrap();
        assert_eq!(m.header.id, 0xbeef);
        assert!(!m.header.response && m.header.recursion_desired);
        assert_eq!(m.header.opcode, 0);
        assert_eq!(m.questions.len(), 1);
        assert_eq!(
            m.questions[0].name.to_lowercase(),
            "web.default.svc.cluster.local"
        );
        assert_eq!(m.questions[0].qtype, TYPE_A);
        assert_eq!(m.questions[0].qclass, CLASS_IN);
        assert!(m.answers.is_empty() && m.edns_udp_size().is_none());
    }

    #[test]
    fn query_round_trips_byte_for_byte() {
        let q = Message::query(0xbeef, name("web.default.svc.cluster.local"), TYPE_A);
        assert_eq!(q.to_bytes(UDP_LIMIT), dig_query());
    }

    #[test]
    fn response_round_trips_with_compression() {
        let q = Message::parse(&dig_query()).unwrap();
        let mut r = Message::response_to(&q, Rcode::NoError);
        r.header.authoritative = true;
        let owner = name("web.default.svc.cluster.local");
        r.answers
            .push(Record::a(owner.clone(), 5, Ipv4Addr::new(10, 96, 0, 20)));
        r.answers
            .push(Record::a(owner.clone(), 5, Ipv4Addr::new(10, 96, 0, 21)));
        r.answers.push(Record::srv(
            name("_http._tcp.web.default.svc.cluster.local"),
            5,
            0,
            100,
            80,
            owner.clone(),
        ));
        r.authorities.push(Record {
            name: name("cluster.local"),
            rtype: TYPE_SOA,
            class: CLASS_IN,
            ttl: 5,
            data: Rdata::Soa {
                mname: name("ns.dns.cluster.local"),
                rname: name("hostmaster.cluster.local"),
                serial: 1,
                refresh: 2,
                retry: 3,
                expire: 4,
                minimum: 5,
            },
        });
        r.additionals.push(Record::opt(1232));
        let bytes = r.to_bytes(UDP_LIMIT);
        // Each A record's owner is a 2-byte pointer to the question's name.
        let a_start = dig_query().len();
        assert_eq!(&bytes[a_start..a_start + 2], &[0xc0, 0x0c]);
        assert_eq!(&bytes[2..4], &[0x85, 0x80]); // QR AA RD | RA
        let back = Message::parse(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.edns_udp_size(), Some(1232));
    }

    #[test]
    fn names_compare_and_compress_without_case() {
        assert_eq!(name("WEB.Default.svc"), name("web.default.svc."));
        assert_ne!(name("web.default"), name("web.default.svc"));
        assert_eq!(name("A.b").to_lowercase(), "a.b");
        assert_eq!(Name::root().to_string(), ".");
    }

    #[test]
    fn odd_bytes_in_labels_are_escaped() {
        // One label "a.b" must not read as two labels.
        let mut b = vec![
            0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a', b'.', b'b', 0, 0, 1, 0, 1,
        ];
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.questions[0].name.to_lowercase(), "a\\046b");
        b[13] = 0xff;
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.questions[0].name.to_lowercase(), "\\255\\046b");
    }

    #[test]
    fn follows_pointers_on_read() {
        // Question "a.example", answer owner "b" + pointer to "example".
        let mut b = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&[1, b'a', 7]);
        b.extend_from_slice(b"example");
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        b.extend_from_slice(&[1, b'b', 0xc0, 14]);
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.answers[0].name.to_lowercase(), "b.example");
        assert_eq!(m.answers[0].data, Rdata::A(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(m.answers[0].ttl, 60);
    }

    #[test]
    fn truncates_for_udp_and_sets_tc() {
        let q = Message::query(1, name("h.default.svc.cluster.local"), TYPE_A);
        let mut r = Message::response_to(&q, Rcode::NoError);
        for i in 0..100u8 {
            r.answers.push(Record::a(
                q.questions[0].name.clone(),
                5,
                Ipv4Addr::new(10, 0, 0, i),
            ));
        }
        let bytes = r.to_bytes(UDP_LIMIT);
        assert!(bytes.len() <= UDP_LIMIT);
        let back = Message::parse(&bytes).unwrap();
        assert!(back.header.truncated);
        assert!(!back.answers.is_empty() && back.answers.len() < 100);
        // Over TCP everything fits.
        let back = Message::parse(&r.to_bytes(65_535)).unwrap();
        assert!(!back.header.truncated);
        assert_eq!(back.answers.len(), 100);
    }

    #[test]
    fn name_text_limits() {
        assert!(matches!(Name::parse("a..b"), Err(Error::BadLabel(_))));
        assert!(matches!(
            Name::parse(&"x".repeat(64)),
            Err(Error::BadLabel(_))
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(Name::parse(&long), Err(Error::NameTooLong));
        assert_eq!(Name::parse(".").unwrap(), Name::root());
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let good = dig_query();
        // Every prefix of a valid message.
        for n in 0..good.len() {
            assert!(
                Message::parse(&good[..n]).is_err(),
                "prefix of {n} bytes parsed"
            );
        }
        let header = |qd: u8, an: u8| vec![0, 1, 0, 0, 0, qd, 0, an, 0, 0, 0, 0];
        // A pointer to itself, and one pointing forwards.
        let mut b = header(1, 0);
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&b), Err(Error::BadPointer { at: 12 }));
        let mut b = header(1, 0);
        b.extend_from_slice(&[0xc0, 40, 0, 1, 0, 1]);
        assert!(matches!(Message::parse(&b), Err(Error::BadPointer { .. })));
        // Two pointers pointing at each other (the second points back at the first).
        let mut b = header(2, 0);
        b.extend_from_slice(&[1, b'a', 0xc0, 14, 0, 1, 0, 1]);
        assert!(Message::parse(&b).is_err());
        // Reserved label types.
        for bad in [0x40u8, 0x80] {
            let mut b = header(1, 0);
            b.extend_from_slice(&[bad, 0, 0, 1, 0, 1]);
            assert_eq!(Message::parse(&b), Err(Error::LabelType { at: 12 }));
        }
        // A label running past the end.
        let mut b = header(1, 0);
        b.extend_from_slice(&[10, b'a']);
        assert!(matches!(Message::parse(&b), Err(Error::Truncated { .. })));
        // Counts that promise more than there is.
        let mut b = good.clone();
        b[5] = 200;
        assert!(Message::parse(&b).is_err());
        let mut b = good.clone();
        b[7] = 1;
        assert!(Message::parse(&b).is_err());
        // A name over 255 bytes built from pointers to a long label run.
        let mut b = header(2, 0);
        for _ in 0..3 {
            b.push(63);
            b.extend_from_slice(&[b'x'; 63]);
        }
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        b.push(63);
        b.extend_from_slice(&[b'y'; 63]);
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&b), Err(Error::NameTooLong));
        // Record data of the wrong size for its type.
        let mut b = header(0, 1);
        b.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3]);
        assert!(matches!(
            Message::parse(&b),
            Err(Error::BadRdata { rtype: 1, .. })
        ));
        // An rdlength past the end.
        let mut b = header(0, 1);
        b.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 5, 0xff, 0xff, 1]);
        assert!(matches!(Message::parse(&b), Err(Error::Truncated { .. })));
        // An SRV whose target overruns its rdlength.
        let mut b = header(0, 1);
        b.extend_from_slice(&[
            0, 0, 33, 0, 1, 0, 0, 0, 5, 0, 7, 0, 0, 0, 0, 0, 80, 1, b'a', 0,
        ]);
        assert!(matches!(
            Message::parse(&b),
            Err(Error::BadRdata { rtype: 33, .. })
        ));
    }

    #[test]
    fn never_panics_on_mutations() {
        // Every single-byte change and every truncation of a response with
        // compression, SRV, SOA and OPT must come back as Ok or Err.
        let q = Message::parse(&dig_query()).unwrap();
        let mut r = Message::response_to(&q, Rcode::NoError);
        let owner = name("web.default.svc.cluster.local");
        r.answers
            .push(Record::a(owner.clone(), 5, Ipv4Addr::new(10, 96, 0, 20)));
        r.answers.push(Record::srv(
            name("_http._tcp.web.default.svc.cluster.local"),
            5,
            0,
            100,
            80,
            owner,
        ));
        r.additionals.push(Record::opt(1232));
        let bytes = r.to_bytes(UDP_LIMIT);
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0x80, 0xc0, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = Message::parse(&b);
                let _ = Message::parse(&b[..i]);
            }
        }
        // And some pseudo-random junk.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let len = (x % 80) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = Message::parse(&junk);
        }
    }

    #[test]
    fn peek_reads_the_id_of_garbage() {
        let mut b = dig_query();
        b.truncate(14);
        let h = Header::peek(&b).unwrap();
        assert_eq!(h.id, 0xbeef);
        assert!(Header::peek(&b[..11]).is_err());
    }
}
