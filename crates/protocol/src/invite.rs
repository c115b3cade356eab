//! Invite codes: short, read aloud over a phone, typed by a child.
//!
//! Nine symbols from a 30-symbol alphabet without look-alikes (no 0, O, 1, I, L, and no U,
//! which is misread as V), shown as `ABC-DEF-GHJ`: 30^9 ≈ 2^44.2, so at least 40 bits of randomness.
//! Input is case-insensitive and may contain spaces or dashes anywhere.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A canonical invite code (upper case, without separators on the inside).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InviteCode([u8; InviteCode::LEN]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteCodeError {
    #[error("an invite code has {expected} letters and digits, this has {found}")]
    WrongLength { expected: usize, found: usize },
    #[error("'{0}' is not used in invite codes (they have no 0, 1, I, L, O or U)")]
    BadSymbol(char),
}

impl InviteCode {
    pub const ALPHABET: &'static [u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
    pub const LEN: usize = 9;
    /// Bits of randomness in a uniformly generated code.
    pub fn entropy_bits() -> f64 {
        Self::LEN as f64 * (Self::ALPHABET.len() as f64).log2()
    }

    /// Builds a code from a source of uniform indices below `n` (the caller's random generator).
    pub fn generate(mut uniform_below: impl FnMut(usize) -> usize) -> Self {
        let mut symbols = [0u8; Self::LEN];
        for s in &mut symbols {
            *s = Self::ALPHABET[uniform_below(Self::ALPHABET.len()) % Self::ALPHABET.len()];
        }
        Self(symbols)
    }

    /// Parses what a person typed: case-insensitive, spaces and dashes ignored.
    pub fn parse(input: &str) -> Result<Self, InviteCodeError> {
        let mut symbols = [0u8; Self::LEN];
        let mut n = 0;
        for c in input.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !Self::ALPHABET.contains(&(upper as u8)) {
                return Err(InviteCodeError::BadSymbol(c));
            }
            if n < Self::LEN {
                symbols[n] = upper as u8;
            }
            n += 1;
        }
        if n != Self::LEN {
            return Err(InviteCodeError::WrongLength {
                expected: Self::LEN,
                found: n,
            });
        }
        Ok(Self(symbols))
    }
}

impl fmt::Display for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.chunks(3).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            // The alphabet is ASCII, so every chunk is valid UTF-8.
            f.write_str(std::str::from_utf8(chunk).unwrap_or("???"))?;
        }
        Ok(())
    }
}

impl TryFrom<String> for InviteCode {
    type Error = InviteCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<InviteCode> for String {
    fn from(code: InviteCode) -> Self {
        code.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_at_least_40_bits() {
        assert!(
            InviteCode::entropy_bits() >= 40.0,
            "{}",
            InviteCode::entropy_bits()
        );
    }

    #[test]
    fn alphabet_has_no_look_alikes_or_repeats() {
        for c in b"01IOLU" {
            assert!(!InviteCode::ALPHABET.contains(c), "{}", *c as char);
        }
        let mut sorted = InviteCode::ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), InviteCode::ALPHABET.len());
    }

    #[test]
    fn parses_what_people_type() {
        let code = InviteCode::parse("abc-def-ghj").unwrap();
        assert_eq!(code.to_string(), "ABC-DEF-GHJ");
        assert_eq!(InviteCode::parse(" ABC DEFghj ").unwrap(), code);
        assert_eq!(InviteCode::parse("ABCDEFGHJ").unwrap(), code);
    }

    #[test]
    fn rejects_look_alikes_and_wrong_lengths() {
        assert_eq!(
            InviteCode::parse("AB0-DEF-GHJ"),
            Err(InviteCodeError::BadSymbol('0'))
        );
        assert_eq!(
            InviteCode::parse("abc-def-ghi"),
            Err(InviteCodeError::BadSymbol('i'))
        );
        assert_eq!(
            InviteCode::parse("ABC-DEF"),
            Err(InviteCodeError::WrongLength {
                expected: 9,
                found: 6
            })
        );
        assert_eq!(
            InviteCode::parse("ABC-DEF-GHJK"),
            Err(InviteCodeError::WrongLength {
                expected: 9,
                found: 10
            })
        );
        assert!(InviteCode::parse("한국어").is_err());
    }

    #[test]
    fn generate_uses_only_the_alphabet() {
        let mut i = 0;
        let code = InviteCode::generate(|n| {
            i += 7;
            i % n
        });
        let shown = code.to_string();
        assert_eq!(InviteCode::parse(&shown).unwrap(), code);
    }

    #[test]
    fn serde_uses_the_display_form_and_validates() {
        let code = InviteCode::parse("xyz234567").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"XYZ-234-567\"");
        assert!(serde_json::from_str::<InviteCode>("\"XYZ-234-56O\"").is_err());
    }
}
