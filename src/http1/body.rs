//! Request body framing (RFC 9112 §6, §7.1): the chunked decoder used
//! while a body is read and discarded.

use crate::http1::parse::{err, ParseError};

/// Incremental decoder for a chunked body that is read and discarded
/// (RFC 9112 §7.1). Line endings must be CRLF: a bare LF inside a chunked
/// body is refused, so the body has one reading only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDrain {
    state: ChunkState,
    total: u64,
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size { digits: u8, value: u64 },
    Ext { value: u64 },
    SizeLf { value: u64 },
    Data { left: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf { empty: bool },
    Done,
}

/// Most bytes of chunk extensions on one chunk-size line.
const MAX_CHUNK_EXT: usize = 1024;
/// Most hex digits in a chunk size (a u64).
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

impl Default for ChunkedDrain {
    fn default() -> Self {
        ChunkedDrain {
            state: ChunkState::Size {
                digits: 0,
                value: 0,
            },
            total: 0,
            line: 0,
        }
    }
}

impl ChunkedDrain {
    /// Consumes what it can of `input`; returns the bytes used and whether
    /// the body ended. `max_body` caps the sum of the chunk sizes (413);
    /// `max_trailer` caps the trailer section.
    pub fn drain(
        &mut self,
        input: &[u8],
        max_body: u64,
        max_trailer: usize,
    ) -> Result<(usize, bool), ParseError> {
        use ChunkState::*;
        let bad = |r| Err(err(400, r));
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                Size { digits, value } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= MAX_CHUNK_SIZE_DIGITS {
                            return bad("chunk size too long");
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        Size {
                            digits: digits + 1,
                            value: (value << 4) | d,
                        }
                    }
                    b';' | b' ' | b'\t' if digits > 0 => {
                        self.line = 0;
                        Ext { value }
                    }
                    b'\r' if digits > 0 => SizeLf { value },
                    _ => return bad("invalid chunk size"),
                },
                Ext { value } => match b {
                    b'\r' => SizeLf { value },
                    b'\n' => return bad("bare LF in chunked body"),
                    b'\t' | 0x20..=0x7e | 0x80..=0xff => {
                        self.line += 1;
                        if self.line > MAX_CHUNK_EXT {
                            return bad("chunk extension too long");
                        }
                        Ext { value }
                    }
                    _ => return bad("control character in chunk extension"),
                },
                SizeLf { value } => {
                    if b != b'\n' {
                        return bad("chunk size line not ended by CRLF");
                    }
                    self.total = self.total.saturating_add(value);
                    if self.total > max_body {
                        return Err(err(413, "request body too large"));
                    }
                    if value == 0 {
                        self.line = 0;
                        TrailerStart
                    } else {
                        Data { left: value }
                    }
                }
                Data { left } => {
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { DataCr } else { Data { left } };
                    continue;
                }
                DataCr if b == b'\r' => DataLf,
                DataLf if b == b'\n' => Size {
                    digits: 0,
                    value: 0,
                },
                DataCr | DataLf => return bad("chunk data not followed by CRLF"),
                TrailerStart | TrailerLine => {
                    self.line += 1;
                    if self.line > max_trailer {
                        return Err(err(431, "trailer section too large"));
                    }
                    match b {
                        b'\r' => TrailerLf {
                            empty: self.state == TrailerStart,
                        },
                        b'\n' => return bad("bare LF in chunked body"),
                        b'\t' | 0x20..=0x7e | 0x80..=0xff => TrailerLine,
                        _ => return bad("control character in trailer"),
                    }
                }
                TrailerLf { empty } => {
                    if b != b'\n' {
                        return bad("trailer line not ended by CRLF");
                    }
                    if empty {
                        self.state = Done;
                        return Ok((i + 1, true));
                    }
                    TrailerStart
                }
                Done => return Ok((i, true)),
            };
            i += 1;
        }
        Ok((i, self.state == Done))
    }
}
