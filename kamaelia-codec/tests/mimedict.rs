//! MimeDict: parsing, rendering, errors, the round-trip property, and the Marshaller.

use axon_core::components::{Collect, DataSource};
use axon_core::{Control, Scheduler, link};
use bytes::Bytes;
use kamaelia_codec::{Marshaller, MimeDict, MimeErrorKind};
use proptest::prelude::*;

#[test]
fn keeps_order_and_repeats_and_unfolds() {
    let text = "Received: from a\nReceived: from b\nSubject: hello\n\tworld\nX-Empty:\n\nbody line 1\nbody line 2\n";
    let dict = MimeDict::parse(text).unwrap();
    assert_eq!(
        dict.headers,
        [
            ("Received".to_string(), "from a".to_string()),
            ("Received".to_string(), "from b".to_string()),
            ("Subject".to_string(), "hello\tworld".to_string()),
            ("X-Empty".to_string(), String::new()),
        ]
    );
    assert_eq!(dict.body, "body line 1\nbody line 2\n");
    assert_eq!(
        dict.get_all("received").collect::<Vec<_>>(),
        ["from a", "from b"]
    );
}

#[test]
fn malformed_input_is_a_clear_error_with_its_line() {
    let err = MimeDict::parse("Good: yes\nno colon here\n\nbody").unwrap_err();
    assert_eq!(
        (err.line, err.kind.clone()),
        (2, MimeErrorKind::MissingColon)
    );
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = MimeDict::parse(" starts folded\n\n").unwrap_err();
    assert_eq!(err.kind, MimeErrorKind::ContinuationWithoutHeader);
    let err = MimeDict::parse("Bad Name: x\n\n").unwrap_err();
    assert!(matches!(err.kind, MimeErrorKind::InvalidName(_)));
    let mut dict = MimeDict::default();
    dict.push("Subject", "two\nlines");
    assert!(matches!(
        dict.render().unwrap_err().kind,
        MimeErrorKind::InvalidValue(_)
    ));
}

#[test]
fn long_values_are_folded_and_come_back_exactly() {
    let mut dict = MimeDict::default();
    let long = "word ".repeat(60).trim_end().to_string();
    dict.push("X-Long", long.clone());
    let text = dict.render().unwrap();
    // Broken at the first space after column 78, so lines stay near 78 (RFC 2822: SHOULD 78).
    assert!(text.lines().all(|l| l.len() <= 84), "{text}");
    assert!(text.lines().count() > 3);
    assert_eq!(
        MimeDict::parse(&text).unwrap().get("X-Long"),
        Some(long.as_str())
    );
}

fn header_name() -> impl Strategy<Value = String> {
    "[!-9;-~]{1,20}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Any text without line breaks that does not start with whitespace (spaces inside and at the
    // end, tabs, non-ASCII all allowed).
    "([^ \t\r\n][^\r\n]{0,200})?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn render_then_parse_is_the_identity(
        headers in prop::collection::vec((header_name(), header_value()), 0..12),
        body in any::<String>(),
    ) {
        let dict = MimeDict { headers, body };
        let text = dict.render().unwrap();
        prop_assert_eq!(MimeDict::parse(&text).unwrap(), dict);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = MimeDict::parse(&text);
    }

    /// Parse and render agree on one grammar: whatever parses renders, and comes back the same.
    #[test]
    fn whatever_parses_renders_and_parses_back_the_same(
        text in "([a-zA-Z:]{0,4}[ \t:\r\na-z]{0,6}){0,12}",
    ) {
        if let Ok(dict) = MimeDict::parse(&text) {
            let rendered = dict.render();
            prop_assert!(rendered.is_ok(), "{:?} parsed to {:?}, which does not render: {:?}", text, dict, rendered);
            prop_assert_eq!(MimeDict::parse(&rendered.unwrap()).unwrap(), dict);
        }
    }
}

#[test]
fn a_value_begun_on_a_continuation_line_and_a_bare_cr_agree_with_render() {
    let dict = MimeDict::parse("Subject:\r\n  folded\r\n\r\nbody").unwrap();
    assert_eq!(dict.get("Subject"), Some("folded"));
    assert_eq!(MimeDict::parse(&dict.render().unwrap()).unwrap(), dict);
    let error = MimeDict::parse("Subject: a\rb\r\n\r\n").unwrap_err();
    assert_eq!(error.line, 1);
    assert!(error.to_string().contains("line break"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_marshaller_goes_both_ways_and_reports_bad_input() {
    let scheduler = Scheduler::new();
    let marshaller = Marshaller::<MimeDict>::default();
    let mut dict = MimeDict::default();
    dict.push("Content-Type", "text/plain");
    dict.body = "hi".to_string();
    let values = DataSource::new([dict.clone()]);
    let texts = DataSource::new([Bytes::from("A: 1\r\n\r\nbody"), Bytes::from("broken\n\n")]);
    link(&values.outbox, &marshaller.marshall).unwrap();
    link(&texts.outbox, &marshaller.demarshall).unwrap();
    let (bytes_out, marshalled) = Collect::<Bytes>::new();
    let (dicts_out, demarshalled) = Collect::<MimeDict>::new();
    let (errors_out, errors) = Collect::<String>::new();
    link(&marshaller.marshalled, &bytes_out.inbox).unwrap();
    link(&marshaller.demarshalled, &dicts_out.inbox).unwrap();
    link(&marshaller.errors, &errors_out.inbox).unwrap();
    let stops = [
        marshaller.control.to_ref(),
        bytes_out.control.to_ref(),
        dicts_out.control.to_ref(),
        errors_out.control.to_ref(),
    ];
    scheduler.activate(values);
    scheduler.activate(texts);
    scheduler.activate(marshaller);
    scheduler.activate(bytes_out);
    scheduler.activate(dicts_out);
    scheduler.activate(errors_out);
    let drive = async {
        while marshalled.is_empty() || demarshalled.is_empty() || errors.is_empty() {
            tokio::task::yield_now().await;
        }
        for stop in &stops {
            stop.send(Control::ProducerFinished).await.unwrap();
        }
    };
    tokio::join!(scheduler.run(), drive);
    assert_eq!(marshalled.take(), [Bytes::from(dict.render().unwrap())]);
    let got = demarshalled.take();
    assert_eq!(got[0].get("A"), Some("1"));
    assert_eq!(got[0].body, "body");
    let errors = errors.take();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("line 1"), "{errors:?}");
}
