//! The vault's one retry path: every read-decide-commit loop in the vault
//! runs through [`retrying!`], so the attempt bound, the logging and the
//! [`Error::Contention`](crate::Error::Contention) answer live in one place.
//!
//! Macros rather than methods taking async closures because the futures of
//! async closures lose `Send` in generic code, and services spawn vault
//! calls on multi-threaded runtimes.

/// What one attempt of a retried operation came to.
pub(crate) enum Attempt<T> {
    /// Finished with this answer.
    Done(T),
    /// Collided with a concurrent change; try again from a fresh read.
    Again,
}

/// Runs an `async` block producing `Result<Attempt<T>>` until it is done or
/// fails, at most `max_attempts` times, then answers
/// [`Error::Contention`](crate::Error::Contention). The block is evaluated
/// afresh for each attempt, so it re-reads everything it decides on.
macro_rules! retrying {
    ($vault:expr, $attempt:expr) => {{
        let max_attempts: u32 = $vault.config.max_attempts;
        let mut outcome = None;
        for attempt in 1..=max_attempts {
            let step: $crate::Result<$crate::vault::retry::Attempt<_>> = $attempt.await;
            match step {
                Ok($crate::vault::retry::Attempt::Done(answer)) => {
                    outcome = Some(Ok(answer));
                    break;
                }
                Ok($crate::vault::retry::Attempt::Again) => {
                    ::tracing::debug!(attempt, "a concurrent change collided; retrying");
                }
                Err(error) => {
                    outcome = Some(Err(error));
                    break;
                }
            }
        }
        outcome.unwrap_or_else(|| {
            ::tracing::warn!(
                attempts = max_attempts,
                "gave up after repeated concurrent changes"
            );
            Err($crate::Error::Contention {
                attempts: max_attempts,
            })
        })
    }};
}
pub(crate) use retrying;

/// Runs an `async` block that reads and returns a [`Plan`](super::Plan),
/// commits the plan, and on a version conflict runs the block again, through
/// [`retrying!`]. The keyring is checked against the vault first, so a wrong
/// master key writes nothing.
macro_rules! transact {
    ($vault:expr, $plan:expr) => {{
        let vault = $vault;
        match vault.check_keyring().await {
            Err(error) => Err(error),
            Ok(()) => $crate::vault::retry::retrying!(vault, async {
                let plan: $crate::Result<$crate::vault::Plan<_>> = $plan.await;
                let plan = plan.inspect_err(|error| {
                    if error.http_status() == 409 {
                        // A rule refused the change: names and ids only.
                        ::tracing::info!(%error, "refused by a vault rule");
                    }
                })?;
                Ok(match vault.commit_plan(plan).await? {
                    Some((answer, event)) => {
                        vault.emit(event.as_ref());
                        $crate::vault::retry::Attempt::Done(answer)
                    }
                    None => $crate::vault::retry::Attempt::Again,
                })
            }),
        }
    }};
}
pub(crate) use transact;
