use super::*;
use crate::app::settings::RecordFormat;

/// The state without a config folder (nothing saved, keys for this run only) and with no
/// window to repaint; its controller runs, no engine does.
fn state() -> AppState {
    let noop: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {});
    AppState::new(
        None,
        Arc::new(LogRing::default()),
        KeyringUse::Off,
        Repaint {
            now: noop.clone(),
            soon: noop,
        },
    )
}

#[test]
fn a_recording_is_named_after_the_time_in_its_format() {
    let mut s = state();
    assert_eq!(
        s.recording_name(SystemTime::UNIX_EPOCH),
        "onair-1970-01-01T00-00-00Z.mp4"
    );
    s.settings.record_format = RecordFormat::Flv;
    assert_eq!(
        s.recording_name(SystemTime::UNIX_EPOCH + Duration::from_secs(3_723)),
        "onair-1970-01-01T01-02-03Z.flv"
    );
}

#[test]
fn going_live_needs_a_destination_switched_on_with_its_key() {
    let mut s = state();
    assert_eq!(
        s.live_targets(),
        Err("no destination is switched on: add one and switch it on".into())
    );
    s.apply(Action::AddDestination);
    let d = s.settings.destinations[0].clone();
    assert!(d.enabled);
    assert_eq!(
        s.live_targets(),
        Err(format!("{}: enter the stream key", d.name))
    );
    assert_eq!(
        s.destination_problem(&d).as_deref(),
        Some("enter the stream key")
    );
    // Go live without the key: said on the Live status line, nothing started.
    s.apply(Action::ToggleLive);
    assert!(
        s.status_note(StatusOf::Live)
            .is_some_and(|(error, text)| *error && text.ends_with("enter the stream key"))
    );
    assert!(s.toasts().next().is_none());
    s.keys.set(d.id, "live_123".into());
    let (targets, problems) = s.live_targets().unwrap();
    assert!(problems.is_empty());
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].name, d.name);
    let LiveServer::Rtmp(url) = &targets[0].server else {
        panic!("{:?}", targets[0]);
    };
    assert!(!url.to_string().contains("live_123"));
    // Removing it forgets its key too, until undone.
    s.apply(Action::RemoveDestination(d.id));
    assert!(s.settings.destinations.is_empty());
    assert_eq!(s.keys.get(d.id), "");
    assert_eq!(s.removed().map(|r| r.id), Some(d.id));
    s.apply(Action::UndoRemove);
    assert_eq!(s.settings.destinations, std::slice::from_ref(&d));
    assert_eq!(s.keys.get(d.id), "live_123");
    assert!(s.removed().is_none());
}

/// One bad destination switched on does not keep the good ones off the air: they are the
/// targets, and the bad one's problem is said (quoting its server as typed).
#[test]
fn going_live_goes_to_the_good_destinations_and_names_the_bad() {
    let mut s = state();
    s.apply(Action::AddDestination);
    s.apply(Action::AddDestination);
    let (good, bad) = (s.settings.destinations[0].id, s.settings.destinations[1].id);
    s.keys.set(good, "k1".into());
    s.keys.set(bad, "k2".into());
    s.settings.destinations[1].service = Service::Custom;
    s.settings.destinations[1].server = "rtmp//live.example.com/app".into();
    let (targets, problems) = s.live_targets().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].name, s.settings.destinations[0].name);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("`rtmp//live.example.com/app/****` is not an RTMP URL"),
        "{problems:?}"
    );
    let bad_card = s.settings.destinations[1].clone();
    assert!(s.destination_problem(&bad_card).is_some());
}

#[test]
fn stopping_a_recording_asks_unless_told_not_to() {
    let mut s = state();
    s.view.recording.since = Some(Instant::now());
    s.apply(Action::ToggleRecording);
    assert!(s.confirm_stop_recording());
    s.apply(Action::KeepRecording);
    assert!(!s.confirm_stop_recording());
    s.apply(Action::ToggleRecording);
    s.apply(Action::StopRecording { ask_again: false });
    assert!(!s.confirm_stop_recording());
    assert!(!s.settings.confirm_stop_recording);
    s.apply(Action::ToggleRecording);
    assert!(!s.confirm_stop_recording(), "asked although told not to");
}

/// Closing while live or recording asks; idle, or after "Quit", it closes.
#[test]
fn closing_asks_while_live_or_recording() {
    let mut s = state();
    assert!(s.close_requested(), "idle: closes at once");
    s.view.recording.since = Some(Instant::now());
    assert!(!s.close_requested());
    assert_eq!(
        s.confirm_quit(),
        Some(Running {
            live: false,
            recording: true
        })
    );
    s.apply(Action::CancelQuit);
    assert_eq!(s.confirm_quit(), None);
    assert!(!s.quit_requested());
    assert!(!s.close_requested());
    s.apply(Action::Quit);
    assert!(s.quit_requested());
    assert!(s.close_requested());
}

/// A WHIP destination goes live to its endpoint, with its bearer token if one is set (a
/// WHIP server may take none); the token never shows; a bad endpoint is a named error.
#[test]
fn a_whip_destination_goes_live_with_or_without_its_token() {
    let mut s = state();
    s.apply(Action::AddDestination);
    let id = s.settings.destinations[0].id;
    s.settings.destinations[0].service = Service::Whip;
    s.settings.destinations[0].server = "https://whip.example.com/whip/room".into();
    let (targets, _) = s.live_targets().unwrap();
    let LiveServer::Whip(target) = &targets[0].server else {
        panic!("{:?}", targets[0]);
    };
    assert!(!target.has_token());
    s.keys.set(id, "t0ken_secret".into());
    let (targets, _) = s.live_targets().unwrap();
    let LiveServer::Whip(target) = &targets[0].server else {
        panic!("{:?}", targets[0]);
    };
    assert!(target.has_token());
    assert!(!format!("{target} {target:?}").contains("t0ken_secret"));
    s.settings.destinations[0].server = "rtmp://not-whip/app".into();
    let e = s.live_targets().unwrap_err();
    assert!(e.contains("bad WHIP URL"), "{e}");
}

#[test]
fn stopping_the_stream_asks_first() {
    let mut s = state();
    s.view.live.since = Some(Instant::now());
    s.apply(Action::ToggleLive);
    assert!(s.confirm_stop_live());
    s.apply(Action::KeepLive);
    assert!(!s.confirm_stop_live());
}

#[test]
fn a_bad_preview_address_is_said_on_the_preview_status_line() {
    let mut s = state();
    s.settings.preview_addr = "localhost".into();
    s.apply(Action::TogglePreview);
    assert_eq!(
        s.status_note(StatusOf::Preview),
        Some(&(
            true,
            "preview address `localhost` is not like 127.0.0.1:8787; fix it in Settings".into()
        ))
    );
    // Fixed in Settings, the note goes.
    let before = s.edits();
    s.settings.preview_addr = "127.0.0.1:8787".into();
    s.after_edits(before);
    assert_eq!(s.status_note(StatusOf::Preview), None);
}
