//! The client's tests: signing and endpoint rules as units, and every outcome against the
//! emulator on loopback (faults included), since the outcome is what the send protocol records.

use super::{
    Client, Credentials, SendOutcome, classify, data_center_endpoints, explain, new_nonce,
    parse_endpoints, redacted, sign,
};
use crate::emulator::{Emulator, EmulatorConfig, Fault};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Odd spacing and key order on purpose: the emulator must receive exactly these bytes.
const BODY: &[u8] = br#"{ "platform":["ios","android"],"audience":{"is_to_all":true},  "notification":{"alert":"Hi \u00e9","title":"T"}}"#;

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        stall: Duration::from_secs(3),
        ..EmulatorConfig::new(crate::validate::check_json_body)
    })
    .expect("emulator starts on an OS-assigned port")
}

fn client(endpoints: Vec<String>, secret: &str, timeout: Duration) -> Client {
    Client::new(endpoints, timeout, Credentials::new("test-key", secret)).expect("client")
}

fn client_for(emu: &Emulator) -> Client {
    client(vec![emu.base_url()], "test-secret", Duration::from_secs(5))
}

/// A loopback port where nothing listens: bind one, note it, let it go.
fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Sends once with `fault` armed; asserts the client did not retry.
fn with_fault(fault: Fault, timeout: Duration) -> (SendOutcome, Emulator) {
    let emu = emulator();
    emu.set_fault(fault, 1);
    let outcome = client(vec![emu.base_url()], "test-secret", timeout).send(BODY, "req-fault");
    assert_eq!(
        emu.requests(),
        1,
        "exactly one request for {fault:?}: {outcome:?}"
    );
    (outcome, emu)
}

fn assert_unknown(outcome: &SendOutcome) {
    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
}

#[test]
fn sign_matches_the_providers_known_answer() {
    assert_eq!(
        sign("Y1W2MeFwwwRxa0", "14314", "1408710653000"),
        "30be0bbca9c9b2e27578701e9fda2358a814c88f"
    );
}

#[test]
fn the_secret_never_shows_in_debug() {
    let creds = Credentials::new("my-key", "Sup3rS3cret");
    let shown = format!("{creds:?}");
    assert!(
        shown.contains("my-key") && shown.contains("<redacted>"),
        "{shown}"
    );
    assert!(!shown.contains("Sup3rS3cret"));
    let client = Client::new(
        vec!["https://api.rong-api.com".into()],
        Duration::from_secs(1),
        creds,
    )
    .expect("client");
    assert!(!format!("{client:?}").contains("Sup3rS3cret"));
}

#[test]
fn nonces_are_short_decimal_and_vary() {
    let a = new_nonce();
    assert!(
        !a.is_empty() && a.len() <= 18 && a.bytes().all(|b| b.is_ascii_digit()),
        "{a}"
    );
    assert!((0..5).any(|_| new_nonce() != a));
}

#[test]
fn data_centers_have_primary_and_backup() {
    assert_eq!(
        data_center_endpoints("cn"),
        Some(["https://api.rong-api.com", "https://api-b.rong-api.com"])
    );
    for name in ["sg", "sg-b", "na", "sa"] {
        let [primary, backup] = data_center_endpoints(name).expect(name);
        assert!(primary.starts_with("https://api.") && backup.starts_with("https://api-b."));
        assert_eq!(
            parse_endpoints(&format!("{primary},{backup}"))
                .expect("valid")
                .len(),
            2
        );
    }
    assert_eq!(data_center_endpoints("eu"), None);
}

