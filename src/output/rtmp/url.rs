//! RTMP destinations: `rtmp[s]://host[:port]/app[/more]/streamkey`, or OBS's pair of server
//! URL and stream key. The key is a secret: [`RtmpUrl`]'s `Display` and `Debug` mask it, so
//! it cannot reach a log, a stats line or an error message by accident.
//!
//! The server part (scheme, host, port) is parsed by the `url` crate (WHATWG rules: IPv6 in
//! brackets, IDNA for non-ASCII names, a port of at most 65535); `rtmp` is not one of its
//! special schemes, so the host it returns is opaque and is parsed again here as a host name
//! (percent-decoded, IDNA, IPv4). The application and the key are taken as written (the
//! crate would percent-encode some characters, and a key must reach the server unchanged).
//! Whatever is refused is refused here, in one line, with the key masked.

use std::fmt;
use std::net::IpAddr;

use url::{Host, ParseError, Url};

/// A parsed destination.
#[derive(Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub tls: bool,
    /// A DNS name (ASCII, IDNA-encoded) or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// The application path (`live`, `live2`, `app/sub`).
    pub app: String,
    key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("`{shown}` is not an RTMP URL: it must start with rtmp:// or rtmps://")]
    Scheme { shown: String },
    #[error("`{shown}` has no host: write rtmp://host/app/streamkey")]
    NoHost { shown: String },
    #[error("`{shown}` has a bad host: {reason}")]
    BadHost { shown: String, reason: String },
    #[error("`{shown}` has a bad port `{port}`: write a number from 1 to 65535")]
    BadPort { shown: String, port: String },
    #[error("`{shown}` needs an application and a stream key: rtmp://host/app/streamkey")]
    NoAppOrKey { shown: String },
    #[error(
        "`{shown}` contains a space or a control character, which no RTMP URL or stream key has: check what was pasted"
    )]
    Whitespace { shown: String },
    #[error("the RTMP URL is {len} characters long; at most {MAX_URL_LEN} are accepted")]
    TooLong { len: usize },
    #[error(
        "`{shown}` holds a user name and password (`user:password@`): onair does not log in to RTMP servers that way; remove them (a server that needs a login usually takes it in the stream key)"
    )]
    Userinfo { shown: String },
}

pub const DEFAULT_RTMP_PORT: u16 = 1935;
pub const DEFAULT_RTMPS_PORT: u16 = 443;
/// Longest URL (server and key) accepted: far above any service's, far below anything that
/// could cost memory or time.
pub const MAX_URL_LEN: usize = 2048;
/// DNS limits (RFC 1035): a name of at most 253 characters, labels of at most 63.
const MAX_HOST_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

impl RtmpUrl {
    /// Parses a full URL whose last path segment is the stream key. Whitespace around it (a
    /// paste) is ignored.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        check_text(url)?;
        let (server, key) = match url.trim_end_matches('/').rsplit_once('/') {
            Some((s, k)) if !k.is_empty() && s.matches('/').count() >= 3 => (s, k),
            _ => {
                // Mask whatever could be a key before quoting the input.
                return Err(Self::parse_server(url, &|| mask_tail(url)).err().unwrap_or(
                    UrlError::NoAppOrKey {
                        shown: mask_tail(url),
                    },
                ));
            }
        };
        Self::with_key(server, key)
    }

    /// OBS's form: the server URL (`rtmp://host[:port]/app`) and the stream key apart.
    /// Whitespace around either (a paste) is ignored.
    pub fn with_key(server: &str, key: &str) -> Result<Self, UrlError> {
        let (server, key) = (server.trim(), key.trim());
        let shown = || {
            format!(
                "{}/{}",
                mask_userinfo(server.trim_end_matches('/')),
                mask(key)
            )
        };
        if server.chars().count() + key.chars().count() > MAX_URL_LEN {
            return Err(UrlError::TooLong {
                len: server.chars().count() + 1 + key.chars().count(),
            });
        }
        check_text(server)?;
        if key.chars().any(is_space_or_control) {
            return Err(UrlError::Whitespace { shown: shown() });
        }
        // The server field holds no key: it is quoted as typed (but a `user:password@`).
        let mut url = Self::parse_server(server, &shown)?;
        if url.app.is_empty() || key.is_empty() {
            return Err(UrlError::NoAppOrKey { shown: shown() });
        }
        url.key = key.to_owned();
        Ok(url)
    }

    /// Parses `rtmp[s]://host[:port][/app]`; errors quote the input as `shown` gives it.
    fn parse_server(server: &str, shown: &dyn Fn() -> String) -> Result<Self, UrlError> {
        let (tls, rest) = if let Some(r) = strip_prefix_ci(server, "rtmps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(server, "rtmp://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme { shown: shown() });
        };
        let (authority, app) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(UrlError::NoHost { shown: shown() });
        }
        // The crate parses the authority alone: what it cannot take, or takes as anything
        // but a host and a port (a query, a fragment, a path), is refused.
        let scheme = if tls { "rtmps" } else { "rtmp" };
        let parsed = Url::parse(&format!("{scheme}://{authority}/")).map_err(|e| match e {
            ParseError::InvalidPort => UrlError::BadPort {
                shown: shown(),
                port: port_text(authority).to_owned(),
            },
            ParseError::EmptyHost => UrlError::NoHost { shown: shown() },
            e => UrlError::BadHost {
                shown: shown(),
                reason: host_reason(&e),
            },
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::Userinfo { shown: shown() });
        }
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(UrlError::BadHost {
                shown: shown(),
                reason: "it holds `?`, `#` or `\\`; write rtmp://host[:port]/app/streamkey".into(),
            });
        }
        let host = match parsed.host() {
            None => return Err(UrlError::NoHost { shown: shown() }),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(Host::Domain(opaque)) => {
                parse_host(opaque).map_err(|reason| UrlError::BadHost {
                    shown: shown(),
                    reason,
                })?
            }
        };
        let port = match parsed.port() {
            Some(0) => {
                return Err(UrlError::BadPort {
                    shown: shown(),
                    port: "0".into(),
                });
            }
            Some(p) => p,
            None if tls => DEFAULT_RTMPS_PORT,
            None => DEFAULT_RTMP_PORT,
        };
        Ok(Self {
            tls,
            host,
            port,
            app: app.trim_matches('/').to_owned(),
            key: String::new(),
        })
    }

    /// The stream key. Only the RTMP session may read it.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// `tcUrl` for the `connect` command: the URL without the key.
    pub fn tc_url(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        format!(
            "{}://{host}:{}/{}",
            if self.tls { "rtmps" } else { "rtmp" },
            self.port,
            self.app
        )
    }

    /// Replaces every occurrence of the key in `text` (e.g. an error from a library).
    pub fn redact(&self, text: &str) -> String {
        if self.key.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.key, "****")
        }
    }
}

