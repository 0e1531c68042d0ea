//! Behaviour of the public `agent_vault::dotenv` API beyond the fixtures:
//! redaction, error display, default limits, and the serialiser's output.

use agent_vault::dotenv::{
    self, MAX_WARNINGS, ParseErrorKind, ParseOptions, WarningKind, WriteError,
};

#[test]
fn debug_shows_names_but_never_values() {
    let env = dotenv::parse(b"API_KEY=sk-very-secret\nA=${API_KEY}\n").expect("parses");
    let shown = format!("{env:?} {:?} {:#?}", env.entries()[0], env);
    assert!(shown.contains("API_KEY"), "{shown}");
    assert!(!shown.contains("sk-very-secret"), "{shown}");
    assert!(!shown.contains("very"), "{shown}");
}

#[test]
fn error_display_is_line_column_reason() {
    let error = dotenv::parse(b"A=1\n  B=\"never closed\n").expect_err("unterminated");
    assert_eq!(error.kind(), &ParseErrorKind::UnterminatedQuote);
    assert_eq!((error.line(), error.column()), (2, 5));
    assert_eq!(
        error.to_string(),
        "line 2, column 5: the quoted value is never closed"
    );
    assert!(!error.to_string().contains("never closed\""));
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.source().is_none());
}

#[test]
fn warning_display_names_the_reference_and_its_position() {
    let env = dotenv::parse(b"URL=https://$HOST/\n").expect("parses");
    assert_eq!(env.get("URL"), Some("https:///"));
    assert_eq!(env.warnings().len(), 1);
    assert_eq!(
        env.warnings()[0].to_string(),
        "line 1, column 13: `HOST` is not defined earlier in the file; it expanded to an empty string"
    );
}

#[test]
fn warnings_beyond_the_cap_are_counted_and_the_first_ones_kept() {
    let input: String = (0..MAX_WARNINGS + 50)
        .map(|n| format!("K{n}=x$MISSING_{n}\n"))
        .collect();
    let env = dotenv::parse(input.as_bytes()).expect("parses");
    assert_eq!(env.len(), MAX_WARNINGS + 50);
    assert_eq!(env.warning_count(), MAX_WARNINGS + 50);
    assert_eq!(env.warnings().len(), MAX_WARNINGS);
    for (n, warning) in env.warnings().iter().enumerate() {
        assert_eq!(
            (warning.line(), warning.column()),
            (n as u32 + 1, 4 + n.to_string().len() as u32)
        );
        assert_eq!(
            warning.kind(),
            &WarningKind::UndefinedReference {
                name: format!("MISSING_{n}")
            }
        );
    }
    assert!(format!("{env:?}").contains("warning_count: 150"));

    let clean = dotenv::parse(b"A=1\nB=$A\n").expect("parses");
    assert_eq!((clean.warnings().len(), clean.warning_count()), (0, 0));
}

#[test]
fn warning_and_error_columns_count_characters_along_lines_and_across_quoted_line_breaks() {
    let env = dotenv::parse("A=\"é$U1ü\n€€$U2\"\nB=ñ $U3 $U4\n".as_bytes()).expect("parses");
    let positions: Vec<(u32, u32)> = env
        .warnings()
        .iter()
        .map(|w| (w.line(), w.column()))
        .collect();
    assert_eq!(positions, [(1, 5), (2, 3), (3, 5), (3, 9)]);

    // An error after warnings on the same line is still counted in
    // characters from the start of the line.
    let error = dotenv::parse("A=é$U1${\n".as_bytes()).expect_err("unclosed");
    assert_eq!(error.kind(), &ParseErrorKind::InvalidReference);
    assert_eq!((error.line(), error.column()), (1, 7));
}

#[test]
fn expansion_budget_counts_every_reference_including_replaced_values() {
    let options = ParseOptions::default().with_max_expansion_size(12);
    // Three copies of the 4 bytes of X are exactly the budget, though only
    // one of them is still held at the end.
    let at_limit = b"X=abcd\nA=$X\nA=$X\nA=${X}\n";
    let env = dotenv::parse_with(at_limit, &options).expect("exactly at the budget");
    assert_eq!(env.get("A"), Some("abcd"));
    assert_eq!(env.duplicates().len(), 2);

    let over = b"X=abcd\nA=$X\nA=$X\nA=${X}\nA=ok$X\n";
    let error = dotenv::parse_with(over, &options).expect_err("over the budget");
    assert_eq!(
        error.kind(),
        &ParseErrorKind::ExpansionTooLarge { limit: 12 }
    );
    assert_eq!((error.line(), error.column()), (5, 5));
    assert_eq!(
        error.to_string(),
        "line 5, column 5: references together expand to more than the limit of 12 bytes"
    );
    assert!(!format!("{error:?}").contains("abcd"));

    // Literal text, escapes and undefined references cost nothing.
    let free = ParseOptions::default().with_max_expansion_size(0);
    let env = dotenv::parse_with(b"A=abc\\$X\nB=\"\\t$U\"\nC='$A'\n", &free).expect("no expansion");
    assert_eq!(env.get("A"), Some("abc$X"));
    assert_eq!(env.warning_count(), 1);
}

