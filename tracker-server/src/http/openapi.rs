//! The OpenAPI 3.1 description of the JSON API, served at `/api/v1/openapi.json`.

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, summary, who may call it, request body schema)
pub const ENDPOINTS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("get", "/healthz", "Liveness and database check", "anyone", None),
    ("get", "/api/v1/openapi.json", "This description", "anyone", None),
    ("post", "/api/v1/auth/login", "Sign in; returns a session token (Bearer)", "anyone", Some("Login")),
    ("post", "/api/v1/auth/logout", "End this session", "signed in", None),
    ("get", "/api/v1/me", "Who am I (actor and role)", "signed in", None),
    ("post", "/api/v1/users", "Create a user", "admin", Some("NewUser")),
    ("get", "/api/v1/users", "Users with their roles and whether they are active (no password hashes)", "admin", None),
    ("post", "/api/v1/users/{username}/disable", "Disable a user: no sign-in, open sessions end at once (audited with the reason)", "admin", Some("Reason")),
    ("post", "/api/v1/users/{username}/enable", "Enable a disabled user", "admin", None),
    ("post", "/api/v1/users/{username}/password", "Reset a user's password; their open sessions end", "admin", Some("NewPassword")),
    ("put", "/api/v1/users/{username}/role", "Change a user's role; their open sessions end", "admin", Some("RoleChange")),
    ("post", "/api/v1/tokens", "Create an API token for a bridge or printer (shown once)", "admin", Some("NewToken")),
    ("get", "/api/v1/tokens", "API tokens: name, role, created, revoked (never the token)", "admin", None),
    ("post", "/api/v1/staff-badges", "Register a staff badge by number (badges of users are known already; printing a badge registers it too)", "library, records_manager, admin", Some("NewBadge")),
    ("get", "/api/v1/staff-badges", "Staff badges registered by number", "library, records_manager, admin", None),
    ("post", "/api/v1/tokens/{name}/revoke", "Revoke an API token; it stops working on its next request (audited with the reason)", "admin", Some("Reason")),
    ("post", "/api/v1/patients", "Register a patient (CHI or NHS number)", "library, records_manager, admin", Some("NewPatient")),
    ("get", "/api/v1/patients", "Search patients by family name (prefix) and optional dob (query: name, dob, limit)", "library, clinician, records_manager, admin", None),
    ("get", "/api/v1/patients/{id}", "A patient (by CHI or NHS number) and their folders", "library, clinician, records_manager, admin", None),
    ("post", "/api/v1/patients/merge", "Merge a duplicate registration into the survivor; folders follow", "records_manager, admin", Some("Merge")),
    ("post", "/api/v1/folders", "Register a folder (next volume of its type); allocates the opaque barcode", "library, records_manager, admin", Some("NewFolder")),
    ("put", "/api/v1/folders/{barcode}/status", "Change a folder's status (active, missing, temporary, merged, closed, sent_for_scanning, destroyed)", "library, records_manager, admin", Some("StatusChange")),
    ("get", "/api/v1/locations", "All locations", "porter, library, clinician, records_manager, admin", None),
    ("post", "/api/v1/locations", "Create a location", "records_manager, admin", Some("NewLocation")),
    ("get", "/api/v1/containers", "Containers (trolleys, bags, crates): GRAI, EPC, where last seen, how many folders are on each", "porter, library, clinician, records_manager, admin", None),
    ("post", "/api/v1/containers", "Register a container; its GRAI (and GRAI-96 EPC) is made from the GS1 company prefix unless given", "library, records_manager, admin", Some("NewContainer")),
    ("get", "/api/v1/containers/{id}", "A container and the folders on it now (barcodes; audited)", "porter, library, clinician, records_manager, admin", None),
    ("post", "/api/v1/containers/{id}/unload", "Take every folder off a container", "library, records_manager, admin", None),
    ("get", "/api/v1/locations/{code}/folders", "Folders whose latest scan is at this location (query: limit)", "porter, library, clinician, records_manager, admin", None),
    ("put", "/api/v1/locations/{code}/preparation-area", "Set (or with null remove) a clinic's preparation area: notes scanned there before the clinic starts count as available", "records_manager, admin", Some("PreparationArea")),
    ("post", "/api/v1/events", "Ingest up to 5,000 scan events; idempotent by event_id; per-event results", "device, porter, library, records_manager, admin", Some("EventBatch")),
    ("get", "/api/v1/whereis/folder/{barcode}", "Where is this folder: current place, since, seen by, in transit, trail", "porter (without patient details), library, clinician, records_manager, admin", None),
    ("get", "/api/v1/whereis/patient/{id}", "Where are all volumes of this patient's notes (CHI or NHS number)", "library, clinician, records_manager, admin", None),
    ("get", "/api/v1/whereis/search", "Where are the notes of patients matching family name and dob (query: name, dob)", "library, clinician, records_manager, admin", None),
    ("get", "/api/v1/reports/out-of-library", "Folders out of the library longer than N days (query: days, limit)", "library, records_manager, admin", None),
    ("get", "/api/v1/devices", "Devices reported by bridges: online, last read, queue depth, and the read rate against the device's own norm (learning, normal, below_normal, silent)", "library, records_manager, admin", None),
    ("post", "/api/v1/devices/heartbeat", "Bridge reports device health", "device, admin", Some("Heartbeat")),
    ("get", "/api/v1/audit", "Audit log, newest first (query: patient, limit)", "records_manager, admin", None),
    ("get", "/api/v1/printers", "Registered label printers", "library, records_manager, admin", None),
    ("post", "/api/v1/printers", "Register a label printer (tcp://, lp://, usb://)", "admin", Some("NewPrinter")),
    ("put", "/api/v1/printers/{id}", "Change a printer: address, stock, dpi, RFID, or active=false to take it out of use", "admin", Some("PrinterChange")),
    ("post", "/api/v1/print/folder", "Print (or reprint) a folder label; 201 sent, 502 failed and kept for retry", "library, records_manager, admin", Some("PrintFolder")),
    ("post", "/api/v1/print/location", "Print a location card", "library, records_manager, admin", Some("PrintLocation")),
    ("post", "/api/v1/print/badge", "Print a staff badge (by username, or badge number with name and role)", "library, records_manager, admin", Some("PrintBadge")),
    ("get", "/api/v1/print/jobs", "Print jobs, newest first (query: status=queued|sent|failed, batch, limit)", "library, records_manager, admin", None),
    ("post", "/api/v1/print/jobs/{id}/retry", "Send a failed print job again, byte for byte", "library, records_manager, admin", None),
    ("post", "/api/v1/print/batch", "Print many folder labels in the background; 202 with the batch id", "library, records_manager, admin", Some("PrintBatch")),
    ("get", "/api/v1/print/batches/{id}", "Progress of a print batch (total, done, failed, status)", "library, records_manager, admin", None),
    ("post", "/api/v1/print/batches/{id}/retry", "Send a finished batch's failed jobs again, in the background", "library, records_manager, admin", None),
    ("get", "/api/v1/labels/folder/{barcode}.{format}", "Preview a folder label as png, svg, pdf or zpl (query: printer)", "library, records_manager, admin", None),
    ("post", "/api/v1/requests", "Request a patient's notes (or one volume) at a destination by a time; urgency emergency, urgent or routine", "clinician, library, records_manager, admin", Some("NewRequest")),
    ("get", "/api/v1/requests/{id}", "A request: state, destination, holder location (where to fetch from), volumes and where they are, overdue, history", "clinician, library, records_manager, admin", None),
    ("put", "/api/v1/requests/{id}/state", "Set a request located (with holder_location), pulled or cancelled; other states follow scans", "library, records_manager, admin (clinicians may cancel)", Some("RequestState")),
    ("post", "/api/v1/requests/{id}/reroute", "Send an open request to another destination", "clinician, library, records_manager, admin", Some("Reroute")),
    ("get", "/api/v1/desk/queue", "Library desk queue: open requests, earliest due first, with overdue flags (query: limit)", "clinician, library, records_manager, admin", None),
    ("get", "/api/v1/desk/stream", "Live desk view (server-sent events): request.new, request.rerouted, request.overdue", "clinician, library, records_manager, admin", None),
    ("post", "/api/v1/clinic-sessions", "Create a clinic session (clinic location, date, start, end)", "library, records_manager, admin", Some("NewSession")),
    ("get", "/api/v1/clinic-sessions", "Clinic sessions on a date with booked counts (query: date)", "library, records_manager, admin", None),
    ("post", "/api/v1/appointments", "Book a patient into a session slot", "library, records_manager, admin", Some("NewAppointment")),
    ("get", "/api/v1/appointments/{id}", "An appointment", "library, records_manager, admin", None),
    ("put", "/api/v1/appointments/{id}", "Reschedule an appointment (open pull-list requests follow)", "library, records_manager, admin", Some("Reschedule")),
    ("post", "/api/v1/appointments/{id}/cancel", "Cancel an appointment (open pull-list requests are cancelled)", "library, records_manager, admin", Some("Note")),
    ("post", "/api/v1/appointments/{id}/no-show", "Mark an appointment as a no-show", "library, records_manager, admin", Some("Note")),
    ("get", "/api/v1/pull-lists", "Pull list for a day in shelf order (query: date, default N working days ahead; clinic; format json, csv or pdf)", "library, records_manager, admin", None),
    ("post", "/api/v1/pull-lists/requests", "Raise routine requests for every booked appointment on a day's pull list (idempotent)", "library, records_manager, admin", Some("RaiseRequests")),
    ("get", "/api/v1/reports/clinic-availability", "Case-note availability per clinic session: booked, available at the start (clinic or its preparation area), temporary notes used, unavailable by reason (query: from, to)", "library, records_manager, admin", None),
    ("post", "/api/v1/hl7/messages", "Record an HL7 v2 ADT or SIU message by hand; answers with the ACK (AA, AE or AR)", "library, records_manager, admin", Some("Hl7Message")),
    ("post", "/api/v1/folders/{barcode}/missing", "Report a folder missing; answers with the search list from its trail", "library, records_manager, admin", Some("MissingReport")),
    ("get", "/api/v1/folders/{barcode}/missing", "The missing case and search list (last places, staff, devices) of a folder", "library, records_manager, admin", None),
    ("post", "/api/v1/folders/{barcode}/missing/escalate", "Escalate a missing folder to the records manager", "library, records_manager, admin", Some("MissingNote")),
    ("post", "/api/v1/folders/{barcode}/missing/temporary", "Open a temporary folder (tracked) for a missing folder, on a manager's instruction", "records_manager, admin", Some("MissingInstruction")),
    ("post", "/api/v1/folders/{barcode}/missing/found", "The original was found: it is active again; a temporary folder is merged into it", "library, records_manager, admin", Some("MissingNote")),
    ("post", "/api/v1/coding/code-lists/{scheme}", "Load (replace) the icd10 or opcs4 code list from CSV or TSV text (code, description); once loaded, unknown codes are refused", "records_manager, admin", None),
    ("get", "/api/v1/coding/queue", "Coding queue: episodes awaiting coding (built from ADT discharges), oldest first, with where the notes are and the backlog band (query: as_of)", "library, records_manager, admin", None),
    ("get", "/api/v1/coding/backlog", "Uncoded episodes by weeks after the end of the month of discharge (4/6/13) (query: as_of)", "library, records_manager, admin", None),
    ("post", "/api/v1/coding/episodes", "Record an episode (admission to discharge) by hand", "library, records_manager, admin", Some("NewEpisode")),
    ("get", "/api/v1/coding/episodes/{id}", "An episode with its codes", "library, records_manager, admin", None),
    ("post", "/api/v1/coding/episodes/{id}/codes", "Code an episode: ICD-10 diagnoses (primary first; dagger/asterisk as A17.0† G01*) and OPCS-4 procedures", "library, records_manager, admin", Some("Coding")),
    ("post", "/api/v1/digitisation/batches", "Send folders to the scanning bureau as a batch (status sent_for_scanning)", "library, records_manager, admin", Some("NewBatch")),
    ("get", "/api/v1/digitisation/batches/{id}", "A scanning batch: folders, where they are, documents, QA and disposition", "library, records_manager, admin", None),
    ("post", "/api/v1/digitisation/batches/{id}/folders/{barcode}/qa", "QA sign-off of a folder's scans (passed or failed)", "library, records_manager, admin", Some("Qa")),
    ("post", "/api/v1/digitisation/batches/{id}/folders/{barcode}/disposition", "The paper after scanning: returned, retained or destroyed (raises a destruction request)", "library, records_manager, admin (destroyed: records_manager, admin)", Some("Disposition")),
    ("post", "/api/v1/folders/{barcode}/documents", "Upload a scanned document (raw PDF or TIFF body; size-limited; stored by SHA-256)", "library, records_manager, admin", None),
    ("get", "/api/v1/folders/{barcode}/documents", "Scanned documents of a folder", "library, clinician, records_manager, admin", None),
    ("get", "/api/v1/documents/{id}", "Open a scanned document (audited)", "library, clinician, records_manager, admin", None),
    ("get", "/api/v1/documents/by-hash/{sha256}", "Open a scanned document by its SHA-256 (audited)", "library, clinician, records_manager, admin", None),
    ("post", "/api/v1/patients/{id}/death", "Record a patient's date of death (CHI or NHS number)", "library, records_manager, admin", Some("Death")),
    ("get", "/api/v1/retention/rules", "The retention rules in force", "records_manager, admin", None),
    ("get", "/api/v1/retention/due", "Folders due for review or destruction on a date (query: as_of, format=csv)", "records_manager, admin", None),
    ("post", "/api/v1/folders/{barcode}/legal-hold", "Place a legal hold (blocks destruction)", "records_manager, admin", Some("Hold")),
    ("post", "/api/v1/folders/{barcode}/legal-hold/release", "Release a legal hold", "records_manager, admin", Some("HoldRelease")),
    ("get", "/api/v1/folders/{barcode}/tombstone", "What was destroyed, when, by whom and why", "records_manager, admin", None),
    ("post", "/api/v1/retention/destructions", "Ask for a due folder to be destroyed (a second person approves)", "records_manager, admin", Some("DestructionRequest")),
    ("get", "/api/v1/retention/destructions", "Destruction requests (query: status)", "records_manager, admin", None),
    ("get", "/api/v1/retention/destructions/{id}", "A destruction request", "records_manager, admin", None),
    ("post", "/api/v1/retention/destructions/{id}/approve", "Approve a destruction (not the requester): folder destroyed, certificate, tombstone", "records_manager, admin", Some("Decision")),
    ("post", "/api/v1/retention/destructions/{id}/reject", "Reject a destruction (not the requester)", "records_manager, admin", Some("Decision")),
    ("get", "/api/v1/retention/destructions/{id}/certificate", "The destruction certificate (text with its SHA-256)", "records_manager, admin", None),
    ("post", "/api/v1/external-requests", "Log a GP or professional query, subject access request or Access to Health Records Act request", "library, records_manager, admin", Some("NewExternalRequest")),
    ("get", "/api/v1/external-requests", "External requests with due dates and overdue flags (query: open, overdue, kind, as_of)", "library, records_manager, admin", None),
    ("get", "/api/v1/external-requests/{id}", "An external request", "library, records_manager, admin", None),
    ("post", "/api/v1/external-requests/{id}/extend", "Extend a subject access request by up to two further months", "library, records_manager, admin", Some("Extend")),
    ("post", "/api/v1/external-requests/{id}/status", "Mark an external request in_progress, completed, refused or withdrawn", "library, records_manager, admin", Some("ExternalStatus")),
    ("get", "/api/v1/statistics", "Statistics for a period (query: from, to or month; as_of; format=csv with section)", "library, records_manager, admin", None),
    ("get", "/api/v1/reports/monthly", "The monthly report as PDF (query: month=YYYY-MM)", "library, records_manager, admin", None),
    ("get", "/api/v1/reports/privacy", "The Caldicott guardian's privacy report: lookups with no legitimate relationship, of same-family-name and flagged patients, unusual volumes (query: from, to as YYYY-MM-DD; default the last full week); viewing it is audited", "records_manager, admin", None),
    ("get", "/api/v1/reports/privacy/detail", "The audit rows behind one line of the privacy report (query: from, to, concern, user, and patient or day)", "records_manager, admin", None),
    ("get", "/api/v1/reports/privacy/weekly", "The privacy report for the Monday-Sunday week containing a day, as a file (query: week=YYYY-MM-DD, format=csv or pdf)", "records_manager, admin", None),
    ("get", "/api/v1/patient-flags", "Patients flagged as staff or VIP (audited)", "records_manager, admin", None),
    ("post", "/api/v1/patient-flags", "Flag a patient as staff or VIP (audited with the reason)", "records_manager, admin", Some("FlagChange")),
    ("post", "/api/v1/patient-flags/clear", "Clear a patient's flag (audited with the reason)", "records_manager, admin", Some("FlagChange")),
    ("put", "/api/v1/users/{username}/profile", "Record a user's family name and work locations (for the privacy report)", "admin", Some("UserProfile")),
    ("get", "/api/v1/shelf-audits", "Shelf audits, newest first, with counts: found here, found but expected elsewhere, not found (query: location, status=open|closed, limit)", "library, records_manager, admin", None),
    ("post", "/api/v1/shelf-audits", "Open a shelf audit at a library shelf, bay or store (201), or join the one open there (200); folders are then sent as events with method audit", "library, records_manager, admin", Some("NewShelfAudit")),
    ("get", "/api/v1/shelf-audits/{id}", "A shelf audit and its lists: found here, found but expected elsewhere, expected here but not found (with follow-up)", "library, records_manager, admin", None),
    ("post", "/api/v1/shelf-audits/{id}/close", "Close a shelf audit: folders expected on the shelf and not scanned are listed as not found", "library, records_manager, admin", None),
    ("put", "/api/v1/locations/{code}/filing-range", "Set or clear the terminal-digit range a library shelf or bay holds (00-09, 71, 71/00-71/49)", "records_manager, admin", Some("FilingRange")),
];

