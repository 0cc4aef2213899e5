//! The user and password of an `Authorization: Basic` credential (RFC 7617): standard base64 of
//! `user:password`, split at the FIRST colon (a password may contain colons, a user name cannot),
//! in UTF-8, with no control character (NUL included) in either part.

use base64::Engine;

/// Longest base64 credential read (about 760 bytes of user and password); longer is malformed.
pub const MAX_ENCODED_BYTES: usize = 1024;

/// A decoded Basic credential.
#[derive(PartialEq, Eq)]
pub struct UserPass {
    pub user: String,
    pub password: String,
}

// Never prints the password.
impl std::fmt::Debug for UserPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPass")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why a Basic credential cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserPassError {
    TooLong,
    NotBase64,
    NotUtf8,
    NoColon,
    EmptyUser,
    ControlCharacter,
}

impl UserPass {
    /// Decodes the value after `Basic ` (surrounding spaces and tabs are not part of it).
    pub fn decode(value: &str) -> Result<UserPass, UserPassError> {
        let value = value.trim_matches([' ', '\t']);
        if value.len() > MAX_ENCODED_BYTES {
            return Err(UserPassError::TooLong);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| UserPassError::NotBase64)?;
        let text = String::from_utf8(bytes).map_err(|_| UserPassError::NotUtf8)?;
        let (user, password) = text.split_once(':').ok_or(UserPassError::NoColon)?;
        if user.is_empty() {
            return Err(UserPassError::EmptyUser);
        }
        if text.chars().any(char::is_control) {
            return Err(UserPassError::ControlCharacter);
        }
        Ok(UserPass {
            user: user.to_string(),
            password: password.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn splits_at_the_first_colon() {
        let up = UserPass::decode(&b64(b"ci-bot:pa:ss:")).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(
            (up.user.as_str(), up.password.as_str()),
            ("ci-bot", "pa:ss:")
        );
        let up = UserPass::decode(&b64(b"u:")).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(up.password, "");
        let up = UserPass::decode(&b64("jürgen:päss".as_bytes()))
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(up.user, "jürgen");
        assert!(
            !format!("{up:?}").contains("päss"),
            "Debug never shows the password"
        );
    }

    #[test]
    fn refuses_what_is_not_one_reading() {
        for (raw, want) in [
            (b64(b"nocolon"), UserPassError::NoColon),
            (b64(b":pw"), UserPassError::EmptyUser),
            (b64(b"u:p\0w"), UserPassError::ControlCharacter),
            (b64(b"u\0:pw"), UserPassError::ControlCharacter),
            (b64(b"u:p\nw"), UserPassError::ControlCharacter),
            (b64(b"u:p\x7fw"), UserPassError::ControlCharacter),
            (b64(b"u:\xff"), UserPassError::NotUtf8),
            ("dTpw!".to_string(), UserPassError::NotBase64),
            ("dTpw".to_string() + "=", UserPassError::NotBase64),
            ("dTp3".replace('3', "-"), UserPassError::NotBase64),
            ("A".repeat(MAX_ENCODED_BYTES + 4), UserPassError::TooLong),
        ] {
            assert_eq!(UserPass::decode(&raw), Err(want), "{raw}");
        }
        assert!(UserPass::decode(&b64(&[b'a'; 700])).is_err());
        let long_ok = format!("u:{}", "p".repeat(700));
        assert!(UserPass::decode(&b64(long_ok.as_bytes())).is_ok());
    }
}
