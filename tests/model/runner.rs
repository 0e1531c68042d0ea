//! Runs operation sequences against a vault and the reference model, and
//! checks every answer, the invariants and the stored records after each
//! step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use agent_vault::crypto::{KeyId, Keyring, MasterKey};
use agent_vault::store::{FaultyStore, MemoryStore, Record, RecordKind, Store};
use agent_vault::{
    AgentId, Attachable, CodexTokens, ConnectionId, Credential, CustomEndpoint, DeploymentReceipt,
    Error, GatewayToken, ImportEntryError, ImportOptions, ItemInfo, Kind, Name, NameError,
    Provider, RewrapOptions, SecretValue, Timestamp, UserId, ValueError, Vault, VaultConfig,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secrecy::{ExposeSecret as _, SecretString};

use super::ops::{self, CRED_VALUES, Cred, NAMES, Op, Presented, SLOTS, Tgt, Val};
use super::reference::{self, E, MEntry, MImport, MStatus, Model, R};

/// A store whose faults the runner can pause while it inspects the state.
pub trait Faults {
    /// Turns injected faults on or off (a no-op for stores without faults).
    fn set_faults(&self, _on: bool) {}
}

impl Faults for MemoryStore {}

#[cfg(feature = "sqlite")]
impl Faults for agent_vault::store::SqliteStore {}

impl<S: Store> Faults for FaultyStore<S> {
    fn set_faults(&self, on: bool) {
        self.set_enabled(on);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemView {
    name: String,
    kind: Kind,
    value: Option<String>,
    agents: Vec<AgentId>,
    version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnView {
    id: ConnectionId,
    variables: Vec<String>,
    agents: Vec<AgentId>,
    version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    id: AgentId,
    name: String,
    attached: Vec<String>,
    deployed_at: Option<Timestamp>,
}

/// A vault answer in a form the model can predict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Unit,
    Item(ItemView),
    Items(Vec<ItemView>),
    Import(MImport, bool),
    Export(Vec<(String, String)>),
    Conn(ConnView),
    Conns(Vec<ConnView>),
    Agent(AgentView),
    Agents(Vec<AgentView>),
    Labels(Vec<String>),
    Env(BTreeMap<String, String>, u64, Vec<(String, u64)>),
    Status(MStatus),
    Token(String),
}

/// What the store holds, seen through the public API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    items: Vec<ItemView>,
    conns: Vec<ConnView>,
    agents: Vec<(AgentView, String, MStatus, BTreeMap<String, String>)>,
    /// Records per kind: agents, connections, items, name index.
    counts: [usize; 4],
}

/// Counters over a whole run.
#[derive(Debug, Default)]
pub struct Stats {
    pub cases: u64,
    pub steps: u64,
    pub ok: u64,
    pub refused: u64,
    pub store_faults: u64,
    pub ambiguous_applied: u64,
    pub retries: u64,
    pub skipped: u64,
}

fn error_kind(error: &Error) -> Result<E, String> {
    Ok(match error {
        Error::AlreadyExists { .. } => E::AlreadyExists,
        Error::Attached { agents, .. } => E::Attached(agents.clone()),
        Error::VariablesWouldChange { agents, .. } => E::VariablesWouldChange(agents.clone()),
        Error::Dotenv(_) => E::Dotenv,
        Error::DuplicateVariable { variable, .. } => E::DuplicateVariable(variable.clone()),
        Error::ImportConflict { names } => E::ImportConflict(names.clone()),
        Error::InvalidImportEntry { name, reason, .. } => E::InvalidImportEntry {
            name: name.clone(),
            reason: match reason {
                ImportEntryError::CaseDuplicate { .. } => "case-duplicate",
                ImportEntryError::Name(NameError::Reserved) => "reserved",
                ImportEntryError::Value(ValueError::Empty) => "empty",
                ImportEntryError::Value(ValueError::TooLong { .. }) => "too-long",
                other => return Err(format!("unexpected import entry error {other:?}")),
            },
        },
        Error::InvalidInput { .. } => E::InvalidInput,
        Error::InvalidAgentName(_) => E::InvalidAgentName,
        Error::InvalidName { .. } => E::InvalidName,
        Error::InvalidValue { .. } => E::InvalidValue,
        Error::NotFound { .. } => E::NotFound,
        Error::ProviderConflict { provider, .. } => E::ProviderConflict(provider.as_str()),
        Error::TokenRejected => E::TokenRejected,
        other => return Err(format!("unexpected error {other:?}")),
    })
}

fn item_view(info: &ItemInfo) -> ItemView {
    ItemView {
        name: info.name.to_string(),
        kind: info.kind,
        value: info.value.clone(),
        agents: info.agents.clone(),
        version: info.version,
    }
}

fn model_item(item: &reference::MItem) -> ItemView {
    ItemView {
        name: item.name.clone(),
        kind: item.kind,
        value: (item.kind == Kind::Variable).then(|| item.value.clone()),
        agents: item.agents.iter().copied().collect(),
        version: item.revision,
    }
}

fn conn_view(info: &agent_vault::ConnectionInfo) -> ConnView {
    ConnView {
        id: info.id,
        variables: info.variables.clone(),
        agents: info.agents.clone(),
        version: info.version,
    }
}

fn model_conn(conn: &reference::MConn) -> ConnView {
    ConnView {
        id: conn.id,
        variables: conn.vars.iter().map(|(n, _)| n.clone()).collect(),
        agents: conn.agents.iter().copied().collect(),
        version: conn.revision,
    }
}

fn agent_view(info: &agent_vault::AgentInfo) -> AgentView {
    AgentView {
        id: info.id,
        name: info.name.to_string(),
        attached: info.attached.clone(),
        deployed_at: info.deployed_at,
    }
}

fn model_agent(id: AgentId, agent: &reference::MAgent) -> AgentView {
    AgentView {
        id,
        name: agent.name.clone(),
        attached: agent.attachments.iter().map(|a| a.label.clone()).collect(),
        deployed_at: agent.deployment.as_ref().map(|d| d.at),
    }
}

fn status_view(status: &agent_vault::AgentStatus) -> MStatus {
    MStatus {
        restart_needed: status.restart_needed,
        token_stale: status.token_stale,
        items: status
            .items
            .iter()
            .map(|i| (i.name.clone(), i.state))
            .collect(),
    }
}

fn env_view(env: &agent_vault::Environment) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned()))
        .collect()
}

