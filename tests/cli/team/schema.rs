//! The campaign JSON Schema (what editors check campaign files against) accepts every sample
//! campaign and, like the parser, rejects unknown keys.

use std::path::Path;

use serde_json::{Value, json};

use super::{init_copy, yaml_files, yaml_value};
use crate::support::sample_repo;

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&pushform::commands::schema::campaign_schema())
        .expect("the campaign schema is a valid draft-07 schema")
}

fn schema_errors(validator: &jsonschema::Validator, campaign: &Value) -> Vec<String> {
    validator
        .iter_errors(campaign)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn campaigns_of(root: &Path) -> Vec<(String, Value)> {
    yaml_files(&root.join("campaigns"))
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(root).unwrap().display().to_string();
            (name, yaml_value(&path))
        })
        .collect()
}

#[test]
fn schema_accepts_every_sample_campaign() {
    let validator = validator();
    let starter = init_copy();
    let mut campaigns = campaigns_of(&sample_repo());
    campaigns.extend(campaigns_of(starter.path()));
    assert!(campaigns.len() >= 5, "found only {campaigns:?}");
    for (name, campaign) in &campaigns {
        let errors = schema_errors(&validator, campaign);
        assert!(
            errors.is_empty(),
            "{name} fails the schema:\n{}",
            errors.join("\n")
        );
    }
}

#[test]
fn schema_rejects_unknown_keys_at_any_depth() {
    let validator = validator();
    let sample = yaml_value(&sample_repo().join("campaigns/student/winter-sale-2026.yaml"));
    assert!(validator.is_valid(&sample));

    let mut top = sample.clone();
    top["not_befor"] = json!("2026-12-01T10:00:00+08:00");
    let errors = schema_errors(&validator, &top);
    assert!(
        errors.iter().any(|e| e.contains("not_befor")),
        "an unknown top-level key passed: {errors:?}"
    );

    let mut nested = sample.clone();
    nested["push"]["notification"]["titel"] = json!("Winter sale");
    let errors = schema_errors(&validator, &nested);
    assert!(
        errors.iter().any(|e| e.contains("titel")),
        "an unknown key in push.notification passed: {errors:?}"
    );

    let mut locale = sample;
    locale["locales"]["en"]["string"] = json!({"title": "x"});
    assert!(
        !validator.is_valid(&locale),
        "an unknown key in a locale passed"
    );
}
