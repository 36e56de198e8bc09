//! The destinations a broadcast sends to by name: `--whip` URLs or config names, and the keys
//! of destinations made in the window (a move out of cli.rs, no change).

use super::*;

/// The `--whip` outputs: URLs (each with its `--whip-token`, in order) or config names.
pub(super) fn whip_outputs(
    args: &BroadcastArgs,
    config: &Config,
    keys: &mut Option<Keys>,
) -> anyhow::Result<Vec<OutputSpec>> {
    let stored = |t: &str| config.stored_key_destination(t).filter(|d| d.whip);
    let urls = args
        .whip
        .iter()
        .filter(|t| config.whip_destination(t).is_none() && stored(t).is_none())
        .count();
    if !args.whip_token.is_empty() && args.whip_token.len() != urls {
        bail!(
            "{} --whip-token for {} --whip URL(s): give one token per URL, in the same order (or none)",
            args.whip_token.len(),
            urls
        );
    }
    let mut tokens = args.whip_token.iter();
    let mut outputs = Vec::new();
    for target in &args.whip {
        let (target, dynamic_bitrate) = match config.whip_destination(target) {
            Some(d) => (d.target.clone(), d.dynamic_bitrate || args.dynamic_bitrate),
            None if let Some(d) = stored(target) => {
                let token = stored_key(config, keys, d)?;
                (
                    WhipTarget::new(&d.server, Some(token))
                        .map_err(|e| anyhow::anyhow!("destination \"{target}\": {e}"))?,
                    d.dynamic_bitrate || args.dynamic_bitrate,
                )
            }
            None if target.contains("://") => (
                WhipTarget::new(target, tokens.next().cloned())?,
                args.dynamic_bitrate,
            ),
            None => bail!(
                "no WHIP destination named \"{target}\" in the config file, and it is not an http(s):// URL"
            ),
        };
        outputs.push(OutputSpec::Whip {
            target,
            options: WhipOptions {
                reconnect: config.reconnect,
                dynamic_bitrate,
                stun_servers: config.stun_servers.clone(),
            },
        });
    }
    Ok(outputs)
}

/// The stream key (or WHIP token) of a destination made in the window, from where the window
/// keeps it: the platform keyring, else `keys.toml` beside the config file. Loaded once.
pub(super) fn stored_key(
    config: &Config,
    keys: &mut Option<Keys>,
    d: &StoredKeyDestination,
) -> anyhow::Result<String> {
    let keys = match keys {
        Some(k) => k,
        None => {
            let dir = config
                .source
                .as_deref()
                .and_then(std::path::Path::parent)
                .map(std::path::Path::to_owned)
                .or_else(onair::config::config_dir)
                .unwrap_or_default();
            let loaded = KeyStore::open(&dir, KeyringUse::from_env()).load();
            for text in loaded.notices.iter().chain(&loaded.errors) {
                tracing::warn!("{text}");
            }
            keys.insert(loaded.keys)
        }
    };
    let key = keys.get(d.id);
    if key.is_empty() {
        bail!(
            "destination \"{}\" has no stream key stored: type it in the window's Settings \
             (kept in the system keyring or keys.toml), or give `key` in the config file",
            d.name
        );
    }
    Ok(key.to_owned())
}
