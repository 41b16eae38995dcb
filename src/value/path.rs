//! Field paths into JSON: the dot paths (`price.amount`, `items.0.name`), bracket
//! indices (`items[0].name`) and JSON Pointers (`/price/amount`) that response
//! mappings and `jsonGet` both read.

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// A JSON Pointer (RFC 6901), kept as written.
    Pointer(String),
    /// Keys in order; a key that is a number also indexes a list.
    Keys(Vec<String>),
}

impl FieldPath {
    /// Reads a path: a JSON Pointer when it starts with `/`, else keys separated by
    /// dots, where `[n]` after a key is the same as `.n`. An empty key is an error.
    pub fn parse(source: &str) -> Result<FieldPath, String> {
        if source.starts_with('/') {
            return Ok(FieldPath::Pointer(source.to_owned()));
        }
        let invalid = || {
            format!(
                "{source:?} is not a field path: write keys separated by dots (store_address.city, items.0.id, \
                 items[0].id) or a JSON Pointer (/store_address/city)"
            )
        };
        let mut keys = Vec::new();
        for segment in source.split('.') {
            // `items[0][1]` is `items`, `0`, `1`.
            let (key, mut indices) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
            // A leading `[0]` is allowed; an empty key between dots is not.
            if key.is_empty() && (indices.is_empty() || !keys.is_empty()) {
                return Err(invalid());
            }
            if !key.is_empty() {
                keys.push(key.to_owned());
            }
            while !indices.is_empty() {
                let close = indices.find(']').ok_or_else(invalid)?;
                let index = &indices[1..close];
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                keys.push(index.to_owned());
                indices = &indices[close + 1..];
                if !indices.is_empty() && !indices.starts_with('[') {
                    return Err(invalid());
                }
            }
        }
        Ok(FieldPath::Keys(keys))
    }

    /// The field at this path in `json`, when it is there.
    pub fn read<'a>(&self, json: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        match self {
            FieldPath::Pointer(pointer) => json.pointer(pointer),
            FieldPath::Keys(keys) => keys.iter().try_fold(json, |value, key| match value {
                serde_json::Value::Object(entries) => entries.get(key),
                serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?),
                _ => None,
            }),
        }
    }

    /// The field at this path in a [`super::Value`] (maps by key, lists by index).
    pub fn read_value<'a>(&self, value: &'a super::Value) -> Option<&'a super::Value> {
        use super::Value;
        let step = |value: &'a Value, key: &str| -> Option<&'a Value> {
            match value {
                Value::Map(entries) => entries.get(key),
                Value::List(items) => items.get(key.parse::<usize>().ok()?),
                _ => None,
            }
        };
        match self {
            FieldPath::Keys(keys) => keys.iter().try_fold(value, |value, key| step(value, key)),
            FieldPath::Pointer(pointer) => {
                // RFC 6901: `/a/b`, with `~1` for `/` and `~0` for `~`.
                pointer.split('/').skip(1).try_fold(value, |value, token| {
                    let key = token.replace("~1", "/").replace("~0", "~");
                    step(value, &key)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(source: &str) -> Vec<String> {
        match FieldPath::parse(source).unwrap() {
            FieldPath::Keys(keys) => keys,
            FieldPath::Pointer(_) => panic!("{source} is not a pointer"),
        }
    }

    #[test]
    fn brackets_are_indices() {
        assert_eq!(keys("items[0].name"), ["items", "0", "name"]);
        assert_eq!(keys("items.0.name"), ["items", "0", "name"]);
        assert_eq!(keys("m[1][2]"), ["m", "1", "2"]);
        assert_eq!(keys("[3].id"), ["3", "id"]);
        for bad in ["", "a..b", "a.", ".a", "a[x]", "a[1", "a[]", "a[1]b", "a.[1]"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
