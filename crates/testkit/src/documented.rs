//! Settings that cannot drift from their documentation: the names a settings struct reads
//! (asked of serde itself, so a field added later is seen), each of which must appear in
//! `.env.example` and in the README's configuration table.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The field names `T`'s derived `Deserialize` reads (a struct's fields, as serde names
/// them after `rename`s).
pub fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut names = None;
    let _ = T::deserialize(Grab(&mut names));
    names.expect("a struct deriving Deserialize")
}

struct Grab<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Grab<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The environment names of `T`'s settings (`database_url` → `DATABASE_URL`) that are not
/// named in the repository's `.env.example` or README (empty when every one is).
pub fn undocumented<T: for<'de> Deserialize<'de>>() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let read = |file: &str| {
        std::fs::read_to_string(format!("{root}/{file}"))
            .unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
    };
    let (example, readme) = (read(".env.example"), read("README.md"));
    field_names::<T>()
        .iter()
        .map(|f| f.to_ascii_uppercase())
        .flat_map(|name| {
            let mut missing = Vec::new();
            if !mentions(&example, &name) {
                missing.push(format!("{name} (.env.example)"));
            }
            if !mentions(&readme, &format!("`{name}`")) {
                missing.push(format!("{name} (README configuration table)"));
            }
            missing
        })
        .collect()
}

/// `text` names `name` as a whole word.
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Example {
        database_url: String,
        #[serde(default)]
        port: u16,
        #[serde(rename = "other_name")]
        renamed: bool,
    }

    #[test]
    fn reads_the_names_serde_reads() {
        assert_eq!(
            field_names::<Example>(),
            ["database_url", "port", "other_name"]
        );
    }

    #[test]
    fn whole_words_only() {
        assert!(mentions("KMS_BASE_URL=x", "KMS_BASE_URL"));
        assert!(!mentions("XKMS_BASE_URL=x", "KMS_BASE_URL"));
        assert!(!mentions("KMS_BASE_URLS=x", "KMS_BASE_URL"));
    }
}
