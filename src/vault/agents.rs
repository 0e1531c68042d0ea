//! Agents: attachments, the environment at start, deployments, the synced
//! indicator and gateway tokens.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent, AuditOutcome, AuditSubject};
use crate::crypto::{Crypto, UserKeys};
use crate::records::view::{AgentView, TargetView};
use crate::records::{
    self, AgentBody, AgentOwnerBody, Attachment, Body, Deployment, NameBody, SealedReceipt,
    agent_key, agent_owner_key, connection_key, item_key, name_key, target_key, user_keys_key,
};
use crate::store::{Expect, Record, RecordKey, RecordKind, Store, StoreError, Write};
use crate::{
    AgentId, AgentName, AgentStatus, ConnectionId, DeployedEntry, DeploymentReceipt, Entity,
    Environment, Error, GatewayToken, Input, ItemId, ItemStatus, Kind, Name, Provider,
    ReceiptError, Result, SyncState, Target, Timestamp, UserId,
};

use super::items::item_id;

/// How far in the future a receipt's `issued_at` may lie: clock skew
/// between the replica that issued it and the one recording it.
const MAX_RECEIPT_CLOCK_SKEW_MILLIS: i64 = 60_000;
use super::{Attempt, Plan, UserCrypto, Vault, binding, retrying, transact, user_keys_of};

/// What an agent looks like in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AgentInfo {
    /// The id the vault gave it.
    pub id: AgentId,
    /// Its name.
    pub name: AgentName,
    /// When it was created.
    pub created_at: Timestamp,
    /// What is attached: secrets and variables by name, connections as
    /// `provider:kind`.
    pub attached: Vec<String>,
    /// When the host last recorded a deployment, if ever.
    pub deployed_at: Option<Timestamp>,
}

/// Something to attach to or detach from an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attachable {
    /// A secret or variable, by name.
    Item(Name),
    /// A secret or variable, by the id the vault gave it.
    ItemId(ItemId),
    /// A provider connection.
    Connection(ConnectionId),
}

impl Attachable {
    /// Parses the CLI form: `provider:NAME[:KIND]` for a connection (for
    /// example `provider:openai:codex-subscription`), otherwise a secret or
    /// variable name.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(rest) = text.strip_prefix("provider:") {
            // The message lists the connections, from `VARIABLES`.
            return Ok(Self::Connection(ConnectionId::parse(rest)?));
        }
        Name::parse(text)
            .map(Self::Item)
            .map_err(|reason| Error::invalid_name(text, reason))
    }
}

impl Attachable {
    /// Parses the HTTP API's form, an entry of `secretIds`: an item's id
    /// (a UUID) or a connection's id (`provider:kind`, for example
    /// `openai:api-key`).
    pub fn parse_id(text: &str) -> Result<Self> {
        if let Ok(id) = ItemId::parse(text) {
            return Ok(Self::ItemId(id));
        }
        ConnectionId::parse(text)
            .ok()
            .filter(|id| id.record_id().eq_ignore_ascii_case(text))
            .map(Self::Connection)
            .ok_or_else(|| Error::InvalidInput {
                field: Input::ItemId,
                // Not quoted: a value pasted here by mistake is not echoed.
                reason: "neither an item id (a UUID) nor a connection id (provider:kind)"
                    .to_owned(),
            })
    }
}

impl fmt::Display for Attachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Item(name) => write!(f, "{name}"),
            Self::ItemId(id) => write!(f, "{id}"),
            Self::Connection(id) => write!(f, "provider:{id}"),
        }
    }
}

/// What a refused request named.
fn refused_subject(target: &Attachable) -> AuditSubject {
    match target {
        Attachable::Item(name) => AuditSubject::name(name),
        Attachable::ItemId(id) => AuditSubject::Name {
            name: id.to_string(),
        },
        Attachable::Connection(id) => AuditSubject::Connection { id: *id },
    }
}

/// An event about an agent and some of its attachments.
fn agent_event(
    user: &UserId,
    action: AuditAction,
    agent: AgentId,
    name: &str,
    attachments: &[Attachment],
) -> AuditEvent {
    let subjects = std::iter::once(AuditSubject::agent(agent, Some(name)))
        .chain(
            attachments
                .iter()
                .map(|a| AuditSubject::target(a.target, &a.label)),
        )
        .collect();
    AuditEvent::done(user, action, subjects)
}

fn item_not_found(name: &Name) -> Error {
    Error::NotFound {
        what: Entity::Item,
        name: name.to_string(),
    }
}

fn agent_not_found(agent: AgentId) -> Error {
    Error::NotFound {
        what: Entity::Agent,
        name: agent.to_string(),
    }
}