/// Answers described by a schema: (method, path, schema of the 200 answer).
pub const RESPONSES: &[(&str, &str, &str)] = &[("get", "/api/v1/devices", "DeviceList")];

fn schemas() -> Value {
    let s = |props: Value, req: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": req});
    let str_ = json!({"type": "string"});
    let copies = json!({"type": "integer", "minimum": 1, "maximum": crate::printing::MAX_COPIES, "default": 1});
    let mut v = json!({
        "Login": s(json!({"username": str_, "password": str_}), &["username", "password"]),
        "NewUser": s(json!({"username": str_, "display_name": str_, "role": {"enum": ["porter","library","clinician","records_manager","admin"]}, "password": {"type":"string","minLength":8}}), &["username","display_name","role","password"]),
        "NewToken": s(json!({"name": str_, "role": {"enum": ["device","porter","library","clinician","records_manager","admin"]}, "devices": {"type": "array", "items": str_}}), &["name","role"]),
        "NewPatient": s(json!({"chi": str_, "nhs_number": str_, "family_name": str_, "given_name": str_, "dob": {"type":"string","format":"date"}, "sex": {"enum":["male","female","other","unknown"]}}), &["family_name","given_name","dob","sex"]),
        "Merge": s(json!({"retired": str_, "survivor": str_, "reason": str_}), &["retired","survivor","reason"]),
        "NewFolder": s(json!({"patient": str_, "folder_type": {"enum": crate::ledger::folders::TYPES}, "home_location": str_, "filing_number": str_}), &["patient","folder_type","home_location"]),
        "StatusChange": s(json!({"status": {"enum": crate::ledger::folders::STATUSES}, "reason": str_}), &["status","reason"]),
        "PreparationArea": s(json!({"preparation_area": str_}), &[]),
        "NewContainer": s(json!({"kind": {"enum": crate::ledger::containers::ContainerKind::WORDS}, "name": str_, "home_location": str_, "grai": str_}), &["kind","name"]),
        "NewShelfAudit": s(json!({"location": str_}), &["location"]),
        "FilingRange": s(json!({"filing_range": str_}), &[]),
        "NewLocation": s(json!({"code": str_, "name": str_, "kind": {"enum": crate::ledger::locations::KINDS}, "gln": str_, "parent": str_, "preparation_area": str_, "filing_range": str_}), &["code","name","kind"]),
        "NewRequest": s(json!({"patient": str_, "volume": str_, "destination": str_, "needed_by": {"type":"string","format":"date-time"}, "urgency": {"enum": crate::workflow::requests::URGENCIES}, "reason": str_}), &["patient","destination","urgency","reason"]),
        "RequestState": s(json!({"state": {"enum": ["located","pulled","cancelled"]}, "holder_location": str_, "note": str_}), &["state","note"]),
        "Reroute": s(json!({"destination": str_, "note": str_}), &["destination","note"]),
        "NewSession": s(json!({"clinic": str_, "name": str_, "date": {"type":"string","format":"date"}, "start": {"type":"string","pattern":"^[0-2][0-9]:[0-5][0-9]$"}, "end": {"type":"string","pattern":"^[0-2][0-9]:[0-5][0-9]$"}}), &["clinic","date","start","end"]),
        "NewAppointment": s(json!({"patient": str_, "session": {"type":"integer"}, "start": str_, "minutes": {"type":"integer"}}), &["patient","session"]),
        "Reschedule": s(json!({"session": {"type":"integer"}, "start": str_, "reason": str_}), &["session"]),
        "Note": s(json!({"note": str_}), &[]),
        "Reason": s(json!({"reason": str_}), &["reason"]),
        "FlagChange": s(json!({"patient": str_, "flag": {"enum": crate::ledger::patient_flags::PatientFlag::WORDS}, "reason": str_}), &["patient", "flag", "reason"]),
        "UserProfile": s(json!({"family_name": str_, "locations": {"type": "array", "items": str_}}), &[]),
        "NewBadge": s(json!({"badge": str_, "name": str_}), &["badge", "name"]),
        "NewPassword": s(json!({"password": {"type":"string","minLength":8}}), &["password"]),
        "RoleChange": s(json!({"role": {"enum": ["porter","library","clinician","records_manager","admin"]}}), &["role"]),
        "RaiseRequests": s(json!({"date": {"type":"string","format":"date"}, "clinic": str_}), &[]),
        "Hl7Message": s(json!({"message": str_}), &["message"]),
        "MissingReport": s(json!({"reason": str_}), &["reason"]),
        "MissingNote": s(json!({"note": str_}), &["note"]),
        "MissingInstruction": s(json!({"instruction": str_}), &["instruction"]),
        "NewPrinter": s(json!({"name": str_, "url": str_, "stock": {"type":"string","examples":["100x50"]}, "dpi": {"enum":[203,300]}, "rfid": {"type":"boolean"}}), &["name","url"]),
        "PrinterChange": s(json!({"url": str_, "stock": {"type":"string","examples":["100x50"]}, "dpi": {"enum":[203,300]}, "rfid": {"type":"boolean"}, "active": {"type":"boolean"}}), &[]),
        "PrintFolder": s(json!({"barcode": str_, "printer": str_, "copies": copies}), &["barcode","printer"]),
        "PrintLocation": s(json!({"code": str_, "printer": str_, "copies": copies}), &["code","printer"]),
        "PrintBadge": s(json!({"username": str_, "badge": str_, "name": str_, "role": str_, "printer": str_, "copies": copies}), &["printer"]),
        "PrintBatch": s(json!({"folders": {"oneOf": [
            {"type":"array","items": str_, "maxItems": crate::printing::MAX_BATCH},
            {"type":"object","additionalProperties": false, "properties": {"created_since": {"type":"string","format":"date-time"}}, "required": ["created_since"]}
        ]}, "printer": str_, "copies": copies}), &["folders","printer"]),
        "Error": {"type":"object","properties":{"error":{"type":"object","properties":{"code":str_,"field":{"type":["string","null"]},"message":str_}}}}
    });
    if let Some(m) = v.as_object_mut() {
        for extra in [lifecycle_schemas(), wire_schemas(), response_schemas()] {
            if let Value::Object(extra) = extra {
                m.extend(extra);
            }
        }
    }
    v
}

