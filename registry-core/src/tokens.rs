//! Bearer tokens, for a server that acts for several users: each token names a user
//! and a scope, may expire, and may be revoked. Only a keyed hash of each token's
//! secret is stored (BLAKE2b, keyed with a random key kept in the registry), and a
//! presented secret is compared with it in constant time.
//!
//! A token reads `valet_<id>_<secret>`: the id finds the row, the secret proves it.

use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac512;

use crate::db::{Conn, Value};
use crate::error::{RegistryError, Result};
use crate::identity::now_utc_ns;
use crate::schema::{get_attribute, set_attribute, table_exists};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read only.
    Read,
    /// Read, and write as its user within the access rules.
    Write,
    /// Also use its user's admin rights, if the user is an admin.
    Admin,
}

impl Scope {
    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown token scope {other:?}: use read, write or admin"
            )),
        }
    }
}

/// A token as stored: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's public id.
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (UTC nanoseconds).
    pub created_at: i64,
    /// When it stops working (UTC nanoseconds), if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked (UTC nanoseconds), if it was.
    pub revoked_at: Option<i64>,
}

const KEY_ATTRIBUTE: &str = "token_hash_key";

fn ensure_table(conn: &mut Conn) -> Result<()> {
    if table_exists(conn, "valet_token")? {
        return Ok(());
    }
    conn.batch(
        "CREATE TABLE valet_token (
            id VARCHAR(32) PRIMARY KEY,
            user_name VARCHAR(128) NOT NULL,
            scope VARCHAR(8) NOT NULL,
            secret_hash VARCHAR(128) NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            revoked_at BIGINT
        );",
    )?;
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(bytes * 2);
    out
}

/// The repository's hashing key, made on first use.
fn hash_key(conn: &mut Conn) -> Result<Vec<u8>> {
    let text = match get_attribute(conn, KEY_ATTRIBUTE)? {
        Some(k) => k,
        None => {
            let k = random_hex(32);
            set_attribute(conn, KEY_ATTRIBUTE, &k)?;
            k
        }
    };
    hex::decode(text.trim())
        .map_err(|e| RegistryError::Schema(format!("the token hashing key is corrupt: {e}")))
}

fn hash(key: &[u8], secret: &str) -> Result<String> {
    let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(key)
        .map_err(|e| RegistryError::Schema(format!("the token hashing key is unusable: {e}")))?;
    mac.update(secret.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Equal byte strings, compared in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn info_from_row(row: &[Value]) -> Result<TokenInfo> {
    let text = |i: usize| {
        row.get(i)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let time = |i: usize| row.get(i).and_then(Value::as_i64);
    Ok(TokenInfo {
        id: text(0),
        user: text(1),
        scope: text(2).parse().map_err(RegistryError::Schema)?,
        created_at: time(3).unwrap_or_default(),
        expires_at: time(4),
        revoked_at: time(5),
    })
}

const COLUMNS: &str = "id, user_name, scope, created_at, expires_at, revoked_at";

/// Make a token for `user` (in the caller's transaction); returns it as stored and
/// the token itself, which is shown once and never again.
pub fn create_token(
    conn: &mut Conn,
    user: &str,
    scope: Scope,
    expires_at: Option<i64>,
) -> Result<(TokenInfo, String)> {
    crate::identity::validate_user_name(user).map_err(RegistryError::Invalid)?;
    ensure_table(conn)?;
    let key = hash_key(conn)?;
    let id = random_hex(8);
    let secret = random_hex(32);
    let info = TokenInfo {
        id: id.clone(),
        user: user.to_owned(),
        scope,
        created_at: now_utc_ns(),
        expires_at,
        revoked_at: None,
    };
    conn.execute(
        "INSERT INTO valet_token (id, user_name, scope, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        &[
            id.clone().into(),
            user.into(),
            scope.as_str().into(),
            hash(&key, &secret)?.into(),
            info.created_at.into(),
            expires_at.map(Value::Int).unwrap_or(Value::Null),
        ],
    )?;
    Ok((info, format!("valet_{id}_{secret}")))
}

/// Every token, oldest first.
pub fn list_tokens(conn: &mut Conn) -> Result<Vec<TokenInfo>> {
    if !table_exists(conn, "valet_token")? {
        return Ok(vec![]);
    }
    conn.query(
        &format!("SELECT {COLUMNS} FROM valet_token ORDER BY created_at, id"),
        &[],
    )?
    .iter()
    .map(|r| info_from_row(r))
    .collect()
}

/// Revoke a token by id; revoking one twice is not an error.
pub fn revoke_token(conn: &mut Conn, id: &str) -> Result<TokenInfo> {
    let found = if table_exists(conn, "valet_token")? {
        conn.query_opt(
            &format!("SELECT {COLUMNS} FROM valet_token WHERE id = ?"),
            &[id.into()],
        )?
    } else {
        None
    };
    let info = info_from_row(
        &found.ok_or_else(|| RegistryError::NotFound(format!("token {id:?} does not exist")))?,
    )?;
    if info.revoked_at.is_none() {
        conn.execute(
            "UPDATE valet_token SET revoked_at = ? WHERE id = ?",
            &[now_utc_ns().into(), id.into()],
        )?;
    }
    Ok(info)
}

/// The token a bearer presents, if it is valid now; a malformed, unknown, revoked
/// or expired token is refused with a message saying which.
pub fn authenticate(conn: &mut Conn, token: &str) -> Result<TokenInfo> {
    let refused = |why: &str| RegistryError::Denied(format!("token refused: {why}"));
    let rest = token
        .strip_prefix("valet_")
        .ok_or_else(|| refused("not a valet token"))?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or_else(|| refused("not a valet token"))?;
    if !table_exists(conn, "valet_token")? {
        return Err(refused("unknown token"));
    }
    let row = conn
        .query_opt(
            &format!("SELECT {COLUMNS}, secret_hash FROM valet_token WHERE id = ?"),
            &[id.into()],
        )?
        .ok_or_else(|| refused("unknown token"))?;
    let stored = row
        .get(6)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // The key exists once any token does; reading it writes nothing.
    let key = match get_attribute(conn, KEY_ATTRIBUTE)? {
        Some(k) => hex::decode(k.trim())
            .map_err(|e| RegistryError::Schema(format!("the token hashing key is corrupt: {e}")))?,
        None => return Err(refused("unknown token")),
    };
    if !constant_time_eq(hash(&key, secret)?.as_bytes(), stored.as_bytes()) {
        return Err(refused("unknown token"));
    }
    let info = info_from_row(&row)?;
    if info.revoked_at.is_some() {
        return Err(refused("revoked"));
    }
    if info.expires_at.is_some_and(|t| t <= now_utc_ns()) {
        return Err(refused("expired"));
    }
    Ok(info)
}