#[test]
fn parse_endpoints_allows_plain_http_only_to_loopback() {
    assert_eq!(
        parse_endpoints(" https://api.rong-api.com/ , https://API-B.rong-api.com:8443/base/")
            .expect("https"),
        [
            "https://api.rong-api.com",
            "https://api-b.rong-api.com:8443/base"
        ]
    );
    assert_eq!(
        parse_endpoints(
            "http://127.0.0.1:8080/,http://127.9.9.9,http://localhost:1,http://[::1]:2"
        )
        .expect("loopback"),
        [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:2"
        ]
    );
    for (bad, why) in [
        ("http://api.rong-api.com", "not loopback"),
        ("http://10.0.0.1:8080", "not loopback"),
        ("http://128.0.0.1", "not loopback"),
        ("http://localhost.example.com", "not loopback"),
        ("ftp://127.0.0.1", "scheme"),
        ("api.rong-api.com", "not a URL"),
        ("https://user:pw@api.rong-api.com", "credentials"),
        ("https://api.rong-api.com/?x=1", "query"),
        ("https://a.example,,https://b.example", "empty entry"),
        ("", "no endpoint"),
    ] {
        let error = format!("{:#}", parse_endpoints(bad).expect_err(bad));
        assert!(error.contains(why), "{bad}: {error}");
    }
    let error = Client::new(
        vec!["http://example.com".into()],
        Duration::from_secs(1),
        Credentials::new("k", "s"),
    )
    .expect_err("the client checks endpoints too");
    assert!(format!("{error:#}").contains("not loopback"));
}

#[test]
fn endpoint_errors_never_quote_user_credentials() {
    for list in [
        "https://ops:hunter2-pw@api.rong-api.com",
        "ftp://ops:hunter2-pw@127.0.0.1/x",
        "http://ops:hunter2-pw@example.com",
        "https://api.rong-api.com,https://hunter2-pw@api-b.rong-api.com/?q=1",
        // Passwords with the characters that end a URL's authority.
        "https://ops:hun/ter2-pw@api.rong-api.com",
        "https://ops:hun#ter2-pw@api.rong-api.com",
        "https://ops:hun?ter2-pw@api.rong-api.com",
        "http://ops:a/b?c#hunter2-pw@127.0.0.1:9",
    ] {
        let error = format!("{:#}", parse_endpoints(list).expect_err(list));
        assert!(
            !error.contains("hunter2") && !error.contains("ter2-pw"),
            "{error}"
        );
        assert!(error.contains("***@"), "{error}");
    }
    // An `@` in a path cannot be told from one in a password: masked too, the safe way.
    assert_eq!(redacted("https://a.example/p@q"), "https://***@q");
    assert_eq!(redacted("https://a.example/p"), "https://a.example/p");
    assert_eq!(redacted("not a url"), "not a url");
}

