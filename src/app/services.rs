//! Streaming services and their ingest servers, as OBS's service list has them (the entries a
//! streamer picks most; any other server goes in "Custom").

/// A streaming service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Service {
    Twitch,
    YouTube,
    Facebook,
    Custom,
    /// A WebRTC server taking WHIP (RFC 9725): the server is the endpoint URL, the key the
    /// bearer token.
    Whip,
}

/// One ingest server of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingest {
    pub label: &'static str,
    /// The server URL; the stream key is appended as the last path segment.
    pub url: &'static str,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Twitch,
        Service::YouTube,
        Service::Facebook,
        Service::Custom,
        Service::Whip,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Service::Twitch => "Twitch",
            Service::YouTube => "YouTube",
            Service::Facebook => "Facebook Live",
            Service::Custom => "Custom RTMP server",
            Service::Whip => "WHIP (WebRTC) server",
        }
    }

    /// The ingest servers offered for the service, the recommended one first. Facebook takes
    /// RTMPS only; YouTube prefers it.
    pub fn ingests(self) -> &'static [Ingest] {
        match self {
            Service::Twitch => &[
                Ingest {
                    label: "Automatic (recommended)",
                    url: "rtmp://live.twitch.tv/app",
                },
                Ingest {
                    label: "Automatic, RTMPS",
                    url: "rtmps://live.twitch.tv:443/app",
                },
                Ingest {
                    label: "Europe: Frankfurt",
                    url: "rtmp://fra05.contribute.live-video.net/app",
                },
                Ingest {
                    label: "US East: New York",
                    url: "rtmp://jfk.contribute.live-video.net/app",
                },
                Ingest {
                    label: "US West: San Francisco",
                    url: "rtmp://sfo.contribute.live-video.net/app",
                },
            ],
            Service::YouTube => &[
                Ingest {
                    label: "Primary, RTMPS (recommended)",
                    url: "rtmps://a.rtmps.youtube.com:443/live2",
                },
                Ingest {
                    label: "Primary, RTMP",
                    url: "rtmp://a.rtmp.youtube.com/live2",
                },
            ],
            Service::Facebook => &[Ingest {
                label: "Default (RTMPS)",
                url: "rtmps://live-api-s.facebook.com:443/rtmp",
            }],
            Service::Custom | Service::Whip => &[],
        }
    }

    /// True for a server typed in by hand (no list of ingests).
    pub fn is_custom(self) -> bool {
        matches!(self, Service::Custom | Service::Whip)
    }

    /// What the destination's secret is called.
    pub fn key_label(self) -> &'static str {
        match self {
            Service::Whip => "Bearer token",
            _ => "Stream key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rtmp::RtmpUrl;

    #[test]
    fn every_ingest_takes_a_key() {
        for service in Service::ALL {
            for ingest in service.ingests() {
                let url = RtmpUrl::with_key(ingest.url, "k3y")
                    .unwrap_or_else(|e| panic!("{}: {e}", ingest.url));
                assert!(!url.to_string().contains("k3y"), "{url}");
            }
        }
        assert!(
            Service::Facebook
                .ingests()
                .iter()
                .all(|i| i.url.starts_with("rtmps://"))
        );
    }
}
