//! The host's map encoding (header maps, callout headers), pure so it is tested natively.

/// The host's map encoding: a u32 count, then a (name length, value length) u32 pair per entry,
/// then each name and value followed by a NUL; all little-endian.
pub fn encode_map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let size = 4 + entries
        .iter()
        .map(|(k, v)| k.len() + v.len() + 10)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len(entries.len()));
    for (k, v) in entries {
        out.extend_from_slice(&len(k.len()));
        out.extend_from_slice(&len(v.len()));
    }
    for (k, v) in entries {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Decodes [`encode_map`]'s format; a malformed map yields the entries read before the damage.
pub fn decode_map(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u32_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        usize::try_from(u32::from_le_bytes(a)).ok()
    };
    let Some(count) = u32_at(0) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(count.min(1024));
    let Some(mut p) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
        return out;
    };
    for n in 0..count {
        let s = 4 + n * 8;
        let (Some(kl), Some(vl)) = (u32_at(s), u32_at(s + 4)) else {
            break;
        };
        let Some(k) = p.checked_add(kl).and_then(|e| bytes.get(p..e)) else {
            break;
        };
        p += kl + 1;
        let Some(v) = p.checked_add(vl).and_then(|e| bytes.get(p..e)) else {
            break;
        };
        p += vl + 1;
        out.push((String::from_utf8_lossy(k).into_owned(), v.to_vec()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_and_damage_is_cut_off() {
        let entries: [(&str, &[u8]); 3] = [(":path", b"/x"), ("a", b""), ("b", b"\xff\x00z")];
        let bytes = encode_map(&entries);
        let back = decode_map(&bytes);
        assert_eq!(back.len(), 3);
        assert_eq!(back[2], ("b".to_string(), b"\xff\x00z".to_vec()));
        assert_eq!(decode_map(&bytes[..bytes.len() - 6]).len(), 2);
        assert!(decode_map(&[255, 255, 255, 255]).is_empty());
        assert!(decode_map(&[]).is_empty());
    }
}
