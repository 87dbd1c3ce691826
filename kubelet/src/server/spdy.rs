//! SPDY/3.1 framing, the multiplexing layer of `kubectl port-forward`.
//!
//! kubectl opens one connection per `port-forward` and, for every local TCP
//! connection it accepts, two SPDY streams (an error stream and a data
//! stream). SPDY/3.1 is a small binary protocol, an ancestor of HTTP/2:
//!
//! ```text
//! control frame: |1|version=3 (15)|type (16)|flags (8)|length (24)|payload|
//! data frame:    |0|stream id (31)          |flags (8)|length (24)|payload|
//! ```
//!
//! Control frames used here: `SYN_STREAM` (1, opens a stream, carries
//! headers), `SYN_REPLY` (2, accepts it), `RST_STREAM` (3), `SETTINGS` (4),
//! `PING` (6, echoed), `GOAWAY` (7), `HEADERS` (8), `WINDOW_UPDATE` (9).
//! Flag `FIN` (1) half-closes a stream.
//!
//! Header blocks (`count`, then length-prefixed names and values) are
//! compressed with zlib using a preset dictionary from the SPDY/3 spec, as
//! ONE zlib stream per direction for the whole connection: every block is
//! flushed with a sync flush, never finished. That is why [`Codec`] keeps
//! its compressor and decompressor for the life of the connection.
//!
//! This module only frames and compresses; [`super::portforward`] decides
//! what the streams mean.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The SPDY version we speak.
pub const VERSION: u16 = 3;
/// `FIN` flag: the sender will send nothing more on the stream.
pub const FLAG_FIN: u8 = 1;

/// Control frame types.
pub mod kind {
    /// Opens a stream.
    pub const SYN_STREAM: u16 = 1;
    /// Accepts a stream.
    pub const SYN_REPLY: u16 = 2;
    /// Aborts a stream.
    pub const RST_STREAM: u16 = 3;
    /// Connection settings.
    pub const SETTINGS: u16 = 4;
    /// Liveness check, echoed back.
    pub const PING: u16 = 6;
    /// The peer is going away.
    pub const GOAWAY: u16 = 7;
    /// More headers for a stream.
    pub const HEADERS: u16 = 8;
    /// Flow control credit.
    pub const WINDOW_UPDATE: u16 = 9;
}

/// Protocol errors: the connection cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A frame that does not parse.
    #[error("malformed SPDY frame: {0}")]
    Malformed(&'static str),
    /// A header block that does not inflate.
    #[error("SPDY header block: {0}")]
    Compression(String),
}

/// One frame as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Stream data.
    Data {
        /// Stream.
        stream: u32,
        /// Flags (`FLAG_FIN`).
        flags: u8,
        /// Payload.
        data: Vec<u8>,
    },
    /// `SYN_STREAM` with its (already inflated) headers.
    SynStream {
        /// Stream.
        stream: u32,
        /// Flags.
        flags: u8,
        /// Headers, names lower-case as SPDY requires.
        headers: Vec<(String, String)>,
    },
    /// `SYN_REPLY`.
    SynReply {
        /// Stream.
        stream: u32,
        /// Flags.
        flags: u8,
    },
    /// `RST_STREAM`.
    RstStream {
        /// Stream.
        stream: u32,
        /// Status code.
        status: u32,
    },
    /// `PING`.
    Ping(u32),
    /// `GOAWAY`.
    GoAway,
    /// `HEADERS` (headers inflated, then ignored).
    Headers {
        /// Stream.
        stream: u32,
        /// Flags.
        flags: u8,
    },
    /// Anything else (`SETTINGS`, `WINDOW_UPDATE`, unknown types).
    Other(u16),
}

/// The SPDY/3 header compression dictionary (SPDY/3 spec, section
/// 2.6.10.1): length-prefixed common header names and values, then a run of
/// common text. Built at first use; must be byte-exact.
pub fn dictionary() -> &'static [u8] {
    static DICT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8",
            "charset=iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::with_capacity(1500);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// Encodes and decodes frames for one connection (owns its zlib streams).
pub struct Codec {
    deflate: Compress,
    inflate: Decompress,
    inflate_has_dict: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    /// A fresh codec for a new connection.
    pub fn new() -> Codec {
        let mut deflate = Compress::new(Compression::default(), true);
        // Cannot fail for a fresh stream.
        let _ = deflate.set_dictionary(dictionary());
        Codec {
            deflate,
            inflate: Decompress::new(true),
            inflate_has_dict: false,
        }
    }

