//! Parse arbitrary bytes; whatever parses must survive a round trip through
//! `to_string` unchanged, and every error must carry a position.
#![no_main]

use agent_vault::dotenv::{self, ParseErrorKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match dotenv::parse(data) {
        Ok(env) => {
            let pairs: Vec<(&str, &str)> = env
                .entries()
                .iter()
                .map(|e| (e.name(), e.value()))
                .collect();
            let text =
                dotenv::to_string(pairs.iter().copied()).expect("parsed pairs always serialise");
            let again = dotenv::parse(text.as_bytes()).expect("serialised text always parses");
            let round: Vec<(&str, &str)> = again
                .entries()
                .iter()
                .map(|e| (e.name(), e.value()))
                .collect();
            assert_eq!(pairs, round);
            assert!(again.duplicates().is_empty() && again.warnings().is_empty());
        }
        Err(error) => {
            if !matches!(error.kind(), ParseErrorKind::FileTooLarge { .. }) {
                assert!(error.line() >= 1 && error.column() >= 1);
            }
        }
    }
});
