use proptest::prelude::*;

use super::*;

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| hash_leaf(&(i as u64).to_be_bytes()))
        .collect()
}

#[test]
fn known_answers_from_rfc_6962_shapes() {
    assert_eq!(
        hex::encode(root(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let l = leaves(3);
    assert_eq!(root(&l), hash_children(&hash_children(&l[0], &l[1]), &l[2]));
    assert_eq!(
        hex::encode(hash_leaf(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}

#[test]
fn the_frontier_matches_the_full_root_at_every_size() {
    let l = leaves(70);
    let mut f = Frontier::new();
    assert_eq!(f.root(), root(&[]));
    for (i, leaf) in l.iter().enumerate() {
        f.push(*leaf);
        assert_eq!(f.size(), i as u64 + 1);
        assert_eq!(f.root(), root(&l[..=i]), "size {}", i + 1);
        let (s, h) = f.parts();
        assert_eq!(Frontier::from_parts(s, h).unwrap(), f);
    }
    assert!(Frontier::from_parts(3, vec![[0; 32]]).is_err());
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut x = *h;
    x[bit / 8] ^= 1 << (bit % 8);
    x
}

proptest! {
    #[test]
    fn inclusion_proofs_verify_and_any_flipped_bit_fails(n in 1usize..300, idx in any::<prop::sample::Index>(), bit in 0usize..256) {
        let l = leaves(n);
        let i = idx.index(n);
        let r = root(&l);
        let p = inclusion_proof(&l, i);
        prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r));
        prop_assert!(!verify_inclusion(&flip(&l[i], bit), i as u64, n as u64, &p, &r));
        prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &p, &flip(&r, bit)));
        for j in 0..p.len() {
            let mut q = p.clone();
            q[j] = flip(&q[j], bit);
            prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &q, &r));
        }
        if n > 1 {
            let other = (i + 1) % n;
            prop_assert!(!verify_inclusion(&l[i], other as u64, n as u64, &p, &r));
        }
        prop_assert!(!verify_inclusion(&l[i], n as u64, n as u64, &p, &r));
    }

    #[test]
    fn consistency_proofs_verify_and_any_flipped_bit_fails(n in 1usize..300, m_seed in any::<prop::sample::Index>(), bit in 0usize..256) {
        let l = leaves(n);
        let m = m_seed.index(n) + 1;
        let (rm, rn) = (root(&l[..m]), root(&l));
        let p = consistency_proof(&l, m);
        prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &p));
        if m < n {
            prop_assert!(!verify_consistency(m as u64, n as u64, &flip(&rm, bit), &rn, &p));
            prop_assert!(!verify_consistency(m as u64, n as u64, &rm, &flip(&rn, bit), &p));
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j] = flip(&q[j], bit);
                prop_assert!(!verify_consistency(m as u64, n as u64, &rm, &rn, &q));
            }
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let l = leaves(8);
    assert!(verify_consistency(0, 8, &root(&[]), &root(&l), &[]));
    assert!(verify_consistency(8, 8, &root(&l), &root(&l), &[]));
    assert!(!verify_consistency(9, 8, &root(&l), &root(&l), &[]));
    let other = leaves(9);
    assert!(!verify_consistency(
        4,
        9,
        &root(&l[..4]),
        &root(&other[..9]),
        &consistency_proof(&l, 4)
    ));
}

/// The plain recursive definitions of RFC 6962 §2.1, as an oracle for `Tree`.
mod oracle {
    use super::*;

    pub fn mth(l: &[Hash]) -> Hash {
        match l.len() {
            0 => crate::canonical::sha256(&[]),
            1 => l[0],
            n => {
                let k = split(n);
                hash_children(&mth(&l[..k]), &mth(&l[k..]))
            }
        }
    }

    pub fn path(m: usize, l: &[Hash]) -> Vec<Hash> {
        let n = l.len();
        if n <= 1 {
            return vec![];
        }
        let k = split(n);
        let mut p = if m < k {
            path(m, &l[..k])
        } else {
            path(m - k, &l[k..])
        };
        p.push(if m < k { mth(&l[k..]) } else { mth(&l[..k]) });
        p
    }
}

proptest! {
    #[test]
    fn tree_roots_and_proofs_at_any_older_size_match_the_rfc_definition(n in 1usize..200, s in any::<prop::sample::Index>(), i in any::<prop::sample::Index>()) {
        let l = leaves(n);
        let t = Tree::new(l.clone());
        let size = s.index(n) + 1;
        let idx = i.index(size);
        prop_assert_eq!(t.root(size as u64), oracle::mth(&l[..size]));
        let p = t.inclusion_proof(idx as u64, size as u64);
        prop_assert_eq!(&p, &oracle::path(idx, &l[..size]));
        prop_assert!(verify_inclusion(&l[idx], idx as u64, size as u64, &p, &t.root(size as u64)));
        let c = t.consistency_proof(size as u64, n as u64);
        prop_assert!(verify_consistency(size as u64, n as u64, &t.root(size as u64), &t.root(n as u64), &c));
    }
}

#[test]
fn out_of_range_requests_give_empty_proofs() {
    let t = Tree::new(leaves(5));
    assert!(t.inclusion_proof(5, 5).is_empty());
    assert!(t.inclusion_proof(0, 6).is_empty());
    assert!(t.consistency_proof(3, 6).is_empty());
    assert!(t.consistency_proof(0, 5).is_empty());
    assert_eq!(Tree::new(vec![]).root(0), root(&[]));
}
