//! Provider connections.

use secrecy::ExposeSecret as _;
use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent, AuditSubject};
use crate::records::{self, ConnectionBody, connection_key};
use crate::store::{Record, RecordKind, Store, Write};
use crate::{
    AgentId, ConnectionId, Credential, CredentialKind, Entity, Error, Provider, Result, Timestamp,
    UserId,
};

use super::{Plan, Vault, binding, transact};

/// A provider connection as its card shows it: never the credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// `provider:kind`.
    pub id: ConnectionId,
    /// The provider.
    pub provider: Provider,
    /// How it connects (the card's `API KEY` / `CODEX SUBSCRIPTION` label).
    pub kind: CredentialKind,
    /// The variables it sets in an agent's environment.
    pub variables: Vec<String>,
    /// The agents it is attached to.
    pub agents: Vec<AgentId>,
    /// Increases by one on every update of the credential.
    pub version: u64,
    /// When it was connected.
    pub connected_at: Timestamp,
    /// When the credential last changed.
    pub updated_at: Timestamp,
    /// When the credential expires, if it says so (a Codex token bundle's
    /// `expires_at`); kept as plain metadata, for listings.
    pub expires_at: Option<Timestamp>,
}

fn info(body: &ConnectionBody) -> ConnectionInfo {
    ConnectionInfo {
        id: body.id,
        provider: body.id.provider(),
        kind: body.id.kind(),
        variables: body.variables.clone(),
        agents: body.agents.clone(),
        version: body.revision,
        connected_at: body.connected_at,
        updated_at: body.updated_at,
        expires_at: body.expires_at,
    }
}

/// The expiry a credential states, kept in the clear beside it.
fn expiry_of(credential: &Credential) -> Option<Timestamp> {
    match credential {
        Credential::CodexSubscription(tokens) => Some(tokens.expires_at()),
        _ => None,
    }
}

fn not_found(id: ConnectionId) -> Error {
    Error::NotFound {
        what: Entity::Connection,
        name: id.to_string(),
    }
}

impl<S: Store> Vault<S> {
    /// Connects a provider. A user holds one connection per provider and
    /// kind: connecting one that exists is [`Error::AlreadyExists`] (409);
    /// use [`Vault::update_connection`].
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn create_connection(
        &self,
        user: &UserId,
        credential: &Credential,
    ) -> Result<ConnectionInfo> {
        user.check_acting()?;
        self.require_keyring()?;
        let id = credential.connection_id();
        let event = |action| AuditEvent::done(user, action, vec![AuditSubject::Connection { id }]);
        let result = transact!(self, async {
            let key = connection_key(user, id);
            if self.store.get(&key).await?.is_some() {
                return Err(Error::AlreadyExists {
                    what: Entity::Connection,
                    name: id.to_string(),
                });
            }
            let mut writes = Vec::with_capacity(2);
            let now = Timestamp::now();
            let (variables, sealed) = self.seal_credential(user, credential, &mut writes).await?;
            let body = ConnectionBody {
                id,
                instance: uuid::Uuid::new_v4(),
                connected_at: now,
                updated_at: now,
                revision: 1,
                agents: Vec::new(),
                variables,
                expires_at: expiry_of(credential),
                sealed,
            };
            writes.push(records::create(key, &body));
            Ok(Plan::new(writes, info(&body)).audited(event(AuditAction::Connected)))
        });
        self.audit_refusal(result, || event(AuditAction::Connected))
            .await
    }

