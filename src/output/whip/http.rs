//! The WHIP exchange (RFC 9725 §4): POST the SDP offer, expect 201 with the answer and a
//! `Location` (absolute or relative), follow redirects, DELETE that resource on stop.
//!
//! The parsing (URLs, `Location`, `Link` headers, status codes) is plain functions tested in
//! memory; the requests go through ureq (blocking, rustls with ring, as RTMPS already uses).

use std::time::Duration;

use super::WhipError;

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed for one request (RFC 9725 asks clients to follow them).
pub const MAX_REDIRECTS: usize = 5;
/// STUN's default port (RFC 8489).
const STUN_PORT: u16 = 3478;

/// An `http://` or `https://` URL, split.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, WhipError> {
        let bad = |reason: &str| WhipError::Url {
            url: mask_url(url),
            reason: reason.into(),
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad(
                "a user name or password in the URL is not supported; give a bearer token with --whip-token",
            ));
        }
        if path.contains(['#', ' ']) {
            return Err(bad("a fragment or a space is not allowed"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after the host")),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| bad("the port is not a number"))?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            tls,
            host,
            port,
            path,
        })
    }

    fn origin(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{}:{}",
            if self.tls { "https" } else { "http" },
            host,
            self.port
        )
    }

    /// The full URL (holds whatever secret the path holds: for requests only).
    pub(crate) fn url(&self) -> String {
        format!("{}{}", self.origin(), self.path)
    }

    /// The URL for logs and the window: the origin and the path's first segment; the rest of
    /// the path and the query are masked (some services put a key there).
    pub fn masked(&self) -> String {
        format!("{}{}", self.origin(), mask_path(&self.path))
    }

    /// The bearer token for a request to `target`: only where the endpoint itself is (same
    /// scheme, host and port), as browsers and curl drop credentials on a redirect elsewhere.
    pub fn token_for<'t>(&self, target: &Endpoint, token: Option<&'t str>) -> Option<&'t str> {
        token.filter(|_| self.origin() == target.origin())
    }

    /// A `Location` header's target: an absolute URL, or a reference relative to this one.
    pub fn resolve(&self, location: &str) -> Result<Endpoint, WhipError> {
        let location = location.trim();
        if location.starts_with("http://") || location.starts_with("https://") {
            return Endpoint::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.tls { "https" } else { "http" };
            return Endpoint::parse(&format!("{scheme}://{rest}"));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let base = self.path.split(['?']).next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Ok(Endpoint {
            path: normalize_dots(&path),
            ..self.clone()
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Removes `.` and `..` segments (RFC 3986 §5.2.4), keeping the query as it is.
fn normalize_dots(path: &str) -> String {
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = p.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

fn mask_path(path: &str) -> String {
    let p = path.split('?').next().unwrap_or("/");
    let mut segments = p.trim_start_matches('/').splitn(2, '/');
    let first = segments.next().unwrap_or("");
    match segments.next() {
        Some(rest) if !rest.is_empty() => format!("/{first}/****"),
        _ if path.contains('?') => format!("/{first}?****"),
        Some(_) => format!("/{first}/"),
        None => format!("/{first}"),
    }
}

/// A URL for an error message, masked like [`Endpoint::masked`] when it parses.
fn mask_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            let authority = authority.rsplit('@').next().unwrap_or("");
            format!("{scheme}://{authority}{}", mask_path(path))
        }
        None => "(not a URL)".into(),
    }
}

/// The STUN servers a `Link` header offers (`<stun:host:port>; rel="ice-server"`), as
/// `host:port`. TURN servers are not used (no relay support), so they are skipped.
pub fn stun_servers_from_link(value: &str) -> Vec<String> {
    let mut servers = Vec::new();
    for link in split_links(value) {
        let Some((target, params)) = link.trim().split_once('>') else {
            continue;
        };
        let target = target.trim().trim_start_matches('<');
        let is_ice = params.split(';').any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("rel=\"ice-server\"") || p.eq_ignore_ascii_case("rel=ice-server")
        });
        if !is_ice {
            continue;
        }
        let Some(hostport) = target.strip_prefix("stun:") else {
            continue;
        };
        let hostport = hostport.split('?').next().unwrap_or("");
        if hostport.is_empty() {
            continue;
        }
        let has_port = if let Some(v6) = hostport.strip_prefix('[') {
            v6.contains("]:")
        } else {
            hostport.contains(':')
        };
        servers.push(if has_port {
            hostport.to_owned()
        } else {
            format!("{hostport}:{STUN_PORT}")
        });
    }
    servers
}