fn name(index: usize) -> Name {
    Name::parse(NAMES[index]).expect("pool names are valid")
}

fn value(val: Val) -> SecretValue {
    SecretValue::parse(SecretString::from(val.text())).expect("pool values are valid")
}

fn credential(cred: Cred) -> Credential {
    let s = |i: usize| SecretString::from(CRED_VALUES[i]);
    match cred {
        Cred::ApiKey(p, k) => Credential::api_key(
            [Provider::Anthropic, Provider::OpenAi, Provider::Venice][p],
            SecretValue::parse(s(k)).unwrap(),
        )
        .unwrap(),
        Cred::Codex(a, r) => Credential::CodexSubscription(CodexTokens::new(
            SecretValue::parse(s(a)).unwrap(),
            SecretValue::parse(s(r)).unwrap(),
            Timestamp::from_unix_millis(reference::EXPIRES_MILLIS),
        )),
        Cred::Custom { key, models } => Credential::Custom(
            CustomEndpoint::new(
                "https://llm.example.com/v1/",
                key.map(|k| SecretValue::parse(s(k)).unwrap()),
                if models {
                    vec!["m-1".to_owned(), "m-2".to_owned()]
                } else {
                    Vec::new()
                },
            )
            .expect("a valid endpoint"),
        ),
        Cred::Pinata(k) => Credential::pinata(SecretValue::parse(s(k)).unwrap()),
    }
}

fn attachable(target: Tgt) -> Attachable {
    match target {
        Tgt::Item(n) => Attachable::Item(name(n)),
        Tgt::Conn(c) => Attachable::Connection(reference::connection_id(c)),
    }
}

fn import_options(op: &ops::ImportOp) -> ImportOptions {
    let mut options = ImportOptions::default()
        .on_conflict(op.on_conflict)
        .dry_run(op.dry_run);
    if op.kind == Kind::Variable {
        options = options.as_variables();
    }
    if let Some((n, kind)) = op.kind_for {
        options = options.with_kind_for(NAMES[n], kind);
    }
    options
}

/// What running one operation produced.
enum Outcome {
    /// Answered as the model predicted (`true`: success, `false`: the
    /// predicted refusal).
    Matched(bool),
    /// `Error::Store`: the model was not touched.
    StoreFault,
    /// The operation could not be run (no receipt to record yet).
    Skipped,
}

/// Extra facts a prediction needs that only the vault can know.
#[derive(Default)]
struct Generated {
    agent: Option<(AgentId, String)>,
    token: Option<String>,
    connected_at: Option<Timestamp>,
}

