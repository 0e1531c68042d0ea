//! The attachment rules, as pure functions over an agent's attachments.
//!
//! No I/O: the vault reads records, asks these functions, and commits. That
//! keeps the rules in one place for every store, and lets them be
//! property-tested directly.

use std::collections::{BTreeMap, HashSet};

use crate::records::Attachment;
use crate::{AgentId, Entity, Error, Provider, Result};

/// Checks that `attachments` (an agent's whole list after a change) hold at
/// most one credential per provider (I2) and set no environment variable
/// twice, the gateway-token variable `token_var` included.
pub(crate) fn check_attachments(
    agent: AgentId,
    attachments: &[Attachment],
    token_var: &str,
) -> Result<()> {
    let mut per_provider: BTreeMap<Provider, usize> = BTreeMap::new();
    for attachment in attachments {
        if let Some(provider) = attachment.provider {
            let count = per_provider.entry(provider).or_default();
            *count += 1;
            if *count > 1 {
                return Err(Error::ProviderConflict { agent, provider });
            }
        }
    }
    let mut seen = HashSet::new();
    seen.insert(token_var.to_ascii_uppercase());
    for variable in attachments.iter().flat_map(|a| &a.variables) {
        if !seen.insert(variable.to_ascii_uppercase()) {
            return Err(Error::DuplicateVariable {
                agent,
                variable: variable.clone(),
            });
        }
    }
    Ok(())
}

/// `current` with `additions` appended, skipping what is already attached;
/// then checked. Returns the new list and the additions that were new.
pub(crate) fn attach(
    agent: AgentId,
    current: &[Attachment],
    additions: Vec<Attachment>,
    token_var: &str,
) -> Result<(Vec<Attachment>, Vec<Attachment>)> {
    let mut next = current.to_vec();
    let mut added = Vec::new();
    for addition in additions {
        if !next.iter().any(|a| a.target == addition.target) {
            next.push(addition.clone());
            added.push(addition);
        }
    }
    check_attachments(agent, &next, token_var)?;
    Ok((next, added))
}

/// Refuses to delete something attached to agents (I1).
pub(crate) fn check_deletable(what: Entity, name: &str, agents: &[AgentId]) -> Result<()> {
    if agents.is_empty() {
        Ok(())
    } else {
        Err(Error::Attached {
            what,
            name: name.to_owned(),
            agents: agents.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{ConnectionId, CredentialKind, ItemId, Provider, Target};

    fn item(name: &str) -> Attachment {
        Attachment {
            target: Target::Item(ItemId::new_random()),
            label: name.to_owned(),
            provider: Provider::owning_variable(name),
            variables: vec![name.to_owned()],
        }
    }

    fn connection(provider: Provider, kind: CredentialKind) -> Attachment {
        let id = ConnectionId::new(provider, kind).unwrap();
        Attachment {
            target: Target::Connection(id),
            label: id.to_string(),
            provider: Some(provider),
            variables: crate::provider::variables_of(id)
                .map(str::to_owned)
                .collect(),
        }
    }

    #[test]
    fn openai_secret_plus_codex_subscription_is_the_products_409() {
        let agent = AgentId::new_random();
        let err = attach(
            agent,
            &[item("OPENAI_API_KEY")],
            vec![connection(
                Provider::OpenAi,
                CredentialKind::CodexSubscription,
            )],
            "OPENCLAW_GATEWAY_TOKEN",
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::ProviderConflict {
                provider: Provider::OpenAi,
                ..
            }
        ));
        assert_eq!(err.http_status(), 409);
    }

    #[test]
    fn two_connections_of_different_providers_are_fine_and_reattach_is_a_no_op() {
        let agent = AgentId::new_random();
        let anthropic = connection(Provider::Anthropic, CredentialKind::ApiKey);
        let (next, added) = attach(
            agent,
            std::slice::from_ref(&anthropic),
            vec![
                anthropic.clone(),
                connection(Provider::Venice, CredentialKind::ApiKey),
            ],
            "T",
        )
        .unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(added.len(), 1);
    }

    #[test]
    fn same_variable_twice_and_the_token_variable_are_refused() {
        let agent = AgentId::new_random();
        let err = check_attachments(agent, &[item("DB_URL"), item("db_url")], "T").unwrap_err();
        assert!(matches!(err, Error::DuplicateVariable { .. }));
        let err = check_attachments(agent, &[item("MY_TOKEN")], "my_token").unwrap_err();
        assert!(matches!(err, Error::DuplicateVariable { .. }));
    }

    #[test]
    fn attached_items_cannot_be_deleted() {
        let agent = AgentId::new_random();
        assert!(check_deletable(Entity::Secret, "X", &[]).is_ok());
        let err = check_deletable(Entity::Secret, "X", &[agent]).unwrap_err();
        assert!(matches!(&err, Error::Attached { agents, .. } if agents == &[agent]));
    }

    fn any_attachment() -> impl Strategy<Value = Attachment> {
        prop_oneof![
            prop::sample::select(vec![
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
                "DB_URL",
                "db_url",
                "SLACK_TOKEN",
                "VENICE_API_KEY",
                "OPENAI_OAUTH_TOKEN",
            ])
            .prop_map(item),
            prop::sample::select(Provider::ALL.to_vec()).prop_map(|p| {
                let id = ConnectionId::default_for(p);
                connection(p, id.kind())
            }),
            Just(connection(
                Provider::OpenAi,
                CredentialKind::CodexSubscription
            )),
        ]
    }

    proptest! {
        /// Whatever is attached in whatever order, an accepted list never has
        /// two credentials for one provider nor a variable twice, and a
        /// refused change leaves the current list as it was.
        #[test]
        fn accepted_lists_keep_the_invariants(steps in prop::collection::vec(any_attachment(), 1..12)) {
            let agent = AgentId::new_random();
            let mut current: Vec<Attachment> = Vec::new();
            for step in steps {
                let before = current.clone();
                match attach(agent, &current, vec![step], "OPENCLAW_GATEWAY_TOKEN") {
                    Ok((next, _)) => current = next,
                    Err(e) => {
                        prop_assert_eq!(e.http_status(), 409);
                        prop_assert_eq!(&current, &before);
                    }
                }
                let mut providers = HashSet::new();
                let mut vars = HashSet::new();
                for a in &current {
                    if let Some(p) = a.provider { prop_assert!(providers.insert(p)); }
                    for v in &a.variables { prop_assert!(vars.insert(v.to_ascii_uppercase())); }
                }
            }
        }
    }
}
