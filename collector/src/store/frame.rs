//! The on-disk frame of the event log. Every record is `len u32 | crc32 u32 | payload`,
//! little-endian, where the payload is
//!
//! `seq u64 | kind u8 | received_ms u64 | dedup_len u16 | dedup | body`
//!
//! and the body depends on the kind: an event carries its identities, its links and the
//! feed record; a tombstone carries the seqs it deleted and its feed record; a deleted
//! event's body is all zeroes (same length, so offsets never move).

pub const HEADER: usize = 8;
const FIXED: usize = 8 + 1 + 8 + 2;
/// No frame is larger: a 500 KB request is the largest input, plus index data.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    Tombstone,
    Deleted,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Event => b'E',
            Kind::Tombstone => b'T',
            Kind::Deleted => b'D',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'E' => Kind::Event,
            b'T' => Kind::Tombstone,
            b'D' => Kind::Deleted,
            _ => return None,
        })
    }
}

/// A decoded frame, borrowing from the buffer it was read from.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub seq: u64,
    pub kind: Kind,
    pub received_ms: u64,
    pub dedup: &'a [u8],
    pub body: &'a [u8],
}

/// What lies at some offset of a segment.
#[derive(Debug)]
pub enum Decoded<'a> {
    Frame {
        frame: Frame<'a>,
        len: usize,
    },
    /// The length is plausible and fits, but the checksum does not match: a frame torn
    /// by a crash (at the tail) or while it was being zeroed (anywhere).
    Corrupt {
        len: usize,
    },
    /// Not enough bytes for a whole frame: the end, or a torn tail.
    Incomplete,
}

/// Appends one frame. A payload over `MAX_PAYLOAD` could never be read back, so it is
/// refused here rather than written.
pub fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    kind: Kind,
    received_ms: u64,
    dedup: &[u8],
    body: &[&[u8]],
) -> Result<(), TooLarge> {
    let body_len: usize = body.iter().map(|b| b.len()).sum();
    let payload_len = FIXED + dedup.len() + body_len;
    if payload_len > MAX_PAYLOAD {
        return Err(TooLarge(payload_len));
    }
    let start = out.len();
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(kind.byte());
    out.extend_from_slice(&received_ms.to_le_bytes());
    out.extend_from_slice(&(dedup.len() as u16).to_le_bytes());
    out.extend_from_slice(dedup);
    for part in body {
        out.extend_from_slice(part);
    }
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A frame payload over `MAX_PAYLOAD` bytes.
#[derive(Debug)]
pub struct TooLarge(pub usize);

impl From<TooLarge> for crate::CollectorError {
    fn from(e: TooLarge) -> Self {
        crate::CollectorError::Store(format!("a {} byte frame is over the log's limit", e.0))
    }
}

/// The same frame with kind `Deleted` and its body zeroed: what deletion writes in place.
pub fn zeroed(frame: &Frame) -> Vec<u8> {
    let zeros = vec![0u8; frame.body.len()];
    let mut out = Vec::with_capacity(HEADER + FIXED + frame.dedup.len() + zeros.len());
    encode(
        &mut out,
        frame.seq,
        Kind::Deleted,
        frame.received_ms,
        frame.dedup,
        &[&zeros],
    )
    .expect("a zeroed frame is as large as a frame that was written");
    out
}

/// The whole length a frame starting at `buf` declares, if plausible.
pub fn declared_len(buf: &[u8]) -> Option<usize> {
    let payload_len = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    (FIXED..=MAX_PAYLOAD)
        .contains(&payload_len)
        .then_some(HEADER + payload_len)
}

pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER {
        return Decoded::Incomplete;
    }
    let payload_len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    if !(FIXED..=MAX_PAYLOAD).contains(&payload_len) {
        // A length no writer produces: torn or never written (zero pages).
        return Decoded::Incomplete;
    }
    let len = HEADER + payload_len;
    if buf.len() < len {
        return Decoded::Incomplete;
    }
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    let payload = &buf[HEADER..len];
    if crc32fast::hash(payload) != crc {
        return Decoded::Corrupt { len };
    }
    let seq = u64::from_le_bytes(payload[0..8].try_into().unwrap());
    let Some(kind) = Kind::from_byte(payload[8]) else {
        return Decoded::Corrupt { len };
    };
    let received_ms = u64::from_le_bytes(payload[9..17].try_into().unwrap());
    let dedup_len = u16::from_le_bytes(payload[17..19].try_into().unwrap()) as usize;
    if FIXED + dedup_len > payload.len() {
        return Decoded::Corrupt { len };
    }
    let frame = Frame {
        seq,
        kind,
        received_ms,
        dedup: &payload[FIXED..FIXED + dedup_len],
        body: &payload[FIXED + dedup_len..],
    };
    Decoded::Frame { frame, len }
}

/// An event body: `flags u8 | [user(32)] | [anonymous(32)] | n_links u8 | links | record`,
/// where flag bit 0 says a user identity is present and bit 1 an anonymous one.
pub struct EventBody<'a> {
    pub user: Option<[u8; 32]>,
    pub anonymous: Option<[u8; 32]>,
    pub links: Vec<([u8; 32], [u8; 32])>,
    pub record: &'a [u8],
}

