//! The emulator's tests: it is driven from outside, over loopback, the way a client meets it.

use super::push::sign;
use super::state::lock;
use super::{Emulator, EmulatorConfig, Fault};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const BODY: &str =
    r#"{"platform":["ios"],"audience":{"is_to_all":true},"notification":{"alert":"hi"}}"#;

/// The test suite is the emulator's caller: it passes pushform's own body rules.
fn config() -> EmulatorConfig {
    EmulatorConfig::new(crate::validate::check_json_body)
}

fn check_body(v: &Value) -> Result<(), String> {
    super::push::check_body(crate::validate::check_json_body, v)
}

fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).expect("emulator starts on an OS-assigned port")
}

fn addr(emu: &Emulator) -> String {
    emu.base_url().trim_start_matches("http://").to_owned()
}

/// Sends raw bytes, half-closes, and returns (status, body) of the answer (0 if none).
fn raw(emu: &Emulator, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr(emu)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn signed(key: &str, secret: &str, body: &str) -> Vec<u8> {
    let (nonce, timestamp) = ("12345", "1700000000000");
    format!(
            "POST /push.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nApp-Key: {key}\r\n\
             Nonce: {nonce}\r\nTimestamp: {timestamp}\r\nSignature: {}\r\nX-Request-ID: r-1\r\n\
             Content-Length: {}\r\n\r\n{body}",
            sign(secret, nonce, timestamp),
            body.len()
        )
        .into_bytes()
}

fn code(body: &str) -> Option<i64> {
    serde_json::from_str::<Value>(body)
        .ok()?
        .get("code")?
        .as_i64()
}

#[test]
fn accepts_a_signed_valid_push_and_records_it() {
    let emu = start(config());
    let (status, body) = raw(&emu, &signed("test-key", "test-secret", BODY));
    assert_eq!((status, code(&body)), (200, Some(200)), "{body}");
    let received = emu.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].bytes, BODY.as_bytes());
    assert_eq!(received[0].push_id.len(), 22);
    assert!(body.contains(&received[0].push_id));
    assert_eq!(received[0].request_id.as_deref(), Some("r-1"));
    assert_eq!(emu.requests(), 1);
}

