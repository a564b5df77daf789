//! Proofs as they travel (CLI output, `/api/ledger/proof/...`, export bundles): hashes in
//! lower-case hex, checked against a tree head with the RFC 9162 algorithms in `merkle`.

use serde::{Deserialize, Serialize};

use crate::merkle::{self, Hash, Tree};

/// Most hashes a proof can need: one per tree level.
pub const MAX_PROOF_HASHES: usize = 64;

/// Decode a list of hex hashes, refusing more than a proof can hold.
pub fn decode_hashes(hex_hashes: &[String]) -> Result<Vec<Hash>, String> {
    if hex_hashes.len() > MAX_PROOF_HASHES {
        return Err(format!(
            "a proof has at most {MAX_PROOF_HASHES} hashes, this one has {}",
            hex_hashes.len()
        ));
    }
    hex_hashes.iter().map(|h| decode_hash(h)).collect()
}

/// Decode one hash: exactly 64 lower-case hex digits (one spelling per hash).
pub fn decode_hash(h: &str) -> Result<Hash, String> {
    Some(h)
        .filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| Hash::try_from(b).ok())
        .ok_or_else(|| "a hash must be 64 lower-case hex digits".to_string())
}

pub fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// Leaf `seq` is in the tree of `size` leaves whose root is `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub seq: u64,
    pub size: u64,
    pub leaf_hash: String,
    pub root: String,
    pub proof: Vec<String>,
}

impl InclusionProof {
    pub fn new(seq: u64, size: u64, leaf: Hash, root: Hash, proof: &[Hash]) -> InclusionProof {
        InclusionProof {
            seq,
            size,
            leaf_hash: hex::encode(leaf),
            root: hex::encode(root),
            proof: encode_hashes(proof),
        }
    }

    pub fn verify(&self) -> Result<(), String> {
        let leaf = decode_hash(&self.leaf_hash)?;
        let root = decode_hash(&self.root)?;
        let proof = decode_hashes(&self.proof)?;
        if merkle::verify_inclusion(&leaf, self.seq, self.size, &proof, &root) {
            Ok(())
        } else {
            Err("the inclusion proof does not verify".into())
        }
    }
}

/// The tree of `from` leaves is a prefix of the tree of `to` leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

impl ConsistencyProof {
    pub fn new(from: u64, to: u64, from_root: Hash, to_root: Hash, proof: &[Hash]) -> Self {
        ConsistencyProof {
            from,
            to,
            from_root: hex::encode(from_root),
            to_root: hex::encode(to_root),
            proof: encode_hashes(proof),
        }
    }

    pub fn verify(&self) -> Result<(), String> {
        let (a, b) = (decode_hash(&self.from_root)?, decode_hash(&self.to_root)?);
        let proof = decode_hashes(&self.proof)?;
        if merkle::verify_consistency(self.from, self.to, &a, &b, &proof) {
            Ok(())
        } else {
            Err("the consistency proof does not verify".into())
        }
    }
}

/// The inclusion proof of leaf `seq` in the tree of the first `size` leaves of `tree`.
pub fn inclusion(tree: &Tree, seq: u64, size: u64) -> Result<InclusionProof, String> {
    if size > tree.len() {
        return Err(format!(
            "size {size} is beyond the ledger's {} records",
            tree.len()
        ));
    }
    let leaf = tree
        .leaf(seq)
        .filter(|_| seq < size)
        .ok_or_else(|| format!("seq {seq} is not in a tree of {size} records"))?;
    Ok(InclusionProof::new(
        seq,
        size,
        leaf,
        tree.root(size),
        &tree.inclusion_proof(seq, size),
    ))
}

/// The consistency proof between the trees of the first `from` and `to` leaves of `tree`.
pub fn consistency(tree: &Tree, from: u64, to: u64) -> Result<ConsistencyProof, String> {
    if to > tree.len() {
        return Err(format!(
            "to {to} is beyond the ledger's {} records",
            tree.len()
        ));
    }
    if from > to {
        return Err(format!("from {from} is larger than to {to}"));
    }
    Ok(ConsistencyProof::new(
        from,
        to,
        tree.root(from),
        tree.root(to),
        &tree.consistency_proof(from, to),
    ))
}

