//! A panic-free cursor over Ceph's little-endian encodings, and the matching
//! encoder helpers (msgr2 reference section 1.1).
//!
//! Decoders never index a slice with a length read off the wire: they ask the
//! [`Reader`] for exactly what they need, and every length or count goes
//! through a limit check first.

use super::DecodeError;

/// Reads Ceph-encoded values from a byte slice without ever panicking.
///
/// `what` names the structure being decoded; it is carried into every error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, decoding the structure named `what`.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// The name of the structure being decoded.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                what: self.what,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a `bool` encoded as one byte; any non-zero value is true (as Ceph decodes it).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// Reads a little-endian `u16`.
    pub fn u16_le(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `i32`.
    pub fn i32_le(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `i64`.
    pub fn i64_le(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads a big-endian `u16` (ports inside a sockaddr).
    pub fn u16_be(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a `le32` length and checks it against `limit` and the bytes left.
    pub fn len_le32(&mut self, limit: usize) -> Result<usize, DecodeError> {
        let len = self.u32_le()?;
        check_limit(self.what, u64::from(len), limit)?;
        Ok(len as usize)
    }

    /// Reads a Ceph bufferlist or string: `le32` length, then that many bytes.
    pub fn bytes_le32(&mut self, limit: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.len_le32(limit)?;
        self.take(len)
    }

    /// Reads a Ceph `string` that must be UTF-8.
    pub fn string(&mut self, limit: usize) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes_le32(limit)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { what: self.what })
    }

    /// Reads a `le32` element count for a `vec`/`map`, checked against `limit`
    /// and against the bytes left, given the smallest encoding of one element.
    pub fn count_le32(&mut self, limit: usize, min_elem_len: usize) -> Result<usize, DecodeError> {
        let count = self.len_le32(limit)?;
        let needed = count.saturating_mul(min_elem_len);
        if needed > self.remaining() {
            return Err(DecodeError::Truncated {
                what: self.what,
                needed,
                available: self.remaining(),
            });
        }
        Ok(count)
    }

    /// Reads a `vec<le32>` with at most `limit` elements.
    pub fn vec_u32_le(&mut self, limit: usize) -> Result<Vec<u32>, DecodeError> {
        let count = self.count_le32(limit, 4)?;
        (0..count).map(|_| self.u32_le()).collect()
    }

    /// Splits off the next `len` bytes as a reader of their own, named `what`.
    pub fn sub(&mut self, len: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.take(len)?, what))
    }

    /// Reads an `ENCODE_START(v, compat)` header and returns the struct version
    /// and a reader over exactly its body. Unknown trailing body bytes are
    /// skipped when the caller drops the body reader, as Ceph's decoders do.
    pub fn versioned(
        &mut self,
        what: &'static str,
        supported: u8,
        limit: usize,
    ) -> Result<(u8, Reader<'a>), DecodeError> {
        let version = self.u8()?;
        let compat = self.u8()?;
        if compat > supported {
            return Err(DecodeError::IncompatibleVersion {
                what,
                compat,
                supported,
            });
        }
        let len = self.len_le32(limit)?;
        Ok((version, self.sub(len, what)?))
    }

    /// Fails unless every byte has been consumed.
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(DecodeError::Trailing {
                what: self.what,
                trailing,
            }),
        }
    }
}

/// Checks a length or count read from the wire against the limit we accept.
pub fn check_limit(what: &'static str, len: u64, limit: usize) -> Result<(), DecodeError> {
    if len > limit as u64 {
        return Err(DecodeError::TooLong { what, len, limit });
    }
    Ok(())
}

/// Appends Ceph encodings to a `Vec<u8>`.
pub trait Put {
    /// Appends a `u8`.
    fn put_u8(&mut self, v: u8);
    /// Appends raw bytes.
    fn put_slice(&mut self, v: &[u8]);
    /// Appends a little-endian `u16`.
    fn put_u16_le(&mut self, v: u16);
    /// Appends a little-endian `u32`.
    fn put_u32_le(&mut self, v: u32);
    /// Appends a little-endian `u64`.
    fn put_u64_le(&mut self, v: u64);
    /// Appends a bufferlist or string: `le32` length, then the bytes.
    fn put_bytes_le32(&mut self, v: &[u8]);
    /// Appends a `vec<le32>`.
    fn put_vec_u32_le(&mut self, v: &[u32]);
    /// Appends `ENCODE_START(version, compat)`, the body written by `body`,
    /// and back-patches the body length.
    fn put_versioned(&mut self, version: u8, compat: u8, body: impl FnOnce(&mut Self));
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_slice(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn put_u16_le(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32_le(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64_le(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes_le32(&mut self, v: &[u8]) {
        self.put_u32_le(le32_len(v.len()));
        self.extend_from_slice(v);
    }
    fn put_vec_u32_le(&mut self, v: &[u32]) {
        self.put_u32_le(le32_len(v.len()));
        for x in v {
            self.put_u32_le(*x);
        }
    }
    fn put_versioned(&mut self, version: u8, compat: u8, body: impl FnOnce(&mut Self)) {
        self.push(version);
        self.push(compat);
        let len_at = self.len();
        self.put_u32_le(0);
        body(self);
        let body_len = le32_len(self.len() - len_at - 4);
        self[len_at..len_at + 4].copy_from_slice(&body_len.to_le_bytes());
    }
}

/// Converts a local length to the `le32` Ceph puts on the wire.
///
/// Lengths we encode come from our own bounded structures; a length beyond
/// `u32::MAX` is a bug in this process, not bad input, so it panics.
fn le32_len(len: usize) -> u32 {
    u32::try_from(len).expect("encoded length exceeds u32::MAX")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_primitives_and_reports_truncation() {
        let bytes = [1u8, 2, 0, 3, 0, 0, 0, 9];
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16_le().unwrap(), 2);
        assert_eq!(r.u32_le().unwrap(), 3);
        let err = r.u64_le().unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "test",
                needed: 8,
                available: 1
            }
        );
    }

    #[test]
    fn length_limits_are_checked_before_use() {
        let mut v = Vec::new();
        v.put_bytes_le32(b"hello");
        assert_eq!(Reader::new(&v, "s").string(5).unwrap(), "hello");
        let err = Reader::new(&v, "s").bytes_le32(4).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::TooLong {
                len: 5,
                limit: 4,
                ..
            }
        ));
        // A huge count with few bytes left fails without allocating.
        let huge = [0xff, 0xff, 0xff, 0x0f];
        let err = Reader::new(&huge, "v").vec_u32_le(usize::MAX).unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { .. }));
    }

    #[test]
    fn versioned_round_trip_skips_unknown_trailing_body() {
        let mut v = Vec::new();
        v.put_versioned(3, 1, |b| {
            b.put_u32_le(7);
            b.put_u32_le(99); // a field from a newer encoder
        });
        v.put_u8(0xaa);
        let mut r = Reader::new(&v, "outer");
        let (ver, mut body) = r.versioned("s", 2, 1024).unwrap();
        assert_eq!(ver, 3);
        assert_eq!(body.u32_le().unwrap(), 7);
        assert_eq!(r.u8().unwrap(), 0xaa);
        r.expect_end().unwrap();
    }

    #[test]
    fn versioned_rejects_newer_compat() {
        let mut v = Vec::new();
        v.put_versioned(5, 4, |_| {});
        let err = Reader::new(&v, "o").versioned("s", 3, 16).unwrap_err();
        assert_eq!(
            err,
            DecodeError::IncompatibleVersion {
                what: "s",
                compat: 4,
                supported: 3
            }
        );
    }
}