#[test]
fn bad_signature_or_key_is_401_1004_and_spends_no_quota() {
    let emu = start(config());
    for request in [
        signed("test-key", "wrong", BODY),
        signed("other-key", "test-secret", BODY),
        format!(
            "POST /push.json HTTP/1.1\r\nContent-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
        .into_bytes(),
    ] {
        let (status, body) = raw(&emu, &request);
        assert_eq!((status, code(&body)), (401, Some(1004)), "{body}");
    }
    assert_eq!(emu.requests(), 3);
    // All of the quota (2 per hour) is still there.
    for _ in 0..2 {
        assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
    }
}

#[test]
fn invalid_bodies_are_400_1002() {
    let emu = start(EmulatorConfig {
        per_hour: 10,
        per_day: 10,
        ..config()
    });
    let (status, body) = raw(&emu, &signed("test-key", "test-secret", "not json"));
    assert_eq!((status, code(&body)), (400, Some(1002)), "{body}");
    let (status, body) = raw(
        &emu,
        &signed("test-key", "test-secret", r#"{"platform":[]}"#),
    );
    assert_eq!((status, code(&body)), (400, Some(1002)), "{body}");
    assert!(emu.received().is_empty());
}

#[test]
fn check_body_enforces_the_provider_rules() {
    let good = json!({
        "platform": ["ios", "android"],
        "fromuserid": "ops",
        "audience": {"is_to_all": false, "tag": ["lang_en"]},
        "notification": {"title": "t".repeat(50), "alert": "hi"},
        "message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hi\"}"}
    });
    assert_eq!(check_body(&good), Ok(()));
    let broken = |path: &[&str], value: Value| {
        let mut v = good.clone();
        let (last, parents) = path.split_last().expect("path");
        let mut target = &mut v;
        for key in parents {
            target = target.get_mut(*key).expect("parent");
        }
        if value.is_null() {
            target.as_object_mut().expect("object").remove(*last);
        } else {
            target[*last] = value;
        }
        check_body(&v).expect_err(&format!("{path:?} should be refused"))
    };
    assert!(broken(&["platform"], json!([])).contains("platform"));
    assert!(broken(&["platform"], json!(["web"])).contains("platform"));
    assert!(broken(&["platform"], Value::Null).contains("platform"));
    assert!(broken(&["audience"], json!("all")).contains("audience"));
    assert!(broken(&["audience", "is_to_all"], json!("yes")).contains("is_to_all"));
    assert!(broken(&["notification"], Value::Null).contains("notification"));
    assert!(broken(&["notification", "title"], json!("t".repeat(51))).contains("title"));
    assert!(broken(&["message", "objectName"], Value::Null).contains("objectName"));
    assert!(broken(&["message", "content"], json!(7)).contains("content"));
    assert!(broken(&["message", "content"], json!("x".repeat(128 * 1024 + 1))).contains("128 KiB"));
    assert!(broken(&["fromuserid"], Value::Null).contains("fromuserid"));
    assert!(check_body(&json!([1])).is_err());
}

#[test]
fn quota_counts_rolling_hour_and_natural_day_by_its_own_clock() {
    let emu = start(config()); // 2/hour, 3/day, day starts at UTC+8
    // 2024-01-01T16:30:00Z = 2024-01-02 00:30 in UTC+8: a fresh natural day there.
    let t0: i64 = 1_704_126_600_000;
    let minute = 60_000;
    let send = |t: i64| {
        emu.set_now(Some(t));
        let (status, body) = raw(&emu, &signed("test-key", "test-secret", BODY));
        (status, code(&body))
    };
    assert_eq!(send(t0), (200, Some(200)));
    assert_eq!(send(t0 + minute), (200, Some(200)));
    assert_eq!(
        send(t0 + 30 * minute),
        (429, Some(1008)),
        "2 per rolling hour"
    );
    assert_eq!(
        send(t0 + 60 * minute - 1),
        (429, Some(1008)),
        "t0 is still inside the hour"
    );
    assert_eq!(send(t0 + 60 * minute), (200, Some(200)), "t0 left the hour");
    assert_eq!(
        send(t0 + 5 * 60 * minute),
        (429, Some(1008)),
        "3 per natural day"
    );
    // The next natural day in UTC+8 starts at 16:00Z.
    let next_day = t0 - 30 * minute + 24 * 60 * minute;
    assert_eq!(send(next_day - 1), (429, Some(1008)));
    assert_eq!(send(next_day), (200, Some(200)));
    let at: Vec<i64> = emu.received().iter().map(|r| r.at_ms).collect();
    assert_eq!(at, [t0, t0 + minute, t0 + 60 * minute, next_day]);
}

#[test]
fn faults_apply_to_the_next_pushes_only() {
    let emu = start(EmulatorConfig {
        per_hour: 10,
        per_day: 10,
        ..config()
    });
    let request = signed("test-key", "test-secret", BODY);
    // A control request neither meets a push fault nor uses it up, whichever the fault.
    for fault in Fault::ALL.into_iter().filter(|f| *f != Fault::Refuse) {
        emu.set_fault(fault, 1);
        assert_eq!(
            raw(&emu, b"GET /_emulator/received HTTP/1.1\r\n\r\n").0,
            200,
            "{fault:?}"
        );
        assert_eq!(emu.requests(), 0, "{fault:?}");
        assert_eq!(
            lock(&emu.shared.state).fault,
            Some((fault, 1)),
            "{fault:?} is still pending"
        );
    }
    emu.set_fault(Fault::Http500, 2);
    let (status, body) = raw(&emu, &request);
    assert_eq!((status, code(&body)), (500, Some(1000)));
    assert_eq!(raw(&emu, &request).0, 500);
    assert_eq!(raw(&emu, &request).0, 200);
    emu.set_fault(Fault::RateLimited, 1);
    assert_eq!(
        raw(&emu, &request),
        (
            429,
            json!({"code":1008,"errorMessage":"too many requests"}).to_string()
        )
    );
    emu.set_fault(Fault::NotEnabled, 1);
    assert_eq!(code(&raw(&emu, &request).1), Some(1009));
    emu.set_fault(Fault::NotJson, 1);
    assert_eq!(raw(&emu, &request), (200, "<html>oops".to_owned()));
    emu.set_fault(Fault::Drop, 1);
    assert_eq!(raw(&emu, &request), (0, String::new()), "no answer at all");
    emu.set_fault(Fault::CloseUnread, 1);
    assert_eq!(raw(&emu, &request), (0, String::new()));
    assert_eq!(emu.requests(), 8);
    assert_eq!(
        emu.received().len(),
        2,
        "the normal push and the dropped one"
    );
}

#[test]
fn control_endpoints_drive_it_from_outside() {
    let emu = start(config());
    let post = |path: &str, body: &str| {
        let request = format!(
            "POST {path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        raw(&emu, request.as_bytes())
    };
    assert_eq!(
        post("/_emulator/fault", r#"{"fault":"drop","times":1}"#).0,
        200
    );
    assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 0);
    let (status, list) = raw(&emu, b"GET /_emulator/received HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).expect("JSON list");
    assert_eq!(
        list[0]["body"],
        serde_json::from_str::<Value>(BODY).expect("body")
    );
    assert_eq!(list[0]["request_id"], "r-1");
    assert_eq!(list[0]["push_id"].as_str().map(str::len), Some(22));
    assert!(list[0]["at_ms"].is_i64());
    assert_eq!(post("/_emulator/fault", r#"{"fault":"nope"}"#).0, 400);
    assert_eq!(post("/_emulator/fault", "{").0, 400);
    assert_eq!(post("/_emulator/reset", "").0, 200);
    assert!(emu.received().is_empty());
    assert_eq!(emu.requests(), 0);
}

#[test]
fn garbage_gets_4xx_and_never_kills_the_server() {
    let emu = start(config());
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"garbage\r\n\r\n".to_vec(), 400),
        (b"\x00\xff\xfe\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 404),
        (b"GET /push.json HTTP/1.1\r\n\r\n".to_vec(), 405),
        (b"GET http://x/ HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\n\r\n".to_vec(), 505),
        (
            b"POST /push.json HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /push.json HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            b"POST /push.json HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /push.json HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /push.json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            501,
        ),
        (b"GET / HTTP/1.1\r\n folded\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n".to_vec(), 400),
        (
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            431,
        ),
        (
            ("GET / HTTP/1.1\r\n".to_owned() + &"A: b\r\n".repeat(101) + "\r\n").into_bytes(),
            431,
        ),
        (b"GET / HTTP/1.1\r\nHost: x".to_vec(), 400),
        (
            b"POST /push.json HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            0,
        ),
        (Vec::new(), 0),
    ];
    for (request, expected) in cases {
        let (status, _) = raw(&emu, &request);
        assert_eq!(status, expected, "{:?}", String::from_utf8_lossy(&request));
    }
    // Still serving.
    assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
}

#[test]
fn answers_expect_100_continue() {
    let emu = start(config());
    let request = signed("test-key", "test-secret", BODY);
    let split = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let (head, body) = request.split_at(split + 4);
    let head =
        String::from_utf8_lossy(head).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    let mut stream = TcpStream::connect(addr(&emu)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).expect("body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert_eq!(parse_answer(&answer).0, 200);
}

#[test]
fn drop_stops_it_promptly_even_while_stalling() {
    let emu = start(EmulatorConfig {
        stall: Duration::from_secs(30),
        ..config()
    });
    let address = addr(&emu);
    emu.set_fault(Fault::StallAfterBody, 1);
    let request = signed("test-key", "test-secret", BODY);
    let client = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(&request).expect("request");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    });
    let waiting = Instant::now();
    while emu.requests() == 0 && waiting.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50)); // let it enter the stall
    let address = addr(&emu);
    let stopping = Instant::now();
    drop(emu);
    assert!(
        stopping.elapsed() < Duration::from_secs(10), // the stall is 30 s
        "{:?}",
        stopping.elapsed()
    );
    assert!(
        client.join().expect("client thread").is_empty(),
        "stalled, never answered"
    );
    assert!(TcpStream::connect(address).is_err(), "no longer listening");
}

#[test]
fn config_debug_hides_the_secret() {
    let cfg = EmulatorConfig {
        app_secret: "s3cr3t-value".to_owned(),
        ..config()
    };
    assert!(!format!("{cfg:?}").contains("s3cr3t-value"));
    assert_eq!(
        Fault::from_name(Fault::StallAfterBody.name()),
        Some(Fault::StallAfterBody)
    );
}

#[test]
fn refuse_refuses_the_connection_itself_until_cleared() {
    let emu = start(config());
    emu.set_fault(Fault::Refuse, 1);
    for _ in 0..3 {
        let err = TcpStream::connect(addr(&emu)).expect_err("nothing listens");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }
    assert_eq!(emu.requests(), 0, "no request was ever made");
    emu.set_fault(Fault::Refuse, 0);
    assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
    // Replacing it with another fault, or a reset, listens again too.
    emu.set_fault(Fault::Refuse, 1);
    assert!(TcpStream::connect(addr(&emu)).is_err());
    emu.reset();
    assert_eq!(
        raw(&emu, b"GET /_emulator/received HTTP/1.1\r\n\r\n").0,
        200
    );
    // Dropped while refusing, it still stops at once.
    emu.set_fault(Fault::Refuse, 1);
    let stopping = Instant::now();
    drop(emu);
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
}

#[test]
fn refuse_over_http_needs_secs_and_ends_by_itself() {
    let emu = start(config());
    let post = |body: &str| {
        let request = format!(
            "POST /_emulator/fault HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        raw(&emu, request.as_bytes())
    };
    let (status, answer) = post(r#"{"fault":"refuse"}"#);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("secs"), "{answer}");
    assert_eq!(post(r#"{"fault":"refuse","secs":1}"#).0, 200);
    assert!(TcpStream::connect(addr(&emu)).is_err(), "refused");
    let waited = Instant::now();
    while TcpStream::connect(addr(&emu)).is_err() {
        assert!(waited.elapsed() < Duration::from_secs(5), "listens again");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
}

#[test]
fn fault_names_have_one_spelling() {
    for fault in Fault::ALL {
        assert_eq!(Fault::from_name(fault.name()), Some(fault));
    }
    for alias in ["stall", "500", "refused", "Refuse"] {
        assert_eq!(Fault::from_name(alias), None, "{alias}");
    }
}

/// The two requests of `push_unittest.py` in the provider's Python server SDK
/// (`rc-server-sdk` 3.2.0): headers in its order and bodies byte for byte as it builds them
/// (`json.dumps` with its default separators, `message.content` URL-encoded by
/// `urllib.parse.quote`, a Timestamp in seconds), with that test's App Key and Secret.
#[test]
fn accepts_both_requests_of_the_providers_python_sdk() {
    const KEY: &str = "8luwapkvucoil";
    const SECRET: &str = "y0icysjl4h3LWz";
    let broadcast = r#"{"platform": ["ios", "android"], "fromuserid": "fromuseId1", "audience": {"tag": ["女", "年轻"], "tag_or": ["北京", "上海"], "userid": ["123", "456"], "is_to_all": false}, "message": {"content": "%7B%22content%22%3A%20%221111%22%2C%20%22extra%22%3A%20%22aa%22%7D", "objectName": "RC:TxtMsg"}, "notification": {"alert": "this is a push", "ios": {"alert": "iOS 通知显示内容", "extras": {"id": "1", "name": "2"}, "contentAvailable": 1}, "android": {"alert": "Android 通知显示内容", "extras": {"id": "1", "name": "2"}}}}"#;
    let push = r#"{"platform": ["ios", "android"], "audience": {"tag": ["女", "年轻"], "tag_or": ["北京", "上海"], "userid": ["123", "456"], "is_to_all": false}, "notification": {"alert": "this is a push", "ios": {"title": "标题", "alert": "iOS 通知显示内容", "extras": {"id": "1", "name": "2"}}, "android": {"alert": "Android 通知显示内容", "extras": {"id": "1", "name": "2"}}}}"#;
    // The SDK's Content-Length for each, as captured from it.
    assert_eq!((broadcast.len(), push.len()), (535, 382));
    let sdk_request = |body: &str, nonce: &str| {
        let timestamp = "1795984305";
        format!(
            "POST /push.json HTTP/1.1\r\nAccept-Encoding: identity\r\nContent-Length: {}\r\n\
                 Host: 127.0.0.1\r\nApp-Key: {KEY}\r\nNonce: {nonce}\r\nTimestamp: {timestamp}\r\n\
                 Signature: {}\r\nUser-Agent: rc-python-sdk/3.2.0\r\n\
                 Content-Type: application/json\r\nConnection: close\r\n\r\n{body}",
            body.len(),
            sign(SECRET, nonce, timestamp),
        )
        .into_bytes()
    };
    let emu = start(EmulatorConfig {
        app_key: KEY.to_owned(),
        app_secret: SECRET.to_owned(),
        ..config()
    });
    for (name, body, nonce) in [
        ("test_push", push, "662286317"),
        ("test_broadcast", broadcast, "249932923"),
    ] {
        let (status, answer) = raw(&emu, &sdk_request(body, nonce));
        assert_eq!(
            (status, code(&answer)),
            (200, Some(200)),
            "{name}: {answer}"
        );
    }
    let received = emu.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].bytes, broadcast.as_bytes(), "recorded as sent");

    // Strict on everything else: a content that is not JSON even when decoded, or broken
    // percent escapes, is still refused.
    for content in ["%7Bnot%20json", "%ZZ", "%7B%22content%22%3A%201%7D%"] {
        let mut v: Value = serde_json::from_str(broadcast).expect("json");
        v["message"]["content"] = json!(content);
        assert!(check_body(&v).is_err(), "{content}");
    }
}
