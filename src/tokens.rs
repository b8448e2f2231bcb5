//! Bearer tokens through [`Repo`], for `valet serve`: made, listed and revoked by
//! admins; checked on every request.

use valet_registry::tokens::{self, Scope, TokenInfo};

use crate::{Repo, RepoError};

impl Repo {
    /// Make a token for `user` (admins only); returns it as stored and the token
    /// itself, which is shown once.
    pub fn create_token(
        &self,
        user: &str,
        scope: Scope,
        expires_at: Option<i64>,
    ) -> Result<(TokenInfo, String), RepoError> {
        self.require_admin("create tokens")?;
        Ok(self
            .registry
            .db
            .transaction(|conn| tokens::create_token(conn, user, scope, expires_at))?)
    }

    /// Every token (admins only), oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, RepoError> {
        self.require_admin("list tokens")?;
        let mut conn = self.registry.db.conn()?;
        Ok(tokens::list_tokens(&mut conn)?)
    }

    /// Revoke a token by id (admins only).
    pub fn revoke_token(&self, id: &str) -> Result<TokenInfo, RepoError> {
        self.require_admin("revoke tokens")?;
        Ok(self
            .registry
            .db
            .transaction(|conn| tokens::revoke_token(conn, id))?)
    }

    /// The token a request presents, if valid now.
    pub fn authenticate_token(&self, token: &str) -> Result<TokenInfo, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(tokens::authenticate(&mut conn, token)?)
    }
}