pub struct Run<S: Store + Faults> {
    vault: Vault<S>,
    user: UserId,
    model: Model,
    slots: [Option<AgentId>; SLOTS],
    /// A random agent id that never exists.
    ghost: AgentId,
    receipts: [Vec<(DeploymentReceipt, Vec<MEntry>)>; SLOTS],
    pub stats: Stats,
}

impl<S: Store + Faults> Run<S> {
    pub fn new(store: S, master: MasterKey) -> Self {
        let config = VaultConfig::default().with_max_value_len(reference::MAX_VALUE_LEN);
        // Faults only while an operation runs.
        store.set_faults(false);
        Self {
            vault: Vault::with_config(store, Keyring::single(master), config),
            user: UserId::parse("alice").expect("a valid user id"),
            model: Model::default(),
            slots: [None; SLOTS],
            ghost: AgentId::new_random(),
            receipts: Default::default(),
            stats: Stats::default(),
        }
    }

    fn store(&self) -> &S {
        self.vault.store()
    }

    fn agent_id(&self, slot: usize) -> AgentId {
        self.slots[slot].unwrap_or(self.ghost)
    }

    fn receipt(&self, slot: usize, older: bool) -> Option<(DeploymentReceipt, Vec<MEntry>)> {
        let list = &self.receipts[slot];
        if older { list.first() } else { list.last() }.cloned()
    }