/// The words a wire enum serialises to, in declaration order.
fn words<T: serde::Serialize>(all: &[T]) -> Vec<Value> {
    all.iter()
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
        .collect()
}

/// Schemas of the wire contract shared with the bridges (`casenote_core::wire`). The enum
/// values come from the types themselves, and `wire_schemas_match_the_shared_types` checks the
/// fields against the types, so the document cannot drift from what the server accepts.
fn wire_schemas() -> Value {
    use casenote_core::{identifiers::scan::Symbology, wire};
    let s = |props: Value, req: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": req});
    let str_ = json!({"type": "string"});
    json!({
        "Event": s(json!({
            "event_id": {"type":"string","format":"uuid"}, "device_id": str_, "staff_id": str_,
            "read_at": {"type":"string","format":"date-time"}, "raw": str_,
            "symbology": {"enum": words(&Symbology::ALL)},
            "method": {"enum": words(&wire::Method::ALL)}, "location": str_,
            "action": {"enum": words(&wire::Action::ALL), "default": "seen"}, "destination": str_,
            "clock": {"enum": ["reader", "bridge"], "description": "whose clock read_at is from, when the sender says"},
            "container": {"type": "string", "description": "a folder loaded onto a container (trolley, bag, crate): the container's GRAI (AI 8003 value) or name; absent for every other scan"}}),
            &["event_id","device_id","read_at","raw","method","location"]),
        "EventBatch": s(json!({"events": {"type":"array","maxItems": wire::MAX_BATCH, "items": {"$ref":"#/components/schemas/Event"}}}), &["events"]),
        "EventResult": s(json!({
            "event_id": str_, "status": {"enum": words(&wire::EventStatus::ALL)},
            "matched": {"type":"boolean"}, "code": {"enum": words(&wire::RejectCode::ALL)},
            "field": str_, "message": str_}), &["event_id","status"]),
        "BatchResult": s(json!({
            "results": {"type":"array","items": {"$ref":"#/components/schemas/EventResult"}},
            "stored": {"type":"integer"}, "duplicates": {"type":"integer"}, "rejected": {"type":"integer"}}),
            &["results","stored","duplicates","rejected"]),
        "DeviceReport": s(json!({
            "device_id": str_, "description": str_, "online": {"type":"boolean"},
            "last_read_at": {"type":"string","format":"date-time"}, "queue_depth": {"type":"integer"},
            "oldest_event_age_s": {"type":"integer"}, "foreign_reads": {"type":"integer"},
            "corrupt_messages": {"type":"integer"}, "refused_scans": {"type":"integer"}, "reads": {"type":"integer"},
            "reader_errors": {"type":"integer"}, "last_error": str_}), &["device_id","online"]),
        "Heartbeat": s(json!({"bridge_id": str_, "devices": {"type":"array","items": {"$ref":"#/components/schemas/DeviceReport"}}}), &["bridge_id","devices"]),
    })
}