    /// Replaces a connection's credential. Agents running with the old one
    /// become stale. Refused if the new credential would change the
    /// variables an agent it is attached to already gets from elsewhere.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, connection = %credential.connection_id()))]
    pub async fn update_connection(
        &self,
        user: &UserId,
        credential: &Credential,
    ) -> Result<ConnectionInfo> {
        user.check_acting()?;
        self.require_keyring()?;
        let id = credential.connection_id();
        let event = || {
            AuditEvent::done(
                user,
                AuditAction::ConnectionUpdated,
                vec![AuditSubject::Connection { id }],
            )
        };
        let result = transact!(self, async {
            let (record, mut body) = self.find_connection(user, id).await?;
            let mut writes = Vec::with_capacity(2);
            let (variables, sealed) = self.seal_credential(user, credential, &mut writes).await?;
            if variables != body.variables && !body.agents.is_empty() {
                // The agents' attachment lists record the variables; keeping
                // them right would mean rewriting every agent. Ask for a
                // detach instead.
                return Err(Error::VariablesWouldChange {
                    connection: id,
                    agents: body.agents.clone(),
                });
            }
            body.variables = variables;
            body.expires_at = expiry_of(credential);
            body.sealed = sealed;
            body.revision += 1;
            body.updated_at = Timestamp::now();
            writes.push(records::replace(&record, &body));
            Ok(Plan::new(writes, info(&body)).audited(event()))
        });
        self.audit_refusal(result, event).await
    }

    /// Removes a connection; refused while attached ([`Error::Attached`], 409).
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, connection = %id))]
    pub async fn delete_connection(&self, user: &UserId, id: ConnectionId) -> Result<()> {
        user.check_acting()?;
        let event = || {
            AuditEvent::done(
                user,
                AuditAction::Disconnected,
                vec![AuditSubject::Connection { id }],
            )
        };
        let result = transact!(self, async {
            let (record, body) = self.find_connection(user, id).await?;
            crate::rules::check_deletable(Entity::Connection, &id.to_string(), &body.agents)?;
            let writes = vec![Write::Delete {
                key: record.key,
                expect: record.version,
            }];
            Ok(Plan::new(writes, ()).audited(event()))
        });
        self.audit_refusal(result, event).await
    }

    /// One connection's metadata; never its credential.
    pub async fn connection(&self, user: &UserId, id: ConnectionId) -> Result<ConnectionInfo> {
        user.check_acting()?;
        let (_, body) = self.find_connection(user, id).await?;
        Ok(info(&body))
    }

    /// The user's connections, sorted by provider and kind.
    pub async fn connections(&self, user: &UserId) -> Result<Vec<ConnectionInfo>> {
        user.check_acting()?;
        let mut out = self
            .store
            .list(user, RecordKind::Connection)
            .await?
            .iter()
            .map(|record| Ok(info(&records::decode(record)?)))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    pub(super) async fn find_connection(
        &self,
        user: &UserId,
        id: ConnectionId,
    ) -> Result<(Record, ConnectionBody)> {
        match self.store.get(&connection_key(user, id)).await? {
            Some(record) => {
                let body = records::decode(&record)?;
                Ok((record, body))
            }
            None => Err(not_found(id)),
        }
    }

    async fn seal_credential(
        &self,
        user: &UserId,
        credential: &Credential,
        writes: &mut Vec<Write>,
    ) -> Result<(Vec<String>, Vec<u8>)> {
        let id = credential.connection_id();
        let payload = credential.to_payload()?;
        let vars = crate::provider::decode_payload(&payload).unwrap_or_default();
        // The vault's value limit applies to each variable the agent gets,
        // as it does to an item's value; the error names the variable.
        for (name, value) in &vars {
            self.check_value_len(name, value.expose_secret().len())?;
        }
        let variables = vars.into_iter().map(|(name, _)| name).collect();
        let keys = self.keys_for(user).await?.push_create(writes);
        let record = id.record_id();
        let binding = binding::connection(user, &record);
        Ok((variables, keys.seal(&binding, &payload)?))
    }
}

/// The 0.1.0 names, deprecated in 0.2.0 and removed in 0.3.0: connections now follow the
/// scheme items and agents use.
impl<S: Store> Vault<S> {
    /// Connects a provider.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::create_connection`")]
    pub async fn connect(&self, user: &UserId, credential: &Credential) -> Result<ConnectionInfo> {
        self.create_connection(user, credential).await
    }

    /// Removes a connection.
    #[deprecated(since = "0.2.0", note = "renamed to `Vault::delete_connection`")]
    pub async fn disconnect(&self, user: &UserId, id: ConnectionId) -> Result<()> {
        self.delete_connection(user, id).await
    }
}