fn connection_not_found(id: ConnectionId) -> Error {
    Error::NotFound {
        what: Entity::Connection,
        name: id.to_string(),
    }
}

fn info(id: AgentId, body: &AgentBody) -> AgentInfo {
    AgentInfo {
        id,
        name: AgentName::from_stored(body.name.clone()),
        created_at: body.created_at,
        attached: body.attachments.iter().map(|a| a.label.clone()).collect(),
        deployed_at: body.deployment.as_ref().map(|d| d.at),
    }
}

/// The write that replaces `record` after `change` edits its agent list.
fn relink(record: Record, change: impl FnOnce(&mut Vec<AgentId>)) -> Result<Write> {
    let mut body = Body::read_target(&record)?;
    let agents = body
        .agents_mut()
        .ok_or_else(|| records::corrupt(&record.key))?;
    change(agents);
    agents.sort();
    agents.dedup();
    Ok(Write::Put {
        key: record.key,
        expect: Expect::Version(record.version),
        body: body.encode(),
    })
}

impl<S: Store> Vault<S> {
    /// Creates an agent named `name` and generates its gateway token, which
    /// is returned once here and can be read again with
    /// [`Vault::gateway_token`].
    pub async fn create_agent(
        &self,
        user: &UserId,
        name: &AgentName,
    ) -> Result<(AgentInfo, GatewayToken)> {
        self.create_agent_with(user, name, &[]).await
    }

    /// Creates an agent with `targets` already attached, in one commit: the
    /// agent exists with all of them or not at all. The rules of
    /// [`Vault::attach`] apply ([`Error::ProviderConflict`],
    /// [`Error::DuplicateVariable`], [`Error::NotFound`]).
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn create_agent_with(
        &self,
        user: &UserId,
        name: &AgentName,
        targets: &[Attachable],
    ) -> Result<(AgentInfo, GatewayToken)> {
        user.check_acting()?;
        self.require_keyring()?;
        let id = AgentId::new_random();
        let token = GatewayToken::generate();
        // A wrong master key must write nothing, the index entry included.
        self.check_keyring().await?;
        self.index_owner(user, id).await?;
        let result = transact!(self, async {
            let mut writes = Vec::with_capacity(2 + targets.len());
            let keys = self.keys_for(user).await?.push_create(&mut writes);
            let attachments = self
                .plan_attach(user, id, &[], targets, &mut writes)
                .await?;
            let body = AgentBody {
                name: name.as_str().to_owned(),
                created_at: Timestamp::now(),
                token: self.seal_token(user, id, &keys, &token)?,
                token_revision: 1,
                attachments,
                deployment: None,
            };
            writes.push(records::create(agent_key(user, id), &body));
            let event = agent_event(
                user,
                AuditAction::AgentCreated,
                id,
                &body.name,
                &body.attachments,
            );
            Ok(Plan::new(writes, info(id, &body)).audited(event))
        });
        // Only a refusal proves the agent was not written; after a store
        // failure the commit may have landed, and an agent without its
        // entry would be unreachable by id, while an entry without its
        // agent is harmless.
        if result
            .as_ref()
            .is_err_and(|error| error.http_status() < 500)
        {
            self.unindex_owner(id).await;
        }
        // A refused create made no agent: the event names what was asked.
        self.audit_refusal(result, || {
            let subjects = targets.iter().map(refused_subject).collect();
            AuditEvent::done(user, AuditAction::AgentCreated, subjects)
        })
        .await
        .map(|info| (info, GatewayToken::from_secret(token.expose_secret())))
    }