impl fmt::Display for RtmpUrl {
    /// The URL with the key masked: `rtmp://live.twitch.tv:1935/app/****`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/****", self.tc_url())
    }
}

impl fmt::Debug for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RtmpUrl({self})")
    }
}

fn is_space_or_control(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// Refuses what no URL holds: inner whitespace or control characters (the `url` crate would
/// silently drop tabs and newlines), and absurd lengths.
fn check_text(url: &str) -> Result<(), UrlError> {
    let len = url.chars().count();
    if len > MAX_URL_LEN {
        return Err(UrlError::TooLong { len });
    }
    if url.chars().any(is_space_or_control) {
        return Err(UrlError::Whitespace {
            shown: mask_tail(url),
        });
    }
    Ok(())
}

/// A host name from the crate's opaque host: percent-decoded, IDNA-encoded (a non-ASCII name
/// becomes its `xn--` form), or an IPv4 address; within DNS's limits.
fn parse_host(opaque: &str) -> Result<String, String> {
    let host = match Host::parse(opaque) {
        Ok(Host::Domain(d)) => d,
        Ok(Host::Ipv4(ip)) => return Ok(ip.to_string()),
        Ok(Host::Ipv6(ip)) => return Ok(ip.to_string()),
        Err(e) => return Err(host_reason(&e)),
    };
    if host.len() > MAX_HOST_LEN {
        return Err(format!(
            "a host name has at most {MAX_HOST_LEN} characters, this one {}",
            host.len()
        ));
    }
    if host
        .trim_end_matches('.')
        .split('.')
        .any(|l| l.is_empty() || l.len() > MAX_LABEL_LEN)
    {
        return Err(format!(
            "each dot-separated part of a host name has 1 to {MAX_LABEL_LEN} characters"
        ));
    }
    Ok(host)
}

fn host_reason(e: &ParseError) -> String {
    match e {
        ParseError::InvalidIpv6Address => "not an IPv6 address: write it in brackets, [::1]".into(),
        ParseError::InvalidIpv4Address => "not an IPv4 address".into(),
        ParseError::InvalidDomainCharacter | ParseError::IdnaError => {
            "it holds characters no host name has".into()
        }
        e => e.to_string(),
    }
}

/// The port as written in an authority (after the last `:` outside brackets).
fn port_text(authority: &str) -> &str {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => port,
        _ => "",
    }
}

/// `s` without `prefix`, compared ignoring ASCII case; byte-safe on any input.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn mask(key: &str) -> &'static str {
    if key.is_empty() { "" } else { "****" }
}

