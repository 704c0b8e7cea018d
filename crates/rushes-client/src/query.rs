//! [`Query`]: the query parameters of a listing, and the `Link: rel="next"` header.

use rushes_model::TimeRange;

/// Query parameters of a request, in order (e.g. `limit`, `timerange`, `tag.name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds `name=value`; any parameter the store understands.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Query {
        self.pairs.push((name.into(), value.into()));
        self
    }

    /// `limit`: the most items per page (the store may cap it).
    pub fn limit(self, limit: u32) -> Query {
        self.param("limit", limit.to_string())
    }

    /// `timerange`: only items overlapping this range.
    pub fn timerange(self, range: TimeRange) -> Query {
        self.param("timerange", range.to_string())
    }

    /// `tag.{name}={value}`.
    pub fn tag(self, name: &str, value: impl Into<String>) -> Query {
        self.param(format!("tag.{name}"), value)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// The target of the `rel="next"` link of a `Link` header value (RFC 8288), if any.
pub(crate) fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        // The parameters run to the next link (`, <`) or the end.
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').skip(1).any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = after;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link_among_others() {
        assert_eq!(
            next_link(r#"<http://h/flows?page=a&limit=2>; rel="next""#),
            Some("http://h/flows?page=a&limit=2")
        );
        assert_eq!(
            next_link(r#"<http://h/a>; rel="prev", <http://h/b>; rel="next""#),
            Some("http://h/b")
        );
        assert_eq!(next_link(r#"<http://h/b>;rel=next"#), Some("http://h/b"));
        assert_eq!(
            next_link(r#"<http://h/b?x=1,2>; title="a"; rel="last next""#),
            Some("http://h/b?x=1,2")
        );
        assert_eq!(next_link(r#"<http://h/a>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<unterminated"), None);
    }

    #[test]
    fn query_keeps_parameters_in_order() {
        let q = Query::new().limit(5).tag("genre", "news").param("a", "b");
        assert_eq!(
            q.pairs(),
            &[
                ("limit".to_owned(), "5".to_owned()),
                ("tag.genre".to_owned(), "news".to_owned()),
                ("a".to_owned(), "b".to_owned())
            ]
        );
    }
}
