//! The protobuf wire format, read in place.
//!
//! Decoding a request into prost's generated types allocates for every id, name, attribute
//! key and value, most of which no feature reads. This reader walks the bytes and hands out
//! borrowed slices, so the span decoder allocates only for what a record keeps. It knows the
//! four wire types of proto3 (groups, long deprecated, are malformed here as in prost) and
//! reports truncation and bad tags as errors; it never panics on any input.

/// One field's value as it lies on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Wire type 0: an integer, bool or enum.
    Varint(u64),
    /// Wire type 1: `fixed64`, `sfixed64` or `double`.
    Fixed64(u64),
    /// Wire type 2: bytes, a string, a message or a packed repeated field.
    Bytes(&'a [u8]),
    /// Wire type 5: `fixed32`, `sfixed32` or `float`.
    Fixed32(u32),
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ends inside a field.
    #[error("truncated field at byte {0}")]
    Truncated(usize),
    /// A varint longer than ten bytes.
    #[error("varint too long at byte {0}")]
    LongVarint(usize),
    /// Field number 0 or a wire type that proto3 does not have.
    #[error("invalid tag at byte {0}")]
    BadTag(usize),
}

/// The fields of one message, in order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    /// The fields of the message `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes, at: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Tags and most lengths are one byte.
        if let Some(&byte) = self.bytes.get(self.at).filter(|b| **b < 0x80) {
            self.at += 1;
            return Ok(u64::from(byte));
        }
        self.long_varint()
    }

    fn long_varint(&mut self) -> Result<u64, WireError> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(WireError::Truncated(start));
            };
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift.min(63);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::LongVarint(start))
    }

    #[inline]
    fn take(&mut self, len: usize, start: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(WireError::Truncated(start))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    #[inline]
    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let start = self.at;
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).map_err(|_| WireError::BadTag(start))?;
        if number == 0 {
            return Err(WireError::BadTag(start));
        }
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(fixed(self.take(8, start)?))),
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| WireError::Truncated(start))?;
                Value::Bytes(self.take(len, start)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(fixed(self.take(4, start)?))),
            _ => return Err(WireError::BadTag(start)),
        };
        Ok((number, value))
    }
}

/// `bytes` (of length N, checked by the caller's `take`) as an array.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    /// The next field; after an error, `None`.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.at = self.bytes.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(uint64, tag = "1")]
        count: u64,
        #[prost(fixed64, tag = "2")]
        start: u64,
        #[prost(string, tag = "3")]
        name: String,
        #[prost(fixed32, tag = "4")]
        flags: u32,
        #[prost(int64, tag = "5")]
        negative: i64,
    }

    #[test]
    fn every_wire_type_reads_back_what_prost_wrote() {
        let sample = Sample {
            count: 300,
            start: 1_767_600_000_000_000_000,
            name: "GET /cart".into(),
            flags: 0x0102_0304,
            negative: -2,
        };
        let bytes = sample.encode_to_vec();
        let fields: Vec<_> = Fields::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            vec![
                (1, Value::Varint(300)),
                (2, Value::Fixed64(1_767_600_000_000_000_000)),
                (3, Value::Bytes(b"GET /cart")),
                (4, Value::Fixed32(0x0102_0304)),
                (5, Value::Varint(-2i64 as u64)),
            ]
        );
    }

    #[test]
    fn truncation_bad_tags_and_long_varints_are_errors_not_panics() {
        let bytes = Sample {
            name: "checkout".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let cut = &bytes[..bytes.len() - 1];
        assert_eq!(Fields::new(cut).last(), Some(Err(WireError::Truncated(0))));
        assert_eq!(Fields::new(&[0x00]).next(), Some(Err(WireError::BadTag(0))));
        assert_eq!(Fields::new(&[0x0b]).next(), Some(Err(WireError::BadTag(0))));
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(
            Fields::new(&long).next(),
            Some(Err(WireError::LongVarint(1)))
        );
        let huge_length = [0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            Fields::new(&huge_length).next(),
            Some(Err(WireError::Truncated(0)))
        ));
        let mut after_error = Fields::new(&[0x00, 0x08, 0x01]);
        assert!(after_error.next().is_some_and(|f| f.is_err()));
        assert_eq!(after_error.next(), None, "an error ends the message");
    }
}