/// Schemas of answers ([`RESPONSES`]). Every field is always present (`null` when it has no
/// value); `answers_match_the_types` checks them against the types the server sends.
fn response_schemas() -> Value {
    use crate::ledger::read_norms::ReadVerdict;
    let s = |props: Value| {
        let req: Vec<String> = props
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        json!({"type": "object", "properties": props, "required": req})
    };
    let str_ = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let opt_int = json!({"type": ["integer", "null"]});
    json!({
        "DeviceList": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceStatus"}},
        "DeviceStatus": s(json!({
            "device_id": str_, "bridge_id": str_, "description": str_, "online": {"type": "boolean"},
            "last_read_at": {"type": ["string", "null"], "format": "date-time"},
            "queue_depth": int, "oldest_event_age_s": opt_int,
            "last_heartbeat": {"type": "string", "format": "date-time"},
            "foreign_reads": int, "corrupt_messages": int, "refused_scans": int,
            "reads": {"type": "integer", "description": "reads since the bridge started"},
            "reader_errors": int, "last_error": {"type": ["string", "null"]},
            "read_health": {"$ref": "#/components/schemas/ReadHealth"}})),
        "ReadHealth": s(json!({
            "verdict": {"enum": ReadVerdict::WORDS, "description": "learning: too little history; silent: no read for hours in which the device normally reads; below_normal: reads in the window under the configured share of the norm"},
            "window_hours": int,
            "recent": {"type": "integer", "description": "reads in the last window_hours whole hours"},
            "norm": {"type": ["integer", "null"], "description": "median of the reads in the same clock hours on earlier days; null while learning"},
            "history_days": {"type": "integer", "description": "earlier days the norm was taken from"},
            "silent_hours": {"type": ["integer", "null"], "description": "when silent: whole hours since the last read"},
            "usual_when_silent": {"type": ["integer", "null"], "description": "when silent: the usual reads in those hours before the silence began (in a day, for a silence of a day or more)"},
            "summary": {"type": "string", "description": "in words, as on the Devices page"}})),
    })
}

