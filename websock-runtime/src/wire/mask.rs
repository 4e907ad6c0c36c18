//! Unmasking client payloads (RFC 6455 §5.3), eight bytes at a time.

/// XORs `payload` with the 4-byte `mask`, as if the mask were repeated over the payload.
pub(super) fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap()) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // A multiple of 8 bytes went before, so the tail starts at mask offset 0.
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

#[cfg(test)]
mod tests {
    use super::unmask;

    fn bytewise(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect()
    }

    #[test]
    fn matches_the_bytewise_definition() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut payload = original.clone();
            unmask(&mut payload, mask);
            assert_eq!(payload, bytewise(&original, mask), "length {len}");
        }
    }

    /// A payload starts wherever its header ended in the read buffer: every alignment, and
    /// every length around the word size, leave the bytes around it untouched.
    #[test]
    fn at_every_alignment_and_length() {
        let mask = [0xa5, 0x01, 0xff, 0x5a];
        let buffer: Vec<u8> = (0..200u32).map(|i| (i * 31 + 11) as u8).collect();
        for start in 0..16 {
            for len in (0..=70).chain([127, 128, 129, 150]) {
                let mut unmasked = buffer.clone();
                unmask(&mut unmasked[start..start + len], mask);
                let expected = bytewise(&buffer[start..start + len], mask);
                assert_eq!(
                    &unmasked[start..start + len],
                    &expected[..],
                    "at {start}, {len}"
                );
                assert_eq!(&unmasked[..start], &buffer[..start]);
                assert_eq!(&unmasked[start + len..], &buffer[start + len..]);
            }
        }
    }

    #[test]
    fn twice_is_the_identity_for_a_64_kib_message() {
        let original: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
        let mut payload = original.clone();
        let mask = [1, 2, 3, 4];
        unmask(&mut payload, mask);
        assert_eq!(payload[..4], [1, 3, 1, 7]);
        unmask(&mut payload, mask);
        assert!(payload == original);
    }
}
