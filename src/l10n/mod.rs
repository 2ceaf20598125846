//! Localisation beyond one string per key: CLDR plurals, the pseudo-locale, the coverage report
//! (`l10n status`) and the exchange with translators (`l10n export` / `l10n import`).
//!
//! Everything here is pure: it reads a loaded [`Project`](crate::project::Project) and returns
//! values; the `l10n` command prints them and writes files.

pub(crate) mod exchange;
pub(crate) mod keys;
pub(crate) mod placeholders;
pub(crate) mod plural;
pub(crate) mod po;
pub(crate) mod pseudo;
pub(crate) mod status;
pub(crate) mod xliff;
