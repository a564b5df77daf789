//! RFC 6962 / RFC 9162 Merkle tree hashing: leaf = SHA-256(0x00 ‖ data), node =
//! SHA-256(0x01 ‖ left ‖ right); the root of an empty tree is SHA-256 of nothing. Inclusion and
//! consistency proofs are generated and verified with the RFCs' algorithms. `Frontier` keeps
//! just the right edge of the tree, so an append costs O(log n) and needs no earlier leaf.

use crate::LedgerError;
use crate::canonical::sha256;

pub type Hash = [u8; 32];

pub fn hash_leaf(data: &[u8]) -> Hash {
    sha256(&[&[0u8], data])
}

pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[1u8], left, right])
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    Tree::new(leaves.to_vec()).root(leaves.len() as u64)
}

/// Audit path for leaf `index` in the tree of all `leaves` (RFC 6962 §2.1.1).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    Tree::new(leaves.to_vec()).inclusion_proof(index as u64, leaves.len() as u64)
}

/// The leaves with every complete subtree's hash precomputed, so roots and proofs for any
/// tree size up to the number of leaves cost O(log n) hashes, not O(n).
#[derive(Debug, Clone)]
pub struct Tree {
    /// `levels[k][j]` is the hash of the perfect subtree of leaves `j·2^k .. (j+1)·2^k`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new(leaves: Vec<Hash>) -> Tree {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() >= 2) {
            let next = last
                .chunks_exact(2)
                .map(|p| hash_children(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Tree { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// Leaf hash `index`, if there is one.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(usize::try_from(index).ok()?).copied()
    }

    /// Hash of leaves `start .. start + len` (len ≥ 1, within the tree).
    fn range_root(&self, start: u64, len: u64) -> Hash {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let k = len.trailing_zeros() as usize;
            return self.levels[k][(start >> k) as usize];
        }
        let k = split(len as usize) as u64;
        hash_children(
            &self.range_root(start, k),
            &self.range_root(start + k, len - k),
        )
    }

    /// Root of the tree of the first `size` leaves (size ≤ len).
    pub fn root(&self, size: u64) -> Hash {
        if size == 0 {
            return sha256(&[]);
        }
        self.range_root(0, size)
    }

    /// Audit path for leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        let mut proof = Vec::new();
        if index < size && size <= self.len() {
            self.path(index, 0, size, &mut proof);
        }
        proof
    }

    fn path(&self, index: u64, start: u64, len: u64, out: &mut Vec<Hash>) {
        if len <= 1 {
            return;
        }
        let k = split(len as usize) as u64;
        if index < k {
            self.path(index, start, k, out);
            out.push(self.range_root(start + k, len - k));
        } else {
            self.path(index - k, start + k, len - k, out);
            out.push(self.range_root(start, k));
        }
    }

    /// Proof that the first `m` leaves' tree is a prefix of the first `n` leaves' tree.
    pub fn consistency_proof(&self, m: u64, n: u64) -> Vec<Hash> {
        let mut proof = Vec::new();
        if m > 0 && m < n && n <= self.len() {
            self.subproof(m, 0, n, true, &mut proof);
        }
        proof
    }

    fn subproof(&self, m: u64, start: u64, len: u64, complete: bool, out: &mut Vec<Hash>) {
        if m == len {
            if !complete {
                out.push(self.range_root(start, len));
            }
            return;
        }
        let k = split(len as usize) as u64;
        if m <= k {
            self.subproof(m, start, k, complete, out);
            out.push(self.range_root(start + k, len - k));
        } else {
            self.subproof(m - k, start + k, len - k, false, out);
            out.push(self.range_root(start, k));
        }
    }
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = hash_children(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = hash_children(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Proof that the tree of the first `m` leaves is a prefix of the tree of all (RFC 6962 §2.1.2).
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    Tree::new(leaves.to_vec()).consistency_proof(m as u64, leaves.len() as u64)
}

/// RFC 9162 §2.1.4.2. An empty first tree is consistent with any tree.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    if m == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*root_m);
    }
    path.extend_from_slice(proof);
    let Some(first) = path.first() else {
        return false;
    };
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = hash_children(c, &fr);
            sr = hash_children(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = hash_children(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *root_m && sr == *root_n && snode == 0
}

/// The right edge of a tree: one perfect-subtree hash per set bit of `size`, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Restore a saved frontier; the number of hashes must equal the number of set bits.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Frontier, LedgerError> {
        if hashes.len() != size.count_ones() as usize {
            return Err(LedgerError::BadFrontier(format!(
                "size {size} needs {} subtree hashes, got {}",
                size.count_ones(),
                hashes.len()
            )));
        }
        Ok(Frontier { size, hashes })
    }

    pub fn parts(&self) -> (u64, Vec<Hash>) {
        (self.size, self.hashes.clone())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit");
            h = hash_children(&left, &h);
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return sha256(&[]);
        };
        it.fold(*last, |acc, h| hash_children(h, &acc))
    }
}

#[cfg(test)]
mod tests;
