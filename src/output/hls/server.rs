//! The preview server: the HLS folder, the player page and hls.js over HTTP, on axum.
//!
//! Safe by default: it binds loopback unless told otherwise, answers only GET and HEAD, and
//! serves only flat file names it wrote itself (`live.m3u8`, `*.m4s`, `*-init.mp4`) plus the
//! page and hls.js compiled into the binary. A path is percent-decoded once and refused (400)
//! if it holds a separator, a dot segment, a control character or anything else outside
//! `[A-Za-z0-9._-]`, so no encoding of `../` can leave the folder.
//!
//! LL-HLS delivery directives (RFC 8216bis 6.2.5.2): a playlist request with `_HLS_msn` (and
//! optionally `_HLS_part`) is held until the playlist holds that part or segment, answered at
//! once when the stream has ended, with 400 when it asks for more than two segments ahead or
//! for a part without a segment, and with 503 after three target durations. A request for the
//! part the playlist's preload hint names is held the same way until the part exists.
//!
//! The routing and the decisions are plain functions ([`route`], [`Directives::parse`],
//! [`Progress::has`]), unit-tested without a socket; the integration tests drive the real
//! server.

use std::convert::Infallible;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

use crate::format::hls::{PLAYLIST_NAME, Progress, is_media_name};

/// The player page.
const PLAYER_HTML: &str = include_str!("../../../assets/player.html");
/// hls.js 1.7.4 from npm (dist/hls.min.js), vendored with its licence in assets/hls.js/.
const HLS_JS: &[u8] = include_bytes!("../../../assets/hls.js/hls.min.js");
/// How long the server keeps answering after the stream ended, so that players still fetch
/// the last parts and see EXT-X-ENDLIST.
const LINGER: Duration = Duration::from_secs(3);
/// Target duration assumed before the first playlist exists.
const DEFAULT_TARGET_S: u32 = 2;
/// Connections served at once; beyond, a new one is answered 503 and closed. A player uses a
/// few; the cap keeps the server's descriptors far from the process limit, so that the HLS
/// output (and the recordings) can always open their files.
pub const MAX_CONNECTIONS: usize = 128;
/// A request's headers must arrive within this, and an idle kept-alive connection is closed
/// after it: a slow or silent client cannot hold a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed `accept` (out of descriptors, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Page,
    HlsJs,
    Playlist,
    /// A media file in the folder (init segment, segment or part).
    Media(String),
}

/// Maps a raw (percent-encoded) request path to what it names, or the status to refuse it
/// with: 400 for anything that could step outside the folder or is not a plain file name,
/// 404 for a plain name that is not one onair serves.
pub fn route(raw_path: &str) -> Result<Resource, StatusCode> {
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let name = decoded.strip_prefix('/').ok_or(StatusCode::BAD_REQUEST)?;
    if name.is_empty() || name == "index.html" {
        return Ok(Resource::Page);
    }
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain || name.starts_with('.') || name.contains("..") {
        return Err(StatusCode::BAD_REQUEST);
    }
    if name == "hls.min.js" {
        Ok(Resource::HlsJs)
    } else if name == PLAYLIST_NAME {
        Ok(Resource::Playlist)
    } else if is_media_name(name) {
        Ok(Resource::Media(name.to_owned()))
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

/// LL-HLS delivery directives of a playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub msn: Option<u64>,
    pub part: Option<u64>,
}

impl Directives {
    /// Reads `_HLS_msn` and `_HLS_part` from a query string (others, such as `_HLS_skip`, are
    /// ignored: this server does not produce delta playlists). A malformed number, or a part
    /// without a segment, is a 400.
    pub fn parse(query: Option<&str>) -> Result<Self, StatusCode> {
        let mut d = Self::default();
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "_HLS_msn" => &mut d.msn,
                "_HLS_part" => &mut d.part,
                _ => continue,
            };
            *slot = Some(value.parse().map_err(|_| StatusCode::BAD_REQUEST)?);
        }
        if d.part.is_some() && d.msn.is_none() {
            return Err(StatusCode::BAD_REQUEST);
        }
        Ok(d)
    }
}