    /// Creates an agent for a manifest's declared variables
    /// ([`Requirements`](crate::Requirements)), the way the product's deploy
    /// flow does: every declared name the vault provides is attached at
    /// creation, in one commit (a secret or variable of exactly that name,
    /// else a provider connection that sets it). If a *required* name is
    /// provided by nothing, nothing is created: [`Error::RequirementsMissing`]
    /// (409) lists every such name.
    pub async fn create_agent_for(
        &self,
        user: &UserId,
        name: &AgentName,
        requirements: &crate::Requirements,
    ) -> Result<(AgentInfo, GatewayToken)> {
        user.check_acting()?;
        let items = self.items(user).await?;
        let connections = self.connections(user).await?;
        let mut targets: Vec<Attachable> = Vec::new();
        let mut missing = Vec::new();
        for requirement in requirements.iter() {
            let wanted = requirement.name.as_str();
            let target = if wanted == self.config.gateway_token_var.as_str() {
                // The vault provides it to every agent.
                continue;
            } else if let Some(item) = items.iter().find(|i| i.name.as_str() == wanted) {
                Attachable::Item(item.name.clone())
            } else if let Some(connection) = connections
                .iter()
                .find(|c| c.variables.iter().any(|v| v == wanted))
            {
                Attachable::Connection(connection.id)
            } else {
                if requirement.required {
                    missing.push(requirement.name.clone());
                }
                continue;
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        if !missing.is_empty() {
            let refused = Err(Error::RequirementsMissing { names: missing });
            return self
                .audit_refusal(refused, || {
                    let subjects = requirements
                        .iter()
                        .map(|r| AuditSubject::name(&r.name))
                        .collect();
                    AuditEvent::done(user, AuditAction::AgentCreated, subjects)
                })
                .await;
        }
        self.create_agent_with(user, name, &targets).await
    }

    /// Resolves `targets`, applies the attachment rules to `current`, adds
    /// the writes that link each newly attached target to `agent`, and
    /// returns the agent's attachments after the change.
    async fn plan_attach(
        &self,
        user: &UserId,
        agent: AgentId,
        current: &[Attachment],
        targets: &[Attachable],
        writes: &mut Vec<Write>,
    ) -> Result<Vec<Attachment>> {
        let (additions, target_records): (Vec<_>, Vec<_>) =
            self.resolve_all(user, targets).await?.into_iter().unzip();
        let asked: Vec<Target> = additions.iter().map(|a| a.target).collect();
        let (next, added) = crate::rules::attach(
            agent,
            current,
            additions,
            self.config.gateway_token_var.as_str(),
        )?;
        for (target, target_record) in asked.into_iter().zip(target_records) {
            let newly = added.iter().any(|a| a.target == target);
            let first = !writes.iter().any(|w: &Write| w.key() == &target_record.key);
            if newly && first {
                writes.push(relink(target_record, |agents| agents.push(agent))?);
            }
        }
        Ok(next)
    }

    /// The user's agents, sorted by name then id.
    pub async fn agents(&self, user: &UserId) -> Result<Vec<AgentInfo>> {
        user.check_acting()?;
        let mut out = self
            .store
            .list(user, RecordKind::Agent)
            .await?
            .iter()
            .map(|record| {
                let id =
                    AgentId::parse(&record.key.id).map_err(|_| records::corrupt(&record.key))?;
                Ok(info(id, &records::decode(record)?))
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(out)
    }

    /// One agent.
    pub async fn agent(&self, user: &UserId, agent: AgentId) -> Result<AgentInfo> {
        user.check_acting()?;
        let (_, body) = self.find_agent(user, agent).await?;
        Ok(info(agent, &body))
    }

    /// Deletes an agent, detaching everything attached to it in the same
    /// commit.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn delete_agent(&self, user: &UserId, agent: AgentId) -> Result<()> {
        user.check_acting()?;
        transact!(self, async {
            let (record, body) = self.find_agent(user, agent).await?;
            let keys: Vec<_> = body
                .attachments
                .iter()
                .map(|a| target_key(user, a.target))
                .collect();
            let mut writes = Vec::with_capacity(keys.len() + 1);
            for target in self.store.get_many(&keys).await?.into_iter().flatten() {
                writes.push(relink(target, |agents| agents.retain(|a| *a != agent))?);
            }
            writes.push(Write::Delete {
                key: record.key,
                expect: record.version,
            });
            let event = agent_event(user, AuditAction::AgentDeleted, agent, &body.name, &[]);
            Ok(Plan::new(writes, ()).audited(event))
        })?;
        self.unindex_owner(agent).await;
        Ok(())
    }

    /// The user who owns `agent`, from the agent id alone: one read of the
    /// agent's owner index record (`docs/FORMAT.md` §6.13), never a scan.
    /// This is what a gateway host that knows only `{agentId}` and a token
    /// calls first, before [`Vault::verify_gateway_token`].
    ///
    /// [`Error::NotFound`] (404) if no agent has that id. An agent deleted
    /// a moment ago may still name its former owner here; every call on it
    /// then answers [`Error::NotFound`], since agent ids are never reused.
    /// Agents created before 0.2.0 are indexed by [`Vault::rewrap`].
    #[tracing::instrument(level = "debug", skip_all, fields(agent = %agent))]
    pub async fn agent_owner(&self, agent: AgentId) -> Result<UserId> {
        match self.store.get(&agent_owner_key(agent)).await? {
            Some(record) => Ok(records::read_agent_owner(&record)?),
            None => Err(agent_not_found(agent)),
        }
    }

    /// Writes `agent`'s owner index entry, in a commit of its own: a commit
    /// holds one user's records and the index lives under the vault's
    /// reserved user. It is written before the agent, so an agent is never
    /// unreachable by id; an entry left without its agent (a failed create)
    /// is harmless, because every use reads the agent under the user the
    /// entry names, and agent ids are random and never reused.
    pub(super) async fn index_owner(&self, user: &UserId, agent: AgentId) -> Result<()> {
        let body = AgentOwnerBody {
            user: user.as_str().to_owned(),
        };
        self.store
            .commit(vec![records::create(agent_owner_key(agent), &body)])
            .await?;
        Ok(())
    }

    /// Writes the owner index entries missing for `user`'s agents (agents
    /// created before 0.2.0 have none); returns how many it wrote.
    pub(super) async fn index_missing_owners(&self, user: &UserId) -> Result<u64> {
        let agents = self.store.list(user, RecordKind::Agent).await?;
        let mut ids = Vec::with_capacity(agents.len());
        for record in &agents {
            ids.push(AgentId::parse(&record.key.id).map_err(|_| records::corrupt(&record.key))?);
        }
        let keys: Vec<RecordKey> = ids.iter().map(|id| agent_owner_key(*id)).collect();
        let found = self.store.get_many(&keys).await?;
        let mut written = 0;
        for (id, entry) in ids.into_iter().zip(found) {
            if entry.is_some() {
                continue;
            }
            match self.index_owner(user, id).await {
                Ok(()) => written += 1,
                // Indexed meanwhile by a concurrent rewrap.
                Err(Error::Store(StoreError::Conflict { .. })) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(written)
    }

    /// Removes `agent`'s owner index entry after the agent is gone. Best
    /// effort: a failure leaves a harmless entry (see
    /// [`Vault::index_owner`]), logged rather than reported, because the
    /// change the caller asked for has been made.
    async fn unindex_owner(&self, agent: AgentId) {
        let key = agent_owner_key(agent);
        let removed = match self.store.get(&key).await {
            Ok(Some(record)) => {
                self.store
                    .commit(vec![Write::Delete {
                        key,
                        expect: record.version,
                    }])
                    .await
            }
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = removed {
            tracing::warn!(%agent, %error, "agent owner index entry left behind");
        }
    }

    /// Attaches secrets, variables and connections to an agent, all or none.
    ///
    /// Refused with 409 if the agent would hold two credentials for one
    /// provider ([`Error::ProviderConflict`]; a secret named like a
    /// provider's variable, e.g. `OPENAI_API_KEY`, counts as that provider's
    /// credential), or get one environment variable twice
    /// ([`Error::DuplicateVariable`]). Attaching what is already attached
    /// changes nothing.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn attach(
        &self,
        user: &UserId,
        agent: AgentId,
        targets: &[Attachable],
    ) -> Result<AgentInfo> {
        user.check_acting()?;
        let result = transact!(self, async {
            let (record, mut body) = self.find_agent(user, agent).await?;
            let mut writes = Vec::with_capacity(targets.len() + 1);
            let before = body.attachments.len();
            body.attachments = self
                .plan_attach(user, agent, &body.attachments, targets, &mut writes)
                .await?;
            let answer = info(agent, &body);
            let added = body.attachments.get(before..).unwrap_or_default();
            let event = agent_event(user, AuditAction::Attached, agent, &body.name, added);
            if !writes.is_empty() {
                writes.push(records::replace(&record, &body));
            }
            Ok(Plan::new(writes, answer).audited(event))
        });
        self.audit_refusal(result, || {
            let asked = targets.iter().map(refused_subject);
            let subjects = std::iter::once(AuditSubject::agent(agent, None))
                .chain(asked)
                .collect();
            AuditEvent::done(user, AuditAction::Attached, subjects)
        })
        .await
    }

    /// Detaches from an agent, all or none; a target that is not attached is
    /// [`Error::NotFound`] (404). The running agent keeps the value until
    /// its next restart (the item shows as [`SyncState::Removed`]).
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn detach(
        &self,
        user: &UserId,
        agent: AgentId,
        targets: &[Attachable],
    ) -> Result<AgentInfo> {
        user.check_acting()?;
        transact!(self, async {
            let (record, mut body) = self.find_agent(user, agent).await?;
            let mut writes = Vec::with_capacity(targets.len() + 1);
            let mut detached = Vec::with_capacity(targets.len());
            for target in targets {
                let position = body
                    .attachments
                    .iter()
                    .position(|a| matches_target(a, target));
                let Some(position) = position else {
                    return Err(Error::NotFound {
                        what: Entity::Attachment,
                        name: target.to_string(),
                    });
                };
                detached.push(body.attachments.remove(position));
            }
            // Every target in one read, whatever their number.
            let keys: Vec<RecordKey> = detached
                .iter()
                .map(|a| target_key(user, a.target))
                .collect();
            for target_record in self.store.get_many(&keys).await?.into_iter().flatten() {
                writes.push(relink(target_record, |agents| {
                    agents.retain(|a| *a != agent)
                })?);
            }
            let answer = info(agent, &body);
            writes.push(records::replace(&record, &body));
            let event = agent_event(user, AuditAction::Detached, agent, &body.name, &detached);
            Ok(Plan::new(writes, answer).audited(event))
        })
    }

    /// The agent's complete environment, for its container's start: every
    /// attached secret, variable and connection plus the gateway token. Also
    /// returns the receipt to hand to [`Vault::record_deployment`] once the
    /// gateway has started with it.
    ///
    /// This is the only way a secret's value leaves the vault.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn environment(
        &self,
        user: &UserId,
        agent: AgentId,
    ) -> Result<(Environment, DeploymentReceipt)> {
        user.check_acting()?;
        // One crypto snapshot for the whole call, taken first.
        let crypto = self.checked_crypto().await?;
        let key = agent_key(user, agent);
        retrying!(self, async {
            let Some(record) = self.store.get(&key).await? else {
                return Err(Error::NotFound {
                    what: Entity::Agent,
                    name: agent.to_string(),
                });
            };
            // Views borrow from the bodies: only what the environment and
            // the receipt keep is allocated.
            let view = AgentView::read(&record)?;
            let mut keys = Vec::with_capacity(view.attachments.len() + 1);
            keys.extend(view.attachments.iter().map(|a| target_key(user, a.target)));
            // The user's keys ride along with the targets: one round trip.
            keys.push(user_keys_key(user));
            let mut found = self.store.get_many(&keys).await?;
            let user_keys = found.pop().flatten();
            // A target missing was detached and deleted between the two
            // reads (attached targets are never deleted, I1): read again.
            if found.iter().any(Option::is_none) {
                return Ok(Attempt::Again);
            }
            let targets = found.iter().flatten();
            self.open_environment(&crypto, user, agent, &view, targets, user_keys)
                .map(Attempt::Done)
        })
    }

    /// Opens everything an agent's environment holds, from the agent's view,
    /// its target records (in attachment order) and the user's key record.
    fn open_environment<'a>(
        &self,
        crypto: &Arc<Crypto>,
        user: &UserId,
        agent: AgentId,
        view: &AgentView<'_>,
        targets: impl Iterator<Item = &'a Record>,
        user_keys: Option<Record>,
    ) -> Result<(Environment, DeploymentReceipt)> {
        let keys = user_keys_of(user_keys)?;
        let mut vars = BTreeMap::new();
        let mut entries = Vec::with_capacity(view.attachments.len());
        let agent_text = agent.to_string();
        let token = open_token(crypto, user, &agent_text, &keys, &view.token)?;
        for (attachment, target) in view.attachments.iter().zip(targets) {
            if matches!(attachment.target, Target::Item(_))
                && self.config.names.is_reserved(&attachment.label)
            {
                // Attached before its name was reserved: refuse to start the
                // agent rather than inject a code-loading variable.
                return Err(Error::invalid_name(
                    &attachment.label,
                    crate::NameError::Reserved,
                ));
            }
            let (revision, instance) = open_target(crypto, user, &keys, target, &mut vars)?;
            entries.push(DeployedEntry {
                target: attachment.target,
                label: attachment.label.clone().into_owned(),
                revision,
                instance,
            });
        }
        vars.insert(
            self.config.gateway_token_var.as_str().to_owned(),
            SecretString::from(token.expose_secret()),
        );
        let mut receipt = DeploymentReceipt {
            user: user.clone(),
            agent,
            issued_at: Timestamp::now(),
            token_revision: view.token_revision,
            entries,
            seal: Vec::new(),
        };
        let sealer = UserCrypto {
            keys,
            crypto: Arc::clone(crypto),
        };
        receipt.seal = sealer.seal(
            &binding::receipt(user, &agent_text),
            &receipt.sealed_bytes(),
        )?;
        Ok((Environment::new(vars), receipt))
    }

    /// Records that `user`'s agent's gateway (re)started with the
    /// environment `receipt` describes: the synced indicator compares
    /// against it. A receipt older than the one recorded is ignored.
    ///
    /// Only a receipt this vault issued for `user`, unchanged, is accepted
    /// ([`Error::InvalidReceipt`] otherwise, recording nothing): its fields
    /// must match its seal (`docs/FORMAT.md` §4, purpose 4), and it must not
    /// claim to be issued more than a minute in the future. So nothing is
    /// ever marked synced that was not delivered.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %receipt.agent))]
    pub async fn record_deployment(
        &self,
        user: &UserId,
        receipt: &DeploymentReceipt,
    ) -> Result<()> {
        user.check_acting()?;
        if &receipt.user != user {
            return Err(Error::InvalidReceipt(ReceiptError::OtherUser));
        }
        let agent = receipt.agent;
        let keys = self.existing_keys(user).await?;
        let opened = keys
            .open(&binding::receipt(user, &agent.to_string()), &receipt.seal)
            .map_err(|_| Error::InvalidReceipt(ReceiptError::Forged))?;
        let sealed: SealedReceipt =
            records::decode_bytes(&opened).ok_or(Error::InvalidReceipt(ReceiptError::Forged))?;
        if sealed != receipt.sealed_part() {
            return Err(Error::InvalidReceipt(ReceiptError::Forged));
        }
        let skew = MAX_RECEIPT_CLOCK_SKEW_MILLIS;
        if receipt.issued_at.unix_millis() > Timestamp::now().unix_millis().saturating_add(skew) {
            return Err(Error::InvalidReceipt(ReceiptError::FromTheFuture));
        }
        transact!(self, async {
            let (record, mut body) = self.find_agent(user, agent).await?;
            if body
                .deployment
                .as_ref()
                .is_some_and(|d| d.at > receipt.issued_at)
            {
                return Ok(Plan::new(Vec::new(), ()));
            }
            body.deployment = Some(Deployment {
                at: receipt.issued_at,
                token_revision: receipt.token_revision,
                entries: receipt.entries.clone(),
            });
            let event = agent_event(
                user,
                AuditAction::DeploymentRecorded,
                agent,
                &body.name,
                &[],
            );
            Ok(Plan::new(vec![records::replace(&record, &body)], ()).audited(event))
        })
    }

    /// The synced indicator: per attached item, whether the running agent
    /// has its current value, and whether the gateway needs a restart.
    /// Compared by revision numbers only, never by values.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn status(&self, user: &UserId, agent: AgentId) -> Result<AgentStatus> {
        user.check_acting()?;
        let (body, current) = self.agent_and_targets(user, agent).await?;
        let Some(deployment) = &body.deployment else {
            let items = body
                .attachments
                .iter()
                .map(|a| ItemStatus {
                    target: a.target,
                    name: a.label.clone(),
                    state: SyncState::NotDeployed,
                })
                .collect();
            // Nothing runs with the agent's values yet: it has to be
            // started, which is a restart as far as the host is concerned.
            return Ok(AgentStatus {
                restart_needed: true,
                token_stale: false,
                items,
            });
        };
        let mut items = Vec::new();
        for (attachment, record) in body.attachments.iter().zip(current) {
            // A connection is addressed by provider and kind, so one removed
            // and connected again (revision 1 again, maybe another
            // credential) has the address and possibly the revision the
            // deployment recorded: only its instance id tells it apart. A
            // deployment that recorded no instance (0.1.0) proves nothing
            // about a connection. Revisions and ids only, never clocks.
            let body = Body::read_target(&record)?;
            let instance = match &body {
                Body::Connection(connection) => Some(connection.instance),
                _ => None,
            };
            let deployed = deployment
                .entries
                .iter()
                .find(|e| e.target == attachment.target);
            let state = match deployed {
                Some(entry) if entry.revision == body.revision() && entry.instance == instance => {
                    SyncState::Synced
                }
                _ => SyncState::Stale,
            };
            items.push(ItemStatus {
                target: attachment.target,
                name: attachment.label.clone(),
                state,
            });
        }
        for entry in &deployment.entries {
            if !body.attachments.iter().any(|a| a.target == entry.target) {
                items.push(ItemStatus {
                    target: entry.target,
                    name: entry.label.clone(),
                    state: SyncState::Removed,
                });
            }
        }
        let token_stale = deployment.token_revision != body.token_revision;
        let restart_needed = token_stale || items.iter().any(|i| i.state != SyncState::Synced);
        Ok(AgentStatus {
            restart_needed,
            token_stale,
            items,
        })
    }

    /// The agent's gateway token (the owner may view it, as in the product).
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn gateway_token(&self, user: &UserId, agent: AgentId) -> Result<GatewayToken> {
        user.check_acting()?;
        let (_, body) = self.find_agent(user, agent).await?;
        let keys = self.existing_keys(user).await?;
        open_token(
            &keys.crypto,
            user,
            &agent.to_string(),
            &keys.keys,
            &body.token,
        )
    }

    /// Replaces the gateway token; the old one fails verification at once.
    /// The running agent is stale until its gateway restarts.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn rotate_gateway_token(
        &self,
        user: &UserId,
        agent: AgentId,
    ) -> Result<GatewayToken> {
        user.check_acting()?;
        self.require_keyring()?;
        let token = GatewayToken::generate();
        transact!(self, async {
            let (record, mut body) = self.find_agent(user, agent).await?;
            let mut writes = Vec::with_capacity(2);
            let keys = self.keys_for(user).await?.push_create(&mut writes);
            body.token = self.seal_token(user, agent, &keys, &token)?;
            body.token_revision += 1;
            writes.push(records::replace(&record, &body));
            let event = agent_event(user, AuditAction::TokenRotated, agent, &body.name, &[])
                .detail("token_revision", body.token_revision);
            Ok(Plan::new(writes, ()).audited(event))
        })?;
        Ok(token)
    }

    /// Checks a presented gateway token in constant time:
    /// [`Error::TokenRejected`] (401) unless it is the agent's current one.
    ///
    /// Made for the request path: each call reads the agent's record (one
    /// store read), and an envelope this vault opened before is not opened
    /// again; the token it held is compared instead. The record is read
    /// every time, so a token rotated by any vault sharing the store fails
    /// on the very next call here (`crypto/tokens.rs`).
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, agent = %agent))]
    pub async fn verify_gateway_token(
        &self,
        user: &UserId,
        agent: AgentId,
        presented: &str,
    ) -> Result<()> {
        user.check_acting()?;
        let (_, body) = self.find_agent(user, agent).await?;
        let crypto = self.checked_crypto().await?;
        let accepted = match crypto.tokens().check(user, agent, &body.token, presented) {
            Some(accepted) => accepted,
            None => {
                let keys = user_keys_of(self.store.get(&user_keys_key(user)).await?)?;
                let id = agent.to_string();
                let token = open_token(&crypto, user, &id, &keys, &body.token)?;
                crypto
                    .tokens()
                    .insert(user, agent, &body.token, token.expose_secret());
                token.verify(presented)
            }
        };
        if accepted {
            return Ok(());
        }
        let mut event = AuditEvent::done(
            user,
            AuditAction::TokenRejected,
            vec![AuditSubject::agent(agent, None)],
        );
        event.agent = Some(agent);
        event.outcome = AuditOutcome::Rejected;
        self.record_event(event).await?;
        Err(Error::TokenRejected)
    }

    /// The agent and the record of everything attached, as one consistent
    /// picture. The two reads are separate, so a detach and delete can land
    /// between them; a target missing then is re-read rather than reported
    /// (attached targets are never deleted, I1).
    async fn agent_and_targets(
        &self,
        user: &UserId,
        agent: AgentId,
    ) -> Result<(AgentBody, Vec<Record>)> {
        retrying!(self, async {
            let (_, body) = self.find_agent(user, agent).await?;
            let keys: Vec<_> = body
                .attachments
                .iter()
                .map(|a| target_key(user, a.target))
                .collect();
            let found = self.store.get_many(&keys).await?;
            Ok(match found.into_iter().collect::<Option<Vec<Record>>>() {
                Some(targets) => Attempt::Done((body, targets)),
                None => Attempt::Again,
            })
        })
    }

    async fn find_agent(&self, user: &UserId, agent: AgentId) -> Result<(Record, AgentBody)> {
        match self.store.get(&agent_key(user, agent)).await? {
            Some(record) => {
                let body = records::decode(&record)?;
                Ok((record, body))
            }
            None => Err(agent_not_found(agent)),
        }
    }

    /// The attachments a request names and the records they point at, in
    /// two store calls whatever their number: one batch for the name index
    /// entries of the named items, one for every target record. Each record
    /// is decoded once.
    async fn resolve_all(
        &self,
        user: &UserId,
        targets: &[Attachable],
    ) -> Result<Vec<(Attachment, Record)>> {
        let name_keys: Vec<RecordKey> = targets
            .iter()
            .filter_map(|target| match target {
                Attachable::Item(name) => Some(name_key(user, name)),
                Attachable::ItemId(_) | Attachable::Connection(_) => None,
            })
            .collect();
        let mut index = if name_keys.is_empty() {
            Vec::new()
        } else {
            self.store.get_many(&name_keys).await?
        }
        .into_iter();
        let mut target_keys = Vec::with_capacity(targets.len());
        for target in targets {
            target_keys.push(match target {
                Attachable::Item(name) => {
                    let entry = index.next().flatten().ok_or_else(|| item_not_found(name))?;
                    let NameBody { item } = records::decode(&entry)?;
                    item_key(user, item)
                }
                Attachable::ItemId(id) => item_key(user, *id),
                Attachable::Connection(id) => connection_key(user, *id),
            });
        }
        let found = self.store.get_many(&target_keys).await?;
        let mut out = Vec::with_capacity(targets.len());
        for (target, record) in targets.iter().zip(found) {
            // Missing here: deleted since the index was read, which is "not
            // found" as well.
            let record = record.ok_or_else(|| match target {
                Attachable::Item(name) => item_not_found(name),
                Attachable::ItemId(id) => Error::NotFound {
                    what: Entity::Item,
                    name: id.to_string(),
                },
                Attachable::Connection(id) => connection_not_found(*id),
            })?;
            let attachment = match (target, Body::read_target(&record)?) {
                (Attachable::Item(_) | Attachable::ItemId(_), Body::Item(body)) => {
                    // An item stored before its name was reserved (or under
                    // a laxer policy) is never handed to an agent.
                    self.check_new_name(&body.name)?;
                    Attachment {
                        target: Target::Item(item_id(&record)?),
                        label: body.name.to_string(),
                        provider: Provider::owning_variable(body.name.as_str()),
                        variables: vec![body.name.to_string()],
                    }
                }
                (Attachable::Connection(id), Body::Connection(body)) => Attachment {
                    target: Target::Connection(*id),
                    label: id.to_string(),
                    provider: Some(id.provider()),
                    variables: body.variables,
                },
                _ => return Err(records::corrupt(&record.key).into()),
            };
            out.push((attachment, record));
        }
        Ok(out)
    }

    fn seal_token(
        &self,
        user: &UserId,
        agent: AgentId,
        keys: &UserCrypto,
        token: &GatewayToken,
    ) -> Result<Vec<u8>> {
        let record = agent.to_string();
        let binding = binding::token(user, &record);
        keys.seal(&binding, token.expose_secret().as_bytes())
    }
}