    /// Every record of the user, in key order, read through the store
    /// itself (so it works for any backend). Faults must be off.
    pub async fn snapshot(&self) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        for kind in RecordKind::ALL {
            let mut records = self
                .store()
                .list(&self.user, kind)
                .await
                .map_err(|e| format!("snapshot: {e}"))?;
            out.append(&mut records);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Runs one operation, compares the answer, checks the state. On a store
    /// fault, finds out whether the change applied and retries the call.
    pub async fn step(&mut self, op: &Op) -> Result<(), String> {
        self.stats.steps += 1;
        let mut attempt = 0;
        loop {
            let before = self.snapshot().await?;
            self.store().set_faults(true);
            let outcome = self.execute(op).await;
            self.store().set_faults(false);
            let outcome = outcome?;
            match outcome {
                Outcome::Matched(true) => self.stats.ok += 1,
                Outcome::Matched(false) => {
                    self.stats.refused += 1;
                    // I7: a refused call leaves every record as it was.
                    if self.snapshot().await? != before {
                        return Err("a refused call changed the stored records (I7)".into());
                    }
                }
                Outcome::StoreFault => {
                    self.stats.store_faults += 1;
                    self.resolve(op, &before).await?;
                }
                Outcome::Skipped => self.stats.skipped += 1,
            }
            if op.is_read_only() && self.snapshot().await? != before {
                return Err("a read-only call changed the stored records".into());
            }
            self.check_state().await?;
            // Retry a call that met a store fault, as a service would: the
            // answer must be the right one for whatever state it left.
            if matches!(outcome, Outcome::StoreFault) && attempt < 3 {
                attempt += 1;
                self.stats.retries += 1;
                continue;
            }
            return Ok(());
        }
    }

    async fn execute(&mut self, op: &Op) -> Result<Outcome, String> {
        let user = self.user.clone();
        let vault = &self.vault;
        let mut generated = Generated::default();
        let mut receipt_to_keep = None;
        let actual: Result<Answer, Error> = match op {
            Op::Create {
                name: n,
                kind,
                value: v,
            } => vault
                .create_item(&user, &name(*n), *kind, value(*v))
                .await
                .map(|info| Answer::Item(item_view(&info))),
            Op::Update { name: n, value: v } => vault
                .update_item(&user, &name(*n), value(*v))
                .await
                .map(|i| Answer::Item(item_view(&i))),
            Op::Delete { name: n } => vault
                .delete_item(&user, &name(*n))
                .await
                .map(|()| Answer::Unit),
            Op::Get { name: n } => vault
                .item(&user, &name(*n))
                .await
                .map(|i| Answer::Item(item_view(&i))),
            Op::List => vault
                .items(&user)
                .await
                .map(|l| Answer::Items(l.iter().map(item_view).collect())),
            Op::Import(import) => vault
                .import_dotenv(&user, import.text().as_bytes(), &import_options(import))
                .await
                .map(|report| {
                    let entries = report
                        .entries
                        .iter()
                        .map(|e| (e.name.to_string(), e.kind, e.action, e.line))
                        .collect();
                    Answer::Import(
                        MImport {
                            entries,
                            duplicates: report.duplicates.clone(),
                        },
                        report.dry_run,
                    )
                }),
            Op::Export => match vault.export_variables(&user).await {
                Ok(text) => {
                    let parsed = agent_vault::dotenv::parse(text.as_bytes())
                        .map_err(|e| format!("exported text does not parse: {e}"))?;
                    let mut pairs: Vec<(String, String)> = parsed
                        .entries()
                        .iter()
                        .map(|e| (e.name().to_owned(), e.value().to_owned()))
                        .collect();
                    pairs.sort();
                    Ok(Answer::Export(pairs))
                }
                Err(e) => Err(e),
            },
            Op::Connect(cred) => vault
                .create_connection(&user, &credential(*cred))
                .await
                .map(|i| {
                    generated.connected_at = Some(i.connected_at);
                    Answer::Conn(conn_view(&i))
                }),
            Op::UpdateConnection(cred) => vault
                .update_connection(&user, &credential(*cred))
                .await
                .map(|i| Answer::Conn(conn_view(&i))),
            Op::Disconnect(c) => vault
                .delete_connection(&user, reference::connection_id(*c))
                .await
                .map(|()| Answer::Unit),
            Op::Connections => vault
                .connections(&user)
                .await
                .map(|l| Answer::Conns(l.iter().map(conn_view).collect())),
            Op::CreateAgent {
                slot,
                name: agent_name,
            } => {
                if self.slots[*slot].is_some_and(|id| self.model.agents.contains_key(&id)) {
                    return Ok(Outcome::Skipped);
                }
                let text = reference::agent_name(*agent_name);
                // A name that does not parse never reaches the vault: the
                // type refuses it, with the error the vault would give.
                let parsed = text.parse().map_err(Error::from);
                let created = match parsed {
                    Ok(name) => vault.create_agent(&user, &name).await,
                    Err(refused) => Err(refused),
                };
                match created {
                    Ok((info, token)) => {
                        if !GatewayToken::looks_valid(token.expose_secret()) {
                            return Err("a malformed gateway token".into());
                        }
                        generated.agent = Some((info.id, token.expose_secret().to_owned()));
                        Ok(Answer::Agent(agent_view(&info)))
                    }
                    Err(e) => Err(e),
                }
            }
            Op::DeleteAgent(slot) => vault
                .delete_agent(&user, self.agent_id(*slot))
                .await
                .map(|()| Answer::Unit),
            Op::Agents => vault
                .agents(&user)
                .await
                .map(|l| Answer::Agents(l.iter().map(agent_view).collect())),
            Op::Agent(slot) => vault
                .agent(&user, self.agent_id(*slot))
                .await
                .map(|i| Answer::Agent(agent_view(&i))),
            Op::Attach { slot, targets } => {
                let targets: Vec<Attachable> = targets.iter().map(|t| attachable(*t)).collect();
                vault
                    .attach(&user, self.agent_id(*slot), &targets)
                    .await
                    .map(|i| Answer::Labels(i.attached))
            }
            Op::Detach { slot, targets } => {
                let targets: Vec<Attachable> = targets.iter().map(|t| attachable(*t)).collect();
                vault
                    .detach(&user, self.agent_id(*slot), &targets)
                    .await
                    .map(|i| Answer::Labels(i.attached))
            }
            Op::Environment(slot) => match vault.environment(&user, self.agent_id(*slot)).await {
                Ok((env, receipt)) => {
                    if receipt.user != user || receipt.agent != self.agent_id(*slot) {
                        return Err("a receipt for another user or agent".into());
                    }
                    let entries = receipt
                        .entries
                        .iter()
                        .map(|e| (e.label.clone(), e.revision))
                        .collect();
                    let answer = Answer::Env(env_view(&env), receipt.token_revision, entries);
                    receipt_to_keep = Some(receipt);
                    Ok(answer)
                }
                Err(e) => Err(e),
            },
            Op::RecordDeployment { slot, older } => {
                let Some((receipt, _)) = self.receipt(*slot, *older) else {
                    return Ok(Outcome::Skipped);
                };
                vault
                    .record_deployment(&receipt.user, &receipt)
                    .await
                    .map(|()| Answer::Unit)
            }
            Op::Status(slot) => vault
                .status(&user, self.agent_id(*slot))
                .await
                .map(|s| Answer::Status(status_view(&s))),
            Op::Rotate(slot) => match vault
                .rotate_gateway_token(&user, self.agent_id(*slot))
                .await
            {
                Ok(token) => {
                    if !GatewayToken::looks_valid(token.expose_secret()) {
                        return Err("a malformed gateway token".into());
                    }
                    generated.token = Some(token.expose_secret().to_owned());
                    Ok(Answer::Unit)
                }
                Err(e) => Err(e),
            },
            Op::Verify { slot, presented } => {
                let id = self.agent_id(*slot);
                let text = self.presented(id, *presented);
                vault
                    .verify_gateway_token(&user, id, &text)
                    .await
                    .map(|()| Answer::Unit)
            }
            Op::GatewayToken(slot) => vault
                .gateway_token(&user, self.agent_id(*slot))
                .await
                .map(|t| Answer::Token(t.expose_secret().to_owned())),
            Op::RotateUserKey => match vault.rotate_user_key(&user).await {
                Ok(_) => vault
                    .rewrap_user(
                        &user,
                        &RewrapOptions::default().with_batch_size(3),
                        &mut |_| {},
                    )
                    .await
                    .map(|_| Answer::Unit),
                Err(e) => Err(e),
            },
            Op::RotateMasterKey => {
                let mut keyring = vault.keyring();
                let next = keyring.ids().map(|id| id.0).max().unwrap_or(0) + 1;
                keyring
                    .add(KeyId(next), MasterKey::generate())
                    .map_err(|e| format!("adding key {next}: {e}"))?;
                keyring
                    .promote(KeyId(next))
                    .map_err(|e| format!("promoting key {next}: {e}"))?;
                vault.set_keyring(keyring);
                vault
                    .rewrap(&RewrapOptions::default().with_batch_size(3), &mut |_| {})
                    .await
                    .map(|_| Answer::Unit)
            }
        };
        let actual = match actual {
            Err(Error::Store(_)) => return Ok(Outcome::StoreFault),
            Err(other) => {
                if other.is_retryable() {
                    return Err(format!("unexpected retryable error {other:?}"));
                }
                Err(error_kind(&other)?)
            }
            Ok(answer) => Ok(answer),
        };
        let mut model = self.model.clone();
        let predicted = self.predict(&mut model, op, &generated);
        if predicted != actual {
            return Err(format!(
                "answer differs from the model\n  vault: {actual:?}\n  model: {predicted:?}"
            ));
        }
        let succeeded = actual.is_ok();
        if succeeded {
            self.model = model;
            if let Op::CreateAgent { slot, .. } = op {
                self.slots[*slot] = generated.agent.as_ref().map(|(id, _)| *id);
                self.receipts[*slot].clear();
            }
            if let (Op::Environment(slot), Some(receipt)) = (op, receipt_to_keep) {
                let (_, _, entries) = self
                    .model
                    .environment(receipt.agent)
                    .map_err(|e| format!("{e:?}"))?;
                self.receipts[*slot].push((receipt, entries));
            }
        }
        Ok(Outcome::Matched(succeeded))
    }

    fn presented(&self, id: AgentId, presented: Presented) -> String {
        let agent = self.model.agents.get(&id);
        match (presented, agent) {
            (Presented::Current, Some(a)) => a.token.clone(),
            (Presented::Previous, Some(a)) if !a.old_tokens.is_empty() => {
                a.old_tokens.last().cloned().unwrap_or_default()
            }
            _ => "avgt_not-a-real-token".to_owned(),
        }
    }

    /// The model's answer to `op`, applied to `model` if it succeeds.
    fn predict(&self, model: &mut Model, op: &Op, generated: &Generated) -> R<Answer> {
        Ok(match op {
            Op::Create { name, kind, value } => {
                Answer::Item(model_item(model.create(*name, *kind, *value)?))
            }
            Op::Update { name, value } => Answer::Item(model_item(model.update(*name, *value)?)),
            Op::Delete { name } => {
                model.delete(*name)?;
                Answer::Unit
            }
            Op::Get { name } => {
                Answer::Item(model_item(model.item(NAMES[*name]).ok_or(E::NotFound)?))
            }
            Op::List => Answer::Items(model.list().into_iter().map(model_item).collect()),
            Op::Import(import) => Answer::Import(model.import(import)?, import.dry_run),
            Op::Export => Answer::Export(model.variables()),
            Op::Connect(cred) => {
                let at = generated.connected_at.unwrap_or_else(Timestamp::now);
                Answer::Conn(model_conn(model.connect(*cred, at)?))
            }
            Op::UpdateConnection(cred) => Answer::Conn(model_conn(model.update_connection(*cred)?)),
            Op::Disconnect(c) => {
                model.disconnect(*c)?;
                Answer::Unit
            }
            Op::Connections => Answer::Conns(model.conns.values().map(model_conn).collect()),
            Op::CreateAgent { name, .. } => {
                Model::check_agent_name(*name)?;
                let (id, token) = generated
                    .agent
                    .clone()
                    .unwrap_or_else(|| (AgentId::new_random(), String::new()));
                model.create_agent(id, reference::agent_name(*name), token);
                Answer::Agent(model_agent(id, &model.agents[&id]))
            }
            Op::DeleteAgent(slot) => {
                model.delete_agent(self.agent_id(*slot))?;
                Answer::Unit
            }
            Op::Agents => Answer::Agents(
                model
                    .agent_list()
                    .into_iter()
                    .map(|(id, a)| model_agent(id, a))
                    .collect(),
            ),
            Op::Agent(slot) => {
                let id = self.agent_id(*slot);
                Answer::Agent(model_agent(id, model.token(id)?))
            }
            Op::Attach { slot, targets } => {
                Answer::Labels(model.attach(self.agent_id(*slot), targets)?)
            }
            Op::Detach { slot, targets } => {
                Answer::Labels(model.detach(self.agent_id(*slot), targets)?)
            }
            Op::Environment(slot) => {
                let (vars, token_revision, entries) = model.environment(self.agent_id(*slot))?;
                Answer::Env(
                    vars,
                    token_revision,
                    entries.into_iter().map(|e| (e.label, e.revision)).collect(),
                )
            }
            Op::RecordDeployment { slot, older } => {
                let Some((receipt, entries)) = self.receipt(*slot, *older) else {
                    return Ok(Answer::Unit);
                };
                model.record_deployment(
                    receipt.agent,
                    receipt.issued_at,
                    receipt.token_revision,
                    entries,
                )?;
                Answer::Unit
            }
            Op::Status(slot) => Answer::Status(model.status(self.agent_id(*slot))?),
            Op::Rotate(slot) => {
                let id = self.agent_id(*slot);
                model.token(id)?;
                let token = generated.token.clone().unwrap_or_default();
                model.rotate(id, token)?;
                Answer::Unit
            }
            Op::Verify { slot, presented } => {
                let id = self.agent_id(*slot);
                let agent = model.token(id)?;
                if self.presented(id, *presented) == agent.token {
                    Answer::Unit
                } else {
                    return Err(E::TokenRejected);
                }
            }
            Op::GatewayToken(slot) => {
                Answer::Token(model.token(self.agent_id(*slot))?.token.clone())
            }
            // Key rotation changes no answer the vault gives.
            Op::RotateUserKey | Op::RotateMasterKey => Answer::Unit,
        })
    }

    /// After `Error::Store`: the records must be exactly as before the call
    /// or exactly as after it; find out which and follow it in the model.
    async fn resolve(&mut self, op: &Op, before: &[Record]) -> Result<(), String> {
        let observed = self.observe().await?;
        // The records tell whether the batch was applied; the model then
        // says what they must show in either case.
        if self.snapshot().await? == before {
            if observed != self.expected(&self.model) {
                return Err("records unchanged but the vault shows another state".into());
            }
            return Ok(());
        }
        // Not as before: it must have applied. Learn what the vault generated.
        let mut generated = Generated::default();
        match op {
            Op::CreateAgent { slot, .. } => {
                let new = observed
                    .agents
                    .iter()
                    .find(|(a, ..)| !self.model.agents.contains_key(&a.id));
                if let Some((agent, token, ..)) = new {
                    generated.agent = Some((agent.id, token.clone()));
                    self.slots[*slot] = Some(agent.id);
                    self.receipts[*slot].clear();
                }
            }
            Op::Connect(cred) => {
                let id = reference::credential_vars(*cred).0;
                generated.connected_at = self
                    .vault
                    .connections(&self.user)
                    .await
                    .map_err(|e| e.to_string())?
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.connected_at);
            }
            Op::Rotate(slot) => {
                let id = self.agent_id(*slot);
                generated.token = observed
                    .agents
                    .iter()
                    .find(|(a, ..)| a.id == id)
                    .map(|(_, token, ..)| token.clone());
            }
            _ => {}
        }
        let mut after = self.model.clone();
        let predicted = self.predict(&mut after, op, &generated);
        if predicted.is_ok() && observed == self.expected(&after) {
            self.model = after;
            self.stats.ambiguous_applied += 1;
            return Ok(());
        }
        Err(format!(
            "after a store fault the records are neither as before nor as after the call\n  store: {observed:#?}\n  before: {:#?}\n  after: {:#?}",
            self.expected(&self.model),
            self.expected(&after)
        ))
    }

