//! [`Tags`]: free-form name → string (or list of strings) metadata, per `tags.json`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One tag value: a string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum TagValue {
    String(String),
    List(Vec<String>),
}

impl TagValue {
    /// Whether this value is `v` or a list containing `v` (the semantics of `tag.{name}=v` filters).
    pub fn matches(&self, v: &str) -> bool {
        match self {
            TagValue::String(s) => s == v,
            TagValue::List(l) => l.iter().any(|s| s == v),
        }
    }
}

impl From<&str> for TagValue {
    fn from(s: &str) -> TagValue {
        TagValue::String(s.to_owned())
    }
}

impl From<String> for TagValue {
    fn from(s: String) -> TagValue {
        TagValue::String(s)
    }
}

impl From<Vec<String>> for TagValue {
    fn from(l: Vec<String>) -> TagValue {
        TagValue::List(l)
    }
}

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TagValue, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TagValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag value: a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TagValue, E> {
                Ok(TagValue::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<TagValue, E> {
                Ok(TagValue::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TagValue, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(TagValue::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A set of tags: name → [`TagValue`], ordered by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<String, TagValue>);

impl Tags {
    pub fn new() -> Tags {
        Tags::default()
    }

    pub fn get(&self, name: &str) -> Option<&TagValue> {
        self.0.get(name)
    }

    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<TagValue>,
    ) -> Option<TagValue> {
        self.0.insert(name.into(), value.into())
    }

    pub fn remove(&mut self, name: &str) -> Option<TagValue> {
        self.0.remove(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &TagValue)> {
        self.0.iter()
    }
}

impl FromIterator<(String, TagValue)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, TagValue)>>(iter: I) -> Tags {
        Tags(iter.into_iter().collect())
    }
}

impl IntoIterator for Tags {
    type Item = (String, TagValue);
    type IntoIter = std::collections::btree_map::IntoIter<String, TagValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_lists() {
        let t: Tags = serde_json::from_str(r#"{"a":"x","b":["y","z"],"c":[]}"#).unwrap();
        assert_eq!(t.get("a"), Some(&TagValue::String("x".into())));
        assert!(t.get("b").unwrap().matches("z"));
        assert!(!t.get("a").unwrap().matches("z"));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":"x","b":["y","z"],"c":[]}"#
        );
        let e = serde_json::from_str::<Tags>(r#"{"a":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a string or an array of strings"), "{e}");
        assert!(serde_json::from_str::<Tags>(r#"{"a":["x",2]}"#).is_err());
        assert!(serde_json::from_str::<Tags>(r#"{"a":null}"#).is_err());
    }
}