fn open_token(
    crypto: &Crypto,
    user: &UserId,
    agent: &str,
    keys: &UserKeys,
    sealed: &[u8],
) -> Result<GatewayToken> {
    let binding = binding::token(user, agent);
    let plain = crypto.open(keys, &binding, sealed)?;
    let text = std::str::from_utf8(&plain).map_err(|_| Error::DecryptionFailed)?;
    Ok(GatewayToken::from_secret(text))
}

/// Opens one target into `vars`; returns its revision and, for a
/// connection, its instance.
fn open_target(
    crypto: &Crypto,
    user: &UserId,
    keys: &UserKeys,
    record: &Record,
    vars: &mut BTreeMap<String, SecretString>,
) -> Result<(u64, Option<uuid::Uuid>)> {
    match TargetView::read(record)? {
        TargetView::Item(item) => {
            let value = match item.kind {
                Kind::Variable => {
                    // The view checked that a variable's value is UTF-8.
                    let text = std::str::from_utf8(&item.value)
                        .map_err(|_| records::corrupt(&record.key))?;
                    SecretString::from(text)
                }
                Kind::Secret => {
                    let binding = binding::item(user, &record.key.id, &item.name);
                    secret_text(crypto.open(keys, &binding, &item.value)?)?
                }
            };
            vars.insert(item.name.into_owned(), value);
            Ok((item.revision, None))
        }
        TargetView::Connection(connection) => {
            let binding = binding::connection(user, &record.key.id);
            let plain = crypto.open(keys, &binding, &connection.sealed)?;
            let decoded = crate::provider::decode_payload(&plain).ok_or(Error::DecryptionFailed)?;
            vars.extend(decoded);
            Ok((connection.revision, Some(connection.instance)))
        }
    }
}

/// An opened value as text, moved rather than copied into its
/// [`SecretString`] (the buffer was allocated at its final size, so the move
/// does not reallocate); a value that is not UTF-8 is wiped and refused.
fn secret_text(mut plain: zeroize::Zeroizing<Vec<u8>>) -> Result<SecretString> {
    match String::from_utf8(std::mem::take(&mut *plain)) {
        Ok(text) => Ok(SecretString::from(text)),
        Err(error) => {
            drop(zeroize::Zeroizing::new(error.into_bytes()));
            Err(Error::DecryptionFailed)
        }
    }
}

fn matches_target(attachment: &Attachment, target: &Attachable) -> bool {
    match (target, attachment.target) {
        (Attachable::Item(name), Target::Item(_)) => {
            attachment.label.eq_ignore_ascii_case(name.as_str())
        }
        (Attachable::ItemId(id), Target::Item(attached)) => *id == attached,
        (Attachable::Connection(id), Target::Connection(attached)) => *id == attached,
        _ => false,
    }
}