    /// Reads everything the public API shows. Faults must be off.
    async fn observe(&self) -> Result<Observed, String> {
        let user = &self.user;
        let v = &self.vault;
        let e = |what: &str, err: Error| format!("observing {what}: {err}");
        let items = v
            .items(user)
            .await
            .map_err(|x| e("items", x))?
            .iter()
            .map(item_view)
            .collect();
        let conns = v
            .connections(user)
            .await
            .map_err(|x| e("connections", x))?
            .iter()
            .map(conn_view)
            .collect();
        let mut agents = Vec::new();
        for info in v.agents(user).await.map_err(|x| e("agents", x))? {
            let token = v
                .gateway_token(user, info.id)
                .await
                .map_err(|x| e("token", x))?;
            let status = v.status(user, info.id).await.map_err(|x| e("status", x))?;
            let (env, _) = v
                .environment(user, info.id)
                .await
                .map_err(|x| e("environment", x))?;
            agents.push((
                agent_view(&info),
                token.expose_secret().to_owned(),
                status_view(&status),
                env_view(&env),
            ));
        }
        let mut counts = [0; 4];
        for (slot, kind) in [
            RecordKind::Agent,
            RecordKind::Connection,
            RecordKind::Item,
            RecordKind::Name,
        ]
        .into_iter()
        .enumerate()
        {
            counts[slot] = self
                .store()
                .list(user, kind)
                .await
                .map_err(|x| format!("listing {kind:?}: {x}"))?
                .len();
        }
        Ok(Observed {
            items,
            conns,
            agents,
            counts,
        })
    }