/// Schemas of the records-lifecycle endpoints (coding, digitisation, retention, requests).
fn lifecycle_schemas() -> Value {
    let s = |props: Value, req: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": req});
    let str_ = json!({"type": "string"});
    json!({
        "NewEpisode": s(json!({"patient": str_, "admitted_at": {"type":"string","format":"date-time"}, "discharged_at": {"type":"string","format":"date-time"}, "encounter": str_}), &["patient","discharged_at"]),
        "Coding": s(json!({"diagnoses": {"type":"array","items": str_, "minItems": 1}, "procedures": {"type":"array","items": str_}}), &["diagnoses"]),
        "NewBatch": s(json!({"bureau": str_, "folders": {"type":"array","items": str_}, "note": str_}), &["bureau","folders"]),
        "Qa": s(json!({"result": {"enum": ["passed","failed"]}, "note": str_}), &["result"]),
        "Disposition": s(json!({"disposition": {"enum": crate::lifecycle::digitisation::DISPOSITIONS}, "note": str_}), &["disposition"]),
        "Death": s(json!({"date_of_death": {"type":"string","format":"date"}}), &["date_of_death"]),
        "Hold": s(json!({"reason": str_}), &["reason"]),
        "HoldRelease": s(json!({"note": str_}), &["note"]),
        "DestructionRequest": s(json!({"folder": str_, "reason": str_}), &["folder","reason"]),
        "Decision": s(json!({"note": str_}), &[]),
        "NewExternalRequest": s(json!({"kind": {"enum": crate::lifecycle::external_requests::KINDS}, "patient": str_, "requester": str_, "received_on": {"type":"string","format":"date"}, "note": str_}), &["kind","patient","requester","received_on"]),
        "Extend": s(json!({"months": {"enum": [1, 2]}, "reason": str_}), &["months","reason"]),
        "ExternalStatus": s(json!({"status": {"enum": ["in_progress","completed","refused","withdrawn"]}, "note": str_}), &["status"]),
    })
}