/// Splits a `Link` header's comma-separated links (commas inside `<...>` or quotes stay).
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_angle, mut in_quote) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// What a status code answering the offer means.
pub fn check_status(status: u16, body: &str) -> Result<(), WhipError> {
    let detail = || {
        let line = body.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            "no details given".to_owned()
        } else {
            line.chars().take(200).collect()
        }
    };
    match status {
        200 | 201 => Ok(()),
        401 | 403 => Err(WhipError::TokenRefused { status }),
        404 => Err(WhipError::NotFound),
        415 => Err(WhipError::UnsupportedMediaType),
        500..=599 => Err(WhipError::ServerError {
            status,
            detail: detail(),
        }),
        _ => Err(WhipError::Status {
            status,
            detail: detail(),
        }),
    }
}

/// The server's answer to the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sdp: String,
    /// The session's resource (for DELETE); `None` if the server gave none.
    pub resource: Option<Endpoint>,
    /// STUN servers from the `Link` headers.
    pub stun_servers: Vec<String>,
}

/// A blocking HTTP client for the exchange.
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("onair/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent }
    }

    /// POSTs the offer, following redirects; the answer, its resource and its STUN servers.
    pub fn offer(
        &self,
        endpoint: &Endpoint,
        token: Option<&str>,
        sdp: &str,
    ) -> Result<Answer, WhipError> {
        let mut target = endpoint.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self
                .agent
                .post(target.url())
                .header("Content-Type", "application/sdp");
            if let Some(t) = endpoint.token_for(&target, token) {
                req = req.header("Authorization", format!("Bearer {t}"));
            } else if token.is_some() {
                tracing::info!(to = %target.masked(), "the bearer token is not sent to another host");
            }
            let mut resp = req.send(sdp.as_bytes()).map_err(transport_error)?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if matches!(status, 301 | 302 | 307 | 308) {
                let location = header("location").ok_or_else(|| WhipError::Status {
                    status,
                    detail: "a redirect without a Location".into(),
                })?;
                target = target.resolve(&location)?;
                tracing::info!(to = %target.masked(), status, "WHIP endpoint redirected");
                continue;
            }
            let location = header("location");
            let stun_servers = resp
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(stun_servers_from_link)
                .collect();
            let body = resp.body_mut().read_to_string().map_err(transport_error)?;
            check_status(status, &body)?;
            let resource = match location {
                Some(l) => Some(target.resolve(&l)?),
                None => {
                    tracing::warn!(
                        "the WHIP server gave no Location: the session cannot be ended with DELETE"
                    );
                    None
                }
            };
            if !body.trim_start().starts_with("v=0") {
                return Err(WhipError::BadAnswer {
                    reason: "the body is not an SDP answer".into(),
                });
            }
            return Ok(Answer {
                sdp: body,
                resource,
                stun_servers,
            });
        }
        Err(WhipError::Redirects { max: MAX_REDIRECTS })
    }

    /// Ends the session on the server (DELETE its resource; the token only if the resource is
    /// where `endpoint` is).
    pub fn delete(
        &self,
        endpoint: &Endpoint,
        resource: &Endpoint,
        token: Option<&str>,
    ) -> Result<u16, WhipError> {
        let mut req = self.agent.delete(resource.url());
        if let Some(t) = endpoint.token_for(resource, token) {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req.call().map_err(transport_error)?;
        Ok(resp.status().as_u16())
    }
}