    /// What [`Run::observe`] should see if the store holds `model`.
    fn expected(&self, model: &Model) -> Observed {
        let agents = model
            .agent_list()
            .into_iter()
            .map(|(id, a)| {
                let status = model.status(id).expect("a listed agent");
                let (env, ..) = model.environment(id).expect("a listed agent");
                (model_agent(id, a), a.token.clone(), status, env)
            })
            .collect();
        Observed {
            items: model.list().into_iter().map(model_item).collect(),
            conns: model.conns.values().map(model_conn).collect(),
            agents,
            counts: [
                model.agents.len(),
                model.conns.len(),
                model.items.len(),
                model.items.len(),
            ],
        }
    }

    /// The state equals the model's, the invariants hold on what the store
    /// shows, and no secret is in a stored record.
    pub async fn check_state(&mut self) -> Result<(), String> {
        let observed = self.observe().await?;
        let expected = self.expected(&self.model);
        if observed != expected {
            return Err(format!(
                "the store differs from the model\n  store: {observed:#?}\n  model: {expected:#?}"
            ));
        }
        check_invariants(&observed)?;
        // Item ids are stable: learn each once, then compare.
        for info in self
            .vault
            .items(&self.user)
            .await
            .map_err(|e| e.to_string())?
        {
            let item = self
                .model
                .items
                .get_mut(&info.name.folded())
                .ok_or("an item the model lacks")?;
            match item.id {
                None => item.id = Some(info.id),
                Some(id) if id == info.id => {}
                Some(_) => return Err(format!("item {} changed its id", info.name)),
            }
        }
        let canaries = self.model.canaries();
        for record in self.snapshot().await? {
            for canary in &canaries {
                if contains(&record.body, canary.as_bytes()) {
                    return Err(format!("record {} holds a secret in clear", record.key));
                }
            }
        }
        Ok(())
    }

