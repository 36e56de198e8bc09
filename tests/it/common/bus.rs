//! A private D-Bus session bus for the binaries that point the whole process at one
//! (`tests/keyring.rs`, `tests/desktop_handlers.rs`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::desktop::stop_child;

/// A private D-Bus session bus (`dbus-daemon`) without service activation: only what a test
/// starts is on it. Its socket is `bus` in its own folder; stopped by pid when dropped.
pub struct SessionBus {
    child: Child,
    dir: tempfile::TempDir,
}

impl SessionBus {
    pub fn start() -> SessionBus {
        let dir = tempfile::Builder::new()
            .prefix("onair-bus-")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                socket.display()
            ),
        )
        .expect("write bus.conf");
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon (apt-get install dbus-daemon)");
        let bus = SessionBus { child, dir };
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dbus-daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bus
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for clients.
    pub fn address(&self) -> String {
        format!("unix:path={}", self.dir.path().join("bus").display())
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}
