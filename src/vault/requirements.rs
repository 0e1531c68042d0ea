//! Checking an agent against what its manifest declares (the product's
//! "Danger" page and its deploy prompt).

use serde::Serialize;

use crate::manifest::{Requirement, Requirements};
use crate::store::Store;
use crate::{AgentId, ConnectionId, Kind, Name, Result, UserId};

use super::Vault;

/// Where a declared variable stands for one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RequirementState {
    /// The agent gets it: an attached secret or variable of that name, an
    /// attached connection that sets it, or the gateway-token variable.
    Attached,
    /// The user has it (a secret, a variable or a connection that sets it),
    /// but it is not attached to this agent.
    NotAttached,
    /// Nothing of the user's provides it.
    Missing,
}

impl RequirementState {
    /// `attached`, `not-attached` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attached => "attached",
            Self::NotAttached => "not-attached",
            Self::Missing => "missing",
        }
    }
}

/// What provides a declared variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Provision {
    /// The user's secret or variable of that name.
    Item {
        /// Secret or variable.
        kind: Kind,
    },
    /// A provider connection that sets the variable (see
    /// [`VARIABLES`](crate::VARIABLES)).
    Connection {
        /// The connection.
        id: ConnectionId,
    },
    /// The vault itself: the variable is the agent's gateway token
    /// ([`VaultConfig::gateway_token_var`](crate::VaultConfig::gateway_token_var)).
    GatewayToken,
}

/// One declared variable, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequirementStatus {
    /// The variable.
    pub name: Name,
    /// Whether the manifest requires it.
    pub required: bool,
    /// The manifest's description of it.
    pub description: Option<String>,
    /// Where it stands.
    pub state: RequirementState,
    /// What provides it, when something does: for [`RequirementState::Attached`]
    /// what the agent gets it from, for [`RequirementState::NotAttached`]
    /// what could be attached.
    pub provided_by: Option<Provision>,
}

/// The outcome of [`Vault::check_requirements`]: one row per declared name,
/// in manifest order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequirementsReport {
    /// The agent checked.
    pub agent: AgentId,
    /// One row per declared name.
    pub entries: Vec<RequirementStatus>,
}

impl RequirementsReport {
    /// Whether every *required* name is attached: the agent can start.
    pub fn is_satisfied(&self) -> bool {
        self.unsatisfied().next().is_none()
    }

    /// The required names that are not attached (in vault or missing).
    pub fn unsatisfied(&self) -> impl Iterator<Item = &RequirementStatus> {
        self.entries
            .iter()
            .filter(|e| e.required && e.state != RequirementState::Attached)
    }

    /// How many rows are in `state`.
    pub fn count(&self, state: RequirementState) -> usize {
        self.entries.iter().filter(|e| e.state == state).count()
    }
}

impl<S: Store> Vault<S> {
    /// Checks `agent` against declared `requirements`: for each name,
    /// whether the agent gets it ([`RequirementState::Attached`]), the user
    /// has it but it is not attached ([`RequirementState::NotAttached`]), or
    /// nothing provides it ([`RequirementState::Missing`]).
    ///
    /// A name is provided by a secret or variable of exactly that name (an
    /// environment variable's name is case-sensitive, so `api_key` does not
    /// provide `API_KEY`), by a provider connection that sets it (per
    /// [`VARIABLES`](crate::VARIABLES): a connected OpenRouter key provides
    /// `OPENROUTER_API_KEY`; a custom endpoint without a key does not
    /// provide `CUSTOM_OPENAI_API_KEY`), or, for the gateway-token variable,
    /// by the vault itself. An attached provider wins over an unattached
    /// one. Nothing is opened or changed; no value is read.
    ///
    /// The agent, the items and the connections are read one after the
    /// other, not as one snapshot: a change made meanwhile may show in one
    /// and not the other, as with any listing.
    ///
    /// ```
    /// use agent_vault::crypto::{Keyring, MasterKey};
    /// use agent_vault::store::MemoryStore;
    /// use agent_vault::{
    ///     Credential, Provider, RequirementState, Requirements, SecretValue, UserId, Vault,
    /// };
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    /// let user = UserId::parse("user_42")?;
    /// let key = SecretValue::parse("sk-or-demo".into())?;
    /// let credential = Credential::api_key(Provider::OpenRouter, key)?;
    /// vault.create_connection(&user, &credential).await?;
    /// let (agent, _token) = vault.create_agent(&user, &"support-bot".parse()?).await?;
    /// let requirements = Requirements::from_manifest_json(
    ///     r#"{"secrets": [{"name": "OPENROUTER_API_KEY"}, {"name": "TELEGRAM_BOT_TOKEN"}]}"#,
    /// )?;
    /// let report = vault.check_requirements(&user, agent.id, &requirements).await?;
    /// let states: Vec<_> = report.entries.iter().map(|e| e.state).collect();
    /// assert_eq!(states, [RequirementState::NotAttached, RequirementState::Missing]);
    /// assert!(!report.is_satisfied());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) if the agent does not
    /// exist; store faults.
    pub async fn check_requirements(
        &self,
        user: &UserId,
        agent: AgentId,
        requirements: &Requirements,
    ) -> Result<RequirementsReport> {
        user.check_acting()?;
        // Fails with NotFound before anything else is read.
        self.agent(user, agent).await?;
        let items = self.items(user).await?;
        let connections = self.connections(user).await?;

        let check = |requirement: &Requirement| {
            let name = requirement.name.as_str();
            let mut found: Option<(bool, Provision)> = None;
            let mut consider = |attached: bool, provision: Provision| {
                // The first attached provider wins; else the first one seen.
                if found.is_none_or(|(was_attached, _)| attached && !was_attached) {
                    found = Some((attached, provision));
                }
            };
            if name == self.config.gateway_token_var.as_str() {
                consider(true, Provision::GatewayToken);
            }
            for item in items.iter().filter(|i| i.name.as_str() == name) {
                consider(
                    item.agents.contains(&agent),
                    Provision::Item { kind: item.kind },
                );
            }
            for connection in connections
                .iter()
                .filter(|c| c.variables.iter().any(|v| v == name))
            {
                consider(
                    connection.agents.contains(&agent),
                    Provision::Connection { id: connection.id },
                );
            }
            let (state, provided_by) = match found {
                Some((true, provision)) => (RequirementState::Attached, Some(provision)),
                Some((false, provision)) => (RequirementState::NotAttached, Some(provision)),
                None => (RequirementState::Missing, None),
            };
            RequirementStatus {
                name: requirement.name.clone(),
                required: requirement.required,
                description: requirement.description.clone(),
                state,
                provided_by,
            }
        };
        Ok(RequirementsReport {
            agent,
            entries: requirements.iter().map(check).collect(),
        })
    }
}