    /// At the end of a sequence: every secret's value, read back through an
    /// agent's environment, is the model's.
    pub async fn check_values(&mut self) -> Result<(), String> {
        let user = self.user.clone();
        if self.model.items.is_empty() {
            return Ok(());
        }
        let (agent, _) = self
            .vault
            .create_agent(&user, &"value-check".parse().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let targets: Vec<Attachable> = self
            .model
            .items
            .values()
            .map(|i| Attachable::Item(Name::parse(&i.name).expect("valid")))
            .collect();
        self.vault
            .attach(&user, agent.id, &targets)
            .await
            .map_err(|e| format!("attaching every item: {e}"))?;
        let (env, _) = self
            .vault
            .environment(&user, agent.id)
            .await
            .map_err(|e| e.to_string())?;
        for item in self.model.items.values() {
            let got = env.get(&item.name).map(|v| v.expose_secret().to_owned());
            if got.as_deref() != Some(item.value.as_str()) {
                return Err(format!("{} has lost or changed its value", item.name));
            }
        }
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// I1–I3 on what the store shows.
fn check_invariants(observed: &Observed) -> Result<(), String> {
    // I3: names unique ignoring case.
    let mut names = BTreeSet::new();
    for item in &observed.items {
        if !names.insert(item.name.to_ascii_uppercase()) {
            return Err(format!("two items named {} (I3)", item.name));
        }
    }
    for (agent, ..) in &observed.agents {
        let mut providers = BTreeSet::new();
        for label in &agent.attached {
            // I1: every attachment's target exists and lists the agent back.
            let (agents, provider) = if let Ok(id) = ConnectionId::parse(label) {
                let conn = observed
                    .conns
                    .iter()
                    .find(|c| c.id == id && c.id.to_string() == *label)
                    .ok_or(format!(
                        "agent attached to a missing connection {label} (I1)"
                    ))?;
                (&conn.agents, Some(id.provider()))
            } else {
                let item = observed
                    .items
                    .iter()
                    .find(|i| i.name == *label)
                    .ok_or(format!("agent attached to a missing item {label} (I1)"))?;
                (&item.agents, Provider::owning_variable(label))
            };
            if !agents.contains(&agent.id) {
                return Err(format!("{label} does not list its agent back (I1)"));
            }
            // I2: at most one credential per provider.
            if let Some(p) = provider {
                if !providers.insert(p) {
                    return Err(format!("two credentials for {p} on one agent (I2)"));
                }
            }
        }
    }
    // And the other way: every agent a target lists has it attached.
    let attached = |id: AgentId, label: &str| {
        observed
            .agents
            .iter()
            .any(|(a, ..)| a.id == id && a.attached.iter().any(|l| l == label))
    };
    for item in &observed.items {
        for id in &item.agents {
            if !attached(*id, &item.name) {
                return Err(format!("{} lists an agent that lacks it (I1)", item.name));
            }
        }
    }
    for conn in &observed.conns {
        for id in &conn.agents {
            if !attached(*id, &conn.id.to_string()) {
                return Err(format!("{} lists an agent that lacks it (I1)", conn.id));
            }
        }
    }
    Ok(())
}

/// A sequence of operations; `None` is a removed step (so that shrinking
/// can drop steps from a fixed-length sequence).
#[derive(Clone)]
pub struct Sequence(Vec<Option<Op>>);

impl std::fmt::Debug for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "[")?;
        for (index, op) in self.0.iter().enumerate() {
            if let Some(op) = op {
                writeln!(f, "  {index}: {op:?}")?;
            }
        }
        write!(f, "]")
    }
}

