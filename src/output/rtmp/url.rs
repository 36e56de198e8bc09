//! RTMP destinations: `rtmp[s]://host[:port]/app[/more]/streamkey`, or OBS's pair of server
//! URL and stream key. The key is a secret: [`RtmpUrl`]'s `Display` and `Debug` mask it, so
//! it cannot reach a log, a stats line or an error message by accident.

use std::fmt;

/// A parsed destination.
#[derive(Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub tls: bool,
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
    #[error("`{shown}` has a bad port `{port}`")]
    BadPort { shown: String, port: String },
    #[error("`{shown}` needs an application and a stream key: rtmp://host/app/streamkey")]
    NoAppOrKey { shown: String },
}

pub const DEFAULT_RTMP_PORT: u16 = 1935;
pub const DEFAULT_RTMPS_PORT: u16 = 443;

impl RtmpUrl {
    /// Parses a full URL whose last path segment is the stream key.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (server, key) = match url.trim_end_matches('/').rsplit_once('/') {
            Some((s, k)) if !k.is_empty() && s.matches('/').count() >= 3 => (s, k),
            _ => {
                // Mask whatever could be a key before quoting the input.
                return Err(Self::parse_server(url)
                    .err()
                    .unwrap_or(UrlError::NoAppOrKey {
                        shown: mask_tail(url),
                    }));
            }
        };
        Self::with_key(server, key)
    }

    /// OBS's form: the server URL (`rtmp://host[:port]/app`) and the stream key apart.
    pub fn with_key(server: &str, key: &str) -> Result<Self, UrlError> {
        let mut url = Self::parse_server(server)?;
        if url.app.is_empty() || key.trim().is_empty() {
            return Err(UrlError::NoAppOrKey {
                shown: format!("{}/{}", server.trim_end_matches('/'), mask(key)),
            });
        }
        url.key = key.trim().to_owned();
        Ok(url)
    }

    fn parse_server(server: &str) -> Result<Self, UrlError> {
        let shown = server.to_owned();
        let (tls, rest) = if let Some(r) = strip_prefix_ci(server, "rtmps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(server, "rtmp://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme {
                shown: mask_tail(&shown),
            });
        };
        let (authority, app) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) =
            match authority.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || p.chars().all(|c| c.is_ascii_digit()) => {
                    let port = p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                        UrlError::BadPort {
                            shown: mask_tail(&shown),
                            port: p.to_owned(),
                        }
                    })?;
                    (h, port)
                }
                _ => (
                    authority,
                    if tls {
                        DEFAULT_RTMPS_PORT
                    } else {
                        DEFAULT_RTMP_PORT
                    },
                ),
            };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(UrlError::NoHost {
                shown: mask_tail(&shown),
            });
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            app: app.trim_end_matches('/').to_owned(),
            key: String::new(),
        })
    }

    /// The stream key. Only the RTMP session may read it.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// `tcUrl` for the `connect` command: the URL without the key.
    pub fn tc_url(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            if self.tls { "rtmps" } else { "rtmp" },
            self.host,
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

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

fn mask(key: &str) -> &'static str {
    if key.is_empty() { "" } else { "****" }
}

/// The input with its last path segment (a possible key) masked, for error messages.
fn mask_tail(url: &str) -> String {
    let path_start = url.find("://").map_or(0, |i| i + 3);
    match url[path_start..].trim_end_matches('/').rsplit_once('/') {
        Some((head, tail)) if !tail.is_empty() => format!("{}{head}/****", &url[..path_start]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(u.tc_url(), "rtmp://::1:1936/live");
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
            "`http://host/****` is not an RTMP URL: it must start with rtmp:// or rtmps://"
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
}
