//! Containers (trolleys, bags, crates): the use cases behind the API's `/api/v1/containers`
//! and the web Containers pages. Registering, retiring and emptying a container is for library
//! and records staff (`EditRecords`); anyone who may locate folders may see the containers and
//! what is on them (folder barcodes only, never patient details). Reads of a container's
//! contents are audited per folder.

use super::AppState;
use crate::{
    audit,
    auth::{Permission, Principal},
    ledger::containers::{self, Container, Loaded, NewContainer},
    Result,
};

/// Every container with its last sighting and how many folders are on it.
pub async fn list(s: &AppState, who: &Principal) -> Result<Vec<Container>> {
    who.require(Permission::LocateFolders)?;
    s.db.read(containers::list).await
}

/// One container and the folders on it now. Audited as `containers.contents`, one row per
/// folder on it.
pub async fn detail(s: &AppState, who: &Principal, id: i64) -> Result<(Container, Vec<Loaded>)> {
    who.require(Permission::LocateFolders)?;
    let (k, on) =
        s.db.read(move |c| Ok((containers::get(c, id)?, containers::contents(c, id)?)))
            .await?;
    if !on.is_empty() {
        let rows = on
            .iter()
            .map(|f| (Some(f.patient_id), Some(f.folder_id)))
            .collect();
        audit::record_reads(&s.db, who, "containers.contents", rows, k.title()).await?;
    }
    Ok((k, on))
}

/// Register a container (its GRAI made here unless it came with one).
pub async fn create(s: &AppState, who: &Principal, n: NewContainer) -> Result<Container> {
    who.require(Permission::EditRecords)?;
    let (who, prefix, cfg) = (
        who.clone(),
        s.cfg.identifiers.gs1_company_prefix.clone(),
        s.cfg.containers.clone(),
    );
    s.db.write(move |c| containers::create(c, &who, &n, prefix.as_deref(), &cfg))
        .await
}

/// Take every folder off a container. Returns how many came off.
pub async fn unload_all(s: &AppState, who: &Principal, id: i64) -> Result<usize> {
    who.require(Permission::EditRecords)?;
    let who = who.clone();
    s.db.write(move |c| containers::unload_all(c, &who, id))
        .await
}

/// The label of container `id`, on the printer called `printer` (sent by the caller with
/// [`crate::printing::send_and_record`]).
pub async fn label(
    s: &AppState,
    who: &Principal,
    id: i64,
    printer: String,
    copies: u32,
) -> Result<crate::printing::Ready> {
    who.require(Permission::PrintLabels)?;
    let who = who.clone();
    s.db.write(move |c| {
        let printer = crate::printing::printer_by_name(c, &printer)?;
        crate::printing::container_job(c, &printer, id, copies, &who)
    })
    .await
}

/// Retire a container, or bring it back into use.
pub async fn set_active(s: &AppState, who: &Principal, id: i64, active: bool) -> Result<Container> {
    who.require(Permission::EditRecords)?;
    let who = who.clone();
    s.db.write(move |c| containers::set_active(c, &who, id, active))
        .await
}