/// The start of an event body; the feed record follows it.
pub fn event_body_head(
    user: Option<&[u8; 32]>,
    anonymous: Option<&[u8; 32]>,
    links: &[([u8; 32], [u8; 32])],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 64 + links.len() * 64);
    out.push(u8::from(user.is_some()) | (u8::from(anonymous.is_some()) << 1));
    for id in user.into_iter().chain(anonymous) {
        out.extend_from_slice(id);
    }
    out.push(links.len() as u8);
    for (a, b) in links {
        out.extend_from_slice(a);
        out.extend_from_slice(b);
    }
    out
}

pub fn decode_event_body(body: &[u8]) -> Option<EventBody<'_>> {
    let flags = *body.first()?;
    let mut at = 1;
    let mut take = |present: bool| -> Option<Option<[u8; 32]>> {
        if !present {
            return Some(None);
        }
        let id = body.get(at..at + 32)?.try_into().ok()?;
        at += 32;
        Some(Some(id))
    };
    let user = take(flags & 1 != 0)?;
    let anonymous = take(flags & 2 != 0)?;
    let n_links = *body.get(at)? as usize;
    at += 1;
    let mut links = Vec::with_capacity(n_links);
    for _ in 0..n_links {
        let a = body.get(at..at + 32)?.try_into().ok()?;
        let b = body.get(at + 32..at + 64)?.try_into().ok()?;
        links.push((a, b));
        at += 64;
    }
    Some(EventBody {
        user,
        anonymous,
        links,
        record: body.get(at..)?,
    })
}

/// A tombstone body: the identities whose events it deleted, then its feed record.
/// Identities, not seqs, so its size does not grow with the number of events.
pub fn encode_tombstone_body(identities: &[[u8; 32]], record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + identities.len() * 32 + record.len());
    out.extend_from_slice(&(identities.len() as u32).to_le_bytes());
    for id in identities {
        out.extend_from_slice(id);
    }
    out.extend_from_slice(record);
    out
}

pub fn decode_tombstone_body(body: &[u8]) -> Option<(Vec<[u8; 32]>, &[u8])> {
    let n = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?) as usize;
    let end = 4 + n.checked_mul(32)?;
    let ids = body
        .get(4..end)?
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    Some((ids, body.get(end..)?))
}

/// The feed record a frame carries, if it is one the feed shows.
pub fn feed_record<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    match frame.kind {
        Kind::Event => decode_event_body(frame.body).map(|b| b.record),
        Kind::Tombstone => decode_tombstone_body(frame.body).map(|(_, r)| r),
        Kind::Deleted => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zeroing() {
        let head = event_body_head(Some(&[1; 32]), None, &[([1; 32], [2; 32])]);
        let mut buf = Vec::new();
        encode(
            &mut buf,
            42,
            Kind::Event,
            7,
            b"dedup",
            &[&head, b"{\"x\":1}"],
        )
        .unwrap();
        let Decoded::Frame { frame, len } = decode(&buf) else {
            panic!()
        };
        assert_eq!(len, buf.len());
        assert_eq!(
            (frame.seq, frame.kind, frame.received_ms, frame.dedup),
            (42, Kind::Event, 7, &b"dedup"[..])
        );
        assert_eq!(feed_record(&frame), Some(&b"{\"x\":1}"[..]));
        let body = decode_event_body(frame.body).unwrap();
        assert_eq!((body.user, body.anonymous), (Some([1; 32]), None));
        let zero = zeroed(&frame);
        assert_eq!(zero.len(), buf.len());
        let Decoded::Frame { frame: z, .. } = decode(&zero) else {
            panic!()
        };
        assert_eq!((z.seq, z.kind, z.dedup), (42, Kind::Deleted, &b"dedup"[..]));
        assert!(z.body.iter().all(|b| *b == 0));
    }

    #[test]
    fn torn_frames_are_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, Kind::Event, 0, b"k", &[b"payload"]).unwrap();
        assert!(matches!(decode(&buf[..buf.len() - 1]), Decoded::Incomplete));
        let mut flipped = buf.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        assert!(matches!(decode(&flipped), Decoded::Corrupt { .. }));
        assert!(matches!(decode(&[0u8; 64]), Decoded::Incomplete));
    }

    #[test]
    fn tombstone_body() {
        let body = encode_tombstone_body(&[[3; 32], [9; 32]], b"{}");
        assert_eq!(
            decode_tombstone_body(&body),
            Some((vec![[3; 32], [9; 32]], &b"{}"[..]))
        );
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn both_identities_round_trip() {
        for (user, anon) in [(Some([5u8; 32]), Some([2u8; 32])), (None, Some([2u8; 32]))] {
            let mut head = event_body_head(user.as_ref(), anon.as_ref(), &[]);
            head.extend_from_slice(b"rec");
            let body = decode_event_body(&head).unwrap();
            assert_eq!(
                (body.user, body.anonymous, body.record),
                (user, anon, &b"rec"[..])
            );
        }
    }
}
