//! End-to-end tests of the `agent-vault` command.
