//! The reference model: what should exist, in plain maps, values in
//! plaintext. Each method predicts one vault call and, when the call should
//! succeed, applies it.

use std::collections::{BTreeMap, BTreeSet};

use agent_vault::{
    AgentId, ConnectionId, CredentialKind, ImportAction, Kind, OnConflict, Provider, SyncState,
    Timestamp,
};

use super::ops::{AgentName, CRED_VALUES, Cred, ImportOp, NAMES, SLOTS, VALUES, Val};

/// The error an operation should fail with, as much as the model can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum E {
    AlreadyExists,
    Attached(Vec<AgentId>),
    VariablesWouldChange(Vec<AgentId>),
    Dotenv,
    DuplicateVariable(String),
    ImportConflict(Vec<String>),
    InvalidImportEntry { name: String, reason: &'static str },
    InvalidInput,
    InvalidAgentName,
    InvalidName,
    InvalidValue,
    NotFound,
    ProviderConflict(&'static str),
    TokenRejected,
}

pub type R<T> = Result<T, E>;

/// Large enough for a Codex bundle of the pool's tokens (its JSON is
/// what is measured), smaller than [`TOO_LONG`](super::ops::TOO_LONG).
pub const MAX_VALUE_LEN: usize = 192;
pub const TOKEN_VAR: &str = "OPENCLAW_GATEWAY_TOKEN";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MItem {
    /// The model's identity for the item (a recreated name is a new item).
    pub uid: u64,
    pub id: Option<agent_vault::ItemId>,
    pub name: String,
    pub kind: Kind,
    pub value: String,
    pub agents: BTreeSet<AgentId>,
    pub revision: u64,
    /// A variable's earlier values, newest first: kept in clear by the
    /// vault's history (the default ten).
    pub plain_history: Vec<String>,
}

/// How many earlier values the vault keeps (its default).
const HISTORY_LEN: usize = agent_vault::DEFAULT_HISTORY_LEN;

impl MItem {
    /// Replaces the value, as the vault does: a variable's old value joins
    /// its (plaintext) history; a variable made a secret keeps none.
    fn replace(&mut self, value: String, becomes_secret: bool) {
        let old = std::mem::replace(&mut self.value, value);
        if self.kind == Kind::Variable {
            self.plain_history.insert(0, old);
            self.plain_history.truncate(HISTORY_LEN);
        }
        if becomes_secret {
            self.kind = Kind::Secret;
            self.plain_history.clear();
        }
        self.revision += 1;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MConn {
    pub id: ConnectionId,
    /// Variable name and value, in the credential's order.
    pub vars: Vec<(String, String)>,
    /// The parts of `vars` that are secret (for the leak check).
    pub secrets: Vec<String>,
    pub agents: BTreeSet<AgentId>,
    pub revision: u64,
    /// As the vault answered (the model cannot know the clock).
    pub connected_at: Timestamp,
    /// Which connection this is: new on every connect, kept by updates.
    pub instance: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MTarget {
    Item(u64),
    Conn(ConnectionId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MAttachment {
    pub target: MTarget,
    pub label: String,
    pub provider: Option<Provider>,
    pub variables: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MEntry {
    pub target: MTarget,
    pub label: String,
    pub revision: u64,
    /// For a connection, the instance delivered.
    pub instance: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MDeployment {
    pub at: Timestamp,
    pub token_revision: u64,
    pub entries: Vec<MEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MAgent {
    pub name: String,
    pub token: String,
    pub old_tokens: Vec<String>,
    pub token_revision: u64,
    pub attachments: Vec<MAttachment>,
    pub deployment: Option<MDeployment>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// By case-folded name.
    pub items: BTreeMap<String, MItem>,
    pub conns: BTreeMap<ConnectionId, MConn>,
    pub agents: BTreeMap<AgentId, MAgent>,
    pub next_uid: u64,
}

/// What a status row should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MStatus {
    pub restart_needed: bool,
    pub token_stale: bool,
    pub items: Vec<(String, SyncState)>,
}

/// What an import should report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MImport {
    pub entries: Vec<(String, Kind, ImportAction, u32)>,
    pub duplicates: Vec<(String, u32)>,
}

pub fn folded(name: &str) -> String {
    name.to_ascii_uppercase()
}

pub fn reserved(name: &str) -> bool {
    agent_vault::NamePolicy::default().is_reserved(name)
}

pub fn connection_id(index: usize) -> ConnectionId {
    ConnectionId::parse(super::ops::CONNECTIONS[index]).expect("a valid connection id")
}

pub fn agent_name(name: AgentName) -> String {
    match name {
        AgentName::Valid(0) => "alpha".to_owned(),
        AgentName::Valid(_) => "beta".to_owned(),
        AgentName::Empty => String::new(),
        AgentName::TooLong => "x".repeat(101),
        AgentName::Control => "bad\nname".to_owned(),
    }
}

pub const EXPIRES_MILLIS: i64 = 1_900_000_000_000;

/// The connection a credential makes, and its variables and secret parts.
pub fn credential_vars(cred: Cred) -> (ConnectionId, Vec<(String, String)>, Vec<String>) {
    let v = |i: usize| CRED_VALUES[i].to_owned();
    match cred {
        Cred::ApiKey(p, k) => {
            let (provider, var) = [
                (Provider::Anthropic, "ANTHROPIC_API_KEY"),
                (Provider::OpenAi, "OPENAI_API_KEY"),
                (Provider::Venice, "VENICE_API_KEY"),
            ][p];
            (
                ConnectionId::new(provider, CredentialKind::ApiKey).unwrap(),
                vec![(var.to_owned(), v(k))],
                vec![v(k)],
            )
        }
        Cred::Codex(a, r) => {
            let expires = Timestamp::from_unix_millis(EXPIRES_MILLIS).to_rfc3339();
            let json = format!(
                r#"{{"access_token":"{}","refresh_token":"{}","expires_at":"{expires}"}}"#,
                v(a),
                v(r)
            );
            (
                ConnectionId::new(Provider::OpenAi, CredentialKind::CodexSubscription).unwrap(),
                vec![("OPENAI_OAUTH_TOKEN".to_owned(), json)],
                vec![v(a), v(r)],
            )
        }
        Cred::Custom { key, models } => {
            let mut vars = vec![(
                "CUSTOM_OPENAI_BASE_URL".to_owned(),
                "https://llm.example.com/v1".to_owned(),
            )];
            let mut secrets = Vec::new();
            if let Some(k) = key {
                vars.push(("CUSTOM_OPENAI_API_KEY".to_owned(), v(k)));
                secrets.push(v(k));
            }
            if models {
                vars.push(("CUSTOM_OPENAI_MODELS".to_owned(), "m-1,m-2".to_owned()));
            }
            (
                ConnectionId::new(Provider::Custom, CredentialKind::Custom).unwrap(),
                vars,
                secrets,
            )
        }
        Cred::Pinata(k) => (
            ConnectionId::new(Provider::Pinata, CredentialKind::Hosted).unwrap(),
            vec![("PINATA_LLM_KEY".to_owned(), v(k))],
            vec![v(k)],
        ),
    }
}

/// The vault's value limit applies to each variable a connection sets (a
/// Codex bundle is measured as its JSON).
fn check_credential_len(vars: &[(String, String)]) -> R<()> {
    if vars.iter().any(|(_, value)| value.len() > MAX_VALUE_LEN) {
        return Err(E::InvalidValue);
    }
    Ok(())
}

fn not_found<T>() -> R<T> {
    Err(E::NotFound)
}

impl Model {
    pub fn item(&self, name: &str) -> Option<&MItem> {
        self.items.get(&folded(name))
    }

    fn agent(&self, id: AgentId) -> R<&MAgent> {
        self.agents.get(&id).ok_or(E::NotFound)
    }

    fn agent_mut(&mut self, id: AgentId) -> R<&mut MAgent> {
        self.agents.get_mut(&id).ok_or(E::NotFound)
    }

    fn uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }

    // ---- items ----

    pub fn create(&mut self, name: usize, kind: Kind, value: Val) -> R<&MItem> {
        let name = NAMES[name];
        if reserved(name) {
            return Err(E::InvalidName);
        }
        if value.text().len() > MAX_VALUE_LEN {
            return Err(E::InvalidValue);
        }
        if self.item(name).is_some() {
            return Err(E::AlreadyExists);
        }
        let uid = self.uid();
        let item = MItem {
            uid,
            id: None,
            name: name.to_owned(),
            kind,
            value: value.text().to_owned(),
            agents: BTreeSet::new(),
            revision: 1,
            plain_history: Vec::new(),
        };
        Ok(self.items.entry(folded(name)).or_insert(item))
    }

    pub fn update(&mut self, name: usize, value: Val) -> R<&MItem> {
        let name = NAMES[name];
        if value.text().len() > MAX_VALUE_LEN {
            return Err(E::InvalidValue);
        }
        let item = self.items.get_mut(&folded(name)).ok_or(E::NotFound)?;
        item.replace(value.text().to_owned(), false);
        Ok(item)
    }

    pub fn delete(&mut self, name: usize) -> R<()> {
        let key = folded(NAMES[name]);
        let item = self.items.get(&key).ok_or(E::NotFound)?;
        if !item.agents.is_empty() {
            return Err(E::Attached(item.agents.iter().copied().collect()));
        }
        self.items.remove(&key);
        Ok(())
    }

    /// Items sorted as `Vault::list` sorts them (by name as spelled).
    pub fn list(&self) -> Vec<&MItem> {
        let mut items: Vec<&MItem> = self.items.values().collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }

    pub fn variables(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self
            .items
            .values()
            .filter(|i| i.kind == Kind::Variable)
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect();
        vars.sort();
        vars
    }

    pub fn import(&mut self, op: &ImportOp) -> R<MImport> {
        // The grammar takes any value up to the file limit; the vault's
        // value limit refuses an entry below, by its name.
        if op.broken {
            return Err(E::Dotenv);
        }
        // The parser: entries in order of first appearance, last value and
        // line win; every redefinition is a duplicate.
        let mut entries: Vec<(&str, Val, u32)> = Vec::new();
        let mut duplicates = Vec::new();
        for (index, (name, value)) in op.lines.iter().enumerate() {
            let name = NAMES[*name];
            let line = index as u32 + 1;
            match entries.iter_mut().find(|e| e.0 == name) {
                Some(entry) => {
                    entry.1 = *value;
                    entry.2 = line;
                    duplicates.push((name.to_owned(), line));
                }
                None => entries.push((name, *value, line)),
            }
        }
        // The vault's acceptance, entry by entry.
        let mut seen = BTreeSet::new();
        for (name, value, _) in &entries {
            let refuse = |reason| {
                Err(E::InvalidImportEntry {
                    name: (*name).to_owned(),
                    reason,
                })
            };
            if reserved(name) {
                return refuse("reserved");
            }
            if !seen.insert(folded(name)) {
                return refuse("case-duplicate");
            }
            if value.text().len() > MAX_VALUE_LEN {
                return refuse("too-long");
            }
            if *value == Val::Empty {
                return refuse("empty");
            }
        }
        let kind_of = |name: &str| match op.kind_for {
            Some((n, k)) if folded(NAMES[n]) == folded(name) => k,
            _ => op.kind,
        };
        if op.on_conflict == OnConflict::Fail {
            let names: Vec<String> = entries
                .iter()
                .filter(|e| self.item(e.0).is_some())
                .map(|e| e.0.to_owned())
                .collect();
            if !names.is_empty() {
                return Err(E::ImportConflict(names));
            }
        }
        let mut next = self.clone();
        let mut report = Vec::new();
        for (name, value, line) in entries {
            let text = value.text().to_owned();
            match next.items.get_mut(&folded(name)) {
                None => {
                    let uid = next.uid();
                    let kind = kind_of(name);
                    next.items.insert(
                        folded(name),
                        MItem {
                            uid,
                            id: None,
                            name: name.to_owned(),
                            kind,
                            value: text,
                            agents: BTreeSet::new(),
                            revision: 1,
                            plain_history: Vec::new(),
                        },
                    );
                    report.push((name.to_owned(), kind, ImportAction::Create, line));
                }
                Some(item) => {
                    // Sealed after an overwrite when either side is a secret;
                    // only a variable staying a variable is ever compared.
                    let seal = item.kind == Kind::Secret || kind_of(name) == Kind::Secret;
                    let action = if op.on_conflict == OnConflict::Skip {
                        ImportAction::Skip
                    } else if !seal && item.value == text {
                        ImportAction::Unchanged
                    } else {
                        let becomes_secret = seal && item.kind != Kind::Secret;
                        item.replace(text, becomes_secret);
                        ImportAction::Update
                    };
                    report.push((item.name.clone(), item.kind, action, line));
                }
            }
        }
        if !op.dry_run {
            *self = next;
        }
        Ok(MImport {
            entries: report,
            duplicates,
        })
    }

    // ---- connections ----

    pub fn connect(&mut self, cred: Cred, connected_at: Timestamp) -> R<&MConn> {
        let (id, vars, secrets) = credential_vars(cred);
        if self.conns.contains_key(&id) {
            return Err(E::AlreadyExists);
        }
        check_credential_len(&vars)?;
        let instance = self.next_uid;
        self.next_uid += 1;
        let conn = MConn {
            id,
            vars,
            secrets,
            agents: BTreeSet::new(),
            revision: 1,
            connected_at,
            instance,
        };
        Ok(self.conns.entry(id).or_insert(conn))
    }

    pub fn update_connection(&mut self, cred: Cred) -> R<&MConn> {
        let (id, vars, secrets) = credential_vars(cred);
        let conn = self.conns.get_mut(&id).ok_or(E::NotFound)?;
        check_credential_len(&vars)?;
        let names = |vars: &[(String, String)]| -> Vec<String> {
            vars.iter().map(|(n, _)| n.clone()).collect()
        };
        if names(&vars) != names(&conn.vars) && !conn.agents.is_empty() {
            return Err(E::VariablesWouldChange(
                conn.agents.iter().copied().collect(),
            ));
        }
        conn.vars = vars;
        conn.secrets = secrets;
        conn.revision += 1;
        Ok(conn)
    }

    pub fn disconnect(&mut self, index: usize) -> R<()> {
        let id = connection_id(index);
        let conn = self.conns.get(&id).ok_or(E::NotFound)?;
        if !conn.agents.is_empty() {
            return Err(E::Attached(conn.agents.iter().copied().collect()));
        }
        self.conns.remove(&id);
        Ok(())
    }

    // ---- agents ----

    pub fn check_agent_name(name: AgentName) -> R<()> {
        match name {
            AgentName::Valid(_) => Ok(()),
            _ => Err(E::InvalidAgentName),
        }
    }

    pub fn create_agent(&mut self, id: AgentId, name: String, token: String) {
        self.agents.insert(
            id,
            MAgent {
                name,
                token,
                old_tokens: Vec::new(),
                token_revision: 1,
                attachments: Vec::new(),
                deployment: None,
            },
        );
    }

    pub fn delete_agent(&mut self, id: AgentId) -> R<()> {
        let agent = self.agents.remove(&id).ok_or(E::NotFound)?;
        for attachment in agent.attachments {
            self.target_agents(attachment.target).remove(&id);
        }
        Ok(())
    }

    /// Agents sorted as `Vault::agents` sorts them.
    pub fn agent_list(&self) -> Vec<(AgentId, &MAgent)> {
        let mut out: Vec<(AgentId, &MAgent)> = self.agents.iter().map(|(i, a)| (*i, a)).collect();
        out.sort_by(|a, b| (&a.1.name, a.0).cmp(&(&b.1.name, b.0)));
        out
    }

    fn target_agents(&mut self, target: MTarget) -> &mut BTreeSet<AgentId> {
        match target {
            MTarget::Item(uid) => {
                &mut self
                    .items
                    .values_mut()
                    .find(|i| i.uid == uid)
                    .expect("attached items exist")
                    .agents
            }
            MTarget::Conn(id) => {
                &mut self
                    .conns
                    .get_mut(&id)
                    .expect("attached connections exist")
                    .agents
            }
        }
    }

    fn resolve(&self, target: super::ops::Tgt) -> R<MAttachment> {
        match target {
            super::ops::Tgt::Item(name) => {
                let item = self.item(NAMES[name]).ok_or(E::NotFound)?;
                Ok(MAttachment {
                    target: MTarget::Item(item.uid),
                    label: item.name.clone(),
                    provider: Provider::owning_variable(&item.name),
                    variables: vec![item.name.clone()],
                })
            }
            super::ops::Tgt::Conn(index) => {
                let id = connection_id(index);
                let conn = self.conns.get(&id).ok_or(E::NotFound)?;
                Ok(MAttachment {
                    target: MTarget::Conn(id),
                    label: id.to_string(),
                    provider: Some(id.provider()),
                    variables: conn.vars.iter().map(|(n, _)| n.clone()).collect(),
                })
            }
        }
    }

    pub fn attach(&mut self, agent: AgentId, targets: &[super::ops::Tgt]) -> R<Vec<String>> {
        let current = self.agent(agent)?.attachments.clone();
        let mut additions = Vec::new();
        for target in targets {
            additions.push(self.resolve(*target)?);
        }
        let mut next = current.clone();
        for addition in additions {
            if !next.iter().any(|a| a.target == addition.target) {
                next.push(addition);
            }
        }
        let mut per_provider: BTreeMap<Provider, usize> = BTreeMap::new();
        for attachment in &next {
            if let Some(provider) = attachment.provider {
                let count = per_provider.entry(provider).or_default();
                *count += 1;
                if *count > 1 {
                    return Err(E::ProviderConflict(provider.as_str()));
                }
            }
        }
        let mut seen = BTreeSet::from([TOKEN_VAR.to_owned()]);
        for variable in next.iter().flat_map(|a| &a.variables) {
            if !seen.insert(folded(variable)) {
                return Err(E::DuplicateVariable(variable.clone()));
            }
        }
        for attachment in &next[current.len()..] {
            self.target_agents(attachment.target).insert(agent);
        }
        let labels = next.iter().map(|a| a.label.clone()).collect();
        self.agent_mut(agent)?.attachments = next;
        Ok(labels)
    }

    pub fn detach(&mut self, agent: AgentId, targets: &[super::ops::Tgt]) -> R<Vec<String>> {
        let mut attachments = self.agent(agent)?.attachments.clone();
        let mut removed = Vec::new();
        for target in targets {
            let position = attachments.iter().position(|a| match (target, a.target) {
                (super::ops::Tgt::Item(name), MTarget::Item(_)) => {
                    a.label.eq_ignore_ascii_case(NAMES[*name])
                }
                (super::ops::Tgt::Conn(index), MTarget::Conn(id)) => connection_id(*index) == id,
                _ => false,
            });
            let Some(position) = position else {
                return not_found();
            };
            removed.push(attachments.remove(position).target);
        }
        for target in removed {
            self.target_agents(target).remove(&agent);
        }
        let labels = attachments.iter().map(|a| a.label.clone()).collect();
        self.agent_mut(agent)?.attachments = attachments;
        Ok(labels)
    }

    fn target_revision(&self, target: MTarget) -> u64 {
        match target {
            MTarget::Item(uid) => self
                .items
                .values()
                .find(|i| i.uid == uid)
                .map_or(0, |i| i.revision),
            MTarget::Conn(id) => self.conns.get(&id).map_or(0, |c| c.revision),
        }
    }

    /// The environment and the receipt's entries.
    pub fn environment(&self, agent: AgentId) -> R<(BTreeMap<String, String>, u64, Vec<MEntry>)> {
        let a = self.agent(agent)?;
        let mut vars = BTreeMap::new();
        let mut entries = Vec::new();
        for attachment in &a.attachments {
            match attachment.target {
                MTarget::Item(uid) => {
                    let item = self
                        .items
                        .values()
                        .find(|i| i.uid == uid)
                        .expect("attached");
                    vars.insert(item.name.clone(), item.value.clone());
                }
                MTarget::Conn(id) => {
                    vars.extend(self.conns[&id].vars.iter().cloned());
                }
            }
            entries.push(MEntry {
                target: attachment.target,
                label: attachment.label.clone(),
                revision: self.target_revision(attachment.target),
                instance: match attachment.target {
                    MTarget::Conn(id) => Some(self.conns[&id].instance),
                    MTarget::Item(_) => None,
                },
            });
        }
        vars.insert(TOKEN_VAR.to_owned(), a.token.clone());
        Ok((vars, a.token_revision, entries))
    }

    pub fn record_deployment(
        &mut self,
        agent: AgentId,
        at: Timestamp,
        token_revision: u64,
        entries: Vec<MEntry>,
    ) -> R<()> {
        let a = self.agent_mut(agent)?;
        if a.deployment.as_ref().is_some_and(|d| d.at > at) {
            return Ok(());
        }
        a.deployment = Some(MDeployment {
            at,
            token_revision,
            entries,
        });
        Ok(())
    }

    pub fn status(&self, agent: AgentId) -> R<MStatus> {
        let a = self.agent(agent)?;
        let Some(deployment) = &a.deployment else {
            // Never deployed: it has to be started.
            return Ok(MStatus {
                restart_needed: true,
                token_stale: false,
                items: a
                    .attachments
                    .iter()
                    .map(|x| (x.label.clone(), SyncState::NotDeployed))
                    .collect(),
            });
        };
        let mut items = Vec::new();
        for attachment in &a.attachments {
            let revision = self.target_revision(attachment.target);
            // A connection removed and connected again after the deployment
            // has the same address and maybe the same revision, but perhaps
            // another credential: it is another instance.
            let instance = match attachment.target {
                MTarget::Conn(id) => Some(self.conns[&id].instance),
                MTarget::Item(_) => None,
            };
            let deployed = deployment
                .entries
                .iter()
                .find(|e| e.target == attachment.target);
            let state = match deployed {
                Some(entry) if entry.revision == revision && entry.instance == instance => {
                    SyncState::Synced
                }
                _ => SyncState::Stale,
            };
            items.push((attachment.label.clone(), state));
        }
        for entry in &deployment.entries {
            if !a.attachments.iter().any(|x| x.target == entry.target) {
                items.push((entry.label.clone(), SyncState::Removed));
            }
        }
        let token_stale = deployment.token_revision != a.token_revision;
        let restart_needed = token_stale || items.iter().any(|i| i.1 != SyncState::Synced);
        Ok(MStatus {
            restart_needed,
            token_stale,
            items,
        })
    }

    pub fn rotate(&mut self, agent: AgentId, token: String) -> R<()> {
        let a = self.agent_mut(agent)?;
        let old = std::mem::replace(&mut a.token, token);
        a.old_tokens.push(old);
        a.token_revision += 1;
        Ok(())
    }

    pub fn token(&self, agent: AgentId) -> R<&MAgent> {
        self.agent(agent)
    }

    /// Every value that must never be found in a stored record: secrets'
    /// values (unless a variable holds the same text), credentials' secret
    /// parts and gateway tokens, current and past.
    pub fn canaries(&self) -> Vec<String> {
        // What the vault keeps in clear: variables' values and their history.
        let mut variables: BTreeSet<&str> = self
            .items
            .values()
            .filter(|i| i.kind == Kind::Variable)
            .map(|i| i.value.as_str())
            .collect();
        variables.extend(
            self.items
                .values()
                .flat_map(|i| i.plain_history.iter().map(String::as_str)),
        );
        let mut out: Vec<String> = self
            .items
            .values()
            .filter(|i| i.kind == Kind::Secret && !variables.contains(i.value.as_str()))
            .map(|i| i.value.clone())
            .collect();
        for conn in self.conns.values() {
            out.extend(conn.secrets.iter().cloned());
        }
        for agent in self.agents.values() {
            out.push(agent.token.clone());
            out.extend(agent.old_tokens.iter().cloned());
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Secret values the vault saw that are not stored as a variable anywhere:
/// used to check the pool constants are as distinct as intended.
#[allow(dead_code)]
pub fn all_values() -> Vec<&'static str> {
    VALUES.iter().chain(CRED_VALUES.iter()).copied().collect()
}

#[allow(dead_code)]
pub const SLOT_COUNT: usize = SLOTS;