/// The preview server, bound and ready to run on its own thread.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    progress: watch::Receiver<Progress>,
}

impl Server {
    pub fn new(listener: TcpListener, dir: PathBuf, progress: watch::Receiver<Progress>) -> Self {
        Self {
            listener,
            shared: Arc::new(Shared { dir, progress }),
        }
    }

    /// Serves until the HLS output has ended (plus [`LINGER`]) or is gone. Runs a
    /// single-threaded tokio runtime on the calling thread: held requests cost no thread.
    /// Trouble with clients (too many, too slow, out of descriptors) is answered, logged and
    /// waited out; it never ends the server, nor touches the output writing the files.
    pub fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("hls-serve-io")
            .build()?;
        runtime.block_on(async move {
            self.listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let mut done = self.shared.progress.clone();
            let ended = async move {
                // An error means the output is gone: stop as well.
                drop(done.wait_for(|p| p.ended).await);
                tokio::time::sleep(LINGER).await;
            };
            tokio::pin!(ended);
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut accept_errors = 0u64;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = &mut ended => break,
                };
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        accept_errors += 1;
                        if accept_errors.is_power_of_two() {
                            tracing::warn!(
                                times = accept_errors,
                                "the preview server cannot accept a connection: {e}"
                            );
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        tokio::spawn(serve_connection(tcp, self.shared.clone(), slot));
                    }
                    Err(_) => refuse(&tcp),
                }
            }
            // Connections still open (held requests, idle clients) end with the runtime.
            Ok(())
        })
    }
}

/// One client connection: HTTP/1.1, each request's headers within [`HEADER_TIMEOUT`].
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    shared: Arc<Shared>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        async move {
            Ok::<_, Infallible>(handle(&shared, req.method().clone(), req.uri().clone()).await)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    // An error is the client's (gone, too slow, malformed): nothing to do but close.
    let _client_gone = builder.serve_connection(TokioIo::new(tcp), service).await;
}

/// Answers a connection beyond [`MAX_CONNECTIONS`] with a 503 and closes it, at once and
/// without waiting for anything (a fresh socket's send buffer takes the few bytes).
fn refuse(tcp: &tokio::net::TcpStream) {
    const BODY: &str = "too many connections to the preview; try again in a moment\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 2\r\ncache-control: no-store\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _best_effort = tcp.try_write(answer.as_bytes());
    // What the client already sent is read, so that closing sends no reset ahead of the 503.
    let mut sink = [0u8; 2048];
    while matches!(tcp.try_read(&mut sink), Ok(n) if n > 0) {}
}

async fn handle(shared: &Shared, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = method == Method::HEAD;
    let resource = match route(uri.path()) {
        Ok(r) => r,
        Err(code) => return status(code),
    };
    match resource {
        Resource::Page => body(
            head,
            PLAYER_HTML.as_bytes().to_vec(),
            "text/html; charset=utf-8",
            "no-cache",
        ),
        Resource::HlsJs => body(head, HLS_JS.to_vec(), "text/javascript", "max-age=86400"),
        Resource::Playlist => playlist(shared, head, uri.query()).await,
        Resource::Media(name) => media(shared, head, &name).await,
    }
}

