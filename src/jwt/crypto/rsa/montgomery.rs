//! Montgomery arithmetic on 32-bit limbs (CIOS), the exponentiation behind [`super`]'s RSAVP1.
//!
//! Contract: [`Monty::new`] takes an odd modulus `n` of at least 2^32 (the caller admits only
//! 2048..=8192 bits) and precomputes, once per key, `-n⁻¹ mod 2^32` and `R² mod n`
//! (`R = 2^(32·L)`, `L` limbs); [`Monty::pow`] then computes `base^e mod n`, fully reduced, for a
//! `base` of `L` limbs below `n` and `e ≥ 1`. [`super::RsaPublicKey`] checks those preconditions;
//! every input that reaches here is public (key, signature), so nothing needs to be constant time.
//! Indices are bounded by construction (see `Monty::mul`).

/// A non-negative integer as little-endian 32-bit limbs.
#[derive(Clone, Debug)]
pub(super) struct Limbs(pub(super) Vec<u32>);

impl Limbs {
    pub(super) fn from_be_bytes(bytes: &[u8]) -> Limbs {
        Limbs(
            bytes
                .rchunks(4)
                .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
                .collect(),
        )
    }
}

/// `m` (little-endian limbs) as exactly `k` big-endian bytes; the caller ensures it fits.
pub(super) fn to_be_bytes(m: &[u32], k: usize) -> Vec<u8> {
    let mut out = vec![0u8; k];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        *byte = m.get(i / 4).map_or(0, |w| (w >> (8 * (i % 4))) as u8);
    }
    out
}

/// `a < b` for equal-length limb slices.
pub(super) fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` over equal lengths; returns the borrow.
fn sub_assign(a: &mut [u32], b: &[u32]) -> bool {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
    borrow != 0
}

/// Montgomery arithmetic modulo an odd `n` with `R = 2^(32·L)`, `L` = number of limbs of `n`.
#[derive(Clone, Debug)]
pub(super) struct Monty {
    n: Vec<u32>,
    /// `-n⁻¹ mod 2^32`.
    n0inv: u32,
    /// `R² mod n`.
    r2: Vec<u32>,
}

impl Monty {
    /// `n` must be odd, without high zero limbs beyond the top one, and at least 2^32.
    pub(super) fn new(n: &Limbs) -> Monty {
        let n = n.0.clone();
        let n0 = n.first().copied().unwrap_or(1);
        // Newton's iteration: each step doubles the number of correct low bits (1 → 32).
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        }
        // R² mod n, once per key. With 32·L = j·2^t (j odd): 32·L + j modular doublings of 1 give
        // 2^j·R mod n, the Montgomery form of 2^j; t Montgomery squarings then give the form of
        // 2^(j·2^t) = R, which is R·R mod n.
        let len = n.len();
        let bits = 32 * len;
        let t = bits.trailing_zeros();
        let j = bits >> t;
        let mut x = vec![0u32; len];
        if let Some(low) = x.first_mut() {
            *low = 1;
        }
        for _ in 0..bits + j {
            let mut carry = 0u32;
            for w in x.iter_mut() {
                let top = *w >> 31;
                *w = (*w << 1) | carry;
                carry = top;
            }
            if carry != 0 || !less_than(&x, &n) {
                sub_assign(&mut x, &n);
            }
        }
        let mut ring = Monty {
            n,
            n0inv: inv.wrapping_neg(),
            r2: Vec::new(),
        };
        for _ in 0..t {
            x = ring.mul(&x, &x);
        }
        ring.r2 = x;
        ring
    }

    /// `a·b·R⁻¹ mod n` for `a, b < n` (word-by-word Montgomery, multiplication and reduction
    /// fused), fully reduced.
    // Indices stay below 2·len + 2 by construction, and len ≥ 64 (moduli of at least 2048 bits).
    #[allow(clippy::indexing_slicing)]
    fn mul(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let n = &self.n;
        let len = n.len();
        // Round i works on t[i..]: adds a[i]·b and m·n (m makes t[i] zero), so no shifting.
        let mut t = vec![0u32; 2 * len + 2];
        for (i, &ai) in a.iter().enumerate() {
            let w = &mut t[i..];
            let ai = u64::from(ai);
            let m = u64::from(
                (w[0].wrapping_add((ai as u32).wrapping_mul(b[0]))).wrapping_mul(self.n0inv),
            );
            let (mut c1, mut c2) = (0u64, 0u64);
            for ((wj, &bj), &nj) in w.iter_mut().zip(b).zip(n.iter()) {
                let s1 = u64::from(*wj) + ai * u64::from(bj) + c1;
                c1 = s1 >> 32;
                let s2 = (s1 & 0xffff_ffff) + m * u64::from(nj) + c2;
                c2 = s2 >> 32;
                *wj = s2 as u32;
            }
            let s = u64::from(w[len]) + c1 + c2;
            w[len] = s as u32;
            w[len + 1] += (s >> 32) as u32;
        }
        // t[len..=2·len] < 2n: one conditional subtraction.
        let mut r = t.split_off(len);
        let high = r[len];
        r.truncate(len);
        if high != 0 || !less_than(&r, n) {
            sub_assign(&mut r, n);
        }
        r
    }

    /// `base^e mod n` for `base < n` and `e ≥ 1`.
    pub(super) fn pow(&self, base: &[u32], e: u64) -> Vec<u32> {
        let xm = self.mul(base, &self.r2);
        let mut acc = xm.clone();
        for bit in (0..63 - e.leading_zeros()).rev() {
            acc = self.mul(&acc, &acc);
            if (e >> bit) & 1 == 1 {
                acc = self.mul(&acc, &xm);
            }
        }
        let mut one = vec![0u32; self.n.len()];
        if let Some(low) = one.first_mut() {
            *low = 1;
        }
        self.mul(&acc, &one)
    }
}
