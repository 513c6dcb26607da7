//! Credentials from request headers. Write keys come as the HTTP Basic user name (Segment
//! clients) or in the body; read and admin keys as Basic user name or a Bearer token.

use axum::http::{header, HeaderMap};
use base64::{engine::general_purpose::STANDARD, Engine};

/// The key a request presents in its Authorization header, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    Some(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn basic_user_and_bearer() {
        let basic = format!("Basic {}", STANDARD.encode("wk:"));
        assert_eq!(presented_key(&with(&basic)).as_deref(), Some("wk"));
        assert_eq!(presented_key(&with("Bearer rk")).as_deref(), Some("rk"));
        assert_eq!(presented_key(&with("Digest x")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}