/// An auditor's check that the ledger only grew between two signed checkpoints they hold:
/// same origin, and `p` is a consistency proof between exactly their sizes and roots.
pub fn check_growth(
    old: &crate::note::Checkpoint,
    new: &crate::note::Checkpoint,
    p: &ConsistencyProof,
) -> Result<(), String> {
    if old.origin != new.origin {
        return Err(format!(
            "the checkpoints are of different logs ('{}' and '{}')",
            old.origin, new.origin
        ));
    }
    if old.size > new.size {
        return Err(format!(
            "the old checkpoint ({}) is larger than the new one ({}): the ledger shrank, or they are given in the wrong order",
            old.size, new.size
        ));
    }
    if (p.from, p.to) != (old.size, new.size) {
        return Err(format!(
            "the proof is between sizes {} and {}, not {} and {}",
            p.from, p.to, old.size, new.size
        ));
    }
    if decode_hash(&p.from_root)? != old.root || decode_hash(&p.to_root)? != new.root {
        return Err("the proof's roots are not the checkpoints' roots".into());
    }
    p.verify()
        .map_err(|_| "the consistency proof does not verify: the ledger did not only grow".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, hash_leaf, inclusion_proof, root};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| hash_leaf(&i.to_be_bytes())).collect()
    }

    #[test]
    fn growth_between_two_checkpoints_is_checked() {
        use crate::note::Checkpoint;
        let t = Tree::new(leaves(9));
        let cp = |size: u64| Checkpoint {
            origin: "o".into(),
            size,
            root: t.root(size),
        };
        let p = consistency(&t, 3, 9).unwrap();
        check_growth(&cp(3), &cp(9), &p).unwrap();
        assert!(check_growth(&cp(9), &cp(3), &p).is_err(), "wrong order");
        assert!(check_growth(&cp(4), &cp(9), &p).is_err(), "other sizes");
        let mut other = cp(3);
        other.origin = "p".into();
        assert!(check_growth(&other, &cp(9), &p).is_err(), "other log");
        let forked = Tree::new([leaves(3), vec![[9; 32]; 6]].concat());
        let fork = Checkpoint {
            origin: "o".into(),
            size: 9,
            root: forked.root(9),
        };
        assert!(check_growth(&cp(3), &fork, &p).is_err(), "a fork");
        let own = consistency(&forked, 3, 9).unwrap();
        assert!(
            check_growth(&cp(3), &fork, &own).is_ok(),
            "it did grow from size 3"
        );
        let rewritten = Tree::new([vec![[7; 32]], leaves(9)[1..].to_vec()].concat());
        let bad = consistency(&rewritten, 3, 9).unwrap();
        let rcp = Checkpoint {
            origin: "o".into(),
            size: 9,
            root: rewritten.root(9),
        };
        assert!(
            check_growth(&cp(3), &rcp, &bad).is_err(),
            "history rewritten"
        );
    }

    #[test]
    fn builders_check_their_ranges() {
        let t = Tree::new(leaves(6));
        inclusion(&t, 5, 6).unwrap().verify().unwrap();
        inclusion(&t, 2, 3).unwrap().verify().unwrap();
        assert!(inclusion(&t, 6, 6).is_err());
        assert!(inclusion(&t, 3, 3).is_err());
        assert!(inclusion(&t, 0, 7).is_err());
        consistency(&t, 0, 6).unwrap().verify().unwrap();
        consistency(&t, 4, 6).unwrap().verify().unwrap();
        assert!(consistency(&t, 5, 4).is_err());
        assert!(consistency(&t, 1, 7).is_err());
    }

    #[test]
    fn wire_proofs_verify_and_refuse_edits() {
        let l = leaves(11);
        let p = InclusionProof::new(5, 11, l[5], root(&l), &inclusion_proof(&l, 5));
        p.verify().unwrap();
        let mut bad = p.clone();
        bad.seq = 6;
        assert!(bad.verify().is_err());
        let mut bad = p.clone();
        bad.proof[0] = "zz".into();
        assert!(bad.verify().is_err());
        let mut bad = p;
        bad.proof = vec!["00".repeat(32); MAX_PROOF_HASHES + 1];
        assert!(bad.verify().unwrap_err().contains("at most"));

        let c = ConsistencyProof::new(4, 11, root(&l[..4]), root(&l), &consistency_proof(&l, 4));
        c.verify().unwrap();
        let mut bad = c;
        bad.from = 5;
        assert!(bad.verify().is_err());
    }
}
