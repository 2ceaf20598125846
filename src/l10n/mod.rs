//! Localisation beyond one string per key: CLDR plurals, the pseudo-locale, the coverage report
//! (`l10n status`) and the exchange with translators (`l10n export` / `l10n import`).
//!
//! Everything here is pure: it reads a loaded [`Project`](crate::project::Project) and returns
//! values; the `l10n` command prints them and writes files.

pub mod exchange;
pub mod keys;
pub mod placeholders;
pub mod plural;
pub mod po;
pub mod pseudo;
pub mod status;
pub mod xliff;
