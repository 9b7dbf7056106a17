//! Raising the desk requests for a day's pull list: the same steps for the API and the web
//! pull-list page.

use super::AppState;
use crate::{
    auth::{Permission, Principal},
    workflow::{pulllists, requests},
    Result,
};
use chrono::NaiveDate;

/// Build the pull list for `date` (one clinic, or all), raise a request for every folder on it
/// that has none yet, and tell the open desk views. Returns the new requests' ids.
pub async fn raise_requests(
    s: &AppState,
    who: &Principal,
    date: NaiveDate,
    clinic: Option<String>,
) -> Result<Vec<i64>> {
    who.require(Permission::ManageAppointments)?;
    let (cfg, who) = (s.cfg.clone(), who.clone());
    let (ids, events) =
        s.db.write(move |c| {
            let list = pulllists::build(c, date, clinic.as_deref())?;
            let ids = pulllists::raise_requests(c, &who, &cfg.requests, &list)?;
            let ev = ids
                .iter()
                .map(|id| requests::desk_event(c, "request.new", *id))
                .collect::<Result<Vec<_>>>()?;
            Ok((ids, ev))
        })
        .await?;
    s.desk.publish(events);
    Ok(ids)
}