#[test]
fn answers_are_classified_conservatively() {
    let rejected = |o: SendOutcome| match o {
        SendOutcome::Rejected {
            code, http_status, ..
        } => Some((code, http_status)),
        _ => None,
    };
    let ok = |s: &'static str| Ok(s.as_bytes());
    let e = "https://e";
    assert_eq!(
        classify(e, 200, ok(r#"{"code":200,"id":"abc"}"#)),
        SendOutcome::Sent {
            push_id: "abc".into(),
            endpoint: e.into()
        }
    );
    assert_eq!(
        rejected(classify(
            e,
            400,
            ok(r#"{"code":1002,"errorMessage":"bad"}"#)
        )),
        Some((1002, 400))
    );
    assert_eq!(
        rejected(classify(
            e,
            200,
            ok(r#"{"code":1009,"errorMessage":"off"}"#)
        )),
        Some((1009, 200))
    );
    assert_eq!(rejected(classify(e, 401, ok(""))), Some((1004, 401)));
    assert_eq!(rejected(classify(e, 401, Err("reset"))), Some((1004, 401)));
    assert_eq!(
        rejected(classify(e, 429, ok("<html>slow down"))),
        Some((1008, 429))
    );
    assert_eq!(
        rejected(classify(e, 429, ok(r#"{"code":1008}"#))),
        Some((1008, 429))
    );
    for (status, body) in [
        (200, r#"{"code":200}"#), // sent, but no id to prove it
        (200, r#"{"code":200,"id":""}"#),
        (201, r#"{"code":200,"id":"x"}"#),
        (200, r#"{"code":1000,"errorMessage":"internal"}"#),
        (500, r#"{"code":1002,"errorMessage":"bad"}"#),
        (502, "<html>bad gateway"),
        (302, ""),
        (200, "<html>oops"),
        (200, r#"{"id":"x"}"#),
        (200, r#"{"code":"200","id":"x"}"#),
        (200, "[1,2]"),
    ] {
        assert_unknown(&classify(e, status, ok(body)));
    }
    assert_unknown(&classify(e, 200, Err("connection reset")));
    // Any other 4xx: refused as a whole, never processed, whatever the body says.
    for (status, body) in [
        (400, r#"{"code":200,"id":"x"}"#),
        (404, "<html>not found"),
        (413, ""),
        (405, "method"),
    ] {
        assert_eq!(
            rejected(classify(e, status, ok(body))),
            Some((i64::from(status), status)),
            "{status}"
        );
    }
    let SendOutcome::Rejected { message, .. } = classify(e, 413, ok("")) else {
        panic!("rejected");
    };
    assert!(
        message.contains("HTTP 413 Payload Too Large") && message.contains("not processed"),
        "{message}"
    );
    let SendOutcome::Rejected { message, .. } = classify(
        e,
        400,
        Ok(format!(
            r#"{{"code":1002,"errorMessage":"a\nb{}"}}"#,
            "x".repeat(900)
        )
        .as_bytes()),
    ) else {
        panic!("rejected");
    };
    assert!(
        message.starts_with("a b") && message.chars().count() <= 501,
        "{message}"
    );
}

#[test]
fn explain_covers_the_codes_users_can_act_on() {
    assert!(
        explain(1008)
            .is_some_and(|t| t.contains("outside pushform") && t.contains("3 per natural day"))
    );
    assert!(explain(1009).is_some_and(|t| t.contains("Broadcast to Users")));
    assert!(explain(1004).is_some_and(|t| t.contains("RONGCLOUD_APP_SECRET")));
    assert_eq!(explain(401), explain(1004));
    assert!(explain(1002).is_some_and(|t| t.contains("pushform validate")));
    assert_eq!(explain(1000), None);
    assert_eq!(explain(0), None);
}

#[test]
fn sends_the_exact_bytes_and_returns_the_push_id() {
    let emu = emulator();
    let outcome = client_for(&emu).send(BODY, "0b9d7c1e-3f4a-4b5c-9d8e-7f6a5b4c3d2e");
    let received = emu.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].bytes, BODY);
    assert_eq!(
        received[0].request_id.as_deref(),
        Some("0b9d7c1e-3f4a-4b5c-9d8e-7f6a5b4c3d2e")
    );
    assert_eq!(
        outcome,
        SendOutcome::Sent {
            push_id: received[0].push_id.clone(),
            endpoint: emu.base_url()
        }
    );
    assert_eq!(emu.requests(), 1);
}

#[test]
fn an_invalid_request_id_is_refused_before_sending() {
    let emu = emulator();
    let client = client_for(&emu);
    for id in ["", "has space", &"x".repeat(37)] {
        assert!(
            matches!(client.send(BODY, id), SendOutcome::Unreachable { .. }),
            "{id:?}"
        );
    }
    assert_eq!(emu.requests(), 0);
}

#[test]
fn a_connection_closed_unread_is_unknown() {
    // The server took the connection: it might have read the request before closing.
    let (outcome, emu) = with_fault(Fault::CloseUnread, Duration::from_secs(5));
    assert_unknown(&outcome);
    assert!(emu.received().is_empty());
}

#[test]
fn a_stall_past_the_timeout_is_unknown() {
    let started = Instant::now();
    let (outcome, _emu) = with_fault(Fault::StallAfterBody, Duration::from_secs(1));
    assert_unknown(&outcome);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2900),
        "gave up at the timeout: {elapsed:?}"
    );
}

#[test]
fn a_push_accepted_but_never_answered_is_unknown_and_was_received() {
    let (outcome, emu) = with_fault(Fault::Drop, Duration::from_secs(5));
    assert_unknown(&outcome);
    assert_eq!(emu.received().len(), 1, "the worst case: it went out");
    assert_eq!(emu.received()[0].bytes, BODY);
}

#[test]
fn server_errors_and_unreadable_answers_are_unknown() {
    for fault in [Fault::Http500, Fault::NotJson] {
        let (outcome, emu) = with_fault(fault, Duration::from_secs(5));
        assert_unknown(&outcome);
        assert!(emu.received().is_empty());
    }
}

#[test]
fn definite_api_errors_are_rejected() {
    for (fault, expected) in [
        (Fault::RateLimited, (1008, 429)),
        (Fault::NotEnabled, (1009, 403)),
    ] {
        let (outcome, _emu) = with_fault(fault, Duration::from_secs(5));
        match outcome {
            SendOutcome::Rejected {
                code, http_status, ..
            } => {
                assert_eq!((code, http_status), expected);
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
}

/// `BODY` sent once through a client of `endpoints` with `secret` and a 5 s timeout.
fn send_via(endpoints: Vec<String>, secret: &str) -> SendOutcome {
    client(endpoints, secret, Duration::from_secs(5)).send(BODY, "r")
}

#[test]
fn a_wrong_secret_is_rejected_1004() {
    let emu = emulator();
    let outcome = send_via(vec![emu.base_url()], "not-the-secret");
    assert!(
        matches!(
            outcome,
            SendOutcome::Rejected {
                code: 1004,
                http_status: 401,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(emu.received().is_empty());
}

#[test]
fn an_invalid_body_is_rejected_1002() {
    let emu = emulator();
    let outcome = client_for(&emu).send(br#"{"platform":["web"]}"#, "r");
    assert!(
        matches!(
            outcome,
            SendOutcome::Rejected {
                code: 1002,
                http_status: 400,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn the_third_push_within_an_hour_is_rejected_1008() {
    let emu = emulator();
    emu.set_now(Some(1_704_126_600_000));
    let client = client_for(&emu);
    assert!(matches!(client.send(BODY, "r1"), SendOutcome::Sent { .. }));
    assert!(matches!(client.send(BODY, "r2"), SendOutcome::Sent { .. }));
    let outcome = client.send(BODY, "r3");
    assert!(
        matches!(
            outcome,
            SendOutcome::Rejected {
                code: 1008,
                http_status: 429,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(emu.received().len(), 2);
}

#[test]
fn fails_over_only_when_the_primary_cannot_be_connected_to() {
    let backup = emulator();
    let outcome = send_via(vec![dead_endpoint(), backup.base_url()], "test-secret");
    assert!(
        matches!(&outcome, SendOutcome::Sent { endpoint, .. } if *endpoint == backup.base_url()),
        "{outcome:?}"
    );
    assert_eq!(backup.received().len(), 1);
    assert_eq!(backup.requests(), 1);
}

#[test]
fn never_fails_over_after_the_primary_was_reached() {
    let (primary, backup) = (emulator(), emulator());
    primary.set_fault(Fault::Drop, 1);
    let outcome = send_via(vec![primary.base_url(), backup.base_url()], "test-secret");
    assert!(
        matches!(&outcome, SendOutcome::Unknown { endpoint, .. } if *endpoint == primary.base_url()),
        "{outcome:?}"
    );
    assert_eq!(primary.received().len(), 1);
    assert_eq!(
        backup.requests(),
        0,
        "the push went out once; the backup must not send it again"
    );
}

#[test]
fn fails_over_when_the_primary_refuses_connections() {
    let (primary, backup) = (emulator(), emulator());
    primary.set_fault(Fault::Refuse, 1);
    let outcome = send_via(vec![primary.base_url(), backup.base_url()], "test-secret");
    assert!(
        matches!(&outcome, SendOutcome::Sent { endpoint, .. } if *endpoint == backup.base_url()),
        "{outcome:?}"
    );
    assert_eq!(primary.requests(), 0);
    assert_eq!(backup.received().len(), 1);
}

#[test]
fn all_endpoints_refused_is_unreachable() {
    let (a, b) = (dead_endpoint(), dead_endpoint());
    let outcome = send_via(vec![a.clone(), b.clone()], "test-secret");
    let SendOutcome::Unreachable { reason } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.contains(&a) && reason.contains(&b), "{reason}");
}
