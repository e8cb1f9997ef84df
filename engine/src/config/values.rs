//! Serde helpers for settings whose "not set" the TOML files spell as an empty string.
//!
//! TOML has no null, so the checked-in defaults and users' files write `url = ""` for "no
//! database"; in the typed configuration such a setting is an `Option`, and `""` reads as
//! `None`. A key left out entirely is `None` too (with `#[serde(default)]`).

use serde::{Deserialize, Deserializer};

/// `""` as `None`, any other string as `Some(T::from(string))`.
pub fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let text = String::deserialize(deserializer)?;
    Ok((!text.is_empty()).then(|| T::from(text)))
}
