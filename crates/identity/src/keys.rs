//! The issuer's signing key: RSA 2048, generated on first start and kept in the data
//! directory (PKCS#8 DER), so tokens minted before a restart stay valid after it.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;
use std::path::Path;

/// A key failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file.
    #[error("signing key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file does not hold a usable key.
    #[error("signing key {0} is not an RSA PKCS#8 key")]
    Rejected(String),
    /// Generating or signing failed.
    #[error("signing key: {0}")]
    Crypto(String),
}

/// The signing key and what the JWKS says of it.
pub struct SigningKey {
    pair: KeyPair,
    kid: String,
    jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish()
    }
}

impl SigningKey {
    /// The key in `file`, generated (and written, readable by the owner only) when missing.
    pub fn load_or_create(file: &Path) -> Result<SigningKey, KeyError> {
        let io = |source| KeyError::Io { path: file.display().to_string(), source };
        match std::fs::read(file) {
            Ok(der) => {
                let pair = KeyPair::from_pkcs8(&der).map_err(|_| KeyError::Rejected(file.display().to_string()))?;
                SigningKey::from_pair(pair)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| KeyError::Crypto(e.to_string()))?;
                let der = pair.as_der().map_err(|e| KeyError::Crypto(e.to_string()))?;
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(file, der.as_ref()).map_err(io)?;
                tracing::info!(file = %file.display(), "generated the development issuer's signing key");
                SigningKey::from_pair(pair)
            }
            Err(err) => Err(io(err)),
        }
    }

    /// A fresh key that is never written anywhere (tests).
    pub fn ephemeral() -> Result<SigningKey, KeyError> {
        SigningKey::from_pair(KeyPair::generate(KeySize::Rsa2048).map_err(|e| KeyError::Crypto(e.to_string()))?)
    }

    fn from_pair(pair: KeyPair) -> Result<SigningKey, KeyError> {
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let digest = sha2::Sha256::digest(format!("{n}.{e}").as_bytes());
        let kid: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let jwk = serde_json::json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Ok(SigningKey { pair, kid, jwk })
    }

    /// The key id tokens name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// A compact RS256 JWT of `claims`.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, KeyError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut signature)
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(unix)]
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    out.write_all(bytes)?;
    out.sync_all()
}

#[cfg(not(unix))]
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(file, bytes)
}
