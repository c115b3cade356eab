//! Ids, tokens and invite codes from one random generator, seedable for tests.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tutti_protocol::{HostToken, InviteCode, LessonId, PeerId, ResumeToken};

/// RFC 4648 base32, lower case: 5 bits a character, nothing to misread in a log.
const ID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

pub struct Secrets {
    rng: StdRng,
}

impl Secrets {
    pub fn from_os() -> Self {
        Self {
            rng: StdRng::from_os_rng(),
        }
    }

    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn random_string(&mut self, prefix: char, len: usize) -> String {
        let mut s = String::with_capacity(len + 1);
        s.push(prefix);
        for _ in 0..len {
            s.push(ID_ALPHABET[self.rng.random_range(0..ID_ALPHABET.len())] as char);
        }
        s
    }

    /// 75 bits: unique across every lesson the server will ever hold.
    pub fn lesson_id(&mut self) -> LessonId {
        LessonId(self.random_string('l', 15))
    }

    /// 40 bits: unique within a lesson (checked), and not guessable from another's.
    pub fn peer_id(&mut self) -> PeerId {
        PeerId(self.random_string('p', 8))
    }

    /// 160 bits.
    pub fn host_token(&mut self) -> HostToken {
        HostToken(self.random_string('h', 32))
    }

    /// 130 bits.
    pub fn resume_token(&mut self) -> ResumeToken {
        ResumeToken(self.random_string('r', 26))
    }

    pub fn invite_code(&mut self) -> InviteCode {
        InviteCode::generate(|n| self.rng.random_range(0..n))
    }
}

/// Host tokens are kept hashed, so that a copy of the database opens no lesson.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_length() {
        let mut s = Secrets::seeded(1);
        assert_eq!(s.lesson_id().0.len(), 16);
        assert!(s.peer_id().0.starts_with('p'));
        assert_eq!(s.host_token().0.len(), 33);
        assert_eq!(s.resume_token().0.len(), 27);
    }

    #[test]
    fn seeded_generators_repeat_and_differ_between_draws() {
        let (mut a, mut b) = (Secrets::seeded(7), Secrets::seeded(7));
        assert_eq!(a.invite_code(), b.invite_code());
        assert_ne!(a.host_token(), a.host_token());
    }

    #[test]
    fn codes_are_spread_over_the_alphabet() {
        let mut s = Secrets::seeded(3);
        let mut counts = [0usize; 256];
        for _ in 0..3000 {
            for b in s.invite_code().to_string().bytes().filter(|b| *b != b'-') {
                counts[b as usize] += 1;
            }
        }
        // 27,000 symbols over 30: about 900 each; a broken draw would leave some at 0.
        for &c in InviteCode::ALPHABET {
            assert!(
                (700..1100).contains(&counts[c as usize]),
                "{}: {}",
                c as char,
                counts[c as usize]
            );
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
