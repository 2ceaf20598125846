//! Units of the git backend: telling a lost race from a refused push, hiding credentials in
//! URLs, and the lease's renewal.

use chrono::{TimeDelta, Utc};

use super::branch::lost_the_race;
use super::lease::stamp;
use super::*;

#[test]
fn a_push_that_lost_the_race_is_told_from_a_refused_one() {
    let moved = "To ../r.git\n!\tabc:refs/heads/pushform-state\t[rejected] (fetch first)\nDone\n";
    assert!(lost_the_race(moved, ""));
    let raced = "!\tabc:refs/heads/pushform-state\t[remote rejected] (failed to update ref)\n";
    assert!(lost_the_race(
        raced,
        "remote: error: cannot lock ref 'refs/heads/pushform-state': is at 87ca but expected c696"
    ));
    let hook = "!\tabc:refs/heads/pushform-state\t[remote rejected] (hook declined)\n";
    assert!(!lost_the_race(hook, "remote: state branch is protected"));
    assert!(!lost_the_race(
        "",
        "fatal: Could not read from remote repository."
    ));
}

#[test]
fn credentials_in_urls_are_hidden() {
    assert_eq!(
        redact(
            "fatal: unable to access 'https://oauth2:glpat-SECRET@gitlab.example/g/p.git/': 403"
        ),
        "fatal: unable to access 'https://***@gitlab.example/g/p.git/': 403"
    );
    assert_eq!(
        redact("https://x:y@a/b and ssh://git@host/r"),
        "https://***@a/b and ssh://***@host/r"
    );
    assert_eq!(redact("origin /srv/git/r.git"), "origin /srv/git/r.git");
}

#[test]
fn a_lease_is_renewed_only_past_half_its_life() {
    let holder = Holder::current("pushform apply");
    let fresh = Lease::new(&holder);
    assert_eq!(fresh.renewed(), fresh, "a fresh lease is kept as it is");
    assert!(fresh.is_live());
    let old = Lease {
        expires: stamp(Utc::now() + TimeDelta::minutes(1)),
        ..fresh.clone()
    };
    let renewed = old.renewed();
    assert_eq!(renewed.id, old.id);
    assert!(renewed.expires > old.expires);
    let dead = Lease {
        expires: stamp(Utc::now() - TimeDelta::minutes(1)),
        ..fresh
    };
    assert!(!dead.is_live());
}