/// How many sequences to run: `AGENT_VAULT_MODEL_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("AGENT_VAULT_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` random sequences of `steps` operations, each against a
/// fresh store from `make` (given a per-case seed), and panics with the
/// smallest failing sequence proptest finds.
pub fn run_model<S, F, Fut>(label: &str, cases: u32, steps: usize, make: F) -> Stats
where
    S: Store + Faults + 'static,
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let master = MasterKey::generate();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4_000,
        ..Config::default()
    });
    let strategy = (
        any::<u64>(),
        prop::collection::vec(prop::option::weighted(0.999, ops::op()), steps).prop_map(Sequence),
    );
    let totals = std::cell::RefCell::new(Stats::default());
    let started = Instant::now();
    let result = runner.run(&strategy, |(seed, sequence)| {
        runtime.block_on(async {
            let mut run = Run::new(make(seed).await, master.clone());
            for (index, op) in sequence.0.iter().enumerate() {
                let Some(op) = op else { continue };
                run.step(op)
                    .await
                    .map_err(|m| TestCaseError::fail(format!("step {index}: {op:?}: {m}")))?;
            }
            run.check_values()
                .await
                .map_err(|m| TestCaseError::fail(format!("final values: {m}")))?;
            let mut totals = totals.borrow_mut();
            let s = &run.stats;
            totals.cases += 1;
            totals.steps += s.steps;
            totals.ok += s.ok;
            totals.refused += s.refused;
            totals.store_faults += s.store_faults;
            totals.ambiguous_applied += s.ambiguous_applied;
            totals.retries += s.retries;
            totals.skipped += s.skipped;
            Ok(())
        })
    });
    let elapsed: Duration = started.elapsed();
    let totals = totals.into_inner();
    eprintln!("{label}: {totals:?} in {elapsed:.1?}");
    if let Err(error) = result {
        panic!("{label}: {error}");
    }
    totals
}
