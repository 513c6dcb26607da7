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

pub fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    kind: Kind,
    received_ms: u64,
    dedup: &[u8],
    body: &[&[u8]],
) {
    let body_len: usize = body.iter().map(|b| b.len()).sum();
    let payload_len = FIXED + dedup.len() + body_len;
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
    );
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

/// An event body: identities, links, then the feed record.
pub struct EventBody<'a> {
    pub identities: Vec<[u8; 32]>,
    pub links: Vec<([u8; 32], [u8; 32])>,
    pub record: &'a [u8],
}

/// The start of an event body; the feed record follows it.
pub fn event_body_head(identities: &[[u8; 32]], links: &[([u8; 32], [u8; 32])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + identities.len() * 32 + links.len() * 64);
    out.push(identities.len() as u8);
    for id in identities {
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
    let n_ids = *body.first()? as usize;
    let mut at = 1;
    let mut identities = Vec::with_capacity(n_ids);
    for _ in 0..n_ids {
        identities.push(body.get(at..at + 32)?.try_into().ok()?);
        at += 32;
    }
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
        identities,
        links,
        record: body.get(at..)?,
    })
}

/// A tombstone body: the seqs it deleted, then its feed record.
pub fn encode_tombstone_body(deleted: &[u64], record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + deleted.len() * 8 + record.len());
    out.extend_from_slice(&(deleted.len() as u32).to_le_bytes());
    for seq in deleted {
        out.extend_from_slice(&seq.to_le_bytes());
    }
    out.extend_from_slice(record);
    out
}

pub fn decode_tombstone_body(body: &[u8]) -> Option<(Vec<u64>, &[u8])> {
    let n = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?) as usize;
    let end = 4 + n.checked_mul(8)?;
    let seqs = body
        .get(4..end)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Some((seqs, body.get(end..)?))
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
        let head = event_body_head(&[[1; 32]], &[([1; 32], [2; 32])]);
        let mut buf = Vec::new();
        encode(
            &mut buf,
            42,
            Kind::Event,
            7,
            b"dedup",
            &[&head, b"{\"x\":1}"],
        );
        let Decoded::Frame { frame, len } = decode(&buf) else {
            panic!()
        };
        assert_eq!(len, buf.len());
        assert_eq!(
            (frame.seq, frame.kind, frame.received_ms, frame.dedup),
            (42, Kind::Event, 7, &b"dedup"[..])
        );
        assert_eq!(feed_record(&frame), Some(&b"{\"x\":1}"[..]));
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
        encode(&mut buf, 1, Kind::Event, 0, b"k", &[b"payload"]);
        assert!(matches!(decode(&buf[..buf.len() - 1]), Decoded::Incomplete));
        let mut flipped = buf.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        assert!(matches!(decode(&flipped), Decoded::Corrupt { .. }));
        assert!(matches!(decode(&[0u8; 64]), Decoded::Incomplete));
    }

    #[test]
    fn tombstone_body() {
        let body = encode_tombstone_body(&[3, 9], b"{}");
        assert_eq!(decode_tombstone_body(&body), Some((vec![3, 9], &b"{}"[..])));
    }
}
