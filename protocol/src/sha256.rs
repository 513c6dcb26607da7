//! HMAC-SHA256 (RFC 2104, FIPS 180-4) in a few lines of Rust, for wasm32 builds:
//! ring's C and assembly are ~3 KB of the web tracker's gzipped wasm and need clang
//! to build. Native targets keep ring (`identity.rs` picks); the unit tests below
//! check this one against RFC 4231 and against ring.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut block = [0u8; 64];
    let mut n = 0;
    let bits = (len as u64).wrapping_mul(8).to_be_bytes();
    let pad_len = if len % 64 < 56 {
        56 - len % 64
    } else {
        120 - len % 64
    };
    let pad: [&[u8]; 2] = [&[0x80], &[0; 64]];
    let tail = [pad[0], &pad[1][..pad_len - 1], &bits[..]];
    // Nested loops, not `flat_map`: its iterator state is more code in the wasm.
    for part in parts.iter().chain(&tail) {
        for byte in *part {
            block[n] = *byte;
            n += 1;
            if n == 64 {
                compress(&mut h, &block);
                n = 0;
            }
        }
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h[i / 4].to_be_bytes()[i % 4];
    }
    out
}

fn compress(h: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let mut s = *h;
    for i in 0..64 {
        let [a, b, c, d, e, f, g, hh] = s;
        let t1 = hh
            .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
            .wrapping_add((e & f) ^ (!e & g))
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22))
            .wrapping_add((a & b) ^ (a & c) ^ (b & c));
        s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    for (x, y) in h.iter_mut().zip(&s) {
        *x = x.wrapping_add(*y);
    }
}

/// An HMAC-SHA256 key: the padded key blocks, ready to sign.
#[derive(Clone)]
pub struct HmacKey {
    ipad: [u8; 64],
    opad: [u8; 64],
}

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&sha256(&[key]));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        HmacKey {
            ipad: k.map(|b| b ^ 0x36),
            opad: k.map(|b| b ^ 0x5c),
        }
    }

    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let inner = sha256(&[&self.ipad, data]);
        sha256(&[&self.opad, &inner])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            hex(&sha256(&[b""])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(&[b"ab", b"c"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn hmac_rfc4231() {
        // Test cases 1, 2 and 6 (key longer than a block).
        assert_eq!(
            hex(&HmacKey::new(&[0x0b; 20]).sign(b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&HmacKey::new(b"Jefe").sign(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&HmacKey::new(&[0xaa; 131])
                .sign(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn agrees_with_ring_at_every_length() {
        use ring::hmac;
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for klen in [0, 1, 32, 63, 64, 65, 200] {
            let key = &data[..klen];
            let ours = HmacKey::new(key);
            let theirs = hmac::Key::new(hmac::HMAC_SHA256, key);
            for n in 0..data.len() {
                assert_eq!(
                    ours.sign(&data[..n]).as_slice(),
                    hmac::sign(&theirs, &data[..n]).as_ref(),
                    "key {klen}, data {n}"
                );
            }
        }
    }
}
