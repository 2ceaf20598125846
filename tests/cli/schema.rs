//! `pushform schema`: the JSON Schema (draft-07) editors use must accept every real campaign and
//! refuse what the parser refuses, such as unknown keys.

use std::fs;

use serde_json::Value;

use crate::support::{pushform, sample_repo};
use crate::team::yaml_files;

fn validator() -> jsonschema::Validator {
    let run = pushform(&sample_repo(), &["schema"]);
    run.success();
    let schema = run.json();
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "a draft-07 schema"
    );
    jsonschema::draft7::new(&schema).expect("the schema is itself valid")
}

/// A campaign file as the JSON an editor's YAML language server checks against the schema.
fn yaml_to_json(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

#[track_caller]
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn every_sample_campaign_is_valid_against_the_schema() {
    let validator = validator();
    let files = yaml_files(&sample_repo().join("campaigns"));
    assert!(files.len() >= 4, "sample campaigns: {files:?}");
    for file in files {
        let instance = yaml_to_json(&fs::read_to_string(&file).unwrap());
        assert_eq!(
            errors(&validator, &instance),
            Vec::<String>::new(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn unknown_keys_are_rejected() {
    let validator = validator();
    let good = "id: a\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification: {alert: hi, title: x}\n";
    assert!(validator.is_valid(&yaml_to_json(good)));
    for (bad, path) in [
        (good.replace("id: a\n", "id: a\nnot_befor: x\n"), ""),
        (good.replace("title: x", "titel: x"), "/push/notification"),
        (
            good.replace("is_to_all: true", "is_to_all: true, tags: [a]"),
            "/push/audience",
        ),
        (
            good.replace(
                "push:\n",
                "locales:\n  en: {strings: {a: b}, audiense: {}}\npush:\n",
            ),
            "/locales/en",
        ),
    ] {
        let errors = errors(&validator, &yaml_to_json(&bad));
        assert_eq!(errors.len(), 1, "{bad}\n{errors:?}");
        assert!(errors[0].starts_with(&format!("{path}: ")), "{errors:?}");
    }
}

#[test]
fn wrong_types_are_rejected() {
    let validator = validator();
    let bad = "id: a\npush:\n  platform: ios\n  audience: {is_to_all: true}\n  notification: {alert: hi, ios: {badge: many}}\n";
    let errors = errors(&validator, &yaml_to_json(bad));
    let mut paths: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap_or_default())
        .collect();
    paths.sort_unstable();
    // Optional objects are `anyOf [object, null]`, so a bad badge is reported at its object.
    assert_eq!(
        paths,
        ["/push/notification", "/push/platform"],
        "{errors:?}"
    );
    let fixed = bad
        .replace("platform: ios", "platform: [ios]")
        .replace("many", "3");
    assert!(validator.is_valid(&yaml_to_json(&fixed)), "{fixed}");
}

#[test]
fn scheduling_keys_are_in_the_schema() {
    let validator = validator();
    let good = "id: a\npriority: high\nsend_window: {from: \"09:00\", to: \"21:00\", timezone: Asia/Shanghai}\n\
                moved_from: [a-old]\nresend_of: a-first\n\
                locales:\n  en: {send_window: {from: \"22:00\", to: \"06:00\"}}\n\
                push:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification: {alert: hi}\n";
    let instance = yaml_to_json(good);
    assert_eq!(errors(&validator, &instance), Vec::<String>::new());
    for (bad, path) in [
        (
            good.replace("priority: high", "priority: urgent"),
            "/priority",
        ),
        (good.replace("timezone: Asia", "zone: Asia"), "/send_window"),
        (
            good.replace("moved_from: [a-old]", "moved_from: a-old"),
            "/moved_from",
        ),
        (
            good.replace("{from: \"22:00\", ", "{"),
            "/locales/en/send_window",
        ),
    ] {
        let errors = errors(&validator, &yaml_to_json(&bad));
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{path}: "))),
            "{bad}\n{errors:?}"
        );
    }
}