/// The input split as `scheme://`, authority with any `user:password@` masked, and path.
fn split_masked(url: &str) -> (&str, String, &str) {
    let path_start = url.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = url.split_at(path_start);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("****@{host}"),
        None => authority.to_owned(),
    };
    (scheme, authority, path)
}

/// The input with any `user:password@` masked, for error messages.
fn mask_userinfo(url: &str) -> String {
    let (scheme, authority, path) = split_masked(url);
    format!("{scheme}{authority}{path}")
}

/// The input as it may be shown in an error: its last path segment (a possible key) and any
/// `user:password@` masked.
fn mask_tail(url: &str) -> String {
    let (scheme, authority, path) = split_masked(url);
    let path = match path.trim_end_matches('/').rsplit_once('/') {
        Some((head, tail)) if !tail.is_empty() => format!("{head}/****"),
        _ => path.to_owned(),
    };
    format!("{scheme}{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_services_urls() {
        let u = RtmpUrl::parse("rtmp://live.twitch.tv/app/live_123_abc").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.app.as_str(), u.key()),
            (false, "live.twitch.tv", 1935, "app", "live_123_abc")
        );
        let u = RtmpUrl::parse("rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh").unwrap();
        assert_eq!(
            (u.tls, u.port, u.app.as_str(), u.key()),
            (true, 443, "live2", "abcd-efgh")
        );
        let u = RtmpUrl::parse("rtmps://live-api-s.facebook.com/rtmp/FB-1-2?s_bl=1&a=b").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.key()),
            (443, "rtmp", "FB-1-2?s_bl=1&a=b")
        );
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/app/sub/key/").unwrap();
        assert_eq!((u.port, u.app.as_str(), u.key()), (19350, "app/sub", "key"));
        let u = RtmpUrl::with_key("rtmp://[::1]:1936/live/", " secret ").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str(), u.key()),
            ("::1", 1936, "live", "secret")
        );
        assert_eq!(u.tc_url(), "rtmp://[::1]:1936/live");
        // Case-insensitive scheme and host, a paste's surrounding whitespace.
        let u = RtmpUrl::parse(" RTMP://Live.Example.COM/app/k3y\n").unwrap();
        assert_eq!((u.host.as_str(), u.key()), ("live.example.com", "k3y"));
        // Characters a URL library would percent-encode reach the server as written.
        let u = RtmpUrl::parse("rtmp://host/app/k{e}y\"1").unwrap();
        assert_eq!(u.key(), "k{e}y\"1");
    }

    #[test]
    fn non_ascii_and_encoded_hosts_are_host_names_not_panics() {
        // The panic of issue 14: a multi-byte character where the scheme is compared.
        let e = RtmpUrl::parse("é").unwrap_err();
        assert!(matches!(e, UrlError::Scheme { .. }), "{e}");
        let e = RtmpUrl::parse("rtmé://h/live/k").unwrap_err();
        assert!(matches!(e, UrlError::Scheme { .. }), "{e}");
        // An internationalized name is looked up in its IDNA form, as browsers do.
        let u = RtmpUrl::parse("rtmp://é/live/key").unwrap();
        assert_eq!(u.host, "xn--9ca");
        let u = RtmpUrl::parse("rtmp://b%C3%BCcher.example/live/key").unwrap();
        assert_eq!(u.host, "xn--bcher-kva.example");
        assert_eq!(
            RtmpUrl::parse("rtmp://0x7f.1/live/key").unwrap().host,
            "127.0.0.1"
        );
    }

    #[test]
    fn what_is_not_a_url_is_refused_in_one_line() {
        for (bad, expect) in [
            ("rtmp://127.0 .0.1/live/k", "contains a space"),
            ("rtmp://host/live/my key", "contains a space"),
            ("rtmp://host/li\tve/key", "contains a space"),
            ("rtmp://ho<st/live/key", "bad host"),
            ("rtmp://host?x/live/key", "bad host"),
            ("rtmp://[::1/live/key", "bad host"),
            ("rtmp://1.2.3.4.5/live/key", "bad host"),
            ("rtmp://a..b/live/key", "bad host"),
            ("rtmp://host:0/live/key", "bad port `0`"),
            ("rtmp://host:x/live/key", "bad port `x`"),
        ] {
            let e = RtmpUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(expect), "{bad}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let long = format!("rtmp://{}/live/key", "a".repeat(10_000));
        let e = RtmpUrl::parse(&long).unwrap_err().to_string();
        assert!(e.contains("10016 characters long"), "{e}");
        let e = RtmpUrl::parse(&format!("rtmp://{}.com/live/key", "a".repeat(300)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 253"), "{e}");
        let e = RtmpUrl::with_key("rtmp://host/live", "two words").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`rtmp://host/live/****` contains a space or a control character, which no RTMP \
             URL or stream key has: check what was pasted"
        );
    }

    /// OBS's form: a bad server field is quoted as typed (it holds no key), the key masked.
    #[test]
    fn a_bad_server_field_is_quoted_as_typed() {
        let e = RtmpUrl::with_key("rtmp//live.example.com/app", "secret").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`rtmp//live.example.com/app/****` is not an RTMP URL: it must start with rtmp:// or rtmps://"
        );
        let e = RtmpUrl::with_key("rtmp://host:99999/live", "secret").unwrap_err();
        assert!(
            e.to_string().starts_with("`rtmp://host:99999/live/****`"),
            "{e}"
        );
    }

    #[test]
    fn a_user_name_and_password_are_refused_and_never_shown() {
        for url in [
            "rtmp://bob:SECRET@host/live/key",
            "rtmp://bob:SECRET@host:1935/live/key",
            "rtmp://bob:SECRET@host:99999/live/key",
            "rtmp://bob:SECRET@ho st/live/key",
        ] {
            let e = RtmpUrl::parse(url).unwrap_err().to_string();
            assert!(!e.contains("SECRET") && !e.contains("bob"), "{e}");
            assert!(e.contains("****@"), "{e}");
        }
        let e = RtmpUrl::with_key("rtmp://bob:SECRET@host/live", "k").unwrap_err();
        assert!(matches!(e, UrlError::Userinfo { .. }), "{e}");
    }

    #[test]
    fn the_key_never_shows() {
        let u = RtmpUrl::parse("rtmp://host/live/sup3rs3cret").unwrap();
        assert_eq!(u.to_string(), "rtmp://host:1935/live/****");
        assert!(!format!("{u:?}").contains("sup3rs3cret"));
        assert_eq!(
            u.redact("publish sup3rs3cret failed"),
            "publish **** failed"
        );
    }

    #[test]
    fn bad_urls_say_what_to_write_and_mask_the_key() {
        // The last path segment is masked whatever it is: a key pasted anywhere never shows.
        let e = RtmpUrl::parse("http://host/live/k3y").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`http://host/live/****` is not an RTMP URL: it must start with rtmp:// or rtmps://"
        );
        assert!(matches!(
            RtmpUrl::parse("rtmp://host/k3y").unwrap_err(),
            UrlError::NoAppOrKey { .. }
        ));
        assert_eq!(
            RtmpUrl::parse("rtmp://host/k3y").unwrap_err().to_string(),
            "`rtmp://host/****` needs an application and a stream key: rtmp://host/app/streamkey"
        );
        let e = RtmpUrl::parse("rtmp://host:99999/live/k3y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad port `99999`") && !e.contains("k3y"), "{e}");
        assert!(matches!(
            RtmpUrl::parse("rtmp:///live/k3y").unwrap_err(),
            UrlError::NoHost { .. }
        ));
        assert!(RtmpUrl::with_key("rtmp://host/live", "").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text: an answer, never a panic; an accepted URL round-trips its parts.
        #[test]
        fn any_text_parses_or_is_refused(s in "\\PC*", raw in any::<String>()) {
            for text in [s.as_str(), raw.as_str()] {
                if let Ok(u) = RtmpUrl::parse(text) {
                    prop_assert!(!u.host.is_empty() && !u.app.is_empty() && !u.key.is_empty());
                    prop_assert!(u.port != 0);
                }
                let _ = RtmpUrl::with_key(text, text);
            }
        }

        /// URL-shaped text with arbitrary pieces: the key and the password never show, in an
        /// accepted URL's display or in an error.
        #[test]
        fn secrets_never_show(
            scheme in "(rtmp|rtmps|RTMP|http|rtmé)://",
            user in "(|[a-z]{1,5}:PW[0-9]{6}@)",
            host in "(\\PC{0,12}|[a-z0-9.-]{1,20}|\\[[0-9a-f:]{0,12}\\]|é|[0-9.]{1,15})",
            port in "(|:[0-9]{0,6}|:\\PC{0,3})",
            app in "(|/[a-z]{1,6}|/\\PC{1,8})",
        ) {
            let key = "KEYk3y7f3a9c";
            let url = format!("{scheme}{user}{host}{port}{app}/{key}");
            let shown = match RtmpUrl::parse(&url) {
                Ok(u) => {
                    prop_assert_eq!(u.key(), key);
                    format!("{u} {u:?} {}", u.tc_url())
                }
                Err(e) => e.to_string(),
            };
            prop_assert!(!shown.contains(key), "{}", shown);
            prop_assert!(!shown.contains("PW"), "{}", shown);
            let shown = match RtmpUrl::with_key(&format!("{scheme}{user}{host}{port}{app}"), key) {
                Ok(u) => format!("{u} {u:?}"),
                Err(e) => e.to_string(),
            };
            prop_assert!(!shown.contains(key) && !shown.contains("PW"), "{}", shown);
        }
    }
}