    /// Splits one complete frame off the front of `buf`, if there is one.
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Option<Frame>, Error> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let head: [u8; 8] = [
            buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
        ];
        let payload: Vec<u8> = buf.drain(..8 + len).skip(8).collect();
        let flags = head[4];
        if head[0] & 0x80 == 0 {
            let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                stream,
                flags,
                data: payload,
            }));
        }
        let typ = u16::from_be_bytes([head[2], head[3]]);
        let word = |i: usize| -> Result<u32, Error> {
            payload
                .get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(Error::Malformed("control frame too short"))
        };
        Ok(Some(match typ {
            kind::SYN_STREAM => {
                let stream = word(0)? & 0x7fff_ffff;
                let block = payload
                    .get(10..)
                    .ok_or(Error::Malformed("short SYN_STREAM"))?;
                let headers = self.inflate_headers(block)?;
                Frame::SynStream {
                    stream,
                    flags,
                    headers,
                }
            }
            kind::SYN_REPLY => {
                let stream = word(0)? & 0x7fff_ffff;
                self.inflate_headers(&payload[4..])?;
                Frame::SynReply { stream, flags }
            }
            kind::HEADERS => {
                let stream = word(0)? & 0x7fff_ffff;
                self.inflate_headers(&payload[4..])?;
                Frame::Headers { stream, flags }
            }
            kind::RST_STREAM => Frame::RstStream {
                stream: word(0)? & 0x7fff_ffff,
                status: word(4)?,
            },
            kind::PING => Frame::Ping(word(0)?),
            kind::GOAWAY => Frame::GoAway,
            other => Frame::Other(other),
        }))
    }

    fn inflate_headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            let before_in = self.inflate.total_in();
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let res = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before_in) as usize;
            input = &input[used..];
            match res {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                }
                Err(e) if e.needs_dictionary().is_some() && !self.inflate_has_dict => {
                    self.inflate
                        .set_dictionary(dictionary())
                        .map_err(|e| Error::Compression(e.to_string()))?;
                    self.inflate_has_dict = true;
                }
                Err(e) => return Err(Error::Compression(e.to_string())),
            }
        }
        parse_header_block(&out)
    }

    fn deflate_headers(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.to_ascii_lowercase().as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.deflate.total_in();
            let _ = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            // Done when all input is in and the flush fit in the buffer.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }

    /// A `SYN_REPLY` accepting `stream`, with no headers.
    pub fn syn_reply(&mut self, stream: u32, flags: u8) -> Vec<u8> {
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend(self.deflate_headers(&[]));
        control(kind::SYN_REPLY, flags, &payload)
    }

    /// A `SYN_STREAM` (used by tests acting as the client).
    pub fn syn_stream(&mut self, stream: u32, flags: u8, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        payload.extend(self.deflate_headers(headers));
        control(kind::SYN_STREAM, flags, &payload)
    }
}

fn parse_header_block(b: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let mut pos = 0;
    let mut next = |n: usize| -> Result<&[u8], Error> {
        let s = b
            .get(pos..pos + n)
            .ok_or(Error::Malformed("header block too short"))?;
        pos += n;
        Ok(s)
    };
    let word = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
    let count = word(next(4)?);
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = word(next(4)?);
        let name = String::from_utf8_lossy(next(n)?).to_ascii_lowercase();
        let n = word(next(4)?);
        let value = String::from_utf8_lossy(next(n)?).into_owned();
        out.push((name, value));
    }
    Ok(out)
}

fn control(typ: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&typ.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// A data frame.
pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// A `RST_STREAM`.
pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut p = stream.to_be_bytes().to_vec();
    p.extend_from_slice(&status.to_be_bytes());
    control(kind::RST_STREAM, 0, &p)
}

/// The answer to a `PING`.
pub fn ping(id: u32) -> Vec<u8> {
    control(kind::PING, 0, &id.to_be_bytes())
}

/// A `GOAWAY` naming the last stream we processed.
pub fn goaway(last_stream: u32) -> Vec<u8> {
    let mut p = last_stream.to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    control(kind::GOAWAY, 0, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spec_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",*,enq=0."));
    }

    #[test]
    fn header_blocks_round_trip_across_frames() {
        let mut client = Codec::new();
        let mut server = Codec::new();
        let mut wire = client.syn_stream(
            1,
            0,
            &[("streamType", "error"), ("port", "80"), ("requestID", "0")],
        );
        wire.extend(client.syn_stream(
            3,
            0,
            &[("streamtype", "data"), ("port", "80"), ("requestid", "0")],
        ));
        wire.extend(data(3, FLAG_FIN, b"hello"));
        let f1 = server.decode(&mut wire).unwrap().unwrap();
        assert_eq!(
            f1,
            Frame::SynStream {
                stream: 1,
                flags: 0,
                headers: vec![
                    ("streamtype".into(), "error".into()),
                    ("port".into(), "80".into()),
                    ("requestid".into(), "0".into())
                ]
            }
        );
        let f2 = server.decode(&mut wire).unwrap().unwrap();
        assert!(matches!(f2, Frame::SynStream { stream: 3, .. }));
        assert_eq!(
            server.decode(&mut wire).unwrap().unwrap(),
            Frame::Data {
                stream: 3,
                flags: FLAG_FIN,
                data: b"hello".to_vec()
            }
        );
        assert!(wire.is_empty());
        // Replies go the other way on the server's own zlib stream.
        let mut back = server.syn_reply(1, 0);
        back.extend(server.syn_reply(3, 0));
        assert_eq!(
            client.decode(&mut back).unwrap(),
            Some(Frame::SynReply {
                stream: 1,
                flags: 0
            })
        );
        assert_eq!(
            client.decode(&mut back).unwrap(),
            Some(Frame::SynReply {
                stream: 3,
                flags: 0
            })
        );
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut c = Codec::new();
        let full = data(5, 0, b"abcdef");
        let mut buf = full[..7].to_vec();
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&full[7..]);
        assert!(matches!(
            c.decode(&mut buf).unwrap(),
            Some(Frame::Data { stream: 5, .. })
        ));
        let mut p = ping(7);
        assert_eq!(c.decode(&mut p).unwrap(), Some(Frame::Ping(7)));
    }
}
