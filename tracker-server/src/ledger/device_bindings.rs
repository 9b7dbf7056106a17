//! Which API token may send as which device. A scan is attributed to a device (`device_id`) and
//! to the principal that sent it (`sent_by`); without a binding anyone with a token could send
//! as `ward5-portal`. A device id belongs to one token: named when the token is created
//! (`explicit`), or bound to the first token that sends as it (`first_use`). A token with
//! explicit devices may send only as those. People (session tokens) may not send as a bound
//! device; their scans carry their own device id (`web:<user>`).

use crate::{auth::Principal, util::now_rfc3339, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// The token name of an API-token principal (`token:<name>`), if it is one.
fn token_name(who: &Principal) -> Option<&str> {
    who.actor.strip_prefix("token:")
}

/// Bind devices to a new token (explicitly). A device already bound to another token is
/// refused, naming it.
pub fn bind(c: &Connection, token: &str, devices: &[String]) -> Result<()> {
    for d in devices {
        let d = d.trim();
        if d.is_empty() || d.len() > 100 || d.chars().any(char::is_control) {
            return Err(Error::invalid(
                "devices",
                "each must be 1-100 printable characters",
            ));
        }
        if let Some(other) = owner(c, d)?.filter(|o| o != token) {
            return Err(Error::conflict(
                "devices",
                format!("device {d} already belongs to token {other}"),
            ));
        }
        c.prepare_cached(
            "INSERT OR REPLACE INTO device_bindings(device_id, token_name, bound_at, how) VALUES (?1,?2,?3,'explicit')",
        )?
        .execute(params![d, token, now_rfc3339()])?;
    }
    Ok(())
}

fn owner(c: &Connection, device: &str) -> Result<Option<String>> {
    Ok(
        c.prepare_cached("SELECT token_name FROM device_bindings WHERE device_id=?1")?
            .query_row([device], |r| r.get(0))
            .optional()?,
    )
}

/// May `who` send scans as `device`? `Ok(Err(reason))` is a refusal for that event. A device
/// token sending as an unbound device binds it (unless the token has explicit devices).
pub fn may_send_as(
    c: &Connection,
    who: &Principal,
    device: &str,
) -> Result<std::result::Result<(), String>> {
    let bound = owner(c, device)?;
    let Some(token) = token_name(who).filter(|_| who.role == crate::auth::Role::Device) else {
        return Ok(match bound {
            Some(t) => Err(format!(
                "{device} is the device of token {t}; scans sent by a person are recorded under their own name"
            )),
            None => Ok(()),
        });
    };
    match bound {
        Some(t) if t == token => Ok(Ok(())),
        Some(t) => Ok(Err(format!(
            "{device} belongs to token {t}; this token ({token}) may not send as it"
        ))),
        None => {
            let explicit: Vec<String> = c
                .prepare_cached(
                    "SELECT device_id FROM device_bindings WHERE token_name=?1 AND how='explicit' ORDER BY device_id",
                )?
                .query_map([token], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !explicit.is_empty() {
                return Ok(Err(format!(
                    "this token ({token}) may send only as its devices: {}",
                    explicit.join(", ")
                )));
            }
            c.prepare_cached(
                "INSERT INTO device_bindings(device_id, token_name, bound_at, how) VALUES (?1,?2,?3,'first_use')",
            )?
            .execute(params![device, token, now_rfc3339()])?;
            Ok(Ok(()))
        }
    }
}