#[test]
fn references_never_read_the_process_environment() {
    // PATH and HOME are set in any test environment; the file must not see them.
    assert!(std::env::var_os("PATH").is_some());
    let env = dotenv::parse(b"A=$PATH\nB=${HOME:-none}\n").expect("parses");
    assert_eq!(env.get("A"), Some(""));
    assert_eq!(env.get("B"), Some("none"));
    assert_eq!(env.warnings().len(), 1);
}

#[test]
fn default_limits_are_one_mib_for_the_file_and_for_a_value() {
    let options = ParseOptions::default();
    assert_eq!(options.max_file_size, 1024 * 1024);
    assert_eq!(options.max_value_size, 1024 * 1024);
    assert_eq!(options.max_total_value_size, 4 * 1024 * 1024);
    assert_eq!(options.max_expansion_size, 4 * 1024 * 1024);

    // The vault's 64 KiB is not the grammar's: a value as large as the file
    // allows parses.
    let largest = format!("A={}", "v".repeat(1024 * 1024 - 2));
    assert_eq!(
        dotenv::parse(largest.as_bytes())
            .expect("a value filling the file is fine")
            .get("A")
            .map(str::len),
        Some(1024 * 1024 - 2)
    );
    // Only references can make a value larger than the file.
    let half = "v".repeat(512 * 1024);
    let over = format!("X={half}\nA=$X$X$X\n");
    let error = dotenv::parse(over.as_bytes()).expect_err("over 1 MiB");
    assert_eq!(
        error.kind(),
        &ParseErrorKind::ValueTooLarge { limit: 1024 * 1024 }
    );
    assert_eq!((error.line(), error.column()), (2, 3));

    let file = vec![b'#'; 1024 * 1024];
    assert!(
        dotenv::parse(&file)
            .expect("exactly 1 MiB is fine")
            .is_empty()
    );
    let file = vec![b'#'; 1024 * 1024 + 1];
    let error = dotenv::parse(&file).expect_err("over 1 MiB");
    assert_eq!(
        error.kind(),
        &ParseErrorKind::FileTooLarge { limit: 1024 * 1024 }
    );
    assert_eq!(
        error.to_string(),
        "the file is larger than the limit of 1048576 bytes"
    );
}

#[test]
fn references_cannot_blow_up_memory() {
    // Each line doubles the previous value; the total limit stops it long
    // before the 1 MiB per-value limit would.
    let mut input = String::from("A0=0123456789abcdef0123456789abcdef\n");
    for i in 1..40 {
        input.push_str(&format!("A{i}=$A{prev}$A{prev}\n", prev = i - 1));
    }
    for i in 0..200 {
        input.push_str(&format!("B{i}=$A11\n"));
    }
    let error = dotenv::parse(input.as_bytes()).expect_err("too much");
    assert!(
        matches!(
            error.kind(),
            ParseErrorKind::ValueTooLarge { .. } | ParseErrorKind::ValuesTooLarge { .. }
        ),
        "{error}"
    );
    let small = ParseOptions::default().with_max_total_value_size(100);
    let error = dotenv::parse_with(b"A=0123456789\nB=$A$A$A$A$A$A$A$A$A$A$A\n", &small)
        .expect_err("over total");
    assert_eq!(error.kind(), &ParseErrorKind::ValuesTooLarge { limit: 100 });
}

#[test]
fn to_string_writes_bare_values_bare_and_quotes_the_rest() {
    let text = dotenv::to_string([
        ("PLAIN", "postgres://u@h:5432/db?a=b,c+d"),
        ("EMPTY", ""),
        ("SPACES", "  two  "),
        ("SPECIAL", "a\"b\\c$HOME\n\r\t#'`"),
        ("UNICODE", "héllo"),
    ])
    .expect("valid");
    assert_eq!(
        text.as_str(),
        "PLAIN=postgres://u@h:5432/db?a=b,c+d\n\
         EMPTY=\n\
         SPACES=\"  two  \"\n\
         SPECIAL=\"a\\\"b\\\\c\\$HOME\\n\\r\\t#'`\"\n\
         UNICODE=\"héllo\"\n"
    );
}

#[test]
fn to_string_refuses_what_cannot_be_written() {
    assert_eq!(
        dotenv::to_string([("1BAD", "x")]).expect_err("bad name"),
        WriteError::InvalidName {
            name: "1BAD".to_owned()
        }
    );
    assert_eq!(
        dotenv::to_string([("OK", "a\0b")]).expect_err("NUL"),
        WriteError::NulInValue {
            name: "OK".to_owned()
        }
    );
    let error = dotenv::to_string([("OK", "secret\0value")]).expect_err("NUL");
    assert!(!format!("{error} {error:?}").contains("secret"));
}

#[test]
fn entries_move_out_without_copies() {
    let env = dotenv::parse(b"B=2\nA=1\n").expect("parses");
    let parts: Vec<(String, String)> = env
        .into_entries()
        .into_iter()
        .map(|entry| {
            let (name, value) = entry.into_parts();
            (name, value.as_str().to_owned())
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("B".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned())
        ]
    );
}