async fn playlist(shared: &Shared, head: bool, query: Option<&str>) -> Response {
    let directives = match Directives::parse(query) {
        Ok(d) => d,
        Err(code) => return status(code),
    };
    let mut progress = shared.progress.clone();
    let hold = hold_limit(&progress.borrow());
    let ready = match directives.msn {
        Some(msn) => {
            if progress.borrow().too_far(msn) && !progress.borrow().ended {
                return status(StatusCode::BAD_REQUEST);
            }
            wait(&mut progress, hold, |p| p.has(msn, directives.part)).await
        }
        // No directive: answer now, or wait for the first playlist of the run.
        None => wait(&mut progress, hold, |p| p.last_parts > 0 || p.ended).await,
    };
    if !ready {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    // The text published with the files it lists: the file on disk can be a newer one whose
    // files are not yet servable.
    let text = progress.borrow().playlist.clone();
    if text.is_empty() {
        return status(StatusCode::NOT_FOUND);
    }
    body(
        head,
        text.as_bytes().to_vec(),
        content_type(PLAYLIST_NAME),
        "no-cache",
    )
}

async fn media(shared: &Shared, head: bool, name: &str) -> Response {
    // Only what the output wrote, or is about to write (the hinted part): nothing else that
    // happens to be in the folder.
    let (listed, hinted) = {
        let p = shared.progress.borrow();
        (p.files.contains(name), p.hint.as_deref() == Some(name))
    };
    if !listed && !hinted {
        return status(StatusCode::NOT_FOUND);
    }
    let response = file(shared, head, name, "max-age=3600, immutable").await;
    if response.status() != StatusCode::NOT_FOUND || !hinted {
        return response;
    }
    // The part named by the preload hint: held until it exists (or can no longer come).
    let mut progress = shared.progress.clone();
    let hold = hold_limit(&progress.borrow());
    wait(&mut progress, hold, |p| {
        p.hint.as_deref() != Some(name) || p.ended
    })
    .await;
    file(shared, head, name, "max-age=3600, immutable").await
}

/// Three target durations (RFC 8216bis: answer 503 when a held request is not satisfied by
/// then).
fn hold_limit(p: &Progress) -> Duration {
    let target = if p.target_duration_s == 0 {
        DEFAULT_TARGET_S
    } else {
        p.target_duration_s
    };
    Duration::from_secs(3 * u64::from(target))
}

/// Waits until `ready` holds, at most `limit`; false if it never did.
async fn wait(
    progress: &mut watch::Receiver<Progress>,
    limit: Duration,
    ready: impl FnMut(&Progress) -> bool,
) -> bool {
    matches!(
        tokio::time::timeout(limit, progress.wait_for(ready)).await,
        Ok(Ok(_))
    )
}

async fn file(shared: &Shared, head: bool, name: &str, cache: &'static str) -> Response {
    let path = shared.dir.join(name);
    let read = tokio::task::spawn_blocking(move || read_regular_file(&path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match read {
        Ok(bytes) => body(head, bytes, content_type(name), cache),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => status(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::warn!(file = %name, "cannot read an HLS file: {e}");
            status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Reads `path` if it is a regular file, without following a symbolic link (an attacker's
/// `x.m4s -> /etc/shadow` is "not found"); anything else is "not found" too.
fn read_regular_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let mut file = options.open(path).map_err(|e| {
        // A symbolic link (ELOOP under O_NOFOLLOW) is "not found" for a client.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return std::io::Error::from(std::io::ErrorKind::NotFound);
        }
        e
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The MIME type of a file onair serves (RFC 8216: playlists; ISO BMFF for the rest).
pub fn content_type(name: &str) -> &'static str {
    if name.ends_with(".m3u8") {
        "application/vnd.apple.mpegurl"
    } else if name.ends_with(".m4s") {
        "video/iso.segment"
    } else {
        "video/mp4"
    }
}

fn body(head: bool, bytes: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let len = bytes.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::from(bytes)
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::from(format!(
        "{}\n",
        code.canonical_reason().unwrap_or("error")
    )));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_plain_names_only() {
        assert_eq!(route("/"), Ok(Resource::Page));
        assert_eq!(route("/index.html"), Ok(Resource::Page));
        assert_eq!(route("/hls.min.js"), Ok(Resource::HlsJs));
        assert_eq!(route("/live.m3u8"), Ok(Resource::Playlist));
        assert_eq!(
            route("/a1-3.2.m4s"),
            Ok(Resource::Media("a1-3.2.m4s".into()))
        );
        assert_eq!(
            route("/a1-init.mp4"),
            Ok(Resource::Media("a1-init.mp4".into()))
        );
        assert_eq!(
            route("/%61%31-3.m4s"),
            Ok(Resource::Media("a1-3.m4s".into()))
        );
        assert_eq!(route("/notes.txt"), Err(StatusCode::NOT_FOUND));
        assert_eq!(route("/recording.mp4"), Err(StatusCode::NOT_FOUND));
    }

    #[test]
    fn refuses_every_way_out_of_the_folder() {
        for bad in [
            "/../etc/passwd",
            "/..",
            "/a/../../x.m4s",
            "/%2e%2e/x.m4s",
            "/%2E%2E%2Fx.m4s",
            "/..%2fx.m4s",
            "/%2e%2e%5cx.m4s",
            "/%252e%252e/x.m4s",
            "/x.m4s%00",
            "/%c0%ae%c0%ae/x.m4s",
            "/sub/x.m4s",
            "/.onair-hls",
            "//etc/passwd",
            "relative.m4s",
            "/\\x.m4s",
        ] {
            assert_eq!(route(bad), Err(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn delivery_directives() {
        assert_eq!(Directives::parse(None), Ok(Directives::default()));
        assert_eq!(
            Directives::parse(Some("_HLS_msn=7&_HLS_part=2")),
            Ok(Directives {
                msn: Some(7),
                part: Some(2)
            })
        );
        assert_eq!(
            Directives::parse(Some("_HLS_msn=7&_HLS_skip=YES")),
            Ok(Directives {
                msn: Some(7),
                part: None
            })
        );
        assert_eq!(
            Directives::parse(Some("_HLS_part=2")),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            Directives::parse(Some("_HLS_msn=x")),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            Directives::parse(Some("_HLS_msn=-1")),
            Err(StatusCode::BAD_REQUEST)
        );
    }

    /// A served folder whose playlist and progress the test controls.
    struct Fixture {
        dir: tempfile::TempDir,
        addr: std::net::SocketAddr,
        progress: watch::Sender<Progress>,
        thread: std::thread::JoinHandle<std::io::Result<()>>,
    }

    impl Fixture {
        fn start() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (progress, rx) = watch::channel(Progress {
                target_duration_s: 1,
                ..Progress::default()
            });
            let server = Server::new(listener, dir.path().to_owned(), rx);
            let thread = std::thread::Builder::new()
                .name("test-hls-server".into())
                .spawn(move || server.run())
                .unwrap();
            Self {
                dir,
                addr,
                progress,
                thread,
            }
        }

        /// Publishes a playlist naming its last part, as the HLS output does.
        fn publish(&self, msn: u64, parts: u64, complete: Option<u64>) {
            let text = format!("#EXTM3U\n# {msn}.{parts}\n");
            std::fs::write(self.dir.path().join(PLAYLIST_NAME), &text).unwrap();
            self.progress.send_modify(|p| {
                p.playlist = text.as_str().into();
                p.last_msn = msn;
                p.last_parts = parts;
                p.complete_msn = complete;
                p.hint = Some(format!("r-{msn}.{parts}.m4s"));
                let mut files = (*p.files).clone();
                files.extend((0..parts).map(|i| format!("r-{msn}.{i}.m4s")));
                p.files = Arc::new(files);
            });
        }

        fn get(&self, method: &str, path: &str) -> (u16, String, String) {
            request(self.addr, method, path)
        }

        /// The same request on a thread: the answer arrives on the channel.
        fn get_later(&self, path: &str) -> crossbeam_channel::Receiver<(u16, String)> {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let (addr, path) = (self.addr, path.to_owned());
            std::thread::Builder::new()
                .name("test-hls-client".into())
                .spawn(move || {
                    let (code, _, body) = request(addr, "GET", &path);
                    let _ = tx.send((code, body));
                })
                .unwrap();
            rx
        }

        fn end(self) {
            self.progress.send_modify(|p| p.ended = true);
            let done = self.thread.join().unwrap();
            assert!(done.is_ok(), "{done:?}");
        }
    }

    /// One request with the path sent exactly as given; (status, lowercased head, body).
    fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, head.to_ascii_lowercase(), body.to_owned())
    }

    #[test]
    fn serves_only_get_and_head_and_nothing_outside_the_folder() {
        let f = Fixture::start();
        f.publish(0, 1, None);
        std::fs::write(f.dir.path().join("r-0.0.m4s"), b"part").unwrap();
        std::fs::write(f.dir.path().join("secret.txt"), b"secret").unwrap();

        let (code, head, body) = f.get("GET", "/r-0.0.m4s");
        assert_eq!((code, body.as_str()), (200, "part"));
        assert!(head.contains("content-type: video/iso.segment"), "{head}");
        assert!(
            head.contains("cache-control: max-age=3600, immutable"),
            "{head}"
        );
        let (code, head, body) = f.get("HEAD", "/live.m3u8");
        assert_eq!((code, body.as_str()), (200, ""));
        assert!(
            head.contains("content-type: application/vnd.apple.mpegurl"),
            "{head}"
        );
        assert!(head.contains("cache-control: no-cache"), "{head}");
        let (code, head, body) = f.get("GET", "/");
        assert_eq!(code, 200);
        assert!(head.contains("content-type: text/html"), "{head}");
        assert!(body.contains("hls.min.js"));
        let (code, head, _) = f.get("POST", "/live.m3u8");
        assert_eq!(code, 405);
        assert!(head.contains("allow: get, head"), "{head}");
        assert_eq!(f.get("DELETE", "/r-0.0.m4s").0, 405);
        assert_eq!(f.get("GET", "/secret.txt").0, 404);
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2e%2e%2fsecret.txt",
            "/..%5csecret.txt",
            "/%252e%252e%252fsecret.txt",
            "/./secret.txt",
        ] {
            let (code, _, body) = f.get("GET", path);
            assert!(code == 400 || code == 404, "{path}: {code}");
            assert!(!body.contains("secret"), "{path}");
        }
        f.end();
    }

    /// Issue 14: any `*.m4s` placed in the folder was served, and a symbolic link to a file
    /// outside it too (`ln -s /etc/shadow DIR/x.m4s` answered 200).
    #[test]
    fn serves_only_what_the_output_wrote_and_never_through_a_link() {
        let f = Fixture::start();
        f.publish(0, 2, None); // lists r-0.0.m4s and r-0.1.m4s; hints r-0.2.m4s
        std::fs::write(f.dir.path().join("r-0.0.m4s"), b"part").unwrap();
        for planted in ["x-9.m4s", "r-7.m4s", "evil-init.mp4"] {
            std::fs::write(f.dir.path().join(planted), b"planted").unwrap();
            let (code, _, body) = f.get("GET", &format!("/{planted}"));
            assert_eq!(code, 404, "{planted} was served: {body}");
        }
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("shadow");
        std::fs::write(&secret, b"root:secret").unwrap();
        std::os::unix::fs::symlink(&secret, f.dir.path().join("r-0.1.m4s")).unwrap();
        let (code, _, body) = f.get("GET", "/r-0.1.m4s");
        assert_eq!(code, 404, "a link out of the folder was followed: {body}");
        assert!(!body.contains("secret"));
        // A listed name that is a folder, not a file: not found either.
        f.publish(0, 3, None);
        std::fs::create_dir(f.dir.path().join("r-0.2.m4s")).unwrap();
        assert_eq!(f.get("GET", "/r-0.2.m4s").0, 404);
        let (code, _, body) = f.get("GET", "/r-0.0.m4s");
        assert_eq!((code, body.as_str()), (200, "part"));
        f.end();
    }

    /// The output writes the playlist, then tells the server which files exist: a playlist read
    /// from disk in between listed a segment the server still refused (404 for a listed file,
    /// seen at the end of a stream under load).
    #[test]
    fn the_playlist_served_lists_only_files_the_server_serves() {
        let f = Fixture::start();
        f.publish(0, 2, None);
        std::fs::write(f.dir.path().join("r-0.0.m4s"), b"part").unwrap();
        // The next playlist is on disk; its progress has not been published yet.
        std::fs::write(
            f.dir.path().join(PLAYLIST_NAME),
            "#EXTM3U\n# 0.3\nr-0.2.m4s\n",
        )
        .unwrap();
        std::fs::write(f.dir.path().join("r-0.2.m4s"), b"next").unwrap();
        let (code, _, body) = f.get("GET", "/live.m3u8");
        assert_eq!(code, 200);
        assert!(body.contains("# 0.2") && !body.contains("r-0.2"), "{body}");
        let (code, _, body) = f.get("HEAD", "/live.m3u8");
        assert_eq!((code, body.as_str()), (200, ""));
        f.end();
    }

    #[test]
    fn a_blocking_reload_returns_when_the_part_exists() {
        let f = Fixture::start();
        f.publish(0, 1, None);
        let answer = f.get_later("/live.m3u8?_HLS_msn=0&_HLS_part=2");
        std::thread::sleep(Duration::from_millis(300));
        f.publish(0, 2, None);
        std::thread::sleep(Duration::from_millis(300));
        assert!(answer.try_recv().is_err(), "answered before part 2 existed");
        f.publish(0, 3, None);
        let (code, body) = answer.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("# 0.3"), "{body}");

        // A part beyond a segment's last: the next segment's first part answers it.
        let answer = f.get_later("/live.m3u8?_HLS_msn=0&_HLS_part=3");
        f.publish(1, 1, Some(0));
        assert_eq!(answer.recv_timeout(Duration::from_secs(10)).unwrap().0, 200);
        // Whole segment 1.
        let answer = f.get_later("/live.m3u8?_HLS_msn=1");
        f.publish(2, 1, Some(1));
        assert_eq!(answer.recv_timeout(Duration::from_secs(10)).unwrap().0, 200);

        // The preload-hinted part is held until it exists.
        let answer = f.get_later("/r-2.1.m4s");
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(f.dir.path().join("r-2.1.m4s"), b"hinted").unwrap();
        f.publish(2, 2, Some(1));
        assert_eq!(
            answer.recv_timeout(Duration::from_secs(10)).unwrap(),
            (200, "hinted".to_owned())
        );
        f.end();
    }

    #[test]
    fn a_blocking_reload_that_cannot_be_met_is_answered_as_the_spec_says() {
        let f = Fixture::start();
        f.publish(5, 2, Some(4));
        // More than two segments ahead, or a part without a segment: 400 at once.
        assert_eq!(f.get("GET", "/live.m3u8?_HLS_msn=8").0, 400);
        assert_eq!(f.get("GET", "/live.m3u8?_HLS_part=1").0, 400);
        assert_eq!(f.get("GET", "/live.m3u8?_HLS_msn=abc").0, 400);
        // Never comes: 503 after three target durations (3 s here).
        assert_eq!(f.get("GET", "/live.m3u8?_HLS_msn=7").0, 503);
        // The stream ends while a request waits: the final playlist, at once.
        let answer = f.get_later("/live.m3u8?_HLS_msn=7&_HLS_part=0");
        std::thread::sleep(Duration::from_millis(200));
        f.progress.send_modify(|p| {
            p.ended = true;
            p.playlist = "#EXTM3U\n#EXT-X-ENDLIST\n".into();
        });
        let (code, body) = answer.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(code, 200);
        assert!(body.ends_with("#EXT-X-ENDLIST\n"), "{body}");
        // After the end, anything far ahead is answered with the final playlist too.
        assert_eq!(f.get("GET", "/live.m3u8?_HLS_msn=99").0, 200);
        f.end();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any path: an answer, never a panic, and a media name only ever a plain flat name.
        #[test]
        fn any_path_is_routed_or_refused(path in "(/|%2[eEfF]|%5[cC]|%00|%[0-9a-fA-F]{0,2}|\\.|[a-z0-9-]|\\PC){0,24}") {
            if let Ok(Resource::Media(name)) = route(&path) {
                proptest::prop_assert!(!name.starts_with('.') && !name.contains(".."));
                proptest::prop_assert!(name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
            }
        }

        /// Any query string: directives, or a 400; a part never without its segment.
        #[test]
        fn any_query_gives_directives_or_400(
            query in "((_HLS_msn|_HLS_part|_HLS_skip|\\PC{0,4})(=(\\PC{0,6}|[0-9]{0,22}|-1))?&?){0,4}",
        ) {
            match Directives::parse(Some(&query)) {
                Ok(d) => proptest::prop_assert!(d.part.is_none() || d.msn.is_some()),
                Err(code) => proptest::prop_assert_eq!(code, StatusCode::BAD_REQUEST),
            }
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("live.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(content_type("a-1.0.m4s"), "video/iso.segment");
        assert_eq!(content_type("a-init.mp4"), "video/mp4");
    }
}
