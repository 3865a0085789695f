//! Private objects between boxes of one school, without ever sending the secret.
//!
//! The objects that only `_preau/` files use (quiz answers) are never served in clear.
//! A box asks a peer for `private/<hash>` and receives the stored object *sealed*:
//! ChaCha20-Poly1305 under a key derived from the school's `[sync] peer_token` by
//! HKDF-SHA256 (fixed salt and label), with a fresh random nonce per response and the
//! object hash as associated data. Only a box that knows the secret can open it; it then
//! verifies the object's hash as for any other object. Nothing secret goes on the wire,
//! so a host that advertises `_preau._tcp`, or relays a real box's requests to another
//! real box, only ever sees ciphertext. See ARCHITECTURE.md, "The school mesh".

use preau_pack::{Error, Hash, Result};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};

/// The folder of sealed objects under a box's `/repo/`.
pub const PRIVATE_DIR: &str = "private";
/// The first bytes of a sealed object (format and version).
const MAGIC: &[u8; 8] = b"PREAUPV1";
const SALT: &[u8] = b"preau school mesh v1";
const LABEL: &[u8] = b"private objects: chacha20-poly1305";
const AAD_PREFIX: &[u8] = b"preau private object ";
/// What sealing adds to an object: magic, nonce, tag.
pub const OVERHEAD: u64 = (MAGIC.len() + NONCE_LEN + 16) as u64;

/// `private/<hex>`: where a peer asks for the sealed object `hash`.
pub fn private_rel_path(hash: &Hash) -> String {
    format!("{PRIVATE_DIR}/{}", hash.to_hex())
}

/// The key of a school, derived from its shared secret.
pub struct SchoolKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SchoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchoolKey(…)")
    }
}

fn aad(hash: &Hash) -> Vec<u8> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend_from_slice(hash.to_hex().as_bytes());
    a
}

impl SchoolKey {
    pub fn derive(secret: &str) -> SchoolKey {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret.as_bytes());
        let okm = prk.expand(&[LABEL], &CHACHA20_POLY1305).expect("HKDF output of one key length");
        SchoolKey { key: LessSafeKey::new(UnboundKey::from(okm)) }
    }

    /// Seals the stored bytes of object `hash` for one response.
    pub fn seal(&self, hash: &Hash, stored: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| Error::Other("no random numbers for a nonce".into()))?;
        let mut out = Vec::with_capacity(stored.len() + OVERHEAD as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        let mut body = stored.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(hash)), &mut body)
            .map_err(|_| Error::Other("cannot seal a private object".into()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a sealed object `hash`; an error when it was sealed under another school's
    /// secret, for another object, or altered.
    pub fn open(&self, hash: &Hash, sealed: &[u8]) -> Result<Vec<u8>> {
        let refused = || {
            Error::Other(format!(
                "private object {hash}: cannot open it (sealed with another school's peer_token, or damaged)"
            ))
        };
        if sealed.len() < OVERHEAD as usize || &sealed[..MAGIC.len()] != MAGIC {
            return Err(refused());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[MAGIC.len()..MAGIC.len() + NONCE_LEN]);
        let mut body = sealed[MAGIC.len() + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad(hash)), &mut body)
            .map_err(|_| refused())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_opens_and_only_for_that_object() {
        let k = SchoolKey::derive("school-secret-0123456789");
        let h = Hash::of(b"answers");
        let other = Hash::of(b"other");
        let a = k.seal(&h, b"stored bytes").unwrap();
        let b = k.seal(&h, b"stored bytes").unwrap();
        assert_ne!(a, b, "a fresh nonce per response");
        assert_eq!(a.len() as u64, b"stored bytes".len() as u64 + OVERHEAD);
        assert!(!a.windows(12).any(|w| w == b"stored bytes"), "no clear text");
        assert_eq!(k.open(&h, &a).unwrap(), b"stored bytes");
        assert!(k.open(&other, &a).is_err(), "bound to its object");
        assert!(SchoolKey::derive("another-school-secret-99").open(&h, &a).is_err());
        let mut bad = a.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(k.open(&h, &bad).is_err());
        assert!(k.open(&h, b"short").is_err());
        assert_eq!(private_rel_path(&h), format!("private/{}", h.to_hex()));
    }
}
