//! The plan as a pull-request comment: the exact Markdown the CI workflows post, for the sample
//! repository at a pinned instant.

use predicates::str::starts_with;

use super::{NOW, sample_copy};
use crate::support::Pushform;

#[test]
fn sample_plan_as_a_pull_request_comment() {
    let repo = sample_copy();
    let assert = Pushform::new(repo.path())
        .args(&["plan", "--format", "markdown", "--detailed-exitcode"])
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .code(2)
        .stderr("")
        // The workflows find their earlier comment by this first line.
        .stdout(starts_with("<!-- pushform-plan -->\n"));
    let comment = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(comment.len() < 65_000, "{} characters", comment.len());
    // The lineage is random (made by `state init`): the snapshot holds a stand-in.
    let lineage = comment
        .split("(lineage `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the comment names the lineage it was planned against");
    insta::assert_snapshot!(comment.replace(lineage, "LINEAGE"));
}