fn transport_error(e: ureq::Error) -> WhipError {
    let reason = match &e {
        ureq::Error::HostNotFound => {
            "host not found: check the server address and the network".into()
        }
        ureq::Error::ConnectionFailed => {
            "connection refused or failed: is the server running, and is the port right?".into()
        }
        ureq::Error::Timeout(_) => format!(
            "no answer within {} s: check the address, the network or a firewall",
            REQUEST_TIMEOUT.as_secs()
        ),
        other => other.to_string(),
    };
    WhipError::Http { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_default_ports_and_ipv6() {
        let e = Endpoint::parse("https://whip.example.com/live/abc?x=1").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (true, "whip.example.com", 443)
        );
        assert_eq!(e.path, "/live/abc?x=1");
        let e = Endpoint::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(e.url(), "http://[::1]:8080/");
        for bad in [
            "rtmp://x/y",
            "http://user:pw@x/y",
            "http://x:port/",
            "http:///p",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let err = Endpoint::parse("http://user:secret@x/y")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn locations_resolve_absolute_and_relative() {
        let base = Endpoint::parse("https://h:8443/whip/endpoint/key?q=1").unwrap();
        let r = |l: &str| base.resolve(l).unwrap().url();
        assert_eq!(r("/resource/1"), "https://h:8443/resource/1");
        assert_eq!(r("session/7"), "https://h:8443/whip/endpoint/session/7");
        assert_eq!(r("../s/7"), "https://h:8443/whip/s/7");
        assert_eq!(r("http://other:80/x"), "http://other:80/x");
        assert_eq!(r("//other/x"), "https://other:443/x");
    }

    /// A redirect to another host, port or scheme gets no token; the endpoint's own origin
    /// does. Two real HTTP servers on 127.0.0.1 (different ports): the first redirects to the
    /// second, which records what it was sent and refuses.
    #[test]
    fn the_token_never_follows_a_redirect_to_another_host() {
        use std::io::{BufRead, BufReader, Write};
        use std::net::TcpListener;
        let serve = |answer: String| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let seen = std::thread::Builder::new()
                .name("test-http".into())
                .spawn(move || {
                    let (mut c, _) = l.accept().unwrap();
                    let mut head = String::new();
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    c.write_all(answer.as_bytes()).unwrap();
                    head
                })
                .unwrap();
            (port, seen)
        };
        let (other, other_seen) = serve(
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        );
        let (first, first_seen) = serve(format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{other}/whip\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{first}/whip")).unwrap();
        let e = Client::new()
            .offer(&endpoint, Some("t0ken_secret"), "v=0\r\n")
            .unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
        let (first_seen, other_seen) = (first_seen.join().unwrap(), other_seen.join().unwrap());
        let auth = |h: &str| {
            h.to_ascii_lowercase()
                .contains("authorization: bearer t0ken_secret")
        };
        assert!(auth(&first_seen), "{first_seen}");
        assert!(
            !auth(&other_seen),
            "the token went to another host: {other_seen}"
        );
        assert!(other_seen.starts_with("POST /whip "), "{other_seen}");
        // The same rule, in memory: scheme, host and port must all match.
        let at = |u: &str| Endpoint::parse(u).unwrap();
        let e = at("https://h/whip");
        assert_eq!(e.token_for(&at("https://h:443/s/1"), Some("t")), Some("t"));
        for elsewhere in ["http://h/whip", "https://h:8443/whip", "https://g/whip"] {
            assert_eq!(e.token_for(&at(elsewhere), Some("t")), None, "{elsewhere}");
        }
    }

    #[test]
    fn link_headers_give_stun_servers_only() {
        let v = r#"<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p,q", <stun:10.0.0.1:19302>; rel="ice-server", <https://x/y>; rel="next""#;
        assert_eq!(
            stun_servers_from_link(v),
            vec!["stun.example.net:3478", "10.0.0.1:19302"]
        );
    }

    #[test]
    fn status_codes_in_words() {
        assert!(check_status(201, "").is_ok());
        let e = |s: u16, body: &str| check_status(s, body).unwrap_err().to_string();
        assert_eq!(
            e(401, ""),
            "the server refused the token (HTTP 401): check the bearer token"
        );
        assert!(e(403, "").contains("refused the token"));
        assert!(e(404, "").contains("no WHIP endpoint"));
        assert!(e(415, "").contains("415"));
        assert!(e(503, "overloaded\nmore").ends_with("(HTTP 503): overloaded"));
        assert!(e(400, "").contains("HTTP 400"));
    }

    #[test]
    fn masking_hides_everything_past_the_first_segment() {
        let m = |u: &str| Endpoint::parse(u).unwrap().masked();
        assert_eq!(m("https://h/whip/key"), "https://h:443/whip/****");
        assert_eq!(m("https://h/whip?token=1"), "https://h:443/whip?****");
        assert_eq!(m("http://h:8080/"), "http://h:8080/");
        assert_eq!(m("http://h:8080/whip"), "http://h:8080/whip");
    }
}
