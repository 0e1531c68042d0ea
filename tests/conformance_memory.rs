//! The public conformance suite against `MemoryStore`.

use agent_vault::store::MemoryStore;

agent_vault::conformance_tests!(|| async { MemoryStore::new() });

/// The report-style runner agrees with the per-behaviour tests.
#[tokio::test]
async fn run_all_reports_every_behaviour_passing() {
    let store = MemoryStore::new();
    let outcomes = agent_vault::conformance::run_all(&store).await;
    assert_eq!(outcomes.len(), agent_vault::conformance::BEHAVIOURS.len());
    for outcome in outcomes {
        assert_eq!(outcome.result, Ok(()), "{}", outcome.behaviour);
    }
}

/// The suite again with two handles (clones share the data), as the macro
/// takes them.
mod two_handles {
    use agent_vault::conformance::Handles;
    use agent_vault::store::MemoryStore;

    agent_vault::conformance_tests!(|| async {
        let store = MemoryStore::new();
        Handles::new(store.clone()).with_second(store)
    });
}