/// Build the document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, who, body) in ENDPOINTS {
        let mut op = json!({
            "summary": summary,
            "description": format!("Allowed: {who}."),
            "responses": {
                "200": {"description": "OK"},
                "4XX": {"description": "Refused; the body names the field and the reason", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if *who != "anyone" {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some((_, _, answer)) = RESPONSES.iter().find(|r| r.0 == *method && r.1 == *path) {
            op["responses"]["200"]["content"] = json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{answer}")}}});
        }
        if let Some(b) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        // Every `{name}` in the path, including several in one segment (`{barcode}.{format}`).
        let params: Vec<Value> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(n, _)| n))
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Casenote Tracker API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas()
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;
    use casenote_core::wire::{BatchResult, DeviceReport, EventResult, Heartbeat, ScanEvent};
    use serde::de::DeserializeOwned;

    /// A schema's properties, required fields and enum values agree with type `T`: an instance
    /// with every field set has exactly the schema's properties; leaving out a required field
    /// is refused by `T` and leaving out any other is accepted; every enum word is accepted.
    fn agrees<T: DeserializeOwned + serde::Serialize>(name: &str, full: &T) {
        let doc = document();
        let schema = &doc["components"]["schemas"][name];
        let props = schema["properties"].as_object().expect(name);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect(name)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let inst = serde_json::to_value(full).expect("serialises");
        let inst = inst.as_object().expect("an object");
        let mut a: Vec<&String> = props.keys().collect();
        let mut b: Vec<&String> = inst.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name}: schema properties vs the type's fields");
        for key in props.keys() {
            let mut without = inst.clone();
            without.remove(key);
            let ok = serde_json::from_value::<T>(Value::Object(without)).is_ok();
            assert_eq!(
                ok,
                !required.contains(&key.as_str()),
                "{name}.{key}: required in the schema must mean required by the type"
            );
            if let Some(words) = props[key]["enum"].as_array() {
                for w in words {
                    let mut with = inst.clone();
                    with.insert(key.clone(), w.clone());
                    assert!(
                        serde_json::from_value::<T>(Value::Object(with)).is_ok(),
                        "{name}.{key}: the type refuses the documented value {w}"
                    );
                }
            }
        }
        let mut extra = inst.clone();
        extra.insert("unexpected".into(), json!(1));
        let refused = serde_json::from_value::<T>(Value::Object(extra)).is_err();
        assert_eq!(
            refused,
            schema["additionalProperties"] == json!(false)
                && name != "EventResult"
                && name != "BatchResult",
            "{name}: unknown fields"
        );
    }

    /// The JSON types a schema property allows ("object" for a `$ref`).
    fn types(prop: &Value) -> Vec<&str> {
        match &prop["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ if prop.get("$ref").is_some() => vec!["object"],
            _ if prop.get("enum").is_some() => vec!["string"],
            _ => vec![],
        }
    }

    fn type_of(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// An answer's schema agrees with what the server sends: `full` (every optional value
    /// set) has exactly the schema's properties, all required, each of an allowed type; in
    /// `bare` (no optional value set) exactly the nullable properties are null.
    fn answer_agrees(name: &str, full: &Value, bare: &Value) {
        let doc = document();
        let schema = &doc["components"]["schemas"][name];
        let props = schema["properties"].as_object().expect(name);
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .expect(name)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let (full, bare) = (full.as_object().expect(name), bare.as_object().expect(name));
        let mut keys: Vec<&str> = full.keys().map(String::as_str).collect();
        let mut documented: Vec<&str> = props.keys().map(String::as_str).collect();
        keys.sort_unstable();
        documented.sort_unstable();
        required.sort_unstable();
        assert_eq!(
            keys, documented,
            "{name}: schema properties vs the type's fields"
        );
        assert_eq!(required, documented, "{name}: every field is always sent");
        for (key, prop) in props {
            let allowed = types(prop);
            assert!(
                allowed.contains(&type_of(&full[key])),
                "{name}.{key}: sent as {}, documented as {allowed:?}",
                full[key]
            );
            assert_eq!(
                bare[key].is_null(),
                allowed.contains(&"null"),
                "{name}.{key}: null in the schema must mean sent as null when unset"
            );
        }
    }

    #[test]
    fn answers_match_the_types() {
        use crate::ledger::{
            devices::DeviceStatus,
            read_norms::{ReadHealth, ReadVerdict},
        };
        let silent = ReadHealth {
            verdict: ReadVerdict::Silent,
            window_hours: 6,
            recent: 0,
            norm: Some(1_300),
            history_days: 14,
            silent_hours: Some(5),
            usual_when_silent: Some(1_100),
            summary: "silent for 5 h (usually 1,100 reads in those hours)".into(),
        };
        let learning = ReadHealth {
            verdict: ReadVerdict::Learning,
            norm: None,
            history_days: 1,
            silent_hours: None,
            usual_when_silent: None,
            summary: "learning (1 of 3 days of history)".into(),
            ..silent.clone()
        };
        let device = |read_health: ReadHealth, set: bool| DeviceStatus {
            device_id: "ward5-portal".into(),
            bridge_id: "ward5-pc".into(),
            description: "Ward 5 door".into(),
            online: true,
            last_read_at: set.then(|| "2026-11-25T08:00:00.000Z".into()),
            queue_depth: 0,
            oldest_event_age_s: set.then_some(4),
            last_heartbeat: "2026-11-25T08:00:05.000Z".into(),
            foreign_reads: 0,
            corrupt_messages: 0,
            refused_scans: 0,
            reads: 5_210,
            reader_errors: 0,
            last_error: set.then(|| "antenna 2 missing".into()),
            read_health,
        };
        let full = serde_json::to_value(device(silent.clone(), true)).unwrap();
        let bare = serde_json::to_value(device(learning.clone(), false)).unwrap();
        answer_agrees("DeviceStatus", &full, &bare);
        answer_agrees(
            "ReadHealth",
            &serde_json::to_value(&silent).unwrap(),
            &serde_json::to_value(&learning).unwrap(),
        );
        let doc = document();
        assert_eq!(
            doc["components"]["schemas"]["ReadHealth"]["properties"]["verdict"]["enum"],
            json!(ReadVerdict::WORDS)
        );
        for v in ReadVerdict::ALL {
            let h = ReadHealth {
                verdict: *v,
                ..silent.clone()
            };
            assert_eq!(
                serde_json::to_value(h).unwrap()["verdict"],
                json!(v.as_str())
            );
        }
        // the list endpoint names its answer, and every answer named is described
        assert_eq!(
            doc["paths"]["/api/v1/devices"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"]["$ref"],
            "#/components/schemas/DeviceList"
        );
        for (method, path, answer) in RESPONSES {
            assert!(
                ENDPOINTS.iter().any(|e| e.0 == *method && e.1 == *path),
                "{path}"
            );
            assert!(doc["components"]["schemas"][answer].is_object(), "{answer}");
        }
    }

    #[test]
    fn wire_schemas_match_the_shared_types() {
        let ev: ScanEvent = serde_json::from_value(json!({
            "event_id": "0192f0c1-0000-7000-8000-000000000001", "device_id": "door",
            "staff_id": "S00042", "read_at": "2026-11-25T08:00:00.000Z", "raw": "]C0F0000001U",
            "symbology": "code128", "method": "barcode", "location": "LWARD5",
            "action": "dispatch", "destination": "LWARD7", "clock": "reader",
            "container": "006141410000123"
        }))
        .expect("a full event");
        agrees("Event", &ev);
        let mut full = EventResult::rejected("x".into(), "location", "no such place");
        full.matched = Some(false);
        agrees("EventResult", &full);
        agrees("BatchResult", &BatchResult::new(vec![full]));
        let d = DeviceReport {
            device_id: "door".into(),
            description: "Ward 5 door".into(),
            online: true,
            last_read_at: Some("2026-11-25T08:00:00.000Z".into()),
            queue_depth: 3,
            oldest_event_age_s: Some(4),
            foreign_reads: 12,
            corrupt_messages: 1,
            refused_scans: 0,
            reads: 5210,
            reader_errors: 2,
            last_error: Some("antenna 2 missing (reader error 0x22)".into()),
        };
        agrees("DeviceReport", &d);
        agrees(
            "Heartbeat",
            &Heartbeat {
                bridge_id: "ward5-pc".into(),
                devices: vec![d],
            },
        );
    }
}
